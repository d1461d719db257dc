/**
 * Persistence and rehydration benchmarks (issue 2).
 * - Durable transitions/s through the runtime vs raw batched `pg` inserts of
 *   the same payloads, both measured here, now.
 * - Rehydration of 100,000 persisted actors vs a raw SELECT of the same rows.
 * - Resident memory per idle actor.
 */
import pg from 'pg';
import { createInspectionHub } from '../src/actors/inspection-hub.ts';
import type { ActorRuntime } from '../src/actors/runtime.ts';
import { createVantaSystem } from '../src/actors/system.ts';
import { systemClock } from '../src/infra/clock.ts';
import { OWNED_OUTRIGHT } from '../src/infra/db/fence.ts';
import { createLogger } from '../src/infra/logger.ts';
import { createMetrics } from '../src/infra/metrics.ts';
import { benchDatabase, round, seconds } from './support.ts';

const ACTORS = Number(process.env['BENCH_ACTORS'] ?? 2_000);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 10);
const REHYDRATE = Number(process.env['BENCH_REHYDRATE'] ?? 100_000);

function system(db: Parameters<typeof createVantaSystem>[0]['db']): ActorRuntime {
  const late: { runtime?: ActorRuntime } = {};
  const hub = createInspectionHub({ describe: (ref) => late.runtime?.describe(ref.id) });
  late.runtime = createVantaSystem({
    // Without the engine lease, as these figures were first taken; bench/takeover.bench.ts measures with and without it.
    fence: OWNED_OUTRIGHT,
    db,
    logger: createLogger({ level: 'silent' }),
    metrics: createMetrics({ version: 'bench', mode: 'sandbox', collectDefault: false }),
    clock: systemClock,
    supervisor: { maxRestarts: 5, windowMs: 60_000, backoffBaseMs: 200, backoffMaxMs: 30_000 },
    persistBatchMax: 1_000,
    limits: { maxLeverage: 100, maxCollateralUsdc: '1000000', maxNotionalUsdc: '100000000', maxOpenPositions: 1_000 },
    inspect: hub.inspect,
  });
  return late.runtime;
}

/** Each round changes every actor once, then waits until all of it is durable: no coalescing helps. */
async function durableTransitions(): Promise<{ perSecond: number; rows: number }> {
  const b = await benchDatabase('persist');
  const runtime = system(b.db);
  await runtime.boot();
  for (let u = 1; u <= ACTORS; u++) runtime.spawn(`user:${u}`, { input: { telegramId: u, maxOpenPositions: 5 } });
  await runtime.flushed();
  const start = performance.now();
  for (let r = 1; r <= ROUNDS; r++) {
    for (let u = 1; u <= ACTORS; u++) runtime.send(`user:${u}`, { type: 'settings.update', slippageBps: ((r + u) % 900) + 1 });
    await runtime.flushed();
  }
  const elapsed = seconds(start);
  const payload = await b.db.sql<{ snapshot: unknown }>(`select snapshot from actor_snapshots where id = 'user:1'`);
  await runtime.stop();
  await b.destroy();
  sample = JSON.stringify(payload[0]!.snapshot);
  return { perSecond: (ACTORS * ROUNDS) / elapsed, rows: ACTORS * ROUNDS };
}
let sample = '';

/** The baseline: the same number of rows of the same payload, upserted with pg in batches of 1,000. */
async function rawInserts(): Promise<number> {
  const b = await benchDatabase('raw');
  const client = new pg.Client({ connectionString: b.url });
  await client.connect();
  await client.query('create table raw_rows (id text primary key, snapshot jsonb not null, version int not null default 1)');
  const start = performance.now();
  for (let r = 1; r <= ROUNDS; r++) {
    for (let offset = 0; offset < ACTORS; offset += 1_000) {
      const ids: string[] = [];
      const snaps: string[] = [];
      for (let u = offset + 1; u <= Math.min(ACTORS, offset + 1_000); u++) {
        ids.push(`user:${u}`);
        snaps.push(sample);
      }
      await client.query(
        `insert into raw_rows (id, snapshot) select * from unnest($1::text[], $2::jsonb[])
         on conflict (id) do update set snapshot = excluded.snapshot, version = raw_rows.version + 1`,
        [ids, snaps],
      );
    }
  }
  const elapsed = seconds(start);
  await client.end();
  await b.destroy();
  return (ACTORS * ROUNDS) / elapsed;
}

async function rehydration(): Promise<Record<string, number>> {
  const b = await benchDatabase('rehydrate');
  const seed = system(b.db);
  await seed.boot();
  seed.spawn('user:0', { input: { telegramId: 0, maxOpenPositions: 5 } });
  await seed.flushed();
  await seed.stop();
  // Copy the one real snapshot to N rows, as N users would have written them.
  await b.db.sql(
    `insert into actor_snapshots (id, kind, parent, machine_version, snapshot)
     select 'user:' || g, 'user', 'root', 1, jsonb_set(s.snapshot, '{context,telegramId}', to_jsonb(g))
       from generate_series(1, ?) g, (select snapshot from actor_snapshots where id = 'user:0') s`,
    [REHYDRATE - 1],
  );
  await b.db.sql('vacuum analyze actor_snapshots');

  const client = new pg.Client({ connectionString: b.url });
  await client.connect();
  let start = performance.now();
  const raw = await client.query(`select id, kind, parent, machine_version, snapshot, version from actor_snapshots where status = 'active'`);
  const rawSeconds = seconds(start);
  await client.end();
  if (raw.rowCount !== REHYDRATE) throw new Error(`expected ${REHYDRATE} rows, got ${raw.rowCount}`);
  raw.rows.length = 0;

  gc();
  const rssBefore = process.memoryUsage().rss;
  const runtime = system(b.db);
  start = performance.now();
  const report = await runtime.boot();
  const bootSeconds = seconds(start);
  if (report.restored !== REHYDRATE) throw new Error(`restored ${report.restored} of ${REHYDRATE}`);
  // A restored actor is live: it answers an event.
  runtime.send(`user:${REHYDRATE - 1}`, { type: 'settings.update', slippageBps: 12 });
  gc();
  await new Promise((resolve) => setTimeout(resolve, 200));
  gc();
  const rssAfter = process.memoryUsage().rss;
  await runtime.stop();
  await b.destroy();
  return {
    actors: REHYDRATE,
    raw_select_s: round(rawSeconds, 3),
    rehydrate_s: round(bootSeconds, 3),
    rehydrate_vs_raw_select: round(bootSeconds / rawSeconds, 2),
    rss_per_idle_actor_bytes: Math.round((rssAfter - rssBefore) / REHYDRATE),
    rss_for_100k_actors_mib: round(((rssAfter - rssBefore) / REHYDRATE) * 100_000 / 2 ** 20, 1),
  };
}

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (!collect) throw new Error('run with node --expose-gc (npm run bench does)');
  collect();
}

const TRIALS = Number(process.env['BENCH_TRIALS'] ?? 3);

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

export async function run(): Promise<Record<string, unknown>> {
  // PostgreSQL's own throughput drifts from run to run (checkpoints, caches), so ours and the raw
  // baseline alternate, and the medians are compared.
  const ours: number[] = [];
  const raw: number[] = [];
  for (let trial = 0; trial < TRIALS; trial++) {
    ours.push((await durableTransitions()).perSecond);
    raw.push(await rawInserts());
  }
  const persistence = {
    actors: ACTORS,
    transitions_per_trial: ACTORS * ROUNDS,
    trials: TRIALS,
    durable_transitions_per_s: Math.round(median(ours)),
    raw_pg_batched_upserts_per_s: Math.round(median(raw)),
    ratio_vs_raw: round(median(ours) / median(raw), 2),
    per_trial: ours.map((o, i) => ({ ours: Math.round(o), raw: Math.round(raw[i]!) })),
    goal: '>= 0.5 of raw and >= 5,000/s',
  };
  return { persistence, rehydration: { ...(await rehydration()), goal: '< 10 s for 100,000 actors; < 1 GiB' } };
}

if (import.meta.main) console.log(JSON.stringify(await run(), null, 2));
