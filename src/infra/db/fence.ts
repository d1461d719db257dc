import { FencedError } from '../../errors.ts';
import type { Database } from './database.ts';

/**
 * Proof, checked by the database itself, that this engine still owns it (DESIGN.md "One owner
 * at a time"). Every write whose effect must never come from a stale owner (actor snapshots,
 * each transaction-outbox step) adds `fence.sql` to its WHERE clause; a write that changed
 * nothing because the fence was false means the lease is lost (FencedError).
 *
 * Why a predicate in the same statement rather than a check before it: a check and a write are
 * two moments, and an engine can be paused (SIGSTOP, a long GC) between them while another takes
 * over. The predicate locks the lease row FOR SHARE, so a takeover (an UPDATE of that row) waits
 * for the write's transaction to commit, and a write that starts after the takeover sees the new
 * epoch and changes nothing.
 */
export interface Fence {
  /** The lease epoch held; 0 when the database is owned outright (the embedded one, by its lock file). */
  readonly epoch: number;
  /**
   * A SQL boolean expression, true only while this engine holds the lease. It has no parameters
   * (the epoch is an integer literal), so it can be spliced into any statement as is.
   */
  readonly sql: string;
  /**
   * Throws FencedError unless the lease is still held, as the database sees it now. For the steps
   * that leave the database (a broadcast): `what` says what was not done, for the message.
   * The engine lease's fence (src/infra/db/lease.ts) also throws a retryable VantaError
   * LEASE_UNCONFIRMED when the database's answer may be stale (the engine was paused, or has not
   * renewed within its TTL): do not act, try again later.
   */
  assert(what: string): Promise<void>;
}

/** The fence of a database that only this process can open (PGlite under its DATA_DIR lock). */
export const OWNED_OUTRIGHT: Fence = { epoch: 0, sql: 'true', assert: () => Promise.resolve() };

/**
 * The fence of an operator command's writes (`npm run actors -- release`): the command is not the
 * owner and holds no lease. It only changes what the owner never writes meanwhile (a quarantined
 * row), so it cannot race the owner's writes; the owner picks the change up at its next boot.
 */
export const OPERATOR_WRITE: Fence = { epoch: 0, sql: 'true', assert: () => Promise.resolve() };

export const LEASE_NAME = 'engine';

/** The fence of lease `epoch` on the `engine_lease` row. */
export function leaseFence(db: Pick<Database, 'sql'>, epoch: number): Fence {
  if (!Number.isSafeInteger(epoch) || epoch <= 0) throw new Error(`A lease epoch is a positive integer, not ${String(epoch)}`);
  const sql = `exists (select 1 from engine_lease where name = '${LEASE_NAME}' and epoch = ${epoch} for share)`;
  return {
    epoch,
    sql,
    async assert(what) {
      const rows = await db.sql<{ held: boolean }>(`select ${sql} as held`);
      if (rows[0]?.held !== true) throw new FencedError(epoch, what);
    },
  };
}

/** In a fencedWrite's statement: true while the lease is held (each write names it in its WHERE). */
export const LEASE_HELD = '(select held from lease)';

/**
 * Runs one write under the fence. `ctes` are the statement's common table expressions after
 * `lease` (data-modifying ones must all sit at the top level): each write names LEASE_HELD in its
 * WHERE, and the last one, `w`, returns one row per row it changed. Returns that count; a refused
 * write throws FencedError having changed nothing. Used by the transaction outbox and the v2
 * intent store.
 */
export async function fencedWrite(db: Pick<Database, 'sql'>, fence: Fence, what: string, ctes: string, params: readonly unknown[]): Promise<number> {
  const rows = await db.sql<{ held: boolean; changed: string | number }>(
    `with lease as (select ${fence.sql} as held), ${ctes} select ${LEASE_HELD} as held, (select count(*) from w) as changed`,
    params,
  );
  if (rows[0]?.held !== true) throw new FencedError(fence.epoch, what);
  return Number(rows[0].changed);
}
