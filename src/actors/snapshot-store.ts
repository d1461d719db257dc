import { FencedError } from '../errors.ts';
import type { Database } from '../infra/db/database.ts';
import type { Fence } from '../infra/db/fence.ts';

/**
 * SQL for the `actor_snapshots` table. Raw SQL on purpose: the hot path writes
 * thousands of rows per second in one statement per batch (JSON in, one round
 * trip), which a unit of work cannot do. The same SQL runs on PostgreSQL and
 * PGlite.
 */

export type RowStatus = 'active' | 'quarantined' | 'done';

export interface SnapshotWrite {
  readonly id: string;
  readonly kind: string;
  readonly parent: string | null;
  readonly machine_version: number;
  readonly snapshot: unknown;
  readonly status: 'active' | 'done';
  /** The version we last read or wrote; 0 when the row should not exist yet. */
  readonly expected: number;
}

export interface StoredSnapshot {
  readonly id: string;
  readonly kind: string;
  readonly parent: string | null;
  readonly machine_version: number;
  readonly snapshot: unknown;
  readonly version: number;
}

export interface QuarantinedRow {
  readonly id: string;
  readonly kind: string;
  readonly parent: string | null;
  readonly status_reason: string | null;
}

// One upsert per batch. Each row carries the version it expects to replace; the row is written
// (as expected + 1) only if the stored version still equals that, so a row written by another
// instance meanwhile is left alone and is missing from RETURNING: the caller sees the conflict.
// A new actor expects 0: it is inserted as version 1, or refused if the row already exists.
// The whole batch is fenced (ADR 0010): it writes nothing unless this engine still holds the lease,
// and the answer says which it was (`held`), so a fenced batch is never mistaken for conflicts.
// The fence sits in the SELECT that feeds the insert, so it guards new rows as well as updates.
const writeBatch = (fence: Fence) => `
with lease as (select ${fence.sql} as held),
written as (
  insert into actor_snapshots as a (id, kind, parent, machine_version, snapshot, status, version)
  select id, kind, parent, machine_version, snapshot, status, expected + 1
    from jsonb_to_recordset(?::jsonb)
      as t(id text, kind text, parent text, machine_version int, snapshot jsonb, status text, expected int)
   where (select held from lease)
  on conflict (id) do update
     set kind = excluded.kind, parent = excluded.parent, machine_version = excluded.machine_version,
         snapshot = excluded.snapshot, status = excluded.status, status_reason = null,
         version = excluded.version, updated_at = now()
   where a.version = excluded.version - 1
  returning id, version
)
select w.id, w.version, l.held from lease l left join written w on true`;

const quarantineRow = (fence: Fence) => `
with lease as (select ${fence.sql} as held),
q as (
  insert into actor_snapshots (id, kind, parent, machine_version, snapshot, status, status_reason)
  select ?, ?, ?, 0, '{}'::jsonb, 'quarantined', ? where (select held from lease)
  on conflict (id) do update set status = 'quarantined', status_reason = excluded.status_reason,
    version = actor_snapshots.version + 1, updated_at = now()
  returning version
)
select q.version, l.held from lease l left join q on true`;

const releaseRow = (fence: Fence) => `
with lease as (select ${fence.sql} as held),
r as (
  update actor_snapshots set status = 'active', status_reason = null, version = version + 1, updated_at = now()
   where id = ? and status = 'quarantined' and (select held from lease)
  returning id
)
select r.id, l.held from lease l left join r on true`;

export interface SnapshotStore {
  /**
   * Writes a batch with optimistic locking. Returns the new version of every row written; a row
   * missing from the answer lost the race. Throws FencedError, having written nothing, when this
   * engine no longer holds the lease.
   */
  write(rows: readonly SnapshotWrite[]): Promise<Map<string, number>>;
  /** Every active row, in pages, without holding two pages in memory at once. */
  loadActive(pageSize?: number): AsyncGenerator<StoredSnapshot[]>;
  loadOne(id: string): Promise<(StoredSnapshot & { status: RowStatus; status_reason: string | null }) | null>;
  loadQuarantined(): Promise<QuarantinedRow[]>;
  /** Marks a row quarantined (inserting a placeholder row if the actor never persisted). Returns the new version. Fenced. */
  quarantine(row: { id: string; kind: string; parent: string | null }, reason: string): Promise<number>;
  /** Makes a quarantined row active again; returns false if it was not quarantined. Fenced. */
  release(id: string): Promise<boolean>;
}

/**
 * `fence` guards every write: the engine passes its lease's fence (OWNED_OUTRIGHT on the embedded
 * database), an operator command passes OPERATOR_WRITE.
 */
export function createSnapshotStore(db: Database, fence: Fence): SnapshotStore {
  const WRITE = writeBatch(fence);
  const QUARANTINE = quarantineRow(fence);
  const RELEASE = releaseRow(fence);
  const refusedUnlessHeld = (rows: readonly { held: boolean }[], what: string) => {
    if (rows[0]?.held !== true) throw new FencedError(fence.epoch, what);
  };
  return {
    async write(rows) {
      const result = await db.sql<{ id: string | null; version: number | null; held: boolean }>(WRITE, [JSON.stringify(rows)]);
      refusedUnlessHeld(result, `write ${rows.length} actor snapshot(s)`);
      const versions = new Map<string, number>();
      for (const r of result) if (r.id !== null && r.version !== null) versions.set(r.id, r.version);
      return versions;
    },
    async *loadActive(pageSize = 10_000) {
      let after = '';
      for (;;) {
        const page = await db.sql<StoredSnapshot>(
          `select id, kind, parent, machine_version, snapshot, version from actor_snapshots
            where status = 'active' and id > ? order by id limit ?`,
          [after, pageSize],
        );
        if (!page.length) return;
        yield page;
        after = page[page.length - 1]!.id;
        if (page.length < pageSize) return;
      }
    },
    async loadOne(id) {
      const rows = await db.sql<StoredSnapshot & { status: RowStatus; status_reason: string | null }>(
        'select id, kind, parent, machine_version, snapshot, version, status, status_reason from actor_snapshots where id = ?',
        [id],
      );
      return rows[0] ?? null;
    },
    async loadQuarantined() {
      return db.sql<QuarantinedRow>(`select id, kind, parent, status_reason from actor_snapshots where status = 'quarantined' order by id`);
    },
    async quarantine(row, reason) {
      const result = await db.sql<{ version: number | null; held: boolean }>(QUARANTINE, [row.id, row.kind, row.parent, reason]);
      refusedUnlessHeld(result, `quarantine ${row.id}`);
      return result[0]?.version ?? 0;
    },
    async release(id) {
      const result = await db.sql<{ id: string | null; held: boolean }>(RELEASE, [id]);
      refusedUnlessHeld(result, `release ${id}`);
      return (result[0]?.id ?? null) !== null;
    },
  };
}
