import type { StorageAdapter } from 'grammy';

/**
 * Session storage that writes only what changed. grammY writes a session back after every update
 * that touched it, and most updates (a command, a press) only look at it: in Redis that was a SET
 * for every update, a third of the bot's Redis traffic under load (bench/bot.bench.ts). A session
 * never stored reads as `initial()`, so merely looking at it stores nothing either.
 *
 * The session's TTL therefore runs from its last change, not its last use: the UI state it holds
 * (a guided flow's step, a typed value awaited) is stale a day after it last changed anyway.
 */
export function changedOnlyStorage<T extends object>(storage: StorageAdapter<T>, initial: () => T): StorageAdapter<T> {
  /** What each session object looked like when it was read, to tell a change on write. */
  const asRead = new WeakMap<object, string>();
  return {
    async read(key) {
      const value = (await storage.read(key)) ?? initial();
      asRead.set(value, JSON.stringify(value));
      return value;
    },
    async write(key, value) {
      if (asRead.get(value) === JSON.stringify(value)) return;
      await storage.write(key, value);
      asRead.set(value, JSON.stringify(value));
    },
    delete: (key) => storage.delete(key),
  };
}
