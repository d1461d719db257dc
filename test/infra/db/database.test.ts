import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { VantaError } from '../../../src/errors.ts';
import { createDatabase, type Database } from '../../../src/infra/db/database.ts';
import { migrations } from '../../../src/infra/db/migrations/index.ts';
import { Secret } from '../../../src/infra/secret.ts';
import { silentLogger } from '../../helpers/common.ts';
import { createTestPglite, createTestPostgres, TEST_PG_ADMIN_URL, type TestDatabase } from '../../helpers/db.ts';

async function admin<T extends object>(sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: TEST_PG_ADMIN_URL });
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

const open = (url: string) => createDatabase({ target: { kind: 'postgres', url: new Secret(url), display: url }, logger: silentLogger() });

describe('opening the database (PostgreSQL)', function () {
  this.timeout(60_000);

  it('never creates a missing database: a misspelt DATABASE_URL is a clear error and nothing is created', async () => {
    const name = `vanta_misspelt_${randomBytes(4).toString('hex')}`;
    const url = TEST_PG_ADMIN_URL.replace(/\/[^/]*$/, `/${name}`);
    await assert.rejects(open(url), (err: unknown) => {
      assert.ok(err instanceof VantaError);
      assert.equal(err.code, 'DB_MISSING');
      assert.equal(err.retryable, false);
      assert.match(err.message, new RegExp(`${name}.*does not exist.*never creates a database.*Check DATABASE_URL`));
      return true;
    });
    assert.deepEqual(await admin(`select datname from pg_database where datname = '${name}'`), [], 'no database was created');
  });

  it('two engines starting at once on a fresh database both come up (migrations run one at a time)', async () => {
    const name = `vanta_fresh_${randomBytes(4).toString('hex')}`;
    await admin(`create database ${name}`);
    const url = TEST_PG_ADMIN_URL.replace(/\/[^/]*$/, `/${name}`);
    const opened: Database[] = [];
    try {
      const results = await Promise.allSettled([open(url), open(url), open(url)]);
      for (const r of results) if (r.status === 'fulfilled') opened.push(r.value);
      assert.deepEqual(
        results.map((r) => (r.status === 'fulfilled' ? 'up' : String((r.reason as Error).message))),
        ['up', 'up', 'up'],
      );
      const applied = await opened[0]!.sql<{ name: string }>('select name from mikro_orm_migrations order by id');
      assert.deepEqual(applied.map((m) => m.name), migrations.map((m) => m.name), 'each migration applied exactly once');
    } finally {
      for (const db of opened) await db.close();
      await admin(`drop database if exists ${name} with (force)`);
    }
  });
});

for (const engine of ['postgres', 'pglite'] as const) {
  describe(`the transition journal table (${engine})`, function () {
    this.timeout(60_000);
    let t: TestDatabase;
    before(async () => {
      t = engine === 'postgres' ? await createTestPostgres('transitions') : await createTestPglite('transitions');
    });
    after(async () => t.destroy());
    const row = (actor: string, at: number, event: string, state: unknown, context: unknown = { n: at }) => ({ actor, at, event, state, context });

    it('appends a batch in order and reads an actor’s newest steps back, oldest first, times exact to the millisecond', async () => {
      const base = Date.UTC(2026, 11, 4, 10, 0, 0, 123);
      await t.db.appendTransitions([
        row('user:1', base, 'xstate.init', 'idle'),
        row('position:1', base + 1, 'xstate.init', { open: 'watching' }, { pair: 'ETH/USD', size: '1.5' }),
        row('user:1', base + 2, 'user.order', 'idle', { n: 2, nested: { list: [1, 'two', null] } }),
        row('user:1', base + 2, 'user.pause', 'paused'),
      ]);
      await t.db.appendTransitions([]);
      assert.deepEqual(await t.db.recentTransitions('user:1', 10), [
        { at: base, event: 'xstate.init', state: 'idle', context: { n: base } },
        { at: base + 2, event: 'user.order', state: 'idle', context: { n: 2, nested: { list: [1, 'two', null] } } },
        { at: base + 2, event: 'user.pause', state: 'paused', context: { n: base + 2 } },
      ]);
      assert.deepEqual(
        (await t.db.recentTransitions('user:1', 2)).map((s) => s.event),
        ['user.order', 'user.pause'],
        'the newest two, oldest first',
      );
      assert.deepEqual(await t.db.recentTransitions('position:1', 10), [{ at: base + 1, event: 'xstate.init', state: { open: 'watching' }, context: { pair: 'ETH/USD', size: '1.5' } }]);
      assert.deepEqual(await t.db.recentTransitions('nobody:1', 10), []);
    });

    it('prunes the listed actors to their newest rows and leaves the others alone', async () => {
      const rows = [];
      for (let i = 0; i < 10; i += 1) rows.push(row('price-feed:A', 1_000 + i, 'tick', 'live'), row('price-feed:B', 1_000 + i, 'tick', 'live'));
      rows.push(row('price-feed:C', 5_000, 'tick', 'live'));
      await t.db.appendTransitions(rows);
      assert.equal(await t.db.pruneTransitions(['price-feed:A', 'price-feed:C', 'price-feed:missing'], 3), 7);
      assert.deepEqual(
        (await t.db.recentTransitions('price-feed:A', 100)).map((s) => s.at),
        [1_007, 1_008, 1_009],
      );
      assert.equal((await t.db.recentTransitions('price-feed:B', 100)).length, 10, 'not listed: untouched');
      assert.equal((await t.db.recentTransitions('price-feed:C', 100)).length, 1, 'fewer than keep: untouched');
      assert.equal(await t.db.pruneTransitions([], 3), 0);
      await assert.rejects(t.db.pruneTransitions(['price-feed:B'], 0), RangeError);
    });
  });
}
