/**
 * A fixed-size ring of the most recent records. Writing is O(1) and, once the ring is full,
 * allocates nothing: a write copies its fields into the oldest slot. The inspection hub writes to
 * such rings thousands of times a second (every event, every actor's every step) and nobody may
 * ever read them, so a write must cost no garbage.
 */
export class ReusedRing<T extends object> {
  readonly #slots: T[] = [];
  readonly #capacity: number;
  #written = 0;

  constructor(capacity: number, what = 'ring') {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`${what} capacity must be a positive integer, got ${capacity}`);
    this.#capacity = capacity;
  }

  /** Sequence number of the next write; `written - 1` is the newest record. */
  get written(): number {
    return this.#written;
  }

  /** Records held (at most the capacity). */
  get size(): number {
    return Math.min(this.#written, this.#capacity);
  }

  /**
   * The slot the next write reuses, or undefined while the ring is still filling. Fill its fields
   * and call commit(), or call commit(record) with a new record: no closure, no argument array.
   */
  nextSlot(): T | undefined {
    return this.#slots[this.#written % this.#capacity];
  }

  commit(created?: T): void {
    if (created) this.#slots[this.#written % this.#capacity] = created;
    this.#written += 1;
  }

  /** Records with sequence number ≥ `fromSeq` still held, oldest first, as copies with their seq. */
  since(fromSeq: number): (T & { readonly seq: number })[] {
    const out: (T & { seq: number })[] = [];
    for (let seq = Math.max(fromSeq, this.#written - this.#capacity, 0); seq < this.#written; seq += 1) {
      out.push({ ...(this.#slots[seq % this.#capacity] as T), seq });
    }
    return out;
  }

  /** The newest `limit` records, oldest first, as copies. */
  newest(limit: number): T[] {
    const count = Math.min(Math.max(0, Math.floor(limit)), this.size);
    const out: T[] = [];
    for (let seq = this.#written - count; seq < this.#written; seq += 1) out.push({ ...(this.#slots[seq % this.#capacity] as T) });
    return out;
  }
}
