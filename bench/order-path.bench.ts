/**
 * Order path benchmark (issue 3): from an accepted order step to its signed
 * transaction broadcast, through the real pipeline (simulation, nonce
 * reservation in PostgreSQL, decrypt + sign with the local keystore, outbox
 * write, broadcast) on an anvil devnet with the simulator deployed.
 * "Excluding chain time": anvil's automine is off while we measure, so a
 * broadcast returns when the node has queued the transaction, not mined it.
 * Baseline, same run: raw viem (key in memory) simulating, signing and sending
 * the same calls, with no outbox and no keystore.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { encodeFunctionData, parseEther, parseGwei, parseUnits, type Address, type PublicClient } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { createChainOrderGateway } from '../src/actors/order-gateway.ts';
import { createVantaSystem } from '../src/actors/system.ts';
import { createAvantisProtocol } from '../src/infra/chain/avantis/protocol.ts';
import { systemClock } from '../src/infra/clock.ts';
import { OWNED_OUTRIGHT } from '../src/infra/db/fence.ts';
import type { Database } from '../src/infra/db/database.ts';
import type { Wallets } from '../src/infra/keys/wallets.ts';
import { createMetrics } from '../src/infra/metrics.ts';
import { createChainlinkReader } from '../src/infra/prices/chainlink.ts';
import { createTxMetrics } from '../src/infra/chain/tx/metrics.ts';
import { createOutbox } from '../src/infra/chain/tx/outbox.ts';
import { TxPipeline } from '../src/infra/chain/tx/pipeline.ts';
import { startAnvil } from '../src/infra/devnet/anvil.ts';
import { abiOf } from '../src/infra/devnet/artifacts.ts';
import { createDevnetClients, sendCall } from '../src/infra/devnet/clients.ts';
import { avantisAddressesOf, deployAvantisSimulator } from '../src/infra/devnet/deploy.ts';
import { price1e10 } from '../src/infra/devnet/prices.ts';
import { createLocalKeyStore } from '../src/infra/keys/local-keystore.ts';
import { createWallets } from '../src/infra/keys/wallets.ts';
import { createLogger } from '../src/infra/logger.ts';
import { benchDatabase, percentile, round } from './support.ts';

const DEFAULT_ORDERS = Number(process.env['BENCH_ORDERS'] ?? 300);
const DEFAULT_ACTOR_ORDERS = Number(process.env['BENCH_ACTOR_ORDERS'] ?? 100);
const USERS = 10;
const BENCH_LIMITS = { maxLeverage: 100, maxCollateralUsdc: '1000000', maxNotionalUsdc: '100000000', maxOpenPositions: 1_000 } as const;
const logger = createLogger({ level: 'silent' });
const tradingAbi = abiOf('Trading');

/** `orders` through the pipeline (and as many raw viem sends), `actorOrders` through the actors. */
export async function run(counts: { orders?: number; actorOrders?: number } = {}): Promise<Record<string, unknown>> {
  const ORDERS = counts.orders ?? DEFAULT_ORDERS;
  const ACTOR_ORDERS = counts.actorOrders ?? DEFAULT_ACTOR_ORDERS;
  const anvil = await startAnvil({ logger });
  const b = await benchDatabase('orders');
  const keyDir = mkdtempSync(join(tmpdir(), 'vanta-bench-keys-'));
  try {
    const clients = createDevnetClients(anvil.rpcUrl, anvil.chainId);
    const [deployer] = await clients.accounts();
    const deployment = await deployAvantisSimulator({ publicClient: clients.publicClient, wallet: clients.wallet(deployer!), logger });
    // Orders stay pending (no keeper here): lift the per-trader cap so one wallet can hold them all.
    await sendCall(clients.publicClient, clients.wallet(deployer!), { address: deployment.tradingStorage, abi: abiOf('TradingStorage'), functionName: 'setMaxPendingMarketOrders', args: [100_000n] });
    const keystore = await createLocalKeyStore({ dataDir: keyDir, mode: 'sandbox', allowInLive: false, logger });
    const wallets = createWallets({ db: b.db, keystore, logger });
    const client = clients.publicClient as unknown as PublicClient;
    const fund = async (address: Address) => {
      await clients.testClient.setBalance({ address, value: parseEther('100') });
      await sendCall(client, clients.wallet(deployer!), { address: deployment.usdc, abi: abiOf('SimUSDC'), functionName: 'mint', args: [address, parseUnits('1000000', 6)] });
      await clients.testClient.impersonateAccount({ address });
      await sendCall(client, clients.wallet(address), { address: deployment.usdc, abi: abiOf('SimUSDC'), functionName: 'approve', args: [deployment.tradingStorage, parseUnits('1000000', 6)] });
      await clients.testClient.stopImpersonatingAccount({ address });
    };
    const openData = (trader: Address) =>
      encodeFunctionData({
        abi: tradingAbi,
        functionName: 'openTrade',
        args: [{ trader, pairIndex: 0n, index: 0n, initialPosToken: 0n, positionSizeUSDC: parseUnits('100', 6), openPrice: price1e10('3000'), buy: true, leverage: parseUnits('10', 10), tp: 0n, sl: 0n, timestamp: 0n }, 0, parseUnits('100', 10)],
      });

    const users: { id: string; address: Address }[] = [];
    for (let i = 0; i < USERS; i++) {
      const { address } = await wallets.create(`bench-${i}`);
      await fund(address);
      users.push({ id: `bench-${i}`, address });
    }
    const pipeline = new TxPipeline({
      client,
      chainId: anvil.chainId,
      outbox: createOutbox(b.db, OWNED_OUTRIGHT),
      signer: wallets,
      fees: { maxFeePerGas: parseGwei('200'), minPriorityFeePerGas: 1n },
      clock: systemClock,
      logger,
      metrics: createTxMetrics(new Registry()),
    });

    const raw = [];
    for (let i = 0; i < USERS; i++) {
      const account = privateKeyToAccount(generatePrivateKey());
      await fund(account.address);
      raw.push(account);
    }

    await clients.testClient.setAutomine(false);
    const ours: number[] = [];
    const baseline: number[] = [];
    const rawNonces = new Map<string, number>();
    for (let n = 0; n < ORDERS; n++) {
      const user = users[n % USERS]!;
      let t = performance.now();
      await pipeline.submit({ id: `bench-order-${n}`, userId: user.id, from: user.address, kind: 'open', request: { to: deployment.trading, data: openData(user.address), value: 350_000_000_000_000n } });
      ours.push(performance.now() - t);

      const account = raw[n % USERS]!;
      t = performance.now();
      const request = { account: account.address, to: deployment.trading, data: openData(account.address), value: 350_000_000_000_000n };
      const gas = await client.estimateGas(request);
      const nonce = rawNonces.get(account.address) ?? (await client.getTransactionCount({ address: account.address, blockTag: 'pending' }));
      const fees = await client.estimateFeesPerGas({ type: 'eip1559', chain: null });
      const signed = await account.signTransaction({ type: 'eip1559', chainId: anvil.chainId, nonce, to: request.to, data: request.data, value: request.value, gas, ...fees });
      await client.sendRawTransaction({ serializedTransaction: signed });
      rawNonces.set(account.address, nonce + 1);
      baseline.push(performance.now() - t);
      if (n % USERS === USERS - 1) await clients.testClient.mine({ blocks: 1 });
    }
    await clients.testClient.mine({ blocks: 1 });
    await clients.testClient.setAutomine(true);
    const viaActors = await throughActors({ orders: ACTOR_ORDERS, client, anvilChainId: anvil.chainId, deployment, db: b.db, wallets, fund, automine: (on) => clients.testClient.setAutomine(on) });
    await keystore.close();
    const p = (v: number[], q: number) => round(percentile(v, q), 2);
    return {
      orders: ORDERS,
      accepted_to_broadcast_ms: { p50: p(ours, 50), p99: p(ours, 99), max: p(ours, 100) },
      through_actors_ms: { orders: viaActors.length, p50: p(viaActors, 50), p99: p(viaActors, 99), max: p(viaActors, 100) },
      raw_viem_ms: { p50: p(baseline, 50), p99: p(baseline, 99) },
      ratio_p50_vs_raw: round(percentile(ours, 50) / percentile(baseline, 50), 2),
      goal: 'p50 < 20 ms, p99 < 60 ms',
    };
  } finally {
    rmSync(keyDir, { recursive: true, force: true });
    await b.destroy();
    await anvil.stop();
  }
}

/**
 * The same path as a trader's order takes it: `order.requested` to the user actor → the position
 * actor is spawned → its state is made durable → allowance check, oracle price, execution fee →
 * the pipeline signs and broadcasts. Measured to the broadcast, automine off.
 */
async function throughActors(ctx: {
  orders: number;
  client: PublicClient;
  anvilChainId: number;
  deployment: Awaited<ReturnType<typeof deployAvantisSimulator>>;
  db: Database;
  wallets: Wallets;
  fund: (address: Address) => Promise<void>;
  automine: (on: boolean) => Promise<void>;
}): Promise<number[]> {
  const broadcastAt = new Map<string, number>();
  const waiting = new Map<string, () => void>();
  const pipeline = new TxPipeline({
    client: ctx.client,
    chainId: ctx.anvilChainId,
    outbox: createOutbox(ctx.db, OWNED_OUTRIGHT),
    signer: ctx.wallets,
    fees: { maxFeePerGas: parseGwei('200'), minPriorityFeePerGas: 1n },
    clock: systemClock,
    logger,
    metrics: createTxMetrics(new Registry()),
    onStep: (step, intent) => {
      if (step !== 'broadcast') return;
      broadcastAt.set(intent.id, performance.now());
      waiting.get(intent.id)?.();
    },
  });
  const d = ctx.deployment;
  const protocol = createAvantisProtocol(
    { version: 'v1', chainId: ctx.anvilChainId, addresses: avantisAddressesOf(d) },
    { client: ctx.client },
  );
  const eth = d.pairs.find((pair) => pair.index === 0)!;
  const readPrice = createChainlinkReader(ctx.client, systemClock);
  const orders = createChainOrderGateway({
    protocol,
    pipeline,
    client: ctx.client,
    wallets: ctx.wallets,
    limits: BENCH_LIMITS,
    clock: systemClock,
    logger,
    pollMs: 60_000,
    priceOf: async () => price1e10((await readPrice({ pair: eth.name, address: eth.chainlinkFeed })).price),
  });
  const runtime = createVantaSystem({
    // Without the engine lease, as these figures were first taken; bench/takeover.bench.ts measures with and without it.
    fence: OWNED_OUTRIGHT,
    db: ctx.db,
    logger,
    metrics: createMetrics({ version: 'bench', mode: 'sandbox', collectDefault: false }),
    clock: systemClock,
    supervisor: { maxRestarts: 5, windowMs: 60_000, backoffBaseMs: 200, backoffMaxMs: 30_000 },
    persistBatchMax: 1_000,
    orders,
    limits: BENCH_LIMITS,
  });
  await runtime.boot();
  // One order per trader: a wallet's opens go one at a time until mined (allowance safety), and
  // blocks are paused here to measure without chain time.
  const traders = ctx.orders;
  for (let i = 0; i < traders; i++) {
    const owner = `user:${900 + i}`;
    const { address } = await ctx.wallets.create(owner);
    await ctx.fund(address);
    runtime.spawn(owner, { input: { telegramId: 900 + i, maxOpenPositions: 1_000 } });
  }
  await ctx.automine(false);
  const latencies: number[] = [];
  for (let n = 0; n < ctx.orders; n++) {
    const positionId = `bench-actor-${n}`;
    const intentId = `position:${positionId}:open`;
    const done = new Promise<void>((resolve) => waiting.set(intentId, resolve));
    const started = performance.now();
    runtime.send(`user:${900 + n}`, { type: 'order.requested', positionId, pair: 'ETH/USD', pairIndex: 0, side: 'long', collateral: '100', leverage: 10 });
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`order ${positionId} was not broadcast within 15 s`)), 15_000).unref(),
    );
    await Promise.race([done, timeout]);
    latencies.push(broadcastAt.get(intentId)! - started);
  }
  await runtime.stop();
  return latencies;
}

if (import.meta.main) console.log(JSON.stringify(await run(), null, 2));
