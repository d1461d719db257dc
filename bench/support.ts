import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createDatabase, type Database } from '../src/infra/db/database.ts';
import { createLogger } from '../src/infra/logger.ts';
import { Secret } from '../src/infra/secret.ts';

/** Benchmarks run against the same PostgreSQL the tests use (BENCH_PG_URL overrides). */
export const ADMIN_URL = process.env['BENCH_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface BenchDatabase {
  readonly db: Database;
  readonly url: string;
  destroy(): Promise<void>;
}

export async function benchDatabase(label: string): Promise<BenchDatabase> {
  const name = `vanta_bench_${label}_${randomBytes(3).toString('hex')}`;
  await admin(`create database ${name}`);
  const url = ADMIN_URL.replace(/\/[^/]*$/, `/${name}`);
  const db = await createDatabase({ target: { kind: 'postgres', url: new Secret(url), display: url }, logger: createLogger({ level: 'silent' }) });
  return {
    db,
    url,
    async destroy() {
      await db.close();
      await admin(`drop database if exists ${name} with (force)`);
    },
  };
}

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export function seconds(start: number): number {
  return (performance.now() - start) / 1000;
}

export function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
