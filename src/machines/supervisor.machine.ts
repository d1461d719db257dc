import { assign, setup } from 'xstate';

/**
 * The root of the actor system. Every domain actor (user, position, price
 * feed, copy leader) is created with this actor as its XState parent, so each
 * child's `xstate.error.actor.<id>` and `xstate.done.actor.<id>` arrive here
 * instead of escalating and taking the process down. What to do about them
 * (restart with backoff, quarantine, mark done) is decided by the runtime
 * through the named actions below; this machine keeps the system's lifecycle
 * and the counts an operator sees in the inspector.
 *
 * The root is not persisted: it is rebuilt at every boot from the actors' rows.
 */
export const SUPERVISOR_SYSTEM_ID = 'root';

export interface SupervisorContext {
  readonly failures: number;
  readonly restarts: number;
  readonly quarantined: number;
  readonly completed: number;
}

export type SupervisorEvent =
  | { type: 'system.booted'; actors: number }
  | { type: 'system.drain' }
  | { type: 'actor.restarted'; actorId: string }
  | { type: 'actor.quarantined'; actorId: string }
  | { type: `xstate.error.actor.${string}`; actorId: string; error: unknown }
  | { type: `xstate.done.actor.${string}`; actorId: string; output: unknown };

export const supervisorMachine = setup({
  types: {
    context: {} as SupervisorContext,
    events: {} as SupervisorEvent,
  },
  actions: {
    /** Provided by the runtime: apply the supervision policy to a failed child. */
    childFailed: (_, _params: { actorId: string; error: unknown }) => {},
    /** Provided by the runtime: a child reached a final state; persist it as done. */
    childCompleted: (_, _params: { actorId: string }) => {},
  },
}).createMachine({
  id: 'supervisor',
  context: { failures: 0, restarts: 0, quarantined: 0, completed: 0 },
  initial: 'booting',
  on: {
    'xstate.error.actor.*': {
      actions: [
        assign({ failures: ({ context }) => context.failures + 1 }),
        {
          type: 'childFailed',
          params: ({ event }) => ({ actorId: (event as { actorId: string }).actorId, error: (event as { error: unknown }).error }),
        },
      ],
    },
    'xstate.done.actor.*': {
      actions: [
        assign({ completed: ({ context }) => context.completed + 1 }),
        { type: 'childCompleted', params: ({ event }) => ({ actorId: (event as { actorId: string }).actorId }) },
      ],
    },
    'actor.restarted': { actions: assign({ restarts: ({ context }) => context.restarts + 1 }) },
    'actor.quarantined': { actions: assign({ quarantined: ({ context }) => context.quarantined + 1 }) },
  },
  states: {
    booting: { on: { 'system.booted': 'running' } },
    running: { on: { 'system.drain': 'draining' } },
    draining: {},
  },
});
