import { mkdirSync } from 'node:fs';
import type { MikroORM } from '@mikro-orm/core';
import { Migrator } from '@mikro-orm/migrations';
import pg from 'pg';
import type { Logger } from 'pino';
import { VantaError } from '../../errors.ts';
import type { Secret } from '../secret.ts';
import { lockDataDir, type DataDirLock } from './data-dir-lock.ts';
import { AuditLogSchema, entities } from './entities.ts';
import { migrations } from './migrations/index.ts';

export type DatabaseTarget = { readonly kind: 'postgres'; readonly url: Secret; readonly display: string } | { readonly kind: 'pglite'; readonly dir: string };

export interface AuditEntry {
  readonly actor: string;
  readonly action: string;
  readonly subject?: string | null;
  readonly details?: Record<string, unknown>;
  readonly corrId?: string | null;
}

/** One actor step for the transition journal (the inspector's time travel after a restart). */
export interface TransitionRow {
  readonly actor: string;
  /** Epoch ms. */
  readonly at: number;
  /** Type of the event that caused the step. */
  readonly event: string;
  /** XState state value, JSON. */
  readonly state: unknown;
  /** Context, ALREADY SANITISED by the caller: stored as given. */
  readonly context: unknown;
}

/** A journalled step read back. */
export type StoredTransition = Omit<TransitionRow, 'actor'>;

/**
 * The database, whichever engine backs it: PostgreSQL when DATABASE_URL is
 * set, PGlite (PostgreSQL compiled to WASM, files under DATA_DIR) when not.
 * Both speak the PostgreSQL dialect, so one migration set and the same raw SQL
 * serve both.
 *
 * Opening it is where "one owner at a time" starts (ADR 0010), so no caller can forget it:
 * - PGlite: the DATA_DIR lock is taken before PGlite touches a file; a second process (an
 *   engine, npm run actors, npm run keys:rotate) fails at once with LEASE_HELD.
 * - PostgreSQL: a missing database is an error (DB_MISSING), never created on the fly (a
 *   misspelt DATABASE_URL would otherwise start a fresh, empty engine); migrations run under an
 *   advisory lock, so engines starting together on a fresh database both come up.
 */
export interface Database {
  readonly kind: 'postgres' | 'pglite';
  readonly orm: MikroORM;
  /** Raw SQL with `?` placeholders, for hot paths where a unit of work is too slow. */
  sql<T extends object = Record<string, unknown>>(query: string, params?: readonly unknown[]): Promise<T[]>;
  ping(): Promise<void>;
  audit(entry: AuditEntry): Promise<void>;
  /** Appends journal rows in one statement, in order (ids rise in the order given). */
  appendTransitions(rows: readonly TransitionRow[]): Promise<void>;
  /** The actor's newest `limit` journalled steps, oldest first. */
  recentTransitions(actor: string, limit: number): Promise<StoredTransition[]>;
  /** Keeps each listed actor's newest `keep` journal rows and deletes the rest; returns how many went. */
  pruneTransitions(actors: readonly string[], keep: number): Promise<number>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  readonly target: DatabaseTarget;
  readonly logger: Logger;
  /** Apply pending migrations before returning (main does; some tests start empty on purpose). */
  readonly migrate?: boolean;
  readonly poolMax?: number;
}

export async function createDatabase(options: DatabaseOptions): Promise<Database> {
  const { target, logger } = options;
  const common = {
    entities,
    extensions: [Migrator],
    migrations: { migrationsList: migrations, transactional: true, allOrNothing: true, snapshot: false, tableName: 'mikro_orm_migrations' },
    debug: false,
    allowGlobalContext: false,
    logger: (message: string) => logger.debug({ component: 'mikro-orm' }, message),
  };
  // Before PGlite opens (or creates) a single file: a second process fails here and touches nothing.
  const lock: DataDirLock | null = target.kind === 'pglite' ? lockDataDir(target.dir, 'the embedded database') : null;
  let orm: MikroORM;
  try {
    if (target.kind === 'postgres') {
      const { MikroORM: PgORM } = await import('@mikro-orm/postgresql');
      // ensureDatabase would CREATE DATABASE when the name is wrong: a typo must be an error instead.
      orm = await PgORM.init({ ...common, ensureDatabase: false, clientUrl: target.url.reveal(), pool: { min: 0, max: options.poolMax ?? 10 } });
    } else {
      mkdirSync(target.dir, { recursive: true });
      const { MikroORM: PgliteORM } = await import('@mikro-orm/pglite');
      orm = await PgliteORM.init({ ...common, dbName: target.dir });
    }
    await orm.em.getConnection().execute('select 1');
  } catch (cause) {
    lock?.release();
    throw openError(target, cause);
  }
  try {
    if (options.migrate ?? true) {
      const applied = target.kind === 'postgres' ? await underMigrationLock(target.url, () => orm.migrator.up()) : await orm.migrator.up();
      if (applied.length) logger.info({ migrations: applied.map((m) => m.name) }, 'Applied migrations');
    }
  } catch (err) {
    await orm.close(true).catch(() => {});
    lock?.release();
    throw err;
  }
  // The lock is released only once PGlite has closed its files.
  if (target.kind === 'pglite') return wrap(orm, 'pglite', viaOrm(orm), async () => {}, () => lock?.release());
  // On PostgreSQL the hot path (snapshot batches) goes straight to a small pg pool: MikroORM's
  // execute() costs about a fifth of the throughput on megabyte-sized parameters (bench/persistence).
  const pool = new pg.Pool({ connectionString: target.url.reveal(), max: options.poolMax ?? 10 });
  pool.on('error', (err) => logger.error({ err: { message: err.message } }, 'Idle PostgreSQL connection failed'));
  return wrap(orm, 'postgres', viaPool(pool), () => pool.end());
}

/** PostgreSQL's "database does not exist". */
const INVALID_CATALOG_NAME = '3D000';

function openError(target: DatabaseTarget, cause: unknown): VantaError {
  const message = cause instanceof Error ? cause.message : String(cause);
  if (target.kind === 'postgres' && (cause as { code?: unknown } | null)?.code === INVALID_CATALOG_NAME) {
    return new VantaError(
      'DB_MISSING',
      `The database in DATABASE_URL (${target.display}) does not exist: ${message}. Vanta never creates a database, so a misspelt name cannot start a fresh, empty engine. Check DATABASE_URL, or create the database (createdb) and start again.`,
      { cause },
    );
  }
  const where = target.kind === 'postgres' ? target.display : target.dir;
  return new VantaError('DB_UNAVAILABLE', `Cannot open the database at ${where}: ${message}. Check DATABASE_URL (or DATA_DIR for the embedded database).`, {
    cause,
    retryable: true,
  });
}

/** An arbitrary, fixed advisory-lock key ("vanta mig" in ASCII): migrations of any Vanta engine on this database. */
const MIGRATION_LOCK_KEY = 0x76616e7461206d69n;

/**
 * Runs migrations while holding a session advisory lock on a connection of its own, so engines
 * starting at once on a fresh database apply them one after the other (the second finds nothing
 * left to do) instead of both creating the same tables and one failing on a duplicate type.
 * The lock goes with the connection if this process dies mid-way.
 */
async function underMigrationLock<T>(url: Secret, run: () => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url.reveal(), application_name: 'vanta-migrations' });
  await client.connect();
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY.toString()]);
    return await run();
  } finally {
    // Ending the session releases the lock too; unlock first so a pooled proxy cannot keep it.
    await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY.toString()]).catch(() => {});
    await client.end().catch(() => {});
  }
}

type RawQuery = (query: string, params: readonly unknown[]) => Promise<unknown[]>;

/** One statement for a whole batch: the rows travel as one JSON array, inserted in array order. */
const APPEND_TRANSITIONS = `insert into actor_transitions (at, actor, event, state, context)
  select to_timestamp((e.r->>'at')::float8 / 1000), e.r->>'actor', e.r->>'event', coalesce(e.r->'state', 'null'::jsonb), coalesce(e.r->'context', 'null'::jsonb)
    from jsonb_array_elements(?::jsonb) with ordinality as e(r, n)
   order by e.n`;

const RECENT_TRANSITIONS = `select round(extract(epoch from at) * 1000)::float8 as at, event, state, context
  from actor_transitions where actor = ? order by id desc limit ?`;

/** Per actor, the id of its keep-th newest row (index actor_transitions_actor_id_idx); older rows go. */
const PRUNE_TRANSITIONS = `with cutoffs as (
    select a.actor, (select x.id from actor_transitions x where x.actor = a.actor order by x.id desc offset ? limit 1) as cutoff
      from jsonb_array_elements_text(?::jsonb) as a(actor)
  ), gone as (
    delete from actor_transitions t using cutoffs c where t.actor = c.actor and t.id < c.cutoff returning 1
  )
  select count(*)::int as n from gone`;

function viaOrm(orm: MikroORM): RawQuery {
  const connection = orm.em.getConnection() as unknown as {
    execute(query: string, params?: readonly unknown[], method?: 'all'): Promise<unknown>;
  };
  return async (query, params) => (await connection.execute(query, params, 'all')) as unknown[];
}

function viaPool(pool: pg.Pool): RawQuery {
  const numbered = new Map<string, string>();
  return async (query, params) => {
    let text = numbered.get(query);
    if (text === undefined) {
      let n = 0;
      text = query.replace(/\?/g, () => `$${++n}`);
      numbered.set(query, text);
    }
    return (await pool.query(text, params as unknown[])).rows as unknown[];
  };
}

function wrap(orm: MikroORM, kind: 'postgres' | 'pglite', raw: RawQuery, closeRaw: () => Promise<void>, afterClose: () => void = () => {}): Database {
  return {
    kind,
    orm,
    async sql<T extends object>(query: string, params: readonly unknown[] = []) {
      return (await raw(query, params)) as T[];
    },
    async ping() {
      await raw('select 1', []);
    },
    async audit(entry) {
      const em = orm.em.fork();
      await em.insert(AuditLogSchema, {
        actor: entry.actor,
        action: entry.action,
        subject: entry.subject ?? null,
        details: entry.details ?? {},
        corrId: entry.corrId ?? null,
      });
    },
    async appendTransitions(rows) {
      if (rows.length === 0) return;
      await raw(APPEND_TRANSITIONS, [JSON.stringify(rows)]);
    },
    async recentTransitions(actor, limit) {
      const rows = (await raw(RECENT_TRANSITIONS, [actor, Math.max(0, Math.floor(limit))])) as StoredTransition[];
      return rows.reverse();
    },
    async pruneTransitions(actors, keep) {
      if (actors.length === 0) return 0;
      if (!Number.isInteger(keep) || keep < 1) throw new RangeError(`keep must be a positive integer, got ${keep}`);
      const rows = (await raw(PRUNE_TRANSITIONS, [keep - 1, JSON.stringify(actors)])) as { n: number }[];
      return rows[0]?.n ?? 0;
    },
    async close() {
      try {
        await closeRaw();
        await orm.close(true);
      } finally {
        afterClose();
      }
    },
  };
}
