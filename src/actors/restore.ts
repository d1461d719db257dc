import { SnapshotError } from '../errors.ts';
import type { ActorKind, PersistedSnapshot } from './kind.ts';
import type { StoredSnapshot } from './snapshot-store.ts';

/**
 * Turns a stored row into a snapshot this build can restore: refuses rows
 * written by a newer machine version, applies the migration chain for older
 * ones, and checks the basic shape. Anything wrong throws SnapshotError, and
 * the runtime quarantines that one actor while the rest boot.
 */
export function prepareSnapshot(kind: ActorKind, row: StoredSnapshot): { snapshot: PersistedSnapshot; migrated: boolean } {
  if (!Number.isInteger(row.machine_version) || row.machine_version > kind.version || row.machine_version < 1) {
    throw new SnapshotError('SNAPSHOT_VERSION_UNKNOWN', row.id, `its machine version ${row.machine_version} is unknown to this build (${kind.kind} is at version ${kind.version})`);
  }
  let snapshot = row.snapshot;
  for (let v = row.machine_version; v < kind.version; v++) {
    const migrate = kind.migrations?.[v];
    if (!migrate) throw new SnapshotError('SNAPSHOT_VERSION_UNKNOWN', row.id, `there is no migration from ${kind.kind} version ${v} to ${v + 1}`);
    if (!isRecord(snapshot)) break;
    try {
      snapshot = migrate(snapshot);
    } catch (cause) {
      throw new SnapshotError('SNAPSHOT_CORRUPT', row.id, `the migration from version ${v} failed`, cause);
    }
  }
  if (!isRecord(snapshot) || snapshot['status'] !== 'active' || !('value' in snapshot) || !isRecord(snapshot['context'])) {
    throw new SnapshotError('SNAPSHOT_CORRUPT', row.id, 'the stored snapshot is not an active XState snapshot with a state value and a context');
  }
  return { snapshot, migrated: row.machine_version !== kind.version };
}

/** Orders rows so that every logical parent comes before its children. */
export function parentsFirst<T extends { id: string; parent: string | null }>(rows: readonly T[]): T[] {
  const byId = new Map(rows.map((r) => [r.id, r]));
  const depth = new Map<string, number>();
  const depthOf = (row: T, seen: number): number => {
    const known = depth.get(row.id);
    if (known !== undefined) return known;
    const parent = row.parent === null ? undefined : byId.get(row.parent);
    // seen guards against a cycle in corrupted data.
    const d = parent && seen < 64 ? depthOf(parent, seen + 1) + 1 : 0;
    depth.set(row.id, d);
    return d;
  };
  const buckets: T[][] = [];
  for (const row of rows) (buckets[depthOf(row, 0)] ??= []).push(row);
  return buckets.flat();
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * When an actor fails because an invoked effect rejected with no handler, its
 * last snapshot still lists that child, now in `error`, and XState would
 * restore it dead: the actor would sit forever in the state that started the
 * effect. Restarting means retrying, so a failed child is written back as
 * active with its original input, and the restored actor runs the effect again
 * (and fails again if the fault persists, which the supervisor counts).
 */
export function reviveFailedChildren(snapshot: unknown): unknown {
  if (!isRecord(snapshot) || !isRecord(snapshot['children'])) return snapshot;
  let changed = false;
  const children: Record<string, unknown> = {};
  for (const [id, entry] of Object.entries(snapshot['children'])) {
    if (isRecord(entry) && isRecord(entry['snapshot'])) {
      const child = entry['snapshot'];
      const revived = child['status'] === 'error' ? { status: 'active', input: child['input'] } : reviveFailedChildren(child);
      if (revived !== child) {
        changed = true;
        children[id] = { ...entry, snapshot: revived };
        continue;
      }
    }
    children[id] = entry;
  }
  return changed ? { ...snapshot, children } : snapshot;
}
