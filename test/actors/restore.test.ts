import assert from 'node:assert/strict';
import type { ActorRuntime } from '../../src/actors/runtime.ts';
import { PersistConflictError } from '../../src/errors.ts';
import { userMachineVersion } from '../../src/machines/user.machine.ts';
import { captureLogger, testMetrics } from '../helpers/common.ts';
import { createTestPostgres, type TestDatabase } from '../helpers/db.ts';
import { testSystem, waitFor } from '../helpers/runtime.ts';
import { counterV2Kind } from '../helpers/test-kinds.ts';

const validUser = (telegramId: number) => ({
  status: 'active',
  value: 'active',
  historyValue: {},
  context: { telegramId, maxOpenPositions: 5, settings: { slippageBps: 50, defaultLeverage: 5 }, revision: 2, positions: [] },
  children: {},
});

async function insertRow(t: TestDatabase, id: string, kind: string, machineVersion: number, snapshot: unknown): Promise<void> {
  await t.db.sql('insert into actor_snapshots (id, kind, parent, machine_version, snapshot) values (?, ?, ?, ?, ?::jsonb)', [id, kind, 'root', machineVersion, JSON.stringify(snapshot)]);
}

describe('restoring stored snapshots', function () {
  this.timeout(30_000);
  let t: TestDatabase;
  let runtime: ActorRuntime | undefined;
  beforeEach(async () => {
    t = await createTestPostgres('restore');
  });
  afterEach(async () => {
    await runtime?.stop();
    runtime = undefined;
    await t.destroy();
  });

  it('quarantines corrupt rows, unknown versions and unknown kinds with a clear log, and boots the rest', async () => {
    await insertRow(t, 'user:1', 'user', 1, validUser(1));
    await insertRow(t, 'user:2', 'user', 1, 'not a snapshot');
    await insertRow(t, 'user:3', 'user', 1, { ...validUser(3), value: 'no-such-state' });
    await insertRow(t, 'user:4', 'user', 99, validUser(4));
    await insertRow(t, 'ghost:1', 'ghost', 1, validUser(5));
    const captured = captureLogger('info');
    const metrics = testMetrics();
    runtime = testSystem(t.db, { logger: captured.logger, metrics });
    const report = await runtime.boot();

    assert.deepEqual({ restored: report.restored, quarantined: report.quarantined }, { restored: 1, quarantined: 4 });
    assert.deepEqual(runtime.ids(), ['controls', 'user:1'], 'the trading controls are created at the first boot');
    runtime.send('user:1', { type: 'settings.update', slippageBps: 77 });
    assert.equal((runtime.get('user:1')!.getSnapshot() as { context: { revision: number } }).context.revision, 3);

    const reasons = Object.fromEntries(runtime.quarantined().map((q) => [q.id, q.reason]));
    assert.match(reasons['user:2']!, /not an active XState snapshot/);
    assert.match(reasons['user:3']!, /State 'no-such-state' does not exist/);
    assert.match(reasons['user:4']!, new RegExp(`machine version 99 is unknown to this build \\(user is at version ${userMachineVersion}\\)`));
    assert.match(reasons['ghost:1']!, /no actor kind "ghost"/);
    const rows = await t.db.sql<{ id: string; status: string }>('select id, status from actor_snapshots order by id');
    assert.deepEqual(rows.map((r) => `${r.id}=${r.status}`), ['controls=active', 'ghost:1=quarantined', 'user:1=active', 'user:2=quarantined', 'user:3=quarantined', 'user:4=quarantined']);
    const logged = captured.lines().filter((l) => l['msg'] === 'Quarantined actor; it stays stopped until an operator releases it');
    assert.deepEqual(logged.map((l) => l['actor_id']).sort(), ['ghost:1', 'user:2', 'user:3', 'user:4']);
    assert.ok(logged.every((l) => typeof l['reason'] === 'string' && typeof l['code'] === 'string'));
    const counted = (await metrics.actorQuarantines.get()).values.reduce((sum, v) => sum + v.value, 0);
    assert.equal(counted, 4);

    // A second boot does not try them again: they stay quarantined until released.
    await runtime.stop();
    runtime = testSystem(t.db);
    const again = await runtime.boot();
    assert.deepEqual({ restored: again.restored, quarantined: again.quarantined }, { restored: 2, quarantined: 0 });
    assert.equal(runtime.quarantined().length, 4);
  });

  it('migrates a snapshot written by an older machine version and stores it under the new version', async () => {
    await insertRow(t, 'counter:1', 'counter', 1, { status: 'active', value: {}, historyValue: {}, context: { n: 41 }, children: {} });
    runtime = testSystem(t.db, { extraKinds: () => [counterV2Kind] });
    const report = await runtime.boot();
    assert.equal(report.migrated, 1);
    runtime.send('counter:1', { type: 'inc' });
    assert.equal((runtime.get('counter:1')!.getSnapshot() as { context: { count: number } }).context.count, 42);
    await runtime.flushed();
    const rows = await t.db.sql<{ machine_version: number; snapshot: { context: unknown } }>('select machine_version, snapshot from actor_snapshots where id = ?', ['counter:1']);
    assert.deepEqual(rows[0], { machine_version: 2, snapshot: rows[0]!.snapshot });
    assert.deepEqual(rows[0].snapshot.context, { count: 42 });
  });

  it('migrates a version-2 trader to the current version at boot: paused stays paused, settings kept, notices start empty and work', async () => {
    await insertRow(t, 'user:21', 'user', 2, { ...validUser(21), value: 'paused', context: { ...validUser(21).context, settings: { slippageBps: 35, defaultLeverage: 8 }, recentOrders: ['old'] } });
    const received: string[] = [];
    runtime = testSystem(t.db, { notices: (n) => (received.push(`${n.id} ${n.kind} ${n.text}`), Promise.resolve()) });
    const report = await runtime.boot();
    assert.equal(report.migrated, 1);
    runtime.send('user:21', { type: 'order.requested', positionId: 'old', pair: 'ETH/USD', pairIndex: 0, side: 'long', collateral: '10', leverage: 2 });
    runtime.send('user:21', { type: 'trading.resume' });
    runtime.send('user:21', { type: 'order.requested', positionId: 'old', pair: 'ETH/USD', pairIndex: 0, side: 'long', collateral: '10', leverage: 2 });
    await waitFor(() => received.length === 2, 'the notices');
    assert.deepEqual(received, ['n1 order.refused Trading is paused for your account. Send /resume to trade again.', 'n2 order.refused Order old was already received; it is never sent twice.']);
    await runtime.flushed();
    const [row] = await t.db.sql<{ machine_version: number; settings: unknown }>(`select machine_version, snapshot->'context'->'settings' as settings from actor_snapshots where id = 'user:21'`);
    assert.deepEqual(row, { machine_version: userMachineVersion, settings: { slippageBps: 35, defaultLeverage: 8, confirmOrders: true, notify: { fills: true, delays: true, closes: true } } });
  });

  it('stops its local copy when another instance has written the row (optimistic lock)', async () => {
    const metrics = testMetrics();
    runtime = testSystem(t.db, { metrics });
    await runtime.boot();
    runtime.spawn('user:5', { input: { telegramId: 5, maxOpenPositions: 5 } });
    await runtime.flushed();
    // Another instance writes the same actor.
    await t.db.sql(`update actor_snapshots set version = version + 1, snapshot = jsonb_set(snapshot, '{context,revision}', '9') where id = 'user:5'`);
    runtime.send('user:5', { type: 'settings.update', slippageBps: 20 });
    await assert.rejects(runtime.flushed(), PersistConflictError, 'the change was refused, and flushed() says so');
    await waitFor(() => !runtime!.ids().includes('user:5'), 'local copy to stop');
    const rows = await t.db.sql<{ snapshot: { context: { revision: number } } }>('select snapshot from actor_snapshots where id = ?', ['user:5']);
    assert.equal(rows[0]!.snapshot.context.revision, 9, "the other instance's write is kept");
    assert.equal((await metrics.persistConflicts.get()).values[0]?.value, 1);
  });
});
