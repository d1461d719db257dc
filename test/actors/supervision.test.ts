import assert from 'node:assert/strict';
import type { ActorRuntime, QuarantineInfo } from '../../src/actors/runtime.ts';
import { captureLogger, testMetrics } from '../helpers/common.ts';
import { createTestPostgres, type TestDatabase } from '../helpers/db.ts';
import { sleep, testSystem, waitFor } from '../helpers/runtime.ts';
import { flakyKind, poisonKind } from '../helpers/test-kinds.ts';

describe('supervision', function () {
  this.timeout(30_000);
  let t: TestDatabase;
  let runtime: ActorRuntime;
  const metrics = testMetrics();
  const quarantines: QuarantineInfo[] = [];
  const statuses: string[] = [];
  const captured = captureLogger('info');

  before(async () => {
    t = await createTestPostgres('supervision');
    runtime = testSystem(t.db, {
      metrics,
      logger: captured.logger,
      extraKinds: () => [flakyKind, poisonKind],
      onQuarantine: (info) => quarantines.push(info),
      onStatus: (id, status) => statuses.push(`${id}=${status}`),
    });
    await runtime.boot();
  });
  after(async () => {
    await runtime.stop();
    await t.destroy();
  });

  const count = (id: string) => (runtime.get(id)!.getSnapshot() as { context: { n: number } }).context.n;

  it('restarts a failed actor from its last persisted snapshot and delivers events sent meanwhile', async () => {
    runtime.spawn('flaky:1', { input: undefined });
    for (let i = 0; i < 3; i++) runtime.send('flaky:1', { type: 'bump' });
    await runtime.flushed();
    runtime.send('flaky:1', { type: 'boom' });
    assert.equal(runtime.get('flaky:1'), undefined, 'a restarting actor is not handed out');
    assert.ok(runtime.send('flaky:1', { type: 'bump' }), 'events are held while it restarts');
    await waitFor(() => runtime.get('flaky:1') !== undefined, 'restart');
    await waitFor(() => count('flaky:1') === 4, 'held event delivered');
    assert.equal((await metrics.actorRestarts.get()).values.find((v) => v.labels.kind === 'flaky')?.value, 1);
    assert.ok(statuses.includes('flaky:1=restarting'));
  });

  it('backs off between restarts and quarantines after repeated failures, while other actors keep running', async () => {
    runtime.spawn('user:1', { input: { telegramId: 1, maxOpenPositions: 3 } });
    const restartTimes: number[] = [];
    for (let i = 0; i < 3; i++) {
      const failedAt = Date.now();
      runtime.send('flaky:1', { type: 'boom' });
      if (i < 2) {
        await waitFor(() => runtime.get('flaky:1') !== undefined, `restart ${i + 2}`);
        restartTimes.push(Date.now() - failedAt);
      }
      runtime.send('user:1', { type: 'settings.update', slippageBps: 10 + i });
    }
    // Backoff doubles: 20 ms base, so the third restart waits at least 80 ms.
    assert.ok(restartTimes[1]! >= 70, `second restart after ${restartTimes[1]} ms; expected exponential backoff`);
    await waitFor(async () => (await t.db.sql<{ n: number }>(`select count(*)::int as n from audit_log where subject = 'flaky:1'`))[0]!.n === 1, 'quarantine recorded');
    assert.equal(runtime.get('flaky:1'), undefined);
    assert.equal(runtime.send('flaky:1', { type: 'bump' }), false);
    assert.equal(quarantines.length, 1);
    assert.match(quarantines[0]!.reason, /4 failures within 5000 ms; last: boom/);
    const user = runtime.get('user:1')!.getSnapshot() as { context: { revision: number } };
    assert.equal(user.context.revision, 3, 'the user actor kept working throughout');
    const rows = await t.db.sql<{ status: string; status_reason: string }>('select status, status_reason from actor_snapshots where id = ?', ['flaky:1']);
    assert.equal(rows[0]!.status, 'quarantined');
    const audit = await t.db.sql<{ action: string }>('select action from audit_log where subject = ?', ['flaky:1']);
    assert.deepEqual(audit.map((a) => a.action), ['actor.quarantined']);
    assert.equal((await metrics.actorsQuarantined.get()).values.find((v) => v.labels.kind === 'flaky')?.value, 1);
    assert.ok(captured.lines().some((l) => l['msg'] === 'Quarantined actor; it stays stopped until an operator releases it' && l['actor_id'] === 'flaky:1'));
    assert.throws(() => runtime.spawn('flaky:1', { input: undefined }), /quarantined/);
  });

  it('quarantines an actor that fails again every time it is restored, and an operator can release it', async () => {
    runtime.spawn('poison:1', { input: undefined });
    runtime.send('poison:1', { type: 'arm' });
    await waitFor(() => runtime.quarantined().some((q) => q.id === 'poison:1'), 'poison quarantine', 10_000);
    // Fix the data, then release: it runs again.
    await t.db.sql(`update actor_snapshots set snapshot = jsonb_set(snapshot, '{value}', '"idle"') where id = 'poison:1'`);
    await t.db.sql(`update actor_snapshots set snapshot = jsonb_set(snapshot, '{children}', '{}') where id = 'poison:1'`);
    assert.equal(await runtime.release('poison:1'), true);
    await sleep(100);
    assert.equal((runtime.get('poison:1')!.getSnapshot() as { value: string }).value, 'idle');
  });
});
