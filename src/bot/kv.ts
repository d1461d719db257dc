import type { Redis } from 'ioredis';

/**
 * The small key-value store the bot keeps its UI state in (keyboards, pending order cards):
 * Redis when REDIS_URL is set (shared by every bot process and kept across restarts), memory in
 * a sandbox without it. Nothing here is the state of record: the actors are. Losing it only
 * expires old buttons ("use /positions for fresh ones") and makes a late notice arrive as a new
 * message instead of an edit.
 */
export interface KeyValue {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
  /** Sets several keys in one round trip (not atomically: each is valid on its own). */
  setMany(entries: readonly (readonly [key: string, value: string])[], ttlSeconds: number): Promise<void>;
  /** Sets only when absent; true when this call set it (a one-shot claim). */
  claim(key: string, ttlSeconds: number): Promise<boolean>;
  delete(key: string): Promise<void>;
}

export function redisKeyValue(client: Redis, prefix = 'vanta:bot:'): KeyValue {
  return {
    get: (key) => client.get(prefix + key),
    set: async (key, value, ttl) => {
      await client.set(prefix + key, value, 'EX', ttl);
    },
    // Issued together, in order: the client's auto-pipelining sends them in one write with whatever
    // else this tick issued (an explicit pipeline would be a write of its own).
    setMany: async (entries, ttl) => {
      await Promise.all(entries.map(([key, value]) => client.set(prefix + key, value, 'EX', ttl)));
    },
    claim: async (key, ttl) => (await client.set(prefix + key, '1', 'EX', ttl, 'NX')) === 'OK',
    delete: async (key) => {
      await client.del(prefix + key);
    },
  };
}

/** Entries with an expiry, oldest forgotten first beyond `maxEntries`. A null value is a known absence. */
export class ExpiringMap {
  readonly #entries = new Map<string, { value: string | null; expiresAt: number }>();
  readonly #now: () => number;
  readonly #maxEntries: number;

  constructor(now: () => number, maxEntries: number) {
    this.#now = now;
    this.#maxEntries = maxEntries;
  }

  /** The entry if it is there and not expired (its value may be a known absence, null). */
  get(key: string): { value: string | null } | undefined {
    const e = this.#entries.get(key);
    if (e && e.expiresAt <= this.#now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return e;
  }

  put(key: string, value: string | null, ttlSeconds: number): void {
    this.#entries.delete(key);
    this.#entries.set(key, { value, expiresAt: this.#now() + ttlSeconds * 1000 });
    // Oldest first in a Map: a bounded store forgets the oldest entries first.
    while (this.#entries.size > this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value as string);
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }
}

export function memoryKeyValue(now: () => number = Date.now, maxEntries = 200_000): KeyValue {
  const entries = new ExpiringMap(now, maxEntries);
  return {
    get: (key) => Promise.resolve(entries.get(key)?.value ?? null),
    set: (key, value, ttl) => Promise.resolve(entries.put(key, value, ttl)),
    setMany: (pairs, ttl) => Promise.resolve(pairs.forEach(([key, value]) => entries.put(key, value, ttl))),
    claim: (key, ttl) => {
      if (entries.get(key)?.value != null) return Promise.resolve(false);
      entries.put(key, '1', ttl);
      return Promise.resolve(true);
    },
    delete: (key) => Promise.resolve(entries.delete(key)),
  };
}

/**
 * `inner` (Redis) with this process's own writes and reads remembered in memory, so reading back
 * what it wrote (a pressed button's keyboard, the keyboard its message shows) costs no round trip:
 * under load those reads were a third of the bot's Redis round trips (bench/bot.bench.ts).
 *
 * Correct because one process serves the bot at a time (ADR 0010: the bot starts only once the
 * engine holds the lease, and an engine that loses it exits), so nobody else changes these keys
 * behind this process's back. Writes go to `inner` first and are remembered only once it took
 * them; a one-shot claim always asks `inner` (its atomicity is the point). A value read from
 * `inner` is remembered for at most `readTtlSeconds` (its own TTL there is not known here).
 */
export function rememberingKeyValue(inner: KeyValue, options: { maxEntries?: number; readTtlSeconds?: number; now?: () => number } = {}): KeyValue {
  // The most recent keyboards are the ones pressed: ~20 MB at most, not a copy of Redis.
  const known = new ExpiringMap(options.now ?? Date.now, options.maxEntries ?? 50_000);
  const readTtl = options.readTtlSeconds ?? 3_600;
  return {
    async get(key) {
      const hit = known.get(key);
      if (hit) return hit.value;
      const value = await inner.get(key);
      // A write or delete while this read was out is newer than what it read.
      if (value !== null && !known.has(key)) known.put(key, value, readTtl);
      return value;
    },
    async set(key, value, ttl) {
      await inner.set(key, value, ttl);
      known.put(key, value, ttl);
    },
    async setMany(entries, ttl) {
      await inner.setMany(entries, ttl);
      for (const [key, value] of entries) known.put(key, value, ttl);
    },
    async claim(key, ttl) {
      const claimed = await inner.claim(key, ttl);
      if (claimed) known.put(key, '1', ttl);
      return claimed;
    },
    async delete(key) {
      known.delete(key);
      await inner.delete(key);
      // Known absent from now on (until a write): a read of it need not ask.
      known.put(key, null, readTtl);
    },
  };
}
