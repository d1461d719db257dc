/**
 * The transition journal (ADR 0013): each persisted actor's recent steps, written to
 * `actor_transitions` so the inspector's time travel still has them after a restart.
 *
 * Best effort, and never in a transition's way: `append()` only queues the step (references to
 * XState's immutable snapshot parts, nothing copied or sanitised); a timer writes what is queued
 * in one multi-row INSERT per flush interval, sanitising contexts then. The queue is bounded:
 * when the database falls behind, the oldest steps are dropped and counted (one warning). A
 * failed write is logged and its steps are dropped, never retried and never thrown. Retention:
 * every prune interval, the actors written since the last prune keep only their newest
 * `keepPerActor` rows.
 */
import type { Logger } from 'pino';
import type { Database, TransitionRow } from '../infra/db/database.ts';
import { scrubSecrets } from '../infra/logger.ts';
import type { JournalStep, StepJournalReader } from './inspection-hub.ts';

/** A step to journal; `context` is raw (sanitised at write time). */
export interface JournalEntry {
  readonly actor: string;
  readonly at: number;
  readonly event: string;
  readonly state: unknown;
  readonly context: unknown;
}

export interface TransitionJournalOptions {
  readonly db: Pick<Database, 'appendTransitions' | 'recentTransitions' | 'pruneTransitions'>;
  readonly logger: Logger;
  /** Removes secrets from contexts before they are written (default: scrubSecrets). */
  readonly sanitize?: (value: unknown) => unknown;
  /** How often queued steps are written (default 250 ms). */
  readonly flushIntervalMs?: number;
  /** Steps waiting to be written, at most (default 10,000); beyond it the oldest are dropped. */
  readonly maxQueue?: number;
  /** Rows per INSERT (default 2,000); a flush with more queued writes several. */
  readonly batchMax?: number;
  /** Rows kept per actor (default 200). */
  readonly keepPerActor?: number;
  /** How often written actors are pruned to keepPerActor rows (default 30 s). */
  readonly pruneIntervalMs?: number;
  /** Actors per prune statement (default 500). */
  readonly pruneBatch?: number;
}

export interface TransitionJournal extends StepJournalReader {
  /** Queues a step. O(1), never throws, never waits; a no-op once closed. */
  append(entry: JournalEntry): void;
  /** Writes everything queued now; resolves when done (errors are logged, not thrown). */
  flush(): Promise<void>;
  /** Prunes the actors written since the last prune (errors are logged, not thrown). */
  prune(): Promise<void>;
  /** Steps dropped so far because the queue was full. */
  readonly dropped: number;
  /** Steps waiting to be written. */
  readonly pending: number;
  /** Stops the timers, writes what is queued, prunes once. Later appends are ignored. */
  close(): Promise<void>;
}

/**
 * @example
 * const journal = createTransitionJournal({ db, logger });
 * const hub = createInspectionHub({ describe, journal, onStep: (s) => journal.append({ actor: s.id, ...s }) });
 * shutdown.add('transition journal', () => journal.close());
 */
export function createTransitionJournal(options: TransitionJournalOptions): TransitionJournal {
  const { db, logger } = options;
  const sanitize = options.sanitize ?? ((value: unknown) => scrubSecrets(value));
  const flushIntervalMs = options.flushIntervalMs ?? 250;
  const maxQueue = positive('maxQueue', options.maxQueue ?? 10_000);
  const batchMax = positive('batchMax', options.batchMax ?? 2_000);
  const keepPerActor = positive('keepPerActor', options.keepPerActor ?? 200);
  const pruneBatch = positive('pruneBatch', options.pruneBatch ?? 500);
  const queue = new BoundedQueue<JournalEntry>(maxQueue);
  /** Actors written since the last prune. */
  let written = new Set<string>();
  let flushTimer: NodeJS.Timeout | null = null;
  let writing: Promise<void> | null = null;
  let closed = false;
  let warnedFull = false;
  let failing = 0;

  const pruneTimer = setInterval(() => void prune(), options.pruneIntervalMs ?? 30_000);
  pruneTimer.unref();

  function append(entry: JournalEntry): void {
    if (closed) return;
    if (queue.push(entry) && !warnedFull) {
      warnedFull = true;
      logger.warn({ max_queue: maxQueue }, 'Transition journal queue is full: dropping the oldest steps (the inspector history after a restart will have gaps)');
    }
    if (!flushTimer) {
      flushTimer = setTimeout(() => void flush(), flushIntervalMs);
      flushTimer.unref();
    }
  }

  /** One write at a time; a flush asked for during a write runs after it. */
  function flush(): Promise<void> {
    if (flushTimer) clearTimeout(flushTimer);
    flushTimer = null;
    const run = (writing ?? Promise.resolve()).then(writeQueued);
    writing = run;
    void run.finally(() => {
      if (writing === run) writing = null;
    });
    return run;
  }

  async function writeQueued(): Promise<void> {
    while (queue.size > 0) {
      const batch = queue.take(batchMax);
      try {
        // Sanitised here, inside the try: a context that cannot be read is a failed batch, not a crash.
        await db.appendTransitions(toRows(batch));
        for (const e of batch) written.add(e.actor);
        if (failing > 0) logger.info({ failed_batches: failing }, 'Transition journal writes work again');
        failing = 0;
      } catch (err) {
        // Best effort: these steps are lost to the journal (the live history still has them).
        if (failing === 0) logger.warn({ err, steps: batch.length }, 'Transition journal write failed; dropping the batch (later failures are counted until one succeeds)');
        failing += 1;
        return;
      }
    }
  }

  /** Sanitised rows; consecutive steps often share one context object, sanitised once. */
  function toRows(batch: readonly JournalEntry[]): TransitionRow[] {
    const clean = new Map<unknown, unknown>();
    return batch.map((e) => {
      if (!clean.has(e.context)) clean.set(e.context, e.context === undefined ? null : sanitize(e.context));
      return { actor: e.actor, at: e.at, event: e.event, state: e.state ?? null, context: clean.get(e.context) };
    });
  }

  async function prune(): Promise<void> {
    if (written.size === 0) return;
    const actors = [...written];
    written = new Set();
    for (let i = 0; i < actors.length; i += pruneBatch) {
      const chunk = actors.slice(i, i + pruneBatch);
      try {
        await db.pruneTransitions(chunk, keepPerActor);
      } catch (err) {
        // Tried again at the next prune.
        for (const actor of actors.slice(i)) written.add(actor);
        logger.warn({ err, actors: actors.length - i }, 'Transition journal prune failed; trying again later');
        return;
      }
    }
  }

  return {
    append,
    flush,
    prune,
    async recent(id, limit): Promise<JournalStep[]> {
      return db.recentTransitions(id, limit);
    },
    get dropped() {
      return queue.dropped;
    },
    get pending() {
      return queue.size;
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(pruneTimer);
      await flush();
      await prune();
    },
  };
}

function positive(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

/** FIFO with a fixed bound: pushing onto a full queue drops the oldest item. O(1) amortised. */
class BoundedQueue<T> {
  #items: T[] = [];
  #head = 0;
  #dropped = 0;
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  get size(): number {
    return this.#items.length - this.#head;
  }

  get dropped(): number {
    return this.#dropped;
  }

  /** True when the oldest item was dropped to make room. */
  push(item: T): boolean {
    this.#items.push(item);
    if (this.size <= this.#max) return false;
    this.#advance(1);
    this.#dropped += 1;
    return true;
  }

  /** Removes and returns up to `n` oldest items. */
  take(n: number): T[] {
    const out = this.#items.slice(this.#head, this.#head + n);
    this.#advance(out.length);
    return out;
  }

  #advance(n: number): void {
    this.#head += n;
    // Compact once the consumed prefix is the larger half: each item is copied O(1) times on average.
    if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    } else if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    }
  }
}
