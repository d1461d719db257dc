import type { Clock } from '../clock.ts';

/**
 * Simulated prices for the sandbox: a seeded geometric random walk per pair,
 * ticking at a fixed interval. Deterministic for a given seed, so a sandbox
 * session and a test see the same path. (On the devnet the same walk drives
 * the simulator's on-chain aggregators.)
 */
export interface SimulatedPair {
  readonly pair: string;
  readonly start: number;
  /** Per-tick standard deviation of the log return, e.g. 0.001. */
  readonly volatility: number;
}

export interface PriceObservation {
  readonly pair: string;
  /** Decimal string with up to 10 decimals (Avantis uses 1e10 price precision). */
  readonly price: string;
  readonly publishTime: number;
}

export interface PriceSimulation {
  stop(): void;
}

export function startPriceSimulation(options: {
  pairs: readonly SimulatedPair[];
  intervalMs: number;
  seed: number;
  clock: Clock;
  onPrice: (observation: PriceObservation) => void;
}): PriceSimulation {
  const random = mulberry32(options.seed);
  const prices = new Map(options.pairs.map((p) => [p.pair, p.start]));
  let stopped = false;
  let handle: unknown;
  const tick = () => {
    if (stopped) return;
    const now = options.clock.now();
    for (const p of options.pairs) {
      const next = prices.get(p.pair)! * Math.exp(p.volatility * gaussian(random));
      prices.set(p.pair, next);
      options.onPrice({ pair: p.pair, price: next.toFixed(10).replace(/\.?0+$/, ''), publishTime: now });
    }
    handle = options.clock.setTimeout(tick, options.intervalMs);
  };
  tick();
  return {
    stop() {
      stopped = true;
      options.clock.clearTimeout(handle);
    },
  };
}

/** Small, fast, seedable PRNG (public-domain algorithm by Tommy Ettinger). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal via Box–Muller. */
function gaussian(random: () => number): number {
  const u = Math.max(random(), Number.EPSILON);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}
