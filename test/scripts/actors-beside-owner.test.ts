import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { EngineLease } from '../../src/infra/db/lease.ts';
import { Secret } from '../../src/infra/secret.ts';
import { silentLogger } from '../helpers/common.ts';
import { createTestPostgres, type TestDatabase } from '../helpers/db.ts';
import { testSystem } from '../helpers/runtime.ts';

const SCRIPT = fileURLToPath(new URL('../../scripts/actors.ts', import.meta.url));

describe('npm run actors beside a running owner (PostgreSQL)', function () {
  this.timeout(60_000);
  let pg: TestDatabase;
  before(async () => {
    pg = await createTestPostgres('actors_owner');
  });
  after(async () => {
    await pg.destroy();
  });

  it('releases a quarantined actor without disturbing the owner, which restores it at its next start', async () => {
    await pg.db.sql(`insert into actor_snapshots (id, kind, parent, machine_version, snapshot) values ('user:1', 'user', 'root', 99, '{}'::jsonb)`);
    const settings = { ttlMs: 2_500, renewEveryMs: 833, pollMs: 250 };
    const lease = new EngineLease({ url: new Secret(pg.url), db: pg.db, logger: silentLogger(), ...settings });
    const owner = testSystem(pg.db, { fence: await lease.acquire() });
    await owner.boot();
    owner.spawn('user:2', { input: { telegramId: 2, maxOpenPositions: 5 } });
    await owner.flushed();
    assert.deepEqual(owner.quarantined().map((q) => q.id), ['user:1']);

    // The operator fixes the row and releases it while the owner runs.
    await pg.db.sql(`update actor_snapshots set machine_version = 1, snapshot = ?::jsonb where id = 'user:1'`, [
      JSON.stringify({ status: 'active', value: 'active', historyValue: {}, children: {}, context: { telegramId: 1, maxOpenPositions: 5, settings: { slippageBps: 50, defaultLeverage: 5 }, revision: 0, positions: [] } }),
    ]);
    const released = spawnSync(process.execPath, [SCRIPT, 'release', 'user:1'], { env: { PATH: process.env['PATH'] ?? '', DATABASE_URL: pg.url }, encoding: 'utf8', timeout: 30_000 });
    assert.equal(released.status, 0, released.stderr);

    // The owner is undisturbed: it keeps writing its actors, and holds user:1 in quarantine until it restarts.
    owner.send('user:2', { type: 'settings.update', slippageBps: 33 });
    await owner.flushed();
    assert.equal(owner.fenced, null);
    assert.equal(owner.get('user:1'), undefined);
    await owner.stop();
    await lease.release();

    const next = new EngineLease({ url: new Secret(pg.url), db: pg.db, logger: silentLogger(), ...settings });
    const restarted = testSystem(pg.db, { fence: await next.acquire() });
    await restarted.boot();
    assert.ok(restarted.get('user:1'), 'restored at the next start');
    assert.ok(restarted.get('user:2'));
    await restarted.stop();
    await next.release();
  });
});
