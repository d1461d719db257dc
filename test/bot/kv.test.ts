import assert from 'node:assert/strict';
import { RedisAdapter } from '@grammyjs/storage-redis';
import type { StorageAdapter } from 'grammy';
import { Redis } from 'ioredis';
import { memoryKeyValue, redisKeyValue, rememberingKeyValue, type KeyValue } from '../../src/bot/kv.ts';
import { rememberingSessions } from '../../src/bot/session-store.ts';

/** `inner` with a count of the calls that reached it. */
function counted(inner: KeyValue): KeyValue & { calls: string[] } {
  const calls: string[] = [];
  const wrap =
    <A extends unknown[], R>(name: string, f: (...args: A) => Promise<R>) =>
    (...args: A) => {
      calls.push(name);
      return f(...args);
    };
  return {
    calls,
    get: wrap('get', (k: string) => inner.get(k)),
    set: wrap('set', (k: string, v: string, ttl: number) => inner.set(k, v, ttl)),
    setMany: wrap('setMany', (entries: readonly (readonly [string, string])[], ttl: number) => inner.setMany(entries, ttl)),
    claim: wrap('claim', (k: string, ttl: number) => inner.claim(k, ttl)),
    delete: wrap('delete', (k: string) => inner.delete(k)),
  };
}

describe('bot/kv: the bot remembers its own UI writes instead of reading them back from Redis', () => {
  let client: Redis;
  before(async () => {
    client = new Redis('redis://127.0.0.1:6379', { lazyConnect: true, enableAutoPipelining: true });
    await client.connect();
  });
  after(() => client.quit());
  const prefix = () => `test:kv:${process.pid}:${Date.now()}:${Math.random()}:`;

  it('what it wrote, or read once, is read back without a round trip; what it deleted is known absent', async () => {
    const inner = counted(redisKeyValue(client, prefix()));
    const kv = rememberingKeyValue(inner);
    await kv.setMany([['a', '1'], ['b', '2']], 60);
    assert.equal(await kv.get('a'), '1');
    assert.equal(await kv.get('b'), '2');
    assert.deepEqual(inner.calls, ['setMany']);
    // Written by another (a previous) process: read once, then remembered.
    await inner.set('c', '3', 60);
    assert.equal(await kv.get('c'), '3');
    assert.equal(await kv.get('c'), '3');
    assert.equal(inner.calls.filter((c) => c === 'get').length, 1);
    await kv.delete('a');
    assert.equal(await kv.get('a'), null);
    assert.equal(inner.calls.filter((c) => c === 'get').length, 1, 'a deleted key is not asked for');
  });

  it('a one-shot claim always asks Redis (two processes, or two presses at once, get one yes)', async () => {
    const p = prefix();
    const first = rememberingKeyValue(redisKeyValue(client, p));
    const second = rememberingKeyValue(redisKeyValue(client, p));
    const results = await Promise.all([first.claim('used', 60), second.claim('used', 60), first.claim('used', 60)]);
    assert.deepEqual(results.filter(Boolean).length, 1);
  });

  it('a write Redis refused is not remembered: the next read asks Redis again', async () => {
    const inner = counted(memoryKeyValue());
    const kv = rememberingKeyValue({ ...inner, set: () => Promise.reject(new Error('Redis is down')) });
    await inner.set('k', 'old', 60);
    await assert.rejects(kv.set('k', 'new', 60), /Redis is down/);
    assert.equal(await kv.get('k'), 'old');
  });

  it('remembered values expire with their TTL', async () => {
    let now = 1_000_000;
    const inner = counted(memoryKeyValue(() => now));
    const kv = rememberingKeyValue(inner, { now: () => now });
    await kv.set('k', 'v', 10);
    now += 11_000;
    assert.equal(await kv.get('k'), null);
  });
});

describe('bot/session-store: sessions read from memory when known, written only when changed', () => {
  let client: Redis;
  before(async () => {
    client = new Redis('redis://127.0.0.1:6379', { lazyConnect: true });
    await client.connect();
  });
  after(() => client.quit());

  interface S {
    step: string | null;
  }
  const initial = (): S => ({ step: null });

  function countedStorage(inner: StorageAdapter<S>) {
    const calls: string[] = [];
    const storage: StorageAdapter<S> = {
      read: (k) => (calls.push('read'), inner.read(k)),
      write: (k, v) => (calls.push('write'), inner.write(k, v)),
      delete: (k) => (calls.push('delete'), inner.delete(k)),
    };
    return { calls, storage };
  }

  it('an update that only looks at the session costs no round trip once it is known; a change is written once', async () => {
    const key = `test:session:${process.pid}:${Date.now()}`;
    const { calls, storage } = countedStorage(new RedisAdapter<S>({ instance: client, ttl: 60 }));
    const sessions = rememberingSessions(storage, initial, { ttlSeconds: 60 });
    // Never stored: reads as the initial value, and looking at it stores nothing.
    const first = await sessions.read(key);
    assert.deepEqual(first, { step: null });
    await sessions.write(key, first);
    assert.deepEqual(calls, ['read']);
    // A change is written, and read back from memory; a handler changing its copy changes nothing known.
    const changed = (await sessions.read(key))!;
    changed.step = 'collateral';
    await sessions.write(key, changed);
    const again = (await sessions.read(key))!;
    assert.deepEqual(again, { step: 'collateral' });
    again.step = 'scribbled on, not written';
    assert.deepEqual(await sessions.read(key), { step: 'collateral' });
    assert.deepEqual(calls, ['read', 'write']);
    assert.equal(await client.get(key), JSON.stringify({ step: 'collateral' }));
    // A new process knows nothing and reads Redis.
    const restarted = rememberingSessions(new RedisAdapter<S>({ instance: client, ttl: 60 }), initial, { ttlSeconds: 60 });
    assert.deepEqual(await restarted.read(key), { step: 'collateral' });
    await client.del(key);
  });
});
