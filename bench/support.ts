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

/** The value at percentile `p` (0–100) of `values`, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export interface Latency {
  /** Updates measured, answered or not. */
  readonly n: number;
  /** Milliseconds, or 'unanswered' when that share of updates had no reply by the end of the wait; null when nothing was measured. */
  readonly p50: number | 'unanswered' | null;
  readonly p99: number | 'unanswered' | null;
  readonly max: number | 'unanswered' | null;
}

/** Milliseconds, two decimals, counting `unanswered` updates as slower than any reply. */
export function latency(ms: readonly number[], unanswered = 0): Latency {
  const n = ms.length + unanswered;
  if (n === 0) return { n: 0, p50: null, p99: null, max: null };
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (p: number) => {
    const index = Math.min(n - 1, Math.floor((p / 100) * n));
    return index < sorted.length ? round(sorted[index]!) : 'unanswered';
  };
  return { n, p50: at(50), p99: at(99), max: at(100) };
}
