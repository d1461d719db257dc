import type { AnyEventObject } from 'xstate';

/** One logged event, kept raw: it is sanitised only when someone reads it. */
export interface RawLoggedEvent {
  at: number;
  target: string;
  source: string | null;
  event: AnyEventObject;
}

/**
 * A fixed-size ring of the most recent events. Writing is O(1) and allocates
 * nothing once the ring is full: slots are reused, because the runtime may
 * log thousands of events a second and nobody may ever read them.
 */
export class EventRing {
  readonly #slots: RawLoggedEvent[] = [];
  readonly #capacity: number;
  #written = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`event ring capacity must be a positive integer, got ${capacity}`);
    this.#capacity = capacity;
  }

  /** Sequence number of the next write; `written - 1` is the newest event. */
  get written(): number {
    return this.#written;
  }

  push(at: number, target: string, source: string | null, event: AnyEventObject): void {
    const index = this.#written % this.#capacity;
    const slot = this.#slots[index];
    if (slot) {
      slot.at = at;
      slot.target = target;
      slot.source = source;
      slot.event = event;
    } else {
      this.#slots[index] = { at, target, source, event };
    }
    this.#written += 1;
  }

  /** Events with sequence number ≥ `fromSeq` still in the ring, oldest first, as copies. */
  since(fromSeq: number): (RawLoggedEvent & { readonly seq: number })[] {
    const start = Math.max(fromSeq, this.#written - this.#capacity, 0);
    const out: (RawLoggedEvent & { seq: number })[] = [];
    for (let seq = start; seq < this.#written; seq += 1) {
      const slot = this.#slots[seq % this.#capacity] as RawLoggedEvent;
      out.push({ ...slot, seq });
    }
    return out;
  }
}
