import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { VantaError } from '../../../src/errors.ts';
import { createDatabase, type Database } from '../../../src/infra/db/database.ts';
import { migrations } from '../../../src/infra/db/migrations/index.ts';
import { Secret } from '../../../src/infra/secret.ts';
import { silentLogger } from '../../helpers/common.ts';
import { TEST_PG_ADMIN_URL } from '../../helpers/db.ts';

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
