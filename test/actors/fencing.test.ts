import assert from 'node:assert/strict';
import { createActor } from 'xstate';
import { createPositionKind } from '../../src/actors/kinds/position.actor.ts';
import type { ActorRuntime, RuntimeHandle } from '../../src/actors/runtime.ts';
import { FencedError } from '../../src/errors.ts';
import { systemClock } from '../../src/infra/clock.ts';
import { leaseFence } from '../../src/infra/db/fence.ts';
import { captureLogger, silentLogger, testMetrics } from '../helpers/common.ts';
import { createTestPostgres, type TestDatabase } from '../helpers/db.ts';
import { ordersDouble } from '../helpers/orders-double.ts';
import { sleep, testSystem, waitFor } from '../helpers/runtime.ts';

/** Another engine takes the lease over: what a stalled owner finds when it wakes up. */
async function takeOver(t: TestDatabase, epoch: number): Promise<void> {
  await t.db.sql(`update engine_lease set epoch = ?, holder = 'the-other-engine' where name = 'engine'`, [epoch]);
}

describe('fencing: an engine that lost its lease writes and sends nothing', function () {
  this.timeout(30_000);
  let t: TestDatabase;
  const runtimes: ActorRuntime[] = [];
  before(async () => {
    t = await createTestPostgres('fencing');
  });
  beforeEach(async () => {
    await t.db.sql(`delete from engine_lease`);
    await t.db.sql(`insert into engine_lease (name, epoch, holder, expires_at) values ('engine', 1, 'this-engine', now() + interval '1 hour')`);
  });
  afterEach(async () => {
    for (const r of runtimes.splice(0)) await r.stop();
  });
  after(async () => {
    await t.destroy();
  });

  it('refuses every snapshot write once the lease is taken over: rows unchanged, flushed() rejects, every actor stops at once', async () => {
    const fenced: FencedError[] = [];
    const captured = captureLogger();
    const runtime = testSystem(t.db, { fence: leaseFence(t.db, 1), onFenced: (e) => fenced.push(e), logger: captured.logger });
    runtimes.push(runtime);
    await runtime.boot();
    for (let u = 1; u <= 5; u++) runtime.spawn(`user:${u}`, { input: { telegramId: u, maxOpenPositions: 5 } });
    await runtime.flushed();
    const before = await t.db.sql(`select id, version, snapshot from actor_snapshots order by id`);
    assert.equal(before.length, 5 + 1, 'the users and the trading controls');

    await takeOver(t, 2);
    for (let u = 1; u <= 5; u++) runtime.send(`user:${u}`, { type: 'settings.update', slippageBps: 77 });
    runtime.spawn('user:6', { input: { telegramId: 6, maxOpenPositions: 5 } });
    await assert.rejects(runtime.flushed(), (err: unknown) => err instanceof FencedError && err.code === 'LEASE_LOST');

    assert.deepEqual(await t.db.sql(`select id, version, snapshot from actor_snapshots order by id`), before, 'no row changed, none was added');
    assert.deepEqual(runtime.ids(), [], 'every actor stopped at once');
    assert.equal(fenced.length, 1, 'the engine is told once');
    assert.ok(runtime.fenced);
    await assert.rejects(runtime.flushed(), FencedError, 'and every later barrier fails at once');
    assert.throws(() => runtime.spawn('user:7', { input: { telegramId: 7, maxOpenPositions: 5 } }), FencedError);
    assert.ok(captured.lines().some((l) => l['level'] === 60 && /Lease lost: stopped all 7 actors without writing/.test(String(l['msg']))));
    await runtime.stop();
    assert.deepEqual(await t.db.sql(`select id, version, snapshot from actor_snapshots order by id`), before, 'stopping writes nothing either');
  });

  it('a position whose state could not be written never reaches the chain (a gateway counting calls sees none)', async () => {
    const orders = ordersDouble();
    const runtime = testSystem(t.db, { fence: leaseFence(t.db, 1), orders });
    runtimes.push(runtime);
    await runtime.boot();
    runtime.spawn('user:21', { input: { telegramId: 21, maxOpenPositions: 5 } });
    runtime.send('user:21', { type: 'order.requested', positionId: 'before', pair: 'ETH/USD', pairIndex: 0, side: 'long', collateral: '10', leverage: 2 });
    await waitFor(() => orders.submitted.length === 1, 'the first order to be sent while the lease is held');

    await takeOver(t, 2);
    runtime.send('user:21', { type: 'order.requested', positionId: 'after', pair: 'ETH/USD', pairIndex: 0, side: 'long', collateral: '10', leverage: 2 });
    await waitFor(() => runtime.fenced !== null, 'the refused write');
    await sleep(200);
    assert.deepEqual(orders.submitted, ['open:before'], 'nothing was sent for the order whose state was refused');
    const rows = await t.db.sql(`select id from actor_snapshots where id = 'position:after'`);
    assert.deepEqual(rows, []);
  });

  it('a position reaches the gateway only once its own new state and its owner\'s are durable', async () => {
    const orders = ordersDouble();
    const seen: unknown[] = [];
    const runtime = testSystem(t.db, {
      fence: leaseFence(t.db, 1),
      orders: {
        ...orders,
        async submitOpen(order, gate) {
          seen.push(
            await t.db.sql(`select id, snapshot->>'value' as state, snapshot->'context'->'positions' as positions from actor_snapshots where id in (?, ?) order by id`, [
              `position:${order.positionId}`,
              order.owner,
            ]),
          );
          return orders.submitOpen(order, gate);
        },
      },
    });
    runtimes.push(runtime);
    await runtime.boot();
    runtime.spawn('user:11', { input: { telegramId: 11, maxOpenPositions: 5 } });
    await runtime.flushed();
    runtime.send('user:11', { type: 'order.requested', positionId: 'd1', pair: 'ETH/USD', pairIndex: 0, side: 'long', collateral: '10', leverage: 2 });
    await waitFor(() => seen.length === 1, 'the submission');
    assert.deepEqual(seen[0], [
      { id: 'position:d1', state: 'submitting', positions: null },
      { id: 'user:11', state: 'active', positions: ['position:d1'] },
    ]);
  });

  it('quarantine and release are fenced too', async () => {
    const runtime = testSystem(t.db, { fence: leaseFence(t.db, 1) });
    runtimes.push(runtime);
    await t.db.sql(`insert into actor_snapshots (id, kind, parent, machine_version, snapshot, status, status_reason) values ('user:31', 'user', 'root', 1, '{}'::jsonb, 'quarantined', 'test')`);
    await runtime.boot();
    await takeOver(t, 2);
    await assert.rejects(runtime.release('user:31'), FencedError);
    const rows = await t.db.sql<{ status: string }>(`select status from actor_snapshots where id = 'user:31'`);
    assert.equal(rows[0]!.status, 'quarantined');
  });

  it('a submission whose actor was stopped while it waited for durability sends nothing (the effect honours its abort signal)', async () => {
    const orders = ordersDouble();
    let release: () => void = () => {};
    const durable = new Promise<void>((resolve) => (release = resolve));
    const runtime: RuntimeHandle = {
      spawn: () => {},
      send: () => true,
      get: () => undefined,
      loggerFor: () => silentLogger(),
      flushed: () => durable,
    };
    const kind = createPositionKind({ runtime, logger: silentLogger(), clock: systemClock, orders, openGate: () => {} });
    const actor = createActor(kind.logic, {
      input: { positionId: 'p1', owner: 'user:41', pair: 'ETH/USD', pairIndex: 0, side: 'long', collateral: '10', leverage: 2, slippageBps: 50, fillTimeoutMs: 60_000 },
    });
    actor.start();
    // Halted (lease lost, or a conflict) while its state was on its way to the database.
    actor.stop();
    release();
    await sleep(50);
    assert.deepEqual(orders.submitted, []);
  });

  it('a conflict on one actor does not fail the barrier of another', async () => {
    const metrics = testMetrics();
    const runtime = testSystem(t.db, { fence: leaseFence(t.db, 1), metrics });
    runtimes.push(runtime);
    await runtime.boot();
    runtime.spawn('user:51', { input: { telegramId: 51, maxOpenPositions: 5 } });
    runtime.spawn('user:52', { input: { telegramId: 52, maxOpenPositions: 5 } });
    await runtime.flushed();
    await t.db.sql(`update actor_snapshots set version = version + 1 where id = 'user:51'`);
    runtime.send('user:51', { type: 'settings.update', slippageBps: 20 });
    runtime.send('user:52', { type: 'settings.update', slippageBps: 20 });
    await runtime.flushed(['user:52']);
    await waitFor(() => !runtime.ids().includes('user:51'), 'the conflicting copy to stop');
    assert.ok(runtime.get('user:52'));
    assert.equal(runtime.fenced, null, 'a conflict is not a lost lease');
  });
});
