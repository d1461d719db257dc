import { ReusedRing } from './reused-ring.ts';

/**
 * One recorded step of an actor, kept raw: `value` and `context` are the snapshot's own
 * (immutable) objects, sanitised only when someone reads the history.
 */
export interface RawStep {
  at: number;
  /** Type of the event that caused the step. */
  event: string;
  value: unknown;
  context: unknown;
}

/** An actor's last steps. Created on the actor's first step; a busy actor allocates nothing more for its history. */
export class StepRing extends ReusedRing<RawStep> {
  constructor(capacity: number) {
    super(capacity, 'step ring');
  }

  push(at: number, event: string, value: unknown, context: unknown): void {
    const slot = this.nextSlot();
    if (!slot) return this.commit({ at, event, value, context });
    slot.at = at;
    slot.event = event;
    slot.value = value;
    slot.context = context;
    this.commit();
  }
}
