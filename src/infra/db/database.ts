import { mkdirSync } from 'node:fs';
import type { MikroORM } from '@mikro-orm/core';
import { Migrator } from '@mikro-orm/migrations';
import pg from 'pg';
import type { Logger } from 'pino';
import { VantaError } from '../../errors.ts';
import type { Secret } from '../secret.ts';
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

/**
 * The database, whichever engine backs it: PostgreSQL when DATABASE_URL is
 * set, PGlite (PostgreSQL compiled to WASM, files under DATA_DIR) when not.
 * Both speak the PostgreSQL dialect, so one migration set and the same raw SQL
 * serve both.
 */
export interface Database {
  readonly kind: 'postgres' | 'pglite';
  readonly orm: MikroORM;
  /** Raw SQL with `?` placeholders, for hot paths where a unit of work is too slow. */
  sql<T extends object = Record<string, unknown>>(query: string, params?: readonly unknown[]): Promise<T[]>;
  ping(): Promise<void>;
  audit(entry: AuditEntry): Promise<void>;
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
  let orm: MikroORM;
  try {
    if (target.kind === 'postgres') {
      const { MikroORM: PgORM } = await import('@mikro-orm/postgresql');
      orm = await PgORM.init({ ...common, clientUrl: target.url.reveal(), pool: { min: 0, max: options.poolMax ?? 10 } });
    } else {
      mkdirSync(target.dir, { recursive: true });
      const { MikroORM: PgliteORM } = await import('@mikro-orm/pglite');
      orm = await PgliteORM.init({ ...common, dbName: target.dir });
    }
    await orm.em.getConnection().execute('select 1');
  } catch (cause) {
    const where = target.kind === 'postgres' ? target.display : target.dir;
    throw new VantaError('DB_UNAVAILABLE', `Cannot open the database at ${where}: ${cause instanceof Error ? cause.message : String(cause)}. Check DATABASE_URL (or DATA_DIR for the embedded database).`, {
      cause,
      retryable: true,
    });
  }
  if (options.migrate ?? true) {
    const applied = await orm.migrator.up();
    if (applied.length) logger.info({ migrations: applied.map((m) => m.name) }, 'Applied migrations');
  }
  if (target.kind === 'pglite') return wrap(orm, 'pglite', viaOrm(orm), async () => {});
  // On PostgreSQL the hot path (snapshot batches) goes straight to a small pg pool: MikroORM's
  // execute() costs about a fifth of the throughput on megabyte-sized parameters (bench/persistence).
  const pool = new pg.Pool({ connectionString: target.url.reveal(), max: options.poolMax ?? 10 });
  pool.on('error', (err) => logger.error({ err: { message: err.message } }, 'Idle PostgreSQL connection failed'));
  return wrap(orm, 'postgres', viaPool(pool), () => pool.end());
}

type RawQuery = (query: string, params: readonly unknown[]) => Promise<unknown[]>;

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

function wrap(orm: MikroORM, kind: 'postgres' | 'pglite', raw: RawQuery, closeRaw: () => Promise<void>): Database {
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
    async close() {
      await closeRaw();
      await orm.close(true);
    },
  };
}
