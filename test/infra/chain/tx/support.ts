import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { createPublicClient, custom, encodeFunctionData, parseEther, parseGwei, parseUnits, type Address, type Hex, type PublicClient } from 'viem';
import { systemClock, type Clock } from '../../../../src/infra/clock.ts';
import { OWNED_OUTRIGHT } from '../../../../src/infra/db/fence.ts';
import { createOutbox } from '../../../../src/infra/chain/tx/outbox.ts';
import { createTxMetrics } from '../../../../src/infra/chain/tx/metrics.ts';
import { TxPipeline, type IntentInput, type PipelineOptions } from '../../../../src/infra/chain/tx/pipeline.ts';
import { abiOf } from '../../../../src/infra/devnet/artifacts.ts';
import { createLocalKeyStore } from '../../../../src/infra/keys/local-keystore.ts';
import { createWallets, type Wallets } from '../../../../src/infra/keys/wallets.ts';
import type { KeyStore } from '../../../../src/infra/keys/keystore.ts';
import { silentLogger } from '../../../helpers/common.ts';
import { createTestPostgres, type TestDatabase } from '../../../helpers/db.ts';
import { EXEC_FEE_WEI, PERCENT, PRICE, referenceAbi, startSimulator, type SimFixture } from '../../devnet/fixture.ts';

export interface TxFixture {
  readonly sim: SimFixture;
  readonly pg: TestDatabase;
  readonly keystore: KeyStore;
  readonly wallets: Wallets;
  /** Where the local keystore keeps its master key (a worker process opens the same one). */
  readonly keyDir: string;
  pipeline(overrides?: Partial<PipelineOptions>): TxPipeline;
  /** A user with a keystore wallet holding ETH for gas and USDC approved for TradingStorage. */
  trader(userId: string): Promise<Address>;
  /** Intent for an ETH/USD market long of 100 USDC at 10x. */
  openIntent(id: string, userId: string, from: Address): IntentInput;
  /** Market orders the trader has pending on chain (MarketOrderInitiated not yet filled). */
  pendingOrders(trader: Address): Promise<readonly bigint[]>;
  close(): Promise<void>;
}

export async function txFixture(): Promise<TxFixture> {
  const sim = await startSimulator();
  const pg = await createTestPostgres('tx');
  const keyDir = mkdtempSync(join(tmpdir(), 'vanta-tx-keys-'));
  const keystore = await createLocalKeyStore({ dataDir: keyDir, mode: 'sandbox', allowInLive: false, logger: silentLogger() });
  const wallets = createWallets({ db: pg.db, keystore, logger: silentLogger() });
  const publicClient = sim.clients.publicClient as unknown as PublicClient;
  await sim.setPrice(0n, PRICE('3000'));
  return {
    sim,
    pg,
    keystore,
    wallets,
    keyDir,
    pipeline: (overrides = {}) => createPipeline(pg, wallets, publicClient, sim.anvil.chainId, systemClock, overrides),
    async trader(userId) {
      const { address } = await wallets.create(userId);
      await sim.clients.testClient.setBalance({ address, value: parseEther('10') });
      await sim.call(sim.deployer, 'SimUSDC', sim.deployment.usdc, 'mint', [address, parseUnits('10000', 6)]);
      await sim.clients.testClient.impersonateAccount({ address });
      await sim.call(address, 'SimUSDC', sim.deployment.usdc, 'approve', [sim.deployment.tradingStorage, parseUnits('10000', 6)]);
      await sim.clients.testClient.stopImpersonatingAccount({ address });
      return address;
    },
    openIntent: (id, userId, from) => ({ id, userId, from, kind: 'open', request: { to: sim.deployment.trading, data: openTradeData(from), value: EXEC_FEE_WEI } }),
    async pendingOrders(trader) {
      return (await publicClient.readContract({ address: sim.deployment.tradingStorage, abi: abiOf('TradingStorage'), functionName: 'getPendingOrderIds', args: [trader] })) as readonly bigint[];
    },
    async close() {
      await keystore.close();
      rmSync(keyDir, { recursive: true, force: true });
      await pg.destroy();
      await sim.close();
    },
  };
}

export function createPipeline(pg: Pick<TestDatabase, 'db'>, wallets: Wallets, client: PublicClient, chainId: number, clock: Clock, overrides: Partial<PipelineOptions> = {}): TxPipeline {
  return new TxPipeline({
    client,
    chainId,
    outbox: createOutbox(pg.db, OWNED_OUTRIGHT),
    signer: wallets,
    fees: { maxFeePerGas: parseGwei('200'), minPriorityFeePerGas: 1n },
    clock,
    logger: silentLogger(),
    metrics: createTxMetrics(new Registry()),
    pollMs: 20,
    speedUpAfterMs: 60_000,
    receiptTimeoutMs: 10_000,
    ...overrides,
  });
}

export function openTradeData(trader: Address, overrides: { leverage?: bigint; collateral?: bigint } = {}): Hex {
  return encodeFunctionData({
    abi: referenceAbi('Trading'),
    functionName: 'openTrade',
    args: [
      {
        trader,
        pairIndex: 0n,
        index: 0n,
        initialPosToken: 0n,
        positionSizeUSDC: overrides.collateral ?? parseUnits('100', 6),
        openPrice: PRICE('3000'),
        buy: true,
        leverage: overrides.leverage ?? parseUnits('10', 10),
        tp: 0n,
        sl: 0n,
        timestamp: 0n,
      },
      0,
      PERCENT('1'),
    ],
  });
}

/** One JSON-RPC call as a custom transport sees it. */
export interface RpcCall {
  readonly method: string;
  readonly params?: unknown;
}

/**
 * A client over the fixture's anvil whose answers a test can bend: `intercept` returns
 * `undefined` to pass a call through, or a value (or throws) to answer it instead. Stands in for
 * an RPC provider that lags, errors, or has no historic state.
 */
export function proxyClient(f: TxFixture, intercept: (call: RpcCall, passThrough: () => Promise<unknown>) => Promise<unknown> | undefined): PublicClient {
  const upstream = (call: RpcCall): Promise<unknown> => f.sim.clients.publicClient.request(call as never);
  return createPublicClient({
    transport: custom({ request: (call: RpcCall) => intercept(call, () => upstream(call)) ?? upstream(call) }, { retryCount: 0 }),
    pollingInterval: 50,
  });
}

/** Polls `condition` until it holds (or fails the test after `timeoutMs`). */
export async function waitUntil(condition: () => Promise<boolean> | boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
