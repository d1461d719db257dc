import assert from 'node:assert/strict';
import { SnapshotWriter, type DirtyEntry } from '../../src/actors/snapshot-writer.ts';
import { PersistConflictError } from '../../src/errors.ts';
import type { SnapshotStore, SnapshotWrite } from '../../src/actors/snapshot-store.ts';
import { systemClock } from '../../src/infra/clock.ts';
import { silentLogger, testMetrics } from '../helpers/common.ts';
import { sleep } from '../helpers/runtime.ts';

/** A store that keeps rows in memory, can be made to fail (a database outage) and checks versions like the SQL does. */
function memoryStore() {
  const rows = new Map<string, { version: number; snapshot: unknown }>();
  const state = { failing: false, writes: 0, delayMs: 0, batches: [] as number[], ids: [] as string[][] };
  const store: Pick<SnapshotStore, 'write'> = {
    async write(batch: readonly SnapshotWrite[]) {
      await sleep(state.delayMs);
      if (state.failing) throw new Error('connection refused');
      state.writes += 1;
      state.batches.push(batch.length);
      state.ids.push(batch.map((row) => row.id));
      const out = new Map<string, number>();
      for (const row of batch) {
        const current = rows.get(row.id);
        if ((current?.version ?? 0) !== row.expected) continue;
        const version = (current?.version ?? 0) + 1;
        rows.set(row.id, { version, snapshot: row.snapshot });
        out.set(row.id, version);
      }
      return out;
    },
  };
  return { store: store as SnapshotStore, rows, state };
}

function entry(id: string, value: () => unknown): DirtyEntry {
  return { id, kind: 'test', parent: null, machineVersion: 1, read: () => ({ snapshot: value(), status: 'active' }) };
}

describe('snapshot writer', () => {
  it('coalesces changes, writes in batches of at most batchMax, and flushed() waits for durability', async () => {
    const { store, rows, state } = memoryStore();
    const writer = new SnapshotWriter({ store, logger: silentLogger(), metrics: testMetrics(), clock: systemClock, batchMax: 100, onConflict: () => {} });
    const values = new Map<string, number>();
    for (let round = 1; round <= 5; round++) {
      for (let i = 0; i < 250; i++) {
        values.set(`a:${i}`, round);
        writer.markDirty(entry(`a:${i}`, () => values.get(`a:${i}`)));
      }
    }
    await writer.flushed();
    assert.equal(rows.size, 250);
    assert.ok([...rows.values()].every((r) => r.snapshot === 5), 'only the latest value is durable');
    assert.ok(state.batches.every((n) => n <= 100));
    assert.equal(state.batches.reduce((a, b) => a + b, 0), 250, 'five rounds in one tick coalesce into one write per actor');
  });

  it('keeps every change through a database outage and writes the latest once the database is back', async () => {
    const { store, rows, state } = memoryStore();
    const metrics = testMetrics();
    const writer = new SnapshotWriter({ store, logger: silentLogger(), metrics, clock: systemClock, batchMax: 10, retryBaseMs: 5, retryMaxMs: 20, onConflict: () => {} });
    state.failing = true;
    const values = new Map<string, string>();
    const change = (id: string, value: string) => {
      values.set(id, value);
      writer.markDirty(entry(id, () => values.get(id)));
    };
    for (let i = 0; i < 30; i++) change(`b:${i}`, 'v0');
    const durable = writer.flushed();
    let resolved = false;
    void durable.then(() => (resolved = true));
    await sleep(100);
    assert.equal(resolved, false, 'flushed() must not resolve while nothing is durable');
    assert.equal(rows.size, 0);
    // Every actor moves on while the database is down; then it comes back.
    for (let i = 0; i < 30; i++) change(`b:${i}`, 'v1');
    state.failing = false;
    await durable;
    await writer.flushed();
    assert.equal(rows.size, 30);
    assert.ok([...rows.values()].every((r) => r.snapshot === 'v1'), 'the latest state of every actor is durable');
    assert.ok((await metrics.persistWrites.get()).values.some((v) => v.labels.outcome === 'error' && v.value > 0));
  });

  it('never writes one actor in two batches at once, so versions stay in order under concurrency', async () => {
    const { store, rows, state } = memoryStore();
    state.delayMs = 5;
    const conflicts: string[] = [];
    const writer = new SnapshotWriter({ store, logger: silentLogger(), metrics: testMetrics(), clock: systemClock, batchMax: 3, maxInFlight: 4, onConflict: (id) => conflicts.push(id) });
    let n = 0;
    for (let i = 0; i < 50; i++) {
      n += 1;
      writer.markDirty(entry('hot', () => n));
      writer.markDirty(entry(`cold:${i % 7}`, () => n));
      if (i % 5 === 0) await sleep(2);
    }
    await writer.flushed();
    assert.deepEqual(conflicts, []);
    assert.equal(rows.get('hot')!.snapshot, 50);
  });

  it('reports a row written by someone else as a conflict, stops tracking it, and flushed() rejects for it', async () => {
    const { store, rows } = memoryStore();
    const conflicts: string[] = [];
    const writer = new SnapshotWriter({ store, logger: silentLogger(), metrics: testMetrics(), clock: systemClock, batchMax: 10, onConflict: (id) => conflicts.push(id) });
    writer.markDirty(entry('c:1', () => 'mine'));
    await writer.flushed();
    rows.set('c:1', { version: 7, snapshot: 'theirs' });
    writer.markDirty(entry('c:1', () => 'mine again'));
    writer.markDirty(entry('c:2', () => 'unrelated'));
    const forOther = writer.flushed(['c:2']);
    await assert.rejects(writer.flushed(), PersistConflictError, 'the change it waited for will never be durable');
    await forOther;
    assert.deepEqual(conflicts, ['c:1']);
    assert.equal(rows.get('c:1')!.snapshot, 'theirs');
    assert.equal(writer.version('c:1'), 0);
  });

  it("writes an actor's first row in the same statement as its parent's change that lists it, never ahead of it", async () => {
    const { store, rows, state } = memoryStore();
    state.delayMs = 30;
    const writer = new SnapshotWriter({ store, logger: silentLogger(), metrics: testMetrics(), clock: systemClock, batchMax: 1, maxInFlight: 2, onConflict: () => {} });
    const child = (id: string, parent: string): DirtyEntry => ({ ...entry(id, () => 'opening'), parent });
    const user = { positions: [] as string[] };
    const userEntry = entry('user:1', () => ({ positions: [...user.positions] }));
    writer.markDirty(userEntry);
    await sleep(5); // the user's row is now in flight
    // The user takes an order: it lists the position, and the position actor starts (its first
    // snapshot may even reach the writer before its parent's, as XState reports it).
    user.positions.push('position:1');
    writer.markDirty(child('position:1', 'user:1'));
    writer.markDirty(userEntry);
    await writer.flushed();
    const first = state.ids.findIndex((ids) => ids.includes('position:1'));
    assert.ok(state.ids[first]!.includes('user:1'), `the position's first row went with its user's listing: ${JSON.stringify(state.ids)}`);
    assert.deepEqual(rows.get('user:1')!.snapshot, { positions: ['position:1'] });

    // A child whose parent has nothing pending is written on its own; later changes need no pairing.
    writer.markDirty(child('position:2', 'user:2'));
    await writer.flushed();
    assert.deepEqual(state.ids.at(-1), ['position:2']);
    writer.markDirty(child('position:1', 'user:1'));
    writer.markDirty(userEntry);
    await writer.flushed();
    assert.deepEqual(state.ids.slice(-2), [['position:1'], ['user:1']], 'batchMax holds again once the row exists');
  });

  it("writes an actor's last row (it ended) with its parent's change that forgets it, never ahead of it", async () => {
    const { store, state } = memoryStore();
    state.delayMs = 30;
    const writer = new SnapshotWriter({ store, logger: silentLogger(), metrics: testMetrics(), clock: systemClock, batchMax: 1, maxInFlight: 2, onConflict: () => {} });
    let ended = false;
    const user = { positions: ['position:1'] };
    const userEntry = entry('user:1', () => ({ positions: [...user.positions] }));
    const position: DirtyEntry = { ...entry('position:1', () => (ended ? 'closed' : 'open')), parent: 'user:1', final: () => ended };
    writer.markDirty(userEntry);
    writer.markDirty(position);
    await writer.flushed();
    writer.markDirty(userEntry);
    await sleep(5); // the user's row is in flight again
    // The position closes and tells its owner, who forgets it.
    ended = true;
    writer.markDirty(position);
    user.positions = [];
    writer.markDirty(userEntry);
    await writer.flushed();
    const last = state.ids.findLastIndex((ids) => ids.includes('position:1'));
    assert.ok(state.ids[last]!.includes('user:1'), `the position's last row went with its owner forgetting it: ${JSON.stringify(state.ids)}`);
  });
});
