import type { AnyActorRef } from 'xstate';

/**
 * Every domain actor is created with the root supervisor as its XState parent
 * (so its errors reach the supervisor instead of crashing the process), and
 * XState refuses `stop()` on an actor that has a parent. `_stop()` is the call
 * XState's own `stopChild` makes. xstate is pinned exactly (package.json) and
 * test/actors/xstate-internals.test.ts fails if this ever stops working.
 */
export function stopDetached(actor: AnyActorRef): void {
  const internal = actor as unknown as { _stop?: () => void };
  if (typeof internal._stop !== 'function') throw new Error('xstate internals changed: Actor._stop is missing; re-check src/actors/xstate-internals.ts');
  internal._stop();
}
