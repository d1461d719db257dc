import type { Logger } from 'pino';
import { FencedError, PersistConflictError } from '../errors.ts';
import type { Clock } from '../infra/clock.ts';
import type { Metrics } from '../infra/metrics.ts';
import type { SnapshotStore, SnapshotWrite } from './snapshot-store.ts';

/**
 * Persists actor snapshots with write coalescing.
 *
 * A transition only marks its actor dirty; the snapshot is serialised when the
 * batch is written, so ten transitions between two flushes cost one
 * serialisation and one row. Batches are written one at a time, each in a
 * single statement; under load they grow by themselves. The latest state is
 * never lost: an actor that changes while its batch is in flight is marked
 * dirty again and goes into the next batch, and a failed batch is put back in
 * front of the queue and retried with backoff.
 *
 * `flushed()` resolves once everything dirty at the time of the call is
 * durable: the barrier for effects that must not run before their state is
 * on disk. It rejects when a write it waited for was refused, so an effect
 * behind it never runs on state that will never be durable: an optimistic
 * conflict (PersistConflictError: another writer has that row) or a lost lease
 * (FencedError). A lost lease is final: the writer drops everything pending,
 * writes nothing more, and every later flushed() rejects at once.
 */
export interface DirtyEntry {
  readonly id: string;
  readonly kind: string;
  readonly parent: string | null;
  readonly machineVersion: number;
  /** Reads the snapshot to write at flush time; null means "nothing to write" (the actor is gone). */
  readonly read: () => { snapshot: unknown; status: 'active' | 'done' } | null;
  /** Whether the actor has ended (its next row is its last): cheap, read when batches are formed. */
  readonly final?: () => boolean;
}

interface Queued {
  entry: DirtyEntry;
  seq: number;
}

interface Waiter {
  /** The last seq the caller waits for. */
  readonly target: number;
  /** Only refusals of these actors fail the wait (all actors when absent). */
  readonly ids: ReadonlySet<string> | null;
  refused: Error | null;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

export interface SnapshotWriterOptions {
  readonly store: SnapshotStore;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly clock: Clock;
  readonly batchMax: number;
  /** Called when a row was written by someone else since we read it. */
  readonly onConflict: (id: string, kind: string) => void;
  /**
   * Called once, synchronously, when a batch was refused because this engine lost its lease,
   * before any flushed() waiter hears of it: the runtime halts every actor first, so no effect
   * waiting on the barrier can still act.
   */
  readonly onFenced?: (error: FencedError) => void;
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
  /** Batches written at once over the pool (default 2). */
  readonly maxInFlight?: number;
}

export class SnapshotWriter {
  readonly #o: SnapshotWriterOptions;
  /** Insertion order == seq order, so the first entry holds the oldest pending change. */
  #dirty = new Map<string, Queued>();
  readonly #versions = new Map<string, number>();
  /** Ids whose batch is being written: a newer change waits, so two writes of one row never race. */
  readonly #inflightIds = new Set<string>();
  /** Lowest seq of each batch in flight. */
  readonly #inflightBatches = new Set<{ minSeq: number }>();
  #seq = 0;
  #waiters: Waiter[] = [];
  #scheduled = false;
  #pausedUntilRetry = false;
  #failures = 0;
  #closed = false;
  #fenced: FencedError | null = null;

  constructor(options: SnapshotWriterOptions) {
    this.#o = options;
  }

  get pending(): number {
    return this.#dirty.size;
  }

  /** The version of the row as last read or written (0: no row yet). */
  version(id: string): number {
    return this.#versions.get(id) ?? 0;
  }

  setVersion(id: string, version: number): void {
    this.#versions.set(id, version);
  }

  /** Stops tracking an actor: drops its pending change and its version. */
  forget(id: string): void {
    this.#dirty.delete(id);
    this.#versions.delete(id);
    this.#resolveWaiters();
  }

  markDirty(entry: DirtyEntry): void {
    if (this.#closed) return;
    // Delete then set keeps the map ordered by seq (the oldest change first).
    this.#dirty.delete(entry.id);
    this.#dirty.set(entry.id, { entry, seq: ++this.#seq });
    this.#o.metrics.persistPending.set(this.#dirty.size);
    this.#schedule();
  }

  /**
   * Resolves when every change made before this call (and in the same synchronous turn) is
   * durable; rejects if one of them was refused (see the class comment). With `ids`, only refusals of those actors count: an effect
   * names the actors whose state it depends on, so an unrelated actor's conflict does not fail it.
   */
  flushed(ids?: readonly string[]): Promise<void> {
    // The barrier is drawn after the current synchronous turn, not at the call: XState starts an
    // invoked effect *before* it reports the transition that started it (deferred actions run
    // ahead of observers), so an effect calling this at once would not wait for its own new state,
    // nor for its owner's, which reach markDirty a moment later in the same turn.
    return Promise.resolve().then(() => this.#barrier(ids));
  }

  #barrier(ids?: readonly string[]): Promise<void> {
    if (this.#fenced) return Promise.reject(this.#fenced);
    const target = this.#seq;
    if (this.#minPendingSeq() > target) return Promise.resolve();
    return new Promise((resolve, reject) => this.#waiters.push({ target, ids: ids ? new Set(ids) : null, refused: null, resolve, reject }));
  }

  /** Writes what is pending, then refuses new work. */
  async close(): Promise<void> {
    try {
      await this.flushed();
    } finally {
      this.#closed = true;
    }
  }

  /**
   * The lease is lost (from a refused batch or from the lease itself): drop every pending change,
   * write nothing more, and fail every waiter. Idempotent.
   */
  fence(error: FencedError): void {
    if (this.#fenced) return;
    this.#fenced = error;
    this.#closed = true;
    this.#dirty.clear();
    this.#o.metrics.persistPending.set(0);
    this.#o.onFenced?.(error);
    for (const waiter of this.#waiters.splice(0)) waiter.reject(error);
  }

  get fenced(): FencedError | null {
    return this.#fenced;
  }

  #minPendingSeq(): number {
    const first = this.#dirty.values().next();
    let min = first.done ? Infinity : first.value.seq;
    for (const batch of this.#inflightBatches) min = Math.min(min, batch.minSeq);
    return min;
  }

  /** Yields once so a burst of transitions in the same tick lands in one batch. */
  #schedule(): void {
    if (this.#scheduled || this.#pausedUntilRetry) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#pump();
    });
  }

  /** Starts batches until the in-flight limit is reached or nothing is left to write. */
  #pump(): void {
    const maxInFlight = this.#o.maxInFlight ?? 2;
    while (!this.#pausedUntilRetry && this.#inflightBatches.size < maxInFlight) {
      const batch = this.#takeBatch();
      if (!batch.length) return;
      const token = { minSeq: batch[0]!.seq };
      this.#inflightBatches.add(token);
      void this.#writeBatch(batch).then((outcome) => {
        this.#inflightBatches.delete(token);
        for (const q of batch) this.#inflightIds.delete(q.entry.id);
        if (outcome === 'fenced') return;
        this.#o.metrics.persistPending.set(this.#dirty.size);
        this.#resolveWaiters();
        if (outcome === 'ok') this.#pump();
        else this.#retryLater();
      });
    }
  }

  /**
   * The oldest pending changes, at most batchMax of them, with one rule that keeps the durable tree
   * whole across a crash: an actor's first row, and its last (it ended), go in the same statement
   * as its parent's pending change (the parent listed it when it spawned it, and forgets it when it
   * hears it ended), never ahead of it. Written alone, a crash or a lost lease between the two
   * statements leaves a child that its parent does not know (a position no user lists: invisible to
   * the trader, outside the open-position limit), or a parent listing a child that will never
   * report again. Such a row waits while the parent's row is in flight and goes with the parent's
   * next write. (CI caught the first: two engines, a SIGSTOP between the two writes.) The batch may
   * exceed batchMax by such pairs.
   */
  #takeBatch(): Queued[] {
    const taken = new Map<string, Queued>();
    for (const queued of this.#dirty.values()) {
      if (taken.size >= this.#o.batchMax) break;
      const { id, parent } = queued.entry;
      if (this.#inflightIds.has(id) || taken.has(id)) continue;
      if (parent !== null && (this.version(id) === 0 || queued.entry.final?.() === true)) {
        if (this.#inflightIds.has(parent)) continue;
        const parentChange = this.#dirty.get(parent);
        if (parentChange && !taken.has(parent)) taken.set(parent, parentChange);
      }
      taken.set(id, queued);
    }
    const batch = [...taken.values()].sort((a, b) => a.seq - b.seq);
    for (const q of batch) {
      this.#dirty.delete(q.entry.id);
      this.#inflightIds.add(q.entry.id);
    }
    return batch;
  }

  async #writeBatch(batch: readonly Queued[]): Promise<'ok' | 'retry' | 'fenced'> {
    if (this.#fenced) return 'fenced';
    const rows: SnapshotWrite[] = [];
    const written: Queued[] = [];
    for (const q of batch) {
      const read = q.entry.read();
      if (!read) continue;
      const { id, kind, parent, machineVersion } = q.entry;
      rows.push({ id, kind, parent, machine_version: machineVersion, snapshot: read.snapshot, status: read.status, expected: this.version(id) });
      written.push(q);
    }
    if (!rows.length) return 'ok';
    const stop = this.#o.metrics.persistFlushSeconds.startTimer();
    try {
      const versions = await this.#o.store.write(rows);
      stop();
      if (this.#fenced) return 'fenced';
      this.#applyResult(rows, written, versions);
      this.#failures = 0;
      return 'ok';
    } catch (err) {
      if (err instanceof FencedError) {
        this.#o.metrics.persistWrites.inc({ outcome: 'fenced' }, rows.length);
        this.#o.logger.fatal({ err, rows: rows.length }, 'Snapshot batch refused: this engine lost its lease; nothing more is written');
        this.fence(err);
        return 'fenced';
      }
      this.#failures += 1;
      this.#o.metrics.persistWrites.inc({ outcome: 'error' }, rows.length);
      if (this.#failures === 1 || this.#failures % 20 === 0) {
        this.#o.logger.error({ err, rows: rows.length, attempt: this.#failures }, 'Failed to persist actor snapshots; retrying');
      }
      this.#requeue(batch);
      return 'retry';
    }
  }

  #applyResult(rows: readonly SnapshotWrite[], written: readonly Queued[], versions: Map<string, number>): void {
    this.#o.metrics.persistBatchSize.observe(rows.length);
    let ok = 0;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      const version = versions.get(row.id);
      if (version === undefined) {
        this.#dirty.delete(row.id);
        this.#versions.delete(row.id);
        this.#o.metrics.persistConflicts.inc({ kind: row.kind });
        this.#refuse(row.id, written[i]!.seq);
        this.#o.onConflict(row.id, written[i]!.entry.kind);
        continue;
      }
      ok += 1;
      if (row.status === 'done') this.#versions.delete(row.id);
      else this.#versions.set(row.id, version);
    }
    this.#o.metrics.persistWrites.inc({ outcome: 'ok' }, ok);
  }

  /** Puts a failed batch back, unless a newer change for the same actor is already queued; keeps seq order. */
  #requeue(batch: readonly Queued[]): void {
    const back = batch.filter((q) => !this.#dirty.has(q.entry.id));
    const merged = [...back, ...this.#dirty.values()].sort((a, b) => a.seq - b.seq);
    this.#dirty = new Map(merged.map((q) => [q.entry.id, q] as const));
  }

  /** After a failure: stop starting batches, wait out the backoff, then try again. */
  #retryLater(): void {
    if (this.#pausedUntilRetry) return;
    this.#pausedUntilRetry = true;
    const base = this.#o.retryBaseMs ?? 50;
    const delay = Math.min(this.#o.retryMaxMs ?? 5_000, base * 2 ** Math.min(this.#failures - 1, 10));
    this.#o.clock.setTimeout(() => {
      this.#pausedUntilRetry = false;
      this.#pump();
    }, delay);
  }

  /** A change of `id` made at `seq` will never be durable: fail the waits that covered it. */
  #refuse(id: string, seq: number): void {
    for (const waiter of this.#waiters) {
      if (waiter.target >= seq && (!waiter.ids || waiter.ids.has(id))) waiter.refused ??= new PersistConflictError(id);
    }
  }

  #resolveWaiters(): void {
    const min = this.#minPendingSeq();
    while (this.#waiters.length && this.#waiters[0]!.target < min) {
      const waiter = this.#waiters.shift()!;
      if (waiter.refused) waiter.reject(waiter.refused);
      else waiter.resolve();
    }
  }
}
