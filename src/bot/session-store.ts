import type { StorageAdapter } from 'grammy';
import { ExpiringMap } from './kv.ts';

/**
 * Session storage (Redis, through @grammyjs/storage-redis) with what this process last read or
 * wrote remembered in memory, writing only what changed.
 *
 * grammY reads the session before every update and writes it back after every update that looked
 * at it; in Redis that was two round trips an update, while most updates (a command, a press) do
 * not change it. Here a session this process knows is read from memory, and a write that changes
 * nothing is skipped. A session never stored reads as `initial()`, so merely looking at it stores
 * nothing either. Correct because one process serves the bot at a time (see rememberingKeyValue
 * in kv.ts); a new process starts knowing nothing and reads Redis.
 *
 * The session's TTL in Redis runs from its last change, not its last use: the UI state it holds
 * (a guided flow's step, a typed value awaited) is stale a day after it last changed anyway.
 */
export function rememberingSessions<T extends object>(
  storage: StorageAdapter<T>,
  initial: () => T,
  options: { ttlSeconds: number; maxEntries?: number; now?: () => number },
): StorageAdapter<T> {
  /** The JSON of each session as it is in storage, as far as this process knows. */
  const known = new ExpiringMap(options.now ?? Date.now, options.maxEntries ?? 50_000);
  return {
    async read(key) {
      const json = known.get(key)?.value;
      // A fresh object each time: handlers change it in place, which must not change what is known.
      if (typeof json === 'string') return JSON.parse(json) as T;
      const value = (await storage.read(key)) ?? initial();
      // A write while this read was out is newer than what it read.
      if (!known.has(key)) known.put(key, JSON.stringify(value), options.ttlSeconds);
      return value;
    },
    async write(key, value) {
      const json = JSON.stringify(value);
      if (known.get(key)?.value === json) return;
      await storage.write(key, value);
      known.put(key, json, options.ttlSeconds);
    },
    async delete(key) {
      known.delete(key);
      await storage.delete(key);
      known.put(key, JSON.stringify(initial()), options.ttlSeconds);
    },
  };
}
