import type { Logger } from 'pino';
import type { Notice, NoticeKind, NoticeSink } from '../../src/actors/desk.ts';
import type { OpenGate } from '../../src/actors/order-gateway.ts';
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
    noticeRetry: { baseMs: 20, maxMs: 200 },
    ...overrides,
  });
}

/** For tests that call a gateway's submitOpen directly: trading is not paused. */
export const OPEN_GATE: OpenGate = () => {};

/**
 * A notice sink that records the texts a trader receives, in order. `except` leaves out kinds a
 * test is not about (most order tests ignore the "sent" acknowledgements).
 */
export function textSink(told: string[], options: { except?: readonly NoticeKind[] } = {}): NoticeSink {
  return (notice) => {
    if (!options.except?.includes(notice.kind)) told.push(notice.text);
    return Promise.resolve();
  };
}

/** The acknowledgements most order tests leave out of what they compare. */
export const SENT_KINDS: readonly NoticeKind[] = ['order.sent', 'close.sent'];

/** Every notice the sink received, in order (duplicates included: delivery is at least once). */
export function noticeLog(): { sink: NoticeSink; received: Notice[] } {
  const received: Notice[] = [];
  return {
    received,
    sink: (notice) => {
      received.push(notice);
      return Promise.resolve();
    },
  };
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
