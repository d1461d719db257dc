import type { ActorLogic, EventObject, Snapshot } from 'xstate';

/**
 * A timer that survives a restore. XState's `after` and delayed events live
 * only in memory and are lost when a snapshot is restored (statelyai/xstate#5331),
 * so machines invoke `src: 'deadline'` instead. The timer fixes its absolute
 * deadline in its own snapshot when it starts; that snapshot is part of the
 * parent's persisted snapshot, and a restored parent restarts the timer with
 * whatever time is left (or fires at once if it is already past).
 *
 * The real logic needs a clock, so it is provided by the actors layer
 * (`createDeadlineLogic`); machines reference it by key only.
 */
export interface DeadlineInput {
  /** Milliseconds from the moment the timer starts. */
  readonly delayMs: number;
}

export interface DeadlineOutput {
  /** Epoch ms at which the timer was due. */
  readonly deadline: number;
  /**
   * The timer was set by an earlier run of the engine and restored from its snapshot: the wait it
   * measured spans the restart, which a machine may judge differently from a wait seen whole.
   */
  readonly restored: boolean;
}

export type DeadlineSnapshot = Snapshot<DeadlineOutput> & {
  /** Epoch ms; fixed when the timer is created, kept across restores. */
  readonly deadline: number;
  /** Set in memory on restore (never persisted): the timer began in an earlier run. */
  readonly restored?: true;
};

export type DeadlineEvent = EventObject;

export type DeadlineLogic = ActorLogic<DeadlineSnapshot, DeadlineEvent, DeadlineInput>;

/**
 * Stand-in used in `setup()` so machines stay pure. It refuses to run: an
 * actor created without `.provide({ actors: { deadline } })` fails loudly
 * instead of silently never timing out.
 */
export const deadlinePlaceholder: DeadlineLogic = {
  config: 'deadline',
  getInitialSnapshot: () => {
    throw new Error("The 'deadline' actor was not provided: create machines through src/actors, which provide a real clock.");
  },
  transition: (snapshot) => snapshot,
  getPersistedSnapshot: (snapshot) => snapshot,
};
