/**
 * The Avantis v2 sandbox: a tx-builder double and a gateway double (batched-market, core, blitz)
 * sharing one in-memory Ledger and one executor. With the default InMemoryExecutor nothing touches
 * a chain, and blitz relays are accepted without effect; startAvantisV2DevnetSandbox executes
 * orders on a devnet upgraded to v2 (DevnetExecutor) and carries out blitz relays of
 * setDelegateWithSig there (ChainRelayExecutor: the 7702 envelope is checked, the call is sent by
 * a relayer account; see chain-relays.ts), and the tx-builder's delegation and nonce reads sync
 * from the chain first.
 *
 * Start for manual use:  node src/sandbox/avantis-v2/index.ts [txBuilderPort] [gatewayPort]
 * (defaults 0 = any free port; the URLs are printed). In tests call startAvantisV2Sandbox().
 */
import { pathToFileURL } from 'node:url';
import type { IntentDomain } from '../../infra/chain/avantis-v2/intents.ts';
import type { DevnetWallet } from '../../infra/devnet/clients.ts';
import { ChainRelayExecutor } from './chain-relays.ts';
import { DevnetExecutor, type DevnetExecutorOptions } from './devnet-executor.ts';
import { InMemoryExecutor, type MarketExecutor } from './executor.ts';
import { GatewayDouble } from './gateway-double.ts';
import { Ledger } from './ledger.ts';
import type { RelayExecutor } from './relays.ts';
import { TxBuilderDouble, type LedgerSync, type V2Addresses } from './tx-builder-double.ts';

export { InMemoryExecutor, slippageExceeded, type ExecutionHooks, type Initiation, type MarketExecutor, type MarketOrder, type MarketResult, type SignedIntent } from './executor.ts';
export { DevnetExecutor, revertOf, type DevnetExecutorOptions } from './devnet-executor.ts';
export { GatewayDouble, ORDER_TYPE_INTENT } from './gateway-double.ts';
export { Ledger, type LedgerPosition } from './ledger.ts';
export { TxBuilderDouble, OPEN_ORDER_TYPES, type LedgerSync, type V2Addresses } from './tx-builder-double.ts';
export { acceptOnlyRelays, ledgerRelays, type RelayExecutor, type RelayOutcome } from './relays.ts';
export { ChainRelayExecutor, type ChainRelayOptions } from './chain-relays.ts';

/** Base mainnet addresses (§13), the default when none are given. */
export const MAINNET_ADDRESSES: V2Addresses = {
  tradingRouter: '0x44914408af82bC9983bbb330e3578E1105e11d4e',
  tradingStorage: '0x8a311D7048c35985aa31C131B9A13e03a5f7422d',
  usdc: '0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913',
  referral: '0x1A110bBA13A1f16cCa4b79758BD39290f29De82D',
  delegationTemplate: '0x5aF42746a8Af42d8a4708dF238C53F1F71abF0E0',
};

export interface AvantisV2SandboxOptions {
  readonly chainId?: number;
  readonly addresses?: V2Addresses;
  readonly now?: () => number;
  /**
   * Default: an InMemoryExecutor over the shared ledger. May be async (the devnet executor reads
   * the oracle prices before it answers `price()`); see startAvantisV2DevnetSandbox.
   */
  readonly executor?: (ledger: Ledger) => MarketExecutor | Promise<MarketExecutor>;
  readonly rateLimit?: { readonly budget: number; readonly windowMs: number };
  readonly stepMs?: number;
  /** What carries out blitz relays. Default acceptOnlyRelays(): accepted, reported successful, no effect. */
  readonly relayExecutor?: (context: SandboxContext) => RelayExecutor;
  /** Chain-backed reads: the tx-builder refreshes the Ledger through this before /v2/delegation and /v2/nonce?check=. */
  readonly sync?: (context: SandboxContext) => LedgerSync;
  readonly ports?: { readonly txBuilder?: number; readonly gateway?: number };
}

/** What the relay executor and the sync hooks are built from. */
export interface SandboxContext {
  readonly chainId: number;
  readonly addresses: V2Addresses;
  readonly tradingDomain: IntentDomain;
  readonly ledger: Ledger;
  readonly executor: MarketExecutor;
}

export interface AvantisV2Sandbox {
  readonly txBuilderUrl: string;
  readonly gatewayUrl: string;
  readonly ledger: Ledger;
  readonly executor: MarketExecutor;
  readonly txBuilder: TxBuilderDouble;
  readonly gateway: GatewayDouble;
  close(): Promise<void>;
}

export async function startAvantisV2Sandbox(options: AvantisV2SandboxOptions = {}): Promise<AvantisV2Sandbox> {
  const chainId = options.chainId ?? 8453;
  const addresses = options.addresses ?? MAINNET_ADDRESSES;
  const ledger = new Ledger(options.now);
  const executor: MarketExecutor = (await options.executor?.(ledger)) ?? new InMemoryExecutor(ledger);
  // The tx-builder double's default trading domain (§8.1): AvantisTrading v1 over the TradingRouter.
  const tradingDomain: IntentDomain = { name: 'AvantisTrading', version: '1', chainId, verifyingContract: addresses.tradingRouter };
  const context: SandboxContext = { chainId, addresses, tradingDomain, ledger, executor };
  const sync = options.sync?.(context);
  const relayExecutor = options.relayExecutor?.(context);
  const txBuilder = new TxBuilderDouble({ chainId, addresses, ledger, executor, ...(options.rateLimit === undefined ? {} : { rateLimit: options.rateLimit }), ...(sync === undefined ? {} : { sync }) });
  const gateway = new GatewayDouble({ chainId, tradingDomain, tradingRouter: addresses.tradingRouter, ledger, executor, ...(options.stepMs === undefined ? {} : { stepMs: options.stepMs }), ...(relayExecutor === undefined ? {} : { relayExecutor }) });
  const txBuilderUrl = await txBuilder.listen(options.ports?.txBuilder ?? 0);
  const gatewayUrl = await gateway.listen(options.ports?.gateway ?? 0);
  return {
    txBuilderUrl,
    gatewayUrl,
    ledger,
    executor,
    txBuilder,
    gateway,
    close: async () => {
      await Promise.all([txBuilder.close(), gateway.close()]);
      await executor.close?.();
    },
  };
}

export interface DevnetSandboxChain extends Omit<DevnetExecutorOptions, 'ledger'> {
  /**
   * Sends relayed blitz calls (setDelegateWithSig needs no role). Default: the operator, whose
   * sends then queue with the executor's orders (DevnetExecutor.exclusive), so anvil nonces never clash.
   */
  readonly relayer?: DevnetWallet;
}

/**
 * The sandbox over a devnet already upgraded to v2 (upgradeSimulatorToV2): chain id and addresses
 * are the deployment's (the EIP-712 `verifyingContract` is its Trading), a DevnetExecutor
 * executes every accepted order on chain, and a ChainRelayExecutor carries out blitz relays of
 * setDelegateWithSig on chain (the 7702 envelope is verified, not executed: chain-relays.ts).
 * The tx-builder's /v2/delegation and /v2/nonce?check= read the chain first. The devnet has no
 * Referral contract, so the referral domain names the zero address. `chain.operator` must be an
 * operator of Trading (see DevnetExecutorOptions).
 */
export function startAvantisV2DevnetSandbox(
  chain: DevnetSandboxChain,
  options: Omit<AvantisV2SandboxOptions, 'executor' | 'chainId' | 'addresses' | 'relayExecutor' | 'sync'> = {},
): Promise<AvantisV2Sandbox> {
  const { relayer, ...executorOptions } = chain;
  const d = chain.deployment;
  let devnet: DevnetExecutor | null = null;
  const created = (): DevnetExecutor => {
    if (devnet === null) throw new Error('startAvantisV2Sandbox creates the executor before the hooks');
    return devnet;
  };
  return startAvantisV2Sandbox({
    ...options,
    chainId: d.chainId,
    addresses: { tradingRouter: d.trading, tradingStorage: d.tradingStorage, usdc: d.usdc, referral: '0x0000000000000000000000000000000000000000' },
    executor: async (ledger) => (devnet = await DevnetExecutor.create({ ...executorOptions, ledger })),
    sync: () => ({ delegation: (trader, delegate) => created().syncDelegation(trader, delegate), nonce: (signer, nonce) => created().syncNonce(signer, nonce) }),
    relayExecutor: (context) => {
      const executor = created();
      return new ChainRelayExecutor({
        publicClient: chain.publicClient,
        relayer: relayer ?? chain.operator,
        chainId: context.chainId,
        tradingRouter: context.addresses.tradingRouter,
        ...(context.addresses.delegationTemplate === undefined ? {} : { template: context.addresses.delegationTemplate }),
        ...(relayer === undefined ? { exclusive: (work) => executor.exclusive(work) } : {}),
        mirror: { delegation: (trader, delegate) => executor.syncDelegation(trader, delegate), nonce: (signer, nonce) => executor.syncNonce(signer, nonce) },
        ...(chain.logger === undefined ? {} : { logger: chain.logger }),
      });
    },
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const sandbox = await startAvantisV2Sandbox({ ports: { txBuilder: Number(process.argv[2] ?? 0), gateway: Number(process.argv[3] ?? 0) } });
  process.stdout.write(`Avantis v2 sandbox (in memory, no chain)\n  tx-builder: ${sandbox.txBuilderUrl}\n  gateway:    ${sandbox.gatewayUrl}\n`);
  process.once('SIGINT', () => void sandbox.close().then(() => process.exit(0)));
}
