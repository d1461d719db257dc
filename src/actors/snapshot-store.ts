import type { Database } from '../infra/db/database.ts';

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
const WRITE_BATCH = `
insert into actor_snapshots as a (id, kind, parent, machine_version, snapshot, status, version)
select id, kind, parent, machine_version, snapshot, status, expected + 1
  from jsonb_to_recordset(?::jsonb)
    as t(id text, kind text, parent text, machine_version int, snapshot jsonb, status text, expected int)
on conflict (id) do update
   set kind = excluded.kind, parent = excluded.parent, machine_version = excluded.machine_version,
       snapshot = excluded.snapshot, status = excluded.status, status_reason = null,
       version = excluded.version, updated_at = now()
 where a.version = excluded.version - 1
returning id, version`;

export interface SnapshotStore {
  /** Writes a batch with optimistic locking. Returns the new version of every row written; a row missing from the answer lost the race. */
  write(rows: readonly SnapshotWrite[]): Promise<Map<string, number>>;
  /** Every active row, in pages, without holding two pages in memory at once. */
  loadActive(pageSize?: number): AsyncGenerator<StoredSnapshot[]>;
  loadOne(id: string): Promise<(StoredSnapshot & { status: RowStatus; status_reason: string | null }) | null>;
  loadQuarantined(): Promise<QuarantinedRow[]>;
  /** Marks a row quarantined (inserting a placeholder row if the actor never persisted). Returns the new version. */
  quarantine(row: { id: string; kind: string; parent: string | null }, reason: string): Promise<number>;
  /** Makes a quarantined row active again; returns false if it was not quarantined. */
  release(id: string): Promise<boolean>;
}

export function createSnapshotStore(db: Database): SnapshotStore {
  return {
    async write(rows) {
      const result = await db.sql<{ id: string; version: number }>(WRITE_BATCH, [JSON.stringify(rows)]);
      return new Map(result.map((r) => [r.id, r.version]));
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
      const result = await db.sql<{ version: number }>(
        `insert into actor_snapshots (id, kind, parent, machine_version, snapshot, status, status_reason)
         values (?, ?, ?, 0, '{}'::jsonb, 'quarantined', ?)
         on conflict (id) do update set status = 'quarantined', status_reason = excluded.status_reason,
           version = actor_snapshots.version + 1, updated_at = now()
         returning version`,
        [row.id, row.kind, row.parent, reason],
      );
      return result[0]?.version ?? 0;
    },
    async release(id) {
      const result = await db.sql(
        `update actor_snapshots set status = 'active', status_reason = null, version = version + 1, updated_at = now()
          where id = ? and status = 'quarantined' returning id`,
        [id],
      );
      return result.length > 0;
    },
  };
}
