import assert from 'node:assert/strict';
import type { ActorRuntime } from '../../src/actors/runtime.ts';
import { createTestPglite, createTestPostgres, type TestDatabase } from '../helpers/db.ts';
import { ordersDouble, type OrdersDouble } from '../helpers/orders-double.ts';
import { persisted, SENT_KINDS, sleep, testSystem, textSink, topState, waitFor } from '../helpers/runtime.ts';

/** Builds a small but complete tree: 3 users with positions in several states, and 2 price feeds. */
async function buildTree(runtime: ActorRuntime, orders: OrdersDouble): Promise<string[]> {
  for (const telegramId of [101, 102, 103]) {
    runtime.spawn(`user:${telegramId}`, { input: { telegramId, maxOpenPositions: 5 } });
    runtime.send(`user:${telegramId}`, { type: 'settings.update', slippageBps: 30 + telegramId });
    for (const n of [1, 2]) {
      runtime.send(`user:${telegramId}`, { type: 'order.requested', positionId: `${telegramId}-${n}`, pair: 'ETH/USD', pairIndex: 0, side: n === 1 ? 'long' : 'short', collateral: '100.5', leverage: 10 });
    }
  }
  await waitFor(() => ['101-1', '102-2'].every((p) => topState(runtime.get(`position:${p}`)?.getSnapshot() as never) === 'awaitingFill'), 'requests on chain');
  orders.fill('101-1', '3150.25');
  orders.fill('102-2', '3149');
  await waitFor(() => topState(runtime.get('position:102-2')?.getSnapshot() as never) === 'open', 'fill');
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
    const start = (overrides: Parameters<typeof testSystem>[1] = {}) => {
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
      const firstOrders = ordersDouble();
      const first = start({ orders: firstOrders });
      await first.boot();
      const ids = await buildTree(first, firstOrders);
      assert.equal(ids.length, 3 + 6 + 2 + 1, 'users, positions, price feeds and the trading controls');
      const parents = new Map(ids.map((id) => [id, first.describe(id)?.parent]));
      await first.stop();
      // What the first engine left on disk (its in-flight effects may have moved some actors on while it stopped).
      const rows = await t.db.sql<{ id: string; snapshot: unknown }>(`select id, snapshot from actor_snapshots where status = 'active'`);
      const before = new Map(rows.map((r) => [r.id, r.snapshot]));
      assert.deepEqual([...before.keys()].sort(), ids);

      const secondOrders = ordersDouble();
      // Each actor as it was restored, before its resumed effects move it on (the closing position
      // resends its close at once, and the users deliver what they still owe).
      const restoredAs = new Map<string, unknown>();
      const second: ActorRuntime = start({ orders: secondOrders, onStatus: (id, status) => void (status === 'running' && restoredAs.set(id, persisted(second, id))) });
      const report = await second.boot();
      assert.deepEqual({ restored: report.restored, quarantined: report.quarantined }, { restored: ids.length, quarantined: 0 });
      assert.deepEqual(second.ids().sort(), ids);
      for (const id of ids) {
        assert.deepEqual(restoredAs.get(id), before.get(id), `${id} restored in a different state`);
        assert.equal(second.describe(id)?.parent, parents.get(id), `${id} restored under a different parent`);
      }
      assert.equal(second.describe('position:101-1')?.parent, 'user:101');
      // The restored tree is alive: a restored position can still be driven to the end and tells its owner.
      second.send('position:101-1', { type: 'close.requested' });
      await waitFor(() => topState(second.get('position:101-1')?.getSnapshot() as never) === 'awaitingClose', 'close request');
      secondOrders.closeFill('101-1', '3200', '120.3');
      await waitFor(() => !second.ids().includes('position:101-1'), 'position to finish');
      const user = second.get('user:101')!.getSnapshot() as { context: { positions: string[] } };
      assert.deepEqual(user.context.positions, ['position:101-2']);
    });

    it('makes a position and its owner durable before the position sends anything to the chain', async () => {
      const seen: string[] = [];
      const orders = ordersDouble();
      const observing = {
        ...orders,
        async submitOpen(order: Parameters<typeof orders.submitOpen>[0], gate: Parameters<typeof orders.submitOpen>[1]) {
          const rows = await t.db.sql<{ id: string; value: string; positions: string[] | null }>(
            `select id, snapshot->>'value' as value, snapshot->'context'->'positions' as positions from actor_snapshots where id in ('position:d1', 'user:77') order by id`,
          );
          seen.push(JSON.stringify(rows));
          return orders.submitOpen(order, gate);
        },
      };
      const runtime = start({ orders: observing });
      await runtime.boot();
      runtime.spawn('user:77', { input: { telegramId: 77, maxOpenPositions: 5 } });
      runtime.send('user:77', { type: 'order.requested', positionId: 'd1', pair: 'ETH/USD', pairIndex: 0, side: 'long', collateral: '10', leverage: 2 });
      await waitFor(() => seen.length === 1, 'the submission');
      assert.deepEqual(JSON.parse(seen[0]!), [
        { id: 'position:d1', value: 'submitting', positions: null },
        { id: 'user:77', value: 'active', positions: ['position:d1'] },
      ]);
    });

    it('rejects an order with a clear reason when the engine trades on no chain (paper mode)', async () => {
      const told: string[] = [];
      const runtime = start({ orders: null, notices: textSink(told, { except: SENT_KINDS }) });
      await runtime.boot();
      runtime.spawn('user:88', { input: { telegramId: 88, maxOpenPositions: 5 } });
      runtime.send('user:88', { type: 'order.requested', positionId: 'np', pair: 'ETH/USD', pairIndex: 0, side: 'long', collateral: '10', leverage: 2 });
      await waitFor(() => told.length === 1, 'the refusal');
      assert.match(told[0]!, /^Order np \(long ETH\/USD\) was refused before anything was executed\. This engine trades on no chain/);
    });

    it('sends nothing for an order that reuses the id of an earlier one, and its owner stops listing it', async () => {
      const orders = ordersDouble();
      const told: string[] = [];
      const runtime = start({ orders, notices: textSink(told, { except: SENT_KINDS }) });
      await runtime.boot();
      runtime.spawn('user:31', { input: { telegramId: 31, maxOpenPositions: 5 } });
      runtime.send('user:31', { type: 'order.requested', positionId: 'same', pair: 'ETH/USD', pairIndex: 0, side: 'long', collateral: '10', leverage: 2 });
      await waitFor(() => orders.submitted.length === 1, 'the first order');
      orders.cancel('same');
      await waitFor(() => !runtime.ids().includes('position:same'), 'the first order to end');
      // Another trader (a forged or replayed button) asks for an order under the same id.
      runtime.spawn('user:32', { input: { telegramId: 32, maxOpenPositions: 5 } });
      runtime.send('user:32', { type: 'order.requested', positionId: 'same', pair: 'ETH/USD', pairIndex: 0, side: 'short', collateral: '20', leverage: 3 });
      await waitFor(() => told.some((t) => t.includes('already used by an earlier order')), 'the second trader to be told');
      assert.deepEqual(orders.submitted, ['open:same'], 'nothing was sent for the reused id');
      assert.deepEqual((runtime.get('user:32')!.getSnapshot() as { context: { positions: string[] } }).context.positions, [], 'it does not count against the limit');
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
      first.send('user:9', { type: 'order.requested', positionId: 'p9', pair: 'BTC/USD', pairIndex: 1, side: 'long', collateral: '10', leverage: 2 });
      await waitFor(() => topState(first.get('position:p9')?.getSnapshot() as never) === 'awaitingFill', 'request on chain');
      await first.flushed();
      await first.stop();
      await sleep(100);
      const told: string[] = [];
      const second = start({ fillTimeoutMs: 700, notices: textSink(told, { except: SENT_KINDS }) });
      await second.boot();
      const restored = second.get('position:p9')!.getSnapshot() as { value: unknown; context: { fillDelayed: boolean } };
      assert.deepEqual([topState(restored), restored.context.fillDelayed], ['awaitingFill', false]);
      await waitFor(async () => {
        const rows = await t.db.sql<{ snapshot: { context: { fillDelayed: boolean } } }>('select snapshot from actor_snapshots where id = ?', ['position:p9']);
        return rows[0]?.snapshot.context.fillDelayed === true;
      }, 'the restored fill timer to fire', 5_000);
      await waitFor(() => told.length >= 1, 'the trader to be told', 5_000);
      assert.deepEqual(told, ['Order p9 (long BTC/USD) is still waiting for the keeper to fill it; it stays tracked and nothing is sent twice.']);
      assert.deepEqual((second.get('user:9')!.getSnapshot() as { context: { positions: string[] } }).context.positions, ['position:p9'], 'a delayed order stays tracked');
    });
  });
}
