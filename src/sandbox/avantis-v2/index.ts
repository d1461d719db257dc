/**
 * The Avantis v2 sandbox: a tx-builder double and a gateway double (batched-market, core, blitz)
 * sharing one in-memory Ledger and one executor. With the default InMemoryExecutor nothing touches
 * a chain; startAvantisV2DevnetSandbox executes orders on a devnet upgraded to v2 (DevnetExecutor).
 *
 * Start for manual use:  node src/sandbox/avantis-v2/index.ts [txBuilderPort] [gatewayPort]
 * (defaults 0 = any free port; the URLs are printed). In tests call startAvantisV2Sandbox().
 */
import { pathToFileURL } from 'node:url';
import { DevnetExecutor, type DevnetExecutorOptions } from './devnet-executor.ts';
import { InMemoryExecutor, type MarketExecutor } from './executor.ts';
import { GatewayDouble } from './gateway-double.ts';
import { Ledger } from './ledger.ts';
import { TxBuilderDouble, type V2Addresses } from './tx-builder-double.ts';

export { InMemoryExecutor, slippageExceeded, type ExecutionHooks, type Initiation, type MarketExecutor, type MarketOrder, type MarketResult, type SignedIntent } from './executor.ts';
export { DevnetExecutor, revertOf, type DevnetExecutorOptions } from './devnet-executor.ts';
export { GatewayDouble, ORDER_TYPE_INTENT } from './gateway-double.ts';
export { Ledger, type LedgerPosition } from './ledger.ts';
export { TxBuilderDouble, OPEN_ORDER_TYPES, type V2Addresses } from './tx-builder-double.ts';

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
  readonly ports?: { readonly txBuilder?: number; readonly gateway?: number };
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
  const txBuilder = new TxBuilderDouble({ chainId, addresses, ledger, executor, ...(options.rateLimit === undefined ? {} : { rateLimit: options.rateLimit }) });
  const gateway = new GatewayDouble({ chainId, tradingDomain: txBuilder.domains.trading, tradingRouter: addresses.tradingRouter, ledger, executor, ...(options.stepMs === undefined ? {} : { stepMs: options.stepMs }) });
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

/**
 * The sandbox over a devnet already upgraded to v2 (upgradeSimulatorToV2): chain id and addresses
 * are the deployment's (the EIP-712 `verifyingContract` is its Trading), and a DevnetExecutor
 * executes every accepted order on chain. The devnet has no Referral contract, so the referral
 * domain names the zero address. `chain.operator` must be an operator of Trading (see
 * DevnetExecutorOptions).
 */
export function startAvantisV2DevnetSandbox(
  chain: Omit<DevnetExecutorOptions, 'ledger'>,
  options: Omit<AvantisV2SandboxOptions, 'executor' | 'chainId' | 'addresses'> = {},
): Promise<AvantisV2Sandbox> {
  const d = chain.deployment;
  return startAvantisV2Sandbox({
    ...options,
    chainId: d.chainId,
    addresses: { tradingRouter: d.trading, tradingStorage: d.tradingStorage, usdc: d.usdc, referral: '0x0000000000000000000000000000000000000000' },
    executor: (ledger) => DevnetExecutor.create({ ...chain, ledger }),
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const sandbox = await startAvantisV2Sandbox({ ports: { txBuilder: Number(process.argv[2] ?? 0), gateway: Number(process.argv[3] ?? 0) } });
  process.stdout.write(`Avantis v2 sandbox (in memory, no chain)\n  tx-builder: ${sandbox.txBuilderUrl}\n  gateway:    ${sandbox.gatewayUrl}\n`);
  process.once('SIGINT', () => void sandbox.close().then(() => process.exit(0)));
}
