import type { AnyStateMachine } from 'xstate';

/** A persisted snapshot as stored in actor_snapshots.snapshot (plain JSON). */
export type PersistedSnapshot = Record<string, unknown>;

/**
 * Everything the runtime needs to know about one kind of actor: its machine
 * (with real effects already provided), the version of that machine's
 * snapshot shape, and the migrations that bring older snapshots up to it.
 */
export interface ActorKind {
  /** Prefix of the systemId: `user` for `user:42`. */
  readonly kind: string;
  readonly logic: AnyStateMachine;
  /** Bump when a machine change would strand stored snapshots, and add a migration. */
  readonly version: number;
  /** `migrations[n]` turns a snapshot written by version n into one for version n + 1. */
  readonly migrations?: Readonly<Record<number, (snapshot: PersistedSnapshot) => PersistedSnapshot>>;
}

/** `user:42` → `user`. */
export function kindOf(systemId: string): string {
  const i = systemId.indexOf(':');
  return i < 0 ? systemId : systemId.slice(0, i);
}
