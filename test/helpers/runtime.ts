import type { Logger } from 'pino';
import { createVantaSystem, type VantaSystemDeps } from '../../src/actors/system.ts';
import type { ActorRuntime } from '../../src/actors/runtime.ts';
import { systemClock } from '../../src/infra/clock.ts';
import type { Database } from '../../src/infra/db/database.ts';
import { OWNED_OUTRIGHT } from '../../src/infra/db/fence.ts';
import { silentLogger, testMetrics } from './common.ts';
import { ordersDouble } from './orders-double.ts';

/** Limits wide enough that no runtime test trips them by accident (risk tests set their own). */
export const TEST_LIMITS = { maxLeverage: 1000, maxCollateralUsdc: '100000', maxNotionalUsdc: '10000000', maxOpenPositions: 1000 } as const;

export const FAST_SUPERVISOR = { maxRestarts: 3, windowMs: 5_000, backoffBaseMs: 20, backoffMaxMs: 200 } as const;

/** A runtime with every kind, quick supervision and a silent logger; override anything. */
export function testSystem(db: Database, overrides: Partial<VantaSystemDeps> & { logger?: Logger } = {}): ActorRuntime {
  return createVantaSystem({
    db,
    fence: OWNED_OUTRIGHT,
    logger: silentLogger(),
    metrics: testMetrics(),
    clock: systemClock,
    supervisor: FAST_SUPERVISOR,
    persistBatchMax: 500,
    orders: ordersDouble(),
    limits: TEST_LIMITS,
    ...overrides,
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls until the predicate holds or the timeout passes (then throws with the label). */
export async function waitFor(predicate: () => boolean | Promise<boolean>, label: string, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > until) throw new Error(`Timed out waiting for ${label}`);
    await sleep(10);
  }
}

/** The persisted JSON of a live actor, as it would be written. */
export function persisted(runtime: ActorRuntime, id: string): unknown {
  const actor = runtime.get(id);
  if (!actor) throw new Error(`${id} is not running`);
  return JSON.parse(JSON.stringify(actor.getPersistedSnapshot()));
}

/** The top-level state of a snapshot (`{ open: 'watching' }` → `open`), or undefined. */
export function topState(snapshot: { value?: unknown } | undefined): string | undefined {
  const value = snapshot?.value;
  if (typeof value === 'string') return value;
  return value && typeof value === 'object' ? Object.keys(value)[0] : undefined;
}
