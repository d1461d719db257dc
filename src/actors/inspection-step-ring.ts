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

/**
 * An actor's last `capacity` steps. Created on the actor's first step; once full, writing
 * reuses the oldest slot, so a busy actor allocates nothing more for its history.
 */
export class StepRing {
  readonly #slots: RawStep[] = [];
  readonly #capacity: number;
  #written = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`step ring capacity must be a positive integer, got ${capacity}`);
    this.#capacity = capacity;
  }

  /** Steps held (at most the capacity). */
  get size(): number {
    return Math.min(this.#written, this.#capacity);
  }

  push(at: number, event: string, value: unknown, context: unknown): void {
    const slot = this.#slots[this.#written % this.#capacity];
    if (slot) {
      slot.at = at;
      slot.event = event;
      slot.value = value;
      slot.context = context;
    } else {
      this.#slots.push({ at, event, value, context });
    }
    this.#written += 1;
  }

  /** The newest `limit` steps, oldest first, as copies. */
  newest(limit: number): RawStep[] {
    const count = Math.min(Math.max(0, Math.floor(limit)), this.size);
    const out: RawStep[] = [];
    for (let seq = this.#written - count; seq < this.#written; seq += 1) out.push({ ...(this.#slots[seq % this.#capacity] as RawStep) });
    return out;
  }
}
