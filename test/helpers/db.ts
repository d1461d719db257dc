import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createDatabase, type Database } from '../../src/infra/db/database.ts';
import { Secret } from '../../src/infra/secret.ts';
import { silentLogger } from './common.ts';

/** The server the tests use; override with TEST_PG_URL (a URL to a database we may CREATE DATABASE from). */
export const TEST_PG_ADMIN_URL = process.env['TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestDatabase {
  readonly db: Database;
  readonly url: string;
  /** Closes the ORM and drops the database. */
  destroy(): Promise<void>;
}

/** A fresh, migrated PostgreSQL database of its own for one test file or suite. */
export async function createTestPostgres(label = 'test', options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const name = `vanta_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
  await adminQuery(`create database ${name}`);
  const url = TEST_PG_ADMIN_URL.replace(/\/[^/]*$/, `/${name}`);
  const db = await createDatabase({ target: { kind: 'postgres', url: new Secret(url), display: url }, logger: silentLogger(), migrate: options.migrate ?? true });
  return {
    db,
    url,
    async destroy() {
      await db.close();
      await adminQuery(`drop database if exists ${name} with (force)`);
    },
  };
}

/** A fresh PGlite database in a temporary directory. */
export async function createTestPglite(label = 'test'): Promise<TestDatabase & { dir: string }> {
  const dir = join(tmpdir(), `vanta-pglite-${label}-${randomBytes(4).toString('hex')}`);
  const db = await createDatabase({ target: { kind: 'pglite', dir }, logger: silentLogger() });
  return {
    db,
    url: dir,
    dir,
    async destroy() {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_PG_ADMIN_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
