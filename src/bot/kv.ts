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
    setMany: async (entries, ttl) => {
      const batch = client.pipeline();
      for (const [key, value] of entries) batch.set(prefix + key, value, 'EX', ttl);
      for (const [err] of (await batch.exec()) ?? []) if (err) throw err;
    },
    claim: async (key, ttl) => (await client.set(prefix + key, '1', 'EX', ttl, 'NX')) === 'OK',
    delete: async (key) => {
      await client.del(prefix + key);
    },
  };
}

export function memoryKeyValue(now: () => number = Date.now, maxEntries = 200_000): KeyValue {
  const entries = new Map<string, { value: string; expiresAt: number }>();
  const live = (key: string) => {
    const e = entries.get(key);
    if (!e) return null;
    if (e.expiresAt <= now()) {
      entries.delete(key);
      return null;
    }
    return e;
  };
  const put = (key: string, value: string, ttl: number) => {
    entries.delete(key);
    entries.set(key, { value, expiresAt: now() + ttl * 1000 });
    // Oldest first in a Map: a bounded memory store forgets the oldest buttons first.
    while (entries.size > maxEntries) entries.delete(entries.keys().next().value as string);
  };
  return {
    get: (key) => Promise.resolve(live(key)?.value ?? null),
    set: (key, value, ttl) => Promise.resolve(put(key, value, ttl)),
    setMany: (pairs, ttl) => Promise.resolve(pairs.forEach(([key, value]) => put(key, value, ttl))),
    claim: (key, ttl) => {
      if (live(key)) return Promise.resolve(false);
      put(key, '1', ttl);
      return Promise.resolve(true);
    },
    delete: (key) => Promise.resolve(void entries.delete(key)),
  };
}
