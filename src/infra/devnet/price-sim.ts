import type { PublicClient } from 'viem';
import type { Logger } from 'pino';
import { abiOf } from './artifacts.ts';
import { sendCall, type DevnetWallet } from './clients.ts';
import { createTickLoop } from './tick-loop.ts';
import type { AvantisDeployment, DeployedPair } from './deploy.ts';
import { toChainlinkAnswer } from './prices.ts';
import { createSimReads } from './sim-reads.ts';

/**
 * The devnet market: moves every pair's Chainlink-style feed along a seeded geometric random
 * walk. The keeper turns those answers into Pyth updates, so this is the single source of
 * price on the devnet. Same seed and same start prices give the same path, step by step.
 */
export interface PriceSimulator {
  /** Moves every pair one step and publishes the new answers; resolves with them (1e10). `signal` ends it early. */
  step(signal?: AbortSignal): Promise<ReadonlyMap<number, bigint>>;
  /** Publishes an exact price for one pair (tests, demos); the walk continues from it. */
  setPrice(pairIndex: number, price: bigint): Promise<void>;
  start(): void;
  /** Aborts the step in progress (its receipt waits end at once) and stops the loop. */
  stop(): Promise<void>;
}

export interface PriceSimDeps {
  readonly publicClient: PublicClient;
  /** The deployer: it owns the feeds. */
  readonly wallet: DevnetWallet;
  readonly deployment: AvantisDeployment;
  readonly logger: Logger;
}

export interface PriceSimOptions {
  readonly seed?: number;
  readonly intervalMs?: number;
  /** Standard deviation of one step's log return; default 0.001 (0.1 %). */
  readonly volatility?: number;
}

export function createPriceSimulator(deps: PriceSimDeps, options: PriceSimOptions = {}): PriceSimulator {
  const logger = deps.logger.child({ component: 'devnet-price-sim' });
  const reads = createSimReads(deps.publicClient, deps.deployment);
  const random = seededRandom(options.seed ?? 1);
  const volatility = options.volatility ?? 0.001;
  const pairs = new Map(deps.deployment.pairs.map((p) => [p.index, p]));
  let prices: Map<number, bigint> | undefined;
  let stepping: Promise<unknown> = Promise.resolve();

  async function currentPrices(): Promise<Map<number, bigint>> {
    if (!prices) {
      const entries = await Promise.all([...pairs.values()].map(async (p) => [p.index, (await reads.chainlinkPrice(p)).price] as const));
      prices = new Map(entries);
    }
    return prices;
  }

  async function publish(pair: DeployedPair, price: bigint, updatedAt: bigint, signal?: AbortSignal): Promise<void> {
    const call = { address: pair.chainlinkFeed, abi: abiOf('SimChainlinkAggregator'), functionName: 'setAnswer', args: [toChainlinkAnswer(price), updatedAt] };
    await sendCall(deps.publicClient, deps.wallet, call, signal ? { signal } : {});
  }

  /** Steps are serialised so the walk stays in order whoever calls. */
  function serial<T>(work: () => Promise<T>): Promise<T> {
    const next = stepping.then(work, work);
    stepping = next.catch(() => undefined);
    return next;
  }

  const step = (signal?: AbortSignal) =>
    serial(async () => {
      const current = await currentPrices();
      const next = nextPrices(current, random, volatility);
      const { timestamp } = await deps.publicClient.getBlock();
      // One after another: anvil refuses parallel sends from one unlocked account (nonce clash).
      for (const [index, price] of next) await publish(pairs.get(index) as DeployedPair, price, timestamp, signal);
      prices = next;
      return next;
    });

  const ticker = createTickLoop({ tick: step, intervalMs: options.intervalMs ?? 1_000, onError: (err) => logger.warn({ err }, 'Price step failed') });

  return {
    step,
    setPrice: (pairIndex, price) =>
      serial(async () => {
        const pair = pairs.get(pairIndex);
        if (!pair) throw new Error(`pair ${pairIndex} is not listed on the devnet`);
        const current = await currentPrices();
        const { timestamp } = await deps.publicClient.getBlock();
        await publish(pair, price, timestamp);
        current.set(pairIndex, price);
      }),
    start() {
      ticker.start();
    },
    async stop() {
      // The loop's own step is aborted by the ticker; a step a caller started is awaited too,
      // so nothing is sent after stop() (its receipt wait is bounded by sendCall's timeout).
      await ticker.stop();
      await stepping;
    },
  };
}

/**
 * One step of a driftless geometric random walk: `p × exp(σz − σ²/2)` with z standard normal.
 * Pure, so tests can check determinism without a chain. Prices are 1e10 integers; a price
 * never reaches zero (floored at 1).
 */
export function nextPrices(prices: ReadonlyMap<number, bigint>, random: () => number, volatility: number): Map<number, bigint> {
  const next = new Map<number, bigint>();
  for (const [index, price] of [...prices].sort(([a], [b]) => a - b)) {
    const factor = Math.exp(volatility * standardNormal(random) - (volatility * volatility) / 2);
    const moved = BigInt(Math.round(Number(price) * factor));
    next.set(index, moved > 0n ? moved : 1n);
  }
  return next;
}

/** mulberry32: a small, fast, seedable PRNG returning [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Box–Muller. */
function standardNormal(random: () => number): number {
  const u = 1 - random(); // (0, 1]: log(0) is avoided
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}
