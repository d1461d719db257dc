/**
 * One owner at a time (ADR 0010), three figures:
 * - Takeover: engines run as separate processes (test/actors/fixtures/engine-worker.ts, the engine
 *   as main composes it) on one PostgreSQL database and one devnet. Each run SIGKILLs the owner
 *   and measures, from the kill, when the standby is ready (lease taken, actors restored) and when
 *   it has put its first order on the network. Several runs; the standby of one run is the owner
 *   of the next.
 * - The order path with the lease checks in place (fenced snapshot writes + a lease check before
 *   each broadcast) against today's unfenced path, same process, same devnet, alternating.
 * - Durable transitions per second with and without the fence on every snapshot batch.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { parseEther, parseGwei, parseUnits, type Address, type PublicClient } from 'viem';
import { createChainOrderGateway } from '../src/actors/order-gateway.ts';
import { createVantaSystem } from '../src/actors/system.ts';
import { createAvantisProtocol } from '../src/infra/chain/avantis/protocol.ts';
import { fencedChainClient } from '../src/infra/chain/fenced-client.ts';
import { createTxMetrics } from '../src/infra/chain/tx/metrics.ts';
import { createOutbox } from '../src/infra/chain/tx/outbox.ts';
import { TxPipeline } from '../src/infra/chain/tx/pipeline.ts';
import { systemClock } from '../src/infra/clock.ts';
import type { Database } from '../src/infra/db/database.ts';
import { OWNED_OUTRIGHT, type Fence } from '../src/infra/db/fence.ts';
import { EngineLease } from '../src/infra/db/lease.ts';
import { startAnvil } from '../src/infra/devnet/anvil.ts';
import { abiOf } from '../src/infra/devnet/artifacts.ts';
import { createDevnetClients, sendCall } from '../src/infra/devnet/clients.ts';
import { avantisAddressesOf, deployAvantisSimulator, type AvantisDeployment } from '../src/infra/devnet/deploy.ts';
import { price1e10 } from '../src/infra/devnet/prices.ts';
import { createLocalKeyStore } from '../src/infra/keys/local-keystore.ts';
import { createWallets, type Wallets } from '../src/infra/keys/wallets.ts';
import { createLogger } from '../src/infra/logger.ts';
import { createMetrics } from '../src/infra/metrics.ts';
import { createChainlinkReader } from '../src/infra/prices/chainlink.ts';
import { Secret } from '../src/infra/secret.ts';
import { benchDatabase, round } from './support.ts';

/** Limits no bench order comes near. */
const BENCH_LIMITS = { maxLeverage: 100, maxCollateralUsdc: '1000000', maxNotionalUsdc: '100000000', maxOpenPositions: 1_000 } as const;
const RUNS = Number(process.env['BENCH_TAKEOVER_RUNS'] ?? 5);
const ORDERS = Number(process.env['BENCH_LEASE_ORDERS'] ?? 60);
const ACTORS = Number(process.env['BENCH_ACTORS'] ?? 2_000);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 10);
/** The engine's defaults (src/infra/config.ts). */
const LEASE = { ttlMs: 2_500, renewEveryMs: 833, pollMs: 250 };
const WORKER = fileURLToPath(new URL('../test/actors/fixtures/engine-worker.ts', import.meta.url));
const logger = createLogger({ level: 'silent' });

const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))]!;
const median = (values: number[]) => percentile(values, 50);

interface Devnet {
  readonly rpcUrl: string;
  readonly chainId: number;
  readonly deployment: AvantisDeployment;
  readonly client: PublicClient;
  fund(address: Address): Promise<void>;
  automine(on: boolean): Promise<void>;
  stop(): Promise<void>;
}

async function devnet(): Promise<Devnet> {
  const anvil = await startAnvil({ logger });
  const clients = createDevnetClients(anvil.rpcUrl, anvil.chainId);
  const [deployer] = await clients.accounts();
  const deployment = await deployAvantisSimulator({ publicClient: clients.publicClient, wallet: clients.wallet(deployer!), logger });
  // Nothing fills orders here: let them pile up pending.
  await sendCall(clients.publicClient, clients.wallet(deployer!), { address: deployment.tradingStorage, abi: abiOf('TradingStorage'), functionName: 'setMaxPendingMarketOrders', args: [100_000n] });
  const client = clients.publicClient as unknown as PublicClient;
  return {
    rpcUrl: anvil.rpcUrl,
    chainId: anvil.chainId,
    deployment,
    client,
    async fund(address) {
      await clients.testClient.setBalance({ address, value: parseEther('100') });
      await sendCall(client, clients.wallet(deployer!), { address: deployment.usdc, abi: abiOf('SimUSDC'), functionName: 'mint', args: [address, parseUnits('1000000', 6)] });
      await clients.testClient.impersonateAccount({ address });
      await sendCall(client, clients.wallet(address), { address: deployment.usdc, abi: abiOf('SimUSDC'), functionName: 'approve', args: [deployment.tradingStorage, parseUnits('1000000', 6)] });
      await clients.testClient.stopImpersonatingAccount({ address });
    },
    automine: (on) => clients.testClient.setAutomine(on),
    stop: () => anvil.stop(),
  };
}

interface Worker {
  readonly child: ChildProcess;
  readonly lines: { at: number; line: Record<string, unknown> }[];
  send(command: unknown): void;
}

async function takeover(chain: Devnet, keyDir: string, dir: string): Promise<Record<string, unknown>> {
  const b = await benchDatabase('takeover');
  const wallets = createWallets({ db: b.db, keystore: await createLocalKeyStore({ dataDir: keyDir, mode: 'sandbox', allowInLive: false, logger }), logger });
  for (let u = 1; u <= 4; u++) await chain.fund((await wallets.create(`user:${u}`)).address);
  writeFileSync(join(dir, 'deployment.json'), JSON.stringify(chain.deployment));
  const workers: Worker[] = [];
  const start = (name: string): Worker => {
    const args = [WORKER, name, chain.rpcUrl, b.url, keyDir, join(dir, 'deployment.json'), String(LEASE.ttlMs), String(LEASE.renewEveryMs), String(LEASE.pollMs)];
    const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    const worker: Worker = { child, lines: [], send: (c) => child.stdin.write(`${JSON.stringify(c)}\n`) };
    createInterface({ input: child.stdout }).on('line', (line) => worker.lines.push({ at: performance.now(), line: JSON.parse(line) as Record<string, unknown> }));
    workers.push(worker);
    return worker;
  };
  const until = async (w: Worker, key: string, after = 0, timeoutMs = 30_000) => {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const found = w.lines.find(({ at, line }) => at >= after && key in line);
      if (found) return found.at;
      if (performance.now() > deadline) throw new Error(`no "${key}" from the worker within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
  let n = 0;
  const order = (w: Worker) => {
    n += 1;
    w.send({ order: { user: (n % 4) + 1, positionId: `t${n}`, collateral: '50' } });
  };
  const ready: number[] = [];
  const firstSend: number[] = [];
  try {
    let owner = start('bench-0');
    await until(owner, 'ready', 0, 60_000);
    for (let run = 1; run <= RUNS; run++) {
      const standby = start(`bench-${run}`);
      await until(standby, 'standby', 0, 60_000);
      // The owner has an order on chain and finished with it, so the standby's first broadcast is a new order.
      order(owner);
      const intent = `position:t${n}:open`;
      for (let i = 0; (await b.db.sql<{ status: string }>('select status from tx_intents where id = ?', [intent]))[0]?.status !== 'mined'; i++) {
        if (i > 3_000) throw new Error(`${intent} was not mined`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      // Kill at a random point of the renewal cycle, as a real death would be.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * LEASE.renewEveryMs));
      const killed = performance.now();
      owner.child.kill('SIGKILL');
      const readyAt = await until(standby, 'ready', killed);
      ready.push(readyAt - killed);
      order(standby);
      firstSend.push((await until(standby, 'sent', readyAt)) - killed);
      owner = standby;
    }
  } finally {
    for (const w of workers) w.child.kill('SIGKILL');
    await b.destroy();
  }
  return {
    runs: RUNS,
    lease: LEASE,
    kill_to_ready_ms: { p50: Math.round(median(ready)), max: Math.round(Math.max(...ready)), each: ready.map(Math.round) },
    kill_to_first_broadcast_ms: { p50: Math.round(median(firstSend)), max: Math.round(Math.max(...firstSend)), each: firstSend.map(Math.round) },
    goal: 'ready < 5,000 ms after the owner dies',
  };
}

/** Order → position → durable state → allowance, price, fee → broadcast, through the actors; automine off. */
async function orderPath(chain: Devnet, db: Database, wallets: Wallets, fence: Fence, label: string, traders: readonly number[]): Promise<number[]> {
  const broadcastAt = new Map<string, number>();
  const waiting = new Map<string, () => void>();
  const client = fencedChainClient(chain.client, fence);
  const pipeline = new TxPipeline({
    client,
    chainId: chain.chainId,
    outbox: createOutbox(db, fence),
    signer: wallets,
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
  const eth = chain.deployment.pairs.find((p) => p.index === 0)!;
  const readPrice = createChainlinkReader(chain.client, systemClock);
  const orders = createChainOrderGateway({
    limits: BENCH_LIMITS,
    protocol: createAvantisProtocol({ version: 'v1', chainId: chain.chainId, addresses: avantisAddressesOf(chain.deployment) }, { client: chain.client }),
    pipeline,
    client,
    wallets,
    clock: systemClock,
    logger,
    pollMs: 60_000,
    priceOf: async () => price1e10((await readPrice({ pair: eth.name, address: eth.chainlinkFeed })).price),
  });
  const runtime = createVantaSystem({
    db,
    fence,
    logger,
    metrics: createMetrics({ version: 'bench', mode: 'sandbox', collectDefault: false }),
    clock: systemClock,
    supervisor: { maxRestarts: 5, windowMs: 60_000, backoffBaseMs: 200, backoffMaxMs: 30_000 },
    persistBatchMax: 1_000,
    orders,
    limits: BENCH_LIMITS,
  });
  await runtime.boot();
  const latencies: number[] = [];
  // One order per trader (a wallet's opens go one at a time until mined, and blocks are paused). The
  // first order of a fresh runtime warms caches (fee estimate, feed decimals) and is not measured.
  for (const [i, telegramId] of traders.entries()) {
    const owner = `user:${telegramId}`;
    runtime.spawn(owner, { input: { telegramId, maxOpenPositions: 10 } });
    const positionId = `${label}-${i}`;
    const intentId = `position:${positionId}:open`;
    const done = new Promise<void>((resolve) => waiting.set(intentId, resolve));
    const started = performance.now();
    runtime.send(owner, { type: 'order.requested', positionId, pair: 'ETH/USD', pairIndex: 0, side: 'long', collateral: '100', leverage: 10 });
    await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error(`${positionId} not broadcast within 15 s`)), 15_000).unref())]);
    if (i > 0) latencies.push(broadcastAt.get(intentId)! - started);
  }
  await runtime.stop();
  return latencies;
}

async function orderPathWithLease(chain: Devnet, keyDir: string): Promise<Record<string, unknown>> {
  const b = await benchDatabase('lease_orders');
  const keystore = await createLocalKeyStore({ dataDir: keyDir, mode: 'sandbox', allowInLive: false, logger });
  const wallets = createWallets({ db: b.db, keystore, logger });
  const lease = new EngineLease({ url: new Secret(b.url), db: b.db, logger, ...LEASE });
  try {
    const fence = await lease.acquire();
    // Four batches (without, with, without, with), each on traders of its own, so a drift of the
    // machine or the database falls on both variants.
    const perBatch = Math.ceil(ORDERS / 4) + 1;
    const traders = Array.from({ length: 4 * perBatch }, (_, i) => 5_000 + i);
    for (const id of traders) await chain.fund((await wallets.create(`user:${id}`)).address);
    await chain.automine(false);
    const fenced: number[] = [];
    const unfenced: number[] = [];
    for (let batch = 0; batch < 4; batch++) {
      const mine = traders.slice(batch * perBatch, (batch + 1) * perBatch);
      if (batch % 2 === 0) unfenced.push(...(await orderPath(chain, b.db, wallets, OWNED_OUTRIGHT, `u${batch}`, mine)));
      else fenced.push(...(await orderPath(chain, b.db, wallets, fence, `f${batch}`, mine)));
    }
    await chain.automine(true);
    const p = (v: number[], q: number) => round(percentile(v, q), 2);
    return {
      orders_each: fenced.length,
      with_lease_ms: { p50: p(fenced, 50), p90: p(fenced, 90), max: p(fenced, 100) },
      without_lease_ms: { p50: p(unfenced, 50), p90: p(unfenced, 90), max: p(unfenced, 100) },
      ratio_p50: round(median(fenced) / median(unfenced), 2),
    };
  } finally {
    await lease.release();
    await keystore.close();
    await b.destroy();
  }
}

/** Each round changes every actor once and waits until it is durable (bench/persistence.bench.ts), fence or not. */
async function persistence(): Promise<Record<string, unknown>> {
  const trial = async (withLease: boolean): Promise<number> => {
    const b = await benchDatabase('lease_persist');
    const lease = new EngineLease({ url: new Secret(b.url), db: b.db, logger, ...LEASE });
    try {
      const fence = withLease ? await lease.acquire() : OWNED_OUTRIGHT;
      const runtime = createVantaSystem({
        db: b.db,
        fence,
        logger,
        metrics: createMetrics({ version: 'bench', mode: 'sandbox', collectDefault: false }),
        clock: systemClock,
        supervisor: { maxRestarts: 5, windowMs: 60_000, backoffBaseMs: 200, backoffMaxMs: 30_000 },
        persistBatchMax: 1_000,
        limits: BENCH_LIMITS,
      });
      await runtime.boot();
      for (let u = 1; u <= ACTORS; u++) runtime.spawn(`user:${u}`, { input: { telegramId: u, maxOpenPositions: 5 } });
      await runtime.flushed();
      const started = performance.now();
      for (let r = 1; r <= ROUNDS; r++) {
        for (let u = 1; u <= ACTORS; u++) runtime.send(`user:${u}`, { type: 'settings.update', slippageBps: ((r + u) % 900) + 1 });
        await runtime.flushed();
      }
      const perSecond = (ACTORS * ROUNDS) / ((performance.now() - started) / 1000);
      await runtime.stop();
      return perSecond;
    } finally {
      await lease.release();
      await b.destroy();
    }
  };
  const fenced: number[] = [];
  const unfenced: number[] = [];
  for (let i = 0; i < 3; i++) {
    unfenced.push(await trial(false));
    fenced.push(await trial(true));
  }
  return {
    durable_transitions_per_s_with_lease: Math.round(median(fenced)),
    durable_transitions_per_s_without: Math.round(median(unfenced)),
    ratio: round(median(fenced) / median(unfenced), 2),
  };
}

export async function run(): Promise<Record<string, unknown>> {
  const chain = await devnet();
  const keyDir = mkdtempSync(join(tmpdir(), 'vanta-bench-lease-keys-'));
  const dir = mkdtempSync(join(tmpdir(), 'vanta-bench-lease-'));
  try {
    return {
      takeover: await takeover(chain, keyDir, dir),
      order_path: await orderPathWithLease(chain, keyDir),
      persistence: await persistence(),
    };
  } finally {
    rmSync(keyDir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
    await chain.stop();
  }
}

if (import.meta.main) console.log(JSON.stringify(await run(), null, 2));
