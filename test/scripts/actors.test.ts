import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createTestPostgres, type TestDatabase } from '../helpers/db.ts';
import { testSystem } from '../helpers/runtime.ts';

const SCRIPT = fileURLToPath(new URL('../../scripts/actors.ts', import.meta.url));

describe('npm run actors (operator command)', function () {
  this.timeout(60_000);
  let pg: TestDatabase;
  before(async () => {
    pg = await createTestPostgres('actors_cli');
  });
  after(async () => {
    await pg.destroy();
  });
  const run = (...args: string[]) => spawnSync(process.execPath, [SCRIPT, ...args], { env: { PATH: process.env['PATH'] ?? '', DATABASE_URL: pg.url }, encoding: 'utf8', timeout: 30_000 });

  it('lists a quarantined actor with its reason, releases it, and the next boot restores it', async () => {
    await pg.db.sql(`insert into actor_snapshots (id, kind, parent, machine_version, snapshot) values ('user:1', 'user', 'root', 99, '{}'::jsonb)`);
    const first = testSystem(pg.db);
    await first.boot();
    await first.stop();
    const listed = JSON.parse(run('quarantined').stdout) as { id: string; reason: string }[];
    assert.deepEqual(listed.map((r) => r.id), ['user:1']);
    assert.match(listed[0]!.reason, /machine version 99 is unknown/);

    // The operator fixes the row, then releases it.
    await pg.db.sql(`update actor_snapshots set machine_version = 1, snapshot = ?::jsonb where id = 'user:1'`, [
      JSON.stringify({ status: 'active', value: 'active', historyValue: {}, children: {}, context: { telegramId: 1, maxOpenPositions: 5, settings: { slippageBps: 50, defaultLeverage: 5 }, revision: 0, positions: [] } }),
    ]);
    const released = run('release', 'user:1');
    assert.equal(released.status, 0, released.stderr);
    assert.equal(run('release', 'user:1').status, 1, 'releasing twice is refused');
    const second = testSystem(pg.db);
    const report = await second.boot();
    assert.equal(report.restored, 2, 'user:1 and the trading controls');
    assert.ok(second.get('user:1'));
    await second.stop();
    const audit = await pg.db.sql<{ action: string }>(`select action from audit_log where subject = 'user:1' order by id`);
    assert.deepEqual(audit.map((a) => a.action), ['actor.quarantined', 'actor.released']);
    assert.deepEqual(JSON.parse(run('summary').stdout), [
      { kind: 'controls', status: 'active', actors: 1 },
      { kind: 'user', status: 'active', actors: 1 },
    ]);
    assert.equal(run('nonsense').status, 2);
  });
});
