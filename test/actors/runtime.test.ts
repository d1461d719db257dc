import assert from 'node:assert/strict';
import type { ActorRuntime } from '../../src/actors/runtime.ts';
import { createTestPglite, createTestPostgres, type TestDatabase } from '../helpers/db.ts';
import { persisted, sleep, testSystem, waitFor } from '../helpers/runtime.ts';

/** Builds a small but complete tree: 3 users with positions in several states, and 2 price feeds. */
async function buildTree(runtime: ActorRuntime): Promise<string[]> {
  for (const telegramId of [101, 102, 103]) {
    runtime.spawn(`user:${telegramId}`, { input: { telegramId, maxOpenPositions: 5 } });
    runtime.send(`user:${telegramId}`, { type: 'settings.update', slippageBps: 30 + telegramId });
    for (const n of [1, 2]) {
      runtime.send(`user:${telegramId}`, { type: 'order.requested', positionId: `${telegramId}-${n}`, pair: 'ETH/USD', side: n === 1 ? 'long' : 'short', collateral: '100.5', leverage: 10 });
    }
  }
  runtime.send('position:101-1', { type: 'order.filled', price: '3150.25' });
  runtime.send('position:102-2', { type: 'order.filled', price: '3149.00' });
  runtime.send('position:102-2', { type: 'close.requested' });
  for (const pair of ['ETH/USD', 'BTC/USD']) {
    runtime.spawn(`price-feed:${pair}`, { input: { pair, pairIndex: pair === 'ETH/USD' ? 0 : 1, heartbeatMs: 60_000 } });
    runtime.send(`price-feed:${pair}`, { type: 'price.observed', price: '3150.5', publishTime: 1_700_000_000_000, source: 'simulator' });
  }
  await runtime.flushed();
  return runtime.ids().sort();
}

for (const engine of ['postgres', 'pglite'] as const) {
  describe(`actor runtime on ${engine}`, function () {
    this.timeout(60_000);
    let t: TestDatabase;
    const running: ActorRuntime[] = [];
    const start = (overrides = {}) => {
      const runtime = testSystem(t.db, overrides);
      running.push(runtime);
      return runtime;
    };

    beforeEach(async () => {
      t = engine === 'postgres' ? await createTestPostgres('runtime') : await createTestPglite('runtime');
    });
    afterEach(async () => {
      for (const r of running.splice(0)) await r.stop();
      await t.destroy();
    });

    it('round-trips a nested actor tree: every actor comes back in the same state under the same parent', async () => {
      const first = start();
      await first.boot();
      const ids = await buildTree(first);
      assert.equal(ids.length, 3 + 6 + 2);
      const before = new Map(ids.map((id) => [id, persisted(first, id)]));
      const parents = new Map(ids.map((id) => [id, first.describe(id)?.parent]));
      await first.stop();

      const second = start();
      const report = await second.boot();
      assert.deepEqual({ restored: report.restored, quarantined: report.quarantined }, { restored: ids.length, quarantined: 0 });
      assert.deepEqual(second.ids().sort(), ids);
      for (const id of ids) {
        assert.deepEqual(persisted(second, id), before.get(id), `${id} restored in a different state`);
        assert.equal(second.describe(id)?.parent, parents.get(id), `${id} restored under a different parent`);
      }
      assert.equal(second.describe('position:101-1')?.parent, 'user:101');
      // The restored tree is alive: a restored position can still be driven to the end and tells its owner.
      second.send('position:101-1', { type: 'close.requested' });
      second.send('position:101-1', { type: 'order.closed', price: '3200' });
      await waitFor(() => !second.ids().includes('position:101-1'), 'position to finish');
      const user = second.get('user:101')!.getSnapshot() as { context: { positions: string[] } };
      assert.deepEqual(user.context.positions, ['position:101-2']);
    });

    it('persists only the latest state of an actor that changes faster than the database writes', async () => {
      const runtime = start();
      await runtime.boot();
      runtime.spawn('user:7', { input: { telegramId: 7, maxOpenPositions: 5 } });
      for (let i = 1; i <= 500; i++) runtime.send('user:7', { type: 'settings.update', slippageBps: (i % 900) + 1 });
      await runtime.flushed();
      const rows = await t.db.sql<{ snapshot: { context: { revision: number } }; version: number }>('select snapshot, version from actor_snapshots where id = ?', ['user:7']);
      assert.equal(rows[0]!.snapshot.context.revision, 500);
      assert.ok(rows[0]!.version < 500, `expected coalesced writes, got ${rows[0]!.version} versions`);
    });

    it('restores a pending deadline timer, which then fires after the restart', async () => {
      const first = start({ fillTimeoutMs: 700 });
      await first.boot();
      first.spawn('user:9', { input: { telegramId: 9, maxOpenPositions: 5 } });
      first.send('user:9', { type: 'order.requested', positionId: 'p9', pair: 'BTC/USD', side: 'long', collateral: '10', leverage: 2 });
      await first.flushed();
      await first.stop();
      await sleep(100);
      const second = start({ fillTimeoutMs: 700 });
      await second.boot();
      assert.equal((second.get('position:p9')!.getSnapshot() as { value: string }).value, 'pending');
      await waitFor(async () => {
        const rows = await t.db.sql<{ status: string; snapshot: { value: string } }>('select status, snapshot from actor_snapshots where id = ?', ['position:p9']);
        return rows[0]?.status === 'done' && rows[0].snapshot.value === 'expired';
      }, 'the restored fill timeout to expire the position', 5_000);
      const user = second.get('user:9')!.getSnapshot() as { context: { positions: string[] } };
      assert.deepEqual(user.context.positions, []);
    });
  });
}
