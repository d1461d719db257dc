/**
 * The bot's pending updates, as Telegram keeps them: numbered in order, handed out by getUpdates or
 * the webhook, forgotten only once confirmed (getUpdates with a higher offset, or a 2xx from the
 * webhook). allowed_updates filters updates created after it was set, as on Telegram.
 */
import { NOT_SENT_BY_DEFAULT, updateKinds } from './telegram-rules.ts';

export interface Update {
  readonly update_id: number;
  readonly [kind: string]: unknown;
}

export interface QueuedUpdate {
  readonly update: Update;
  readonly kind: string;
  /** The chat it belongs to: the webhook delivers one update per chat at a time, in order. */
  readonly chatId: number;
  handedOut: boolean;
}

export interface QueueSnapshot {
  readonly nextId: number;
  readonly allowed: string[];
  readonly pending: { update: Update; kind: string; chatId: number }[];
}

export class UpdateQueue {
  private readonly pending: QueuedUpdate[] = [];
  private nextId: number;
  private allowed: ReadonlySet<string>;
  private readonly listeners = new Set<() => void>();
  private readonly changeListeners = new Set<() => void>();
  private readonly onHandedOut: (entry: QueuedUpdate) => void;

  constructor(firstId: number, onHandedOut: (entry: QueuedUpdate) => void) {
    this.nextId = firstId;
    this.allowed = new Set(updateKinds().filter((k) => !NOT_SENT_BY_DEFAULT.has(k)));
    this.onHandedOut = onHandedOut;
  }

  /** Sets the kinds to keep from now on; an empty list means the default set. */
  setAllowed(kinds: readonly string[] | undefined): void {
    if (kinds === undefined) return;
    this.allowed = new Set(kinds.length === 0 ? updateKinds().filter((k) => !NOT_SENT_BY_DEFAULT.has(k)) : kinds);
  }

  allowedKinds(): string[] {
    return [...this.allowed];
  }

  /** Queues an update of `kind`; returns it, or null when allowed_updates filters it out. */
  push(kind: string, payload: unknown, chatId: number): Update | null {
    if (!this.allowed.has(kind)) return null;
    const update: Update = { update_id: this.nextId++, [kind]: payload };
    this.pending.push({ update, kind, chatId, handedOut: false });
    for (const listener of [...this.listeners]) listener();
    this.changed();
    return update;
  }

  /** getUpdates' offset: forget every update before it; negative keeps only the last -offset. */
  confirm(offset: number): void {
    const before = this.pending.length;
    if (offset < 0) {
      this.pending.splice(0, Math.max(0, this.pending.length + offset));
    } else {
      const keepFrom = this.pending.findIndex((e) => e.update.update_id >= offset);
      this.pending.splice(0, keepFrom === -1 ? this.pending.length : keepFrom);
    }
    if (this.pending.length !== before) this.changed();
  }

  /** The first `limit` pending updates, marked as handed out. */
  take(limit: number): Update[] {
    const batch = this.pending.slice(0, limit);
    for (const entry of batch) this.markHandedOut(entry);
    return batch.map((e) => e.update);
  }

  markHandedOut(entry: QueuedUpdate): void {
    if (entry.handedOut) return;
    entry.handedOut = true;
    this.onHandedOut(entry);
  }

  entries(): readonly QueuedUpdate[] {
    return this.pending;
  }

  remove(entry: QueuedUpdate): void {
    const index = this.pending.indexOf(entry);
    if (index === -1) return;
    this.pending.splice(index, 1);
    this.changed();
  }

  clear(): void {
    this.pending.length = 0;
    this.changed();
  }

  get size(): number {
    return this.pending.length;
  }

  /** Calls `listener` whenever the pending updates change (for persistence). */
  onChange(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  private changed(): void {
    for (const listener of [...this.changeListeners]) listener();
  }

  /** Pending updates survive a restart, as on Telegram: handed out but unconfirmed ones come again. */
  snapshot(): QueueSnapshot {
    return { nextId: this.nextId, allowed: [...this.allowed], pending: this.pending.map(({ update, kind, chatId }) => ({ update, kind, chatId })) };
  }

  restore(snapshot: QueueSnapshot): void {
    this.nextId = Math.max(this.nextId, snapshot.nextId);
    this.allowed = new Set(snapshot.allowed);
    this.pending.splice(0, this.pending.length, ...snapshot.pending.map((e) => ({ ...e, handedOut: false })));
  }

  /** Calls `listener` after every push until the returned function is called. */
  onPush(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
