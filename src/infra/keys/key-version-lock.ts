import type { EntityManager } from '@mikro-orm/core';
import type { Database } from '../db/database.ts';

/**
 * Orders storing a new wallet against a rotation retiring old key versions.
 *
 * A new wallet's key is sealed first and stored after. If a rotation could
 * do its last count of ciphertexts below its target and raise
 * min_decryption_version between those two moments, the wallet would be
 * stored under a version that opens nothing any more. So both hold one
 * PostgreSQL advisory lock for the length of a transaction:
 * - storing a wallet holds it *shared* (wallets are created concurrently),
 *   and checks, once it holds it, that the sealed version is not below the
 *   minimum (wallets.ts);
 * - the rotation's final step holds it *exclusive*: count what is left below
 *   the target, raise the minimum, mark the rotation done (rotation.ts).
 * Whichever comes second sees the first: a wallet stored before the final
 * step is counted and rewrapped; one stored after finds the raised minimum
 * and is sealed again. It works across processes (the engine and
 * `npm run keys:rotate`) because the lock lives in the database they share,
 * on PostgreSQL and on PGlite alike.
 */

/** Advisory lock key (classid, objid): 0x56414e54 "VANT", 1 = wallet key versions. */
const LOCK_KEY = '1447120468, 1';

export interface LockedTransaction {
  /** Raw SQL inside the transaction (`?` placeholders). */
  sql<T extends object = Record<string, unknown>>(query: string, params?: readonly unknown[]): Promise<T[]>;
  /** The transaction's entity manager, for ORM writes that must be part of it. */
  readonly em: EntityManager;
}

/** Runs `fn` in a transaction that holds the lock shared: what storing a new wallet does. */
export function withWalletInsertLock<T>(db: Pick<Database, 'orm'>, fn: (tx: LockedTransaction) => Promise<T>): Promise<T> {
  return locked(db, 'pg_advisory_xact_lock_shared', fn);
}

/** Runs `fn` in a transaction that holds the lock exclusively: a rotation's count-and-retire step. */
export function withRetireLock<T>(db: Pick<Database, 'orm'>, fn: (tx: LockedTransaction) => Promise<T>): Promise<T> {
  return locked(db, 'pg_advisory_xact_lock', fn);
}

function locked<T>(db: Pick<Database, 'orm'>, lockFunction: string, fn: (tx: LockedTransaction) => Promise<T>): Promise<T> {
  return db.orm.em.fork().transactional(async (em) => {
    const raw = em as unknown as { execute(query: string, params: readonly unknown[], method: 'all'): Promise<unknown> };
    const sql = async <R extends object>(query: string, params: readonly unknown[] = []) => (await raw.execute(query, params, 'all')) as R[];
    await sql(`select ${lockFunction}(${LOCK_KEY})`);
    return fn({ sql, em });
  });
}
