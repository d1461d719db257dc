import { createActor, type Actor, type AnyActorRef, type AnyStateMachine, type EventObject, type InspectionEvent, type Subscription } from 'xstate';
import type { Logger } from 'pino';
import { PersistConflictError, SnapshotError, VantaError, describeError, type FencedError } from '../errors.ts';
import type { Clock } from '../infra/clock.ts';
import type { Database } from '../infra/db/database.ts';
import type { Fence } from '../infra/db/fence.ts';
import type { ActorRunStatus } from '../infra/http/inspector-source.ts';
import type { Metrics } from '../infra/metrics.ts';
import { decideOnFailure, type SupervisionPolicy } from '../machines/supervision.ts';
import { SUPERVISOR_SYSTEM_ID, supervisorMachine } from '../machines/supervisor.machine.ts';
import { kindOf, type ActorKind, type PersistedSnapshot } from './kind.ts';
import { parentsFirst, prepareSnapshot, reviveFailedChildren } from './restore.ts';
import { createSnapshotStore, type SnapshotStore, type StoredSnapshot } from './snapshot-store.ts';
import { SnapshotWriter, type DirtyEntry } from './snapshot-writer.ts';
import { stopDetached } from './xstate-internals.ts';

/**
 * The actor runtime: one XState system whose root is the supervisor machine,
 * with every domain actor created as the root's XState child and registered
 * under its systemId (`user:42`, `position:abc`, `price-feed:ETH/USD`).
 *
 * - Persistence: each actor has its own row; every transition that changes a
 *   snapshot marks the actor dirty and the SnapshotWriter coalesces and batches
 *   the writes, with optimistic locking.
 * - Boot: rows are loaded page by page and restored parents first; a row that
 *   cannot be restored quarantines that actor only.
 * - Supervision: a failed actor is restarted from its last persisted snapshot
 *   after an exponential backoff; too many failures in a window quarantine it.
 *   Events sent to an actor while it restarts are held and delivered after.
 * - Ownership: every write carries the engine's lease fence (ADR 0010). A
 *   refused batch means the lease is lost: every actor stops at once, without
 *   writing, and `onFenced` tells the engine. An optimistic-lock conflict on
 *   one row means another writer has that actor, so that local copy stops.
 */

/** Any event for any actor; each machine validates what it receives. */
export type ActorEvent = EventObject & Readonly<Record<string, unknown>>;

/** What machines' provided effects may do with the runtime. */
export interface RuntimeHandle {
  /** Creates and starts an actor; `id` is its systemId and must start with `<kind>:`. */
  spawn(id: string, options: { input: unknown; parent?: string | null }): void;
  /** Delivers an event; false when no such actor is running or restarting. */
  send(id: string, event: ActorEvent): boolean;
  get(id: string): AnyActorRef | undefined;
  /** A child logger carrying the actor's id. */
  loggerFor(id: string): Logger;
  /**
   * Resolves once every snapshot change made so far is durable: effects with consequences
   * outside the process (a transaction) wait for it, so a crash can never leave an on-chain
   * action that no persisted actor knows about. Rejects when such a change was refused (the
   * lease is lost, or another writer has the row): the effect must then do nothing. With `ids`,
   * only refusals of those actors count (the ones the effect's decision rests on).
   */
  flushed(ids?: readonly string[]): Promise<void>;
}

export interface QuarantineInfo {
  readonly id: string;
  readonly kind: string;
  readonly parent: string | null;
  readonly reason: string;
}

export interface BootReport {
  readonly restored: number;
  readonly migrated: number;
  readonly quarantined: number;
  readonly seconds: number;
}

export interface ActorRuntimeOptions {
  readonly db: Database;
  /** The lease fence every snapshot write carries (OWNED_OUTRIGHT on the embedded database). */
  readonly fence: Fence;
  /** Called once when a write was refused because the lease is lost, after every actor has stopped. */
  readonly onFenced?: (error: FencedError) => void;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly clock: Clock;
  readonly policy: SupervisionPolicy;
  readonly batchMax: number;
  /** Builds the actor kinds; their effects get the runtime handle. */
  readonly kinds: (runtime: RuntimeHandle) => readonly ActorKind[];
  /** Extra inspection observers (the inspector hub, the optional Stately relay). */
  readonly inspect?: (event: InspectionEvent) => void;
  /** Status changes the inspector shows (restarting, quarantined, stopped…). */
  readonly onStatus?: (id: string, status: ActorRunStatus) => void;
  /** Admin notification hook: called once per quarantine. */
  readonly onQuarantine?: (info: QuarantineInfo) => void;
  /** Bounded buffer for events sent to an actor while it restarts. */
  readonly restartBufferMax?: number;
  /**
   * Actors that must always exist (the operator's trading controls): spawned at boot, before any
   * row is restored, when the database has no row for them. A quarantined one stays quarantined.
   */
  readonly essentials?: readonly { readonly id: string; readonly input: unknown }[];
  /** Called once when the runtime starts stopping, while every actor still runs (delivery loops end here). */
  readonly onStop?: () => Promise<void>;
}

interface Managed {
  readonly id: string;
  readonly kind: ActorKind;
  readonly parent: string | null;
  actor: Actor<AnyStateMachine>;
  subscription: Subscription;
  /** Last active or done snapshot seen: what we persist, even if the actor fails right after. */
  last: unknown;
  status: 'running' | 'restarting';
  held: EventObject[];
  restartTimer: unknown;
  /** Built on the first change and reused: a transition allocates nothing for persistence. */
  dirty?: DirtyEntry;
}

export class ActorRuntime implements RuntimeHandle {
  readonly root: Actor<typeof supervisorMachine>;
  readonly #o: ActorRuntimeOptions;
  readonly #store: SnapshotStore;
  readonly #writer: SnapshotWriter;
  readonly #kinds = new Map<string, ActorKind>();
  readonly #actors = new Map<string, Managed>();
  readonly #quarantined = new Map<string, QuarantineInfo>();
  readonly #failures = new Map<string, readonly number[]>();
  readonly #transitions = new Map<string, { inc(): void }>();
  #draining = false;
  #stopping = false;
  #fencedBy: FencedError | null = null;

  constructor(options: ActorRuntimeOptions) {
    this.#o = options;
    this.#store = createSnapshotStore(options.db, options.fence);
    this.#writer = new SnapshotWriter({
      store: this.#store,
      logger: options.logger.child({ component: 'snapshot-writer' }),
      metrics: options.metrics,
      clock: options.clock,
      batchMax: options.batchMax,
      onConflict: (id) => this.#onConflict(id),
      onFenced: (error) => this.#onFenced(error),
    });
    for (const kind of options.kinds(this)) this.#kinds.set(kind.kind, kind);
    const root = supervisorMachine.provide({
      actions: {
        childFailed: (_, { actorId, error }) => this.#onFailure(actorId, error),
        childCompleted: (_, { actorId }) => this.#onCompleted(actorId),
      },
    });
    this.root = createActor(root, {
      id: SUPERVISOR_SYSTEM_ID,
      systemId: SUPERVISOR_SYSTEM_ID,
      clock: options.clock,
      ...(options.inspect ? { inspect: options.inspect } : {}),
    });
    this.root.subscribe({
      error: (err) => options.logger.fatal({ err }, 'The root supervisor failed; no actor can be supervised. Restart the process.'),
    });
    this.root.start();
  }

  /** Restores every persisted actor. Call once, before accepting traffic. */
  async boot(): Promise<BootReport> {
    const stopTimer = this.#o.metrics.rehydrateSeconds.startTimer();
    const started = performance.now();
    for (const row of await this.#store.loadQuarantined()) {
      this.#quarantined.set(row.id, { id: row.id, kind: row.kind, parent: row.parent, reason: row.status_reason ?? 'unknown' });
      this.#o.metrics.actorsQuarantined.inc({ kind: row.kind });
    }
    const rows: StoredSnapshot[] = [];
    for await (const page of this.#store.loadActive()) rows.push(...page);
    // Before any restore: a restored actor's effects may read them at once.
    for (const essential of this.#o.essentials ?? []) {
      if (this.#quarantined.has(essential.id) || rows.some((r) => r.id === essential.id)) continue;
      if ((await this.#store.loadOne(essential.id))?.status === 'done') continue;
      this.spawn(essential.id, { input: essential.input });
    }
    let restored = 0;
    let migrated = 0;
    let quarantined = 0;
    for (const row of parentsFirst(rows)) {
      // Lease lost mid-boot: another engine owns these actors; restore nothing more.
      if (this.#fencedBy) break;
      const outcome = await this.#restoreRow(row);
      if (outcome === 'quarantined') quarantined += 1;
      else {
        restored += 1;
        if (outcome === 'migrated') migrated += 1;
      }
      this.#o.metrics.rehydratedActors.inc({ outcome: outcome === 'quarantined' ? 'quarantined' : 'restored' });
    }
    rows.length = 0;
    stopTimer();
    this.root.send({ type: 'system.booted', actors: restored });
    const report = { restored, migrated, quarantined, seconds: (performance.now() - started) / 1000 };
    this.#o.logger.info(report, 'Restored actor tree');
    return report;
  }

  spawn(id: string, options: { input: unknown; parent?: string | null }): void {
    if (this.#fencedBy) throw this.#fencedBy;
    if (this.#draining) throw new VantaError('SHUTTING_DOWN', 'The engine is shutting down; try again in a moment.', { retryable: true });
    const kind = this.#kindFor(id);
    if (this.#actors.has(id)) throw new VantaError('ACTOR_EXISTS', `Actor ${id} already exists.`, { details: { actorId: id } });
    if (this.#quarantined.has(id)) throw new VantaError('ACTOR_QUARANTINED', `Actor ${id} is quarantined; an operator must release it first.`, { details: { actorId: id } });
    this.#start(kind, id, options.parent === undefined ? SUPERVISOR_SYSTEM_ID : options.parent, { input: options.input });
  }

  send(id: string, event: ActorEvent): boolean {
    const managed = this.#actors.get(id);
    if (!managed) return false;
    if (managed.status === 'restarting') {
      if (managed.held.length >= (this.#o.restartBufferMax ?? 100)) return false;
      managed.held.push(event);
      return true;
    }
    managed.actor.send(event);
    return true;
  }

  get(id: string): AnyActorRef | undefined {
    const managed = this.#actors.get(id);
    return managed?.status === 'running' ? managed.actor : undefined;
  }

  loggerFor(id: string): Logger {
    return this.#o.logger.child({ actor_id: id, kind: kindOf(id) });
  }

  /** Each kind's machine by kind name, the supervisor's included: what the inspector charts. */
  machines(): Record<string, AnyStateMachine> {
    const out: Record<string, AnyStateMachine> = { supervisor: supervisorMachine };
    for (const [name, kind] of this.#kinds) out[name] = kind.logic;
    return out;
  }

  /** The logical parent and kind of a live actor (what the inspector draws). */
  describe(id: string): { id: string; kind: string; parent: string | null } | undefined {
    if (id === SUPERVISOR_SYSTEM_ID) return { id, kind: 'supervisor', parent: null };
    const managed = this.#actors.get(id);
    return managed ? { id, kind: managed.kind.kind, parent: managed.parent } : undefined;
  }

  /** Ids of live actors (running or restarting). */
  ids(): string[] {
    return [...this.#actors.keys()];
  }

  quarantined(): QuarantineInfo[] {
    return [...this.#quarantined.values()];
  }

  /** Resolves once every change made so far is durable; rejects if one was refused (see RuntimeHandle). */
  flushed(ids?: readonly string[]): Promise<void> {
    return this.#writer.flushed(ids);
  }

  /**
   * The lease is lost (the engine learnt it from the lease itself rather than from a refused
   * write): stop every actor at once and write nothing more. Idempotent.
   */
  halt(error: FencedError): void {
    this.#writer.fence(error);
  }

  /** Why this runtime stopped every actor, if it lost its lease. */
  get fenced(): FencedError | null {
    return this.#fencedBy;
  }

  get pendingWrites(): number {
    return this.#writer.pending;
  }

  /**
   * Operator action: take an actor out of quarantine and restore it from its row, live, in this
   * engine. True when it runs again; false when it was not quarantined here, or its row still
   * cannot be restored (it is then quarantined again, with the new reason).
   */
  async release(id: string, by = 'operator'): Promise<boolean> {
    if (!this.#quarantined.has(id) || this.#actors.has(id)) return false;
    if (this.#fencedBy) throw this.#fencedBy;
    // Already active: released by `npm run actors -- release` beside this engine, which restores it now.
    if (!(await this.#store.release(id)) && (await this.#store.loadOne(id))?.status !== 'active') return false;
    const info = this.#quarantined.get(id)!;
    this.#quarantined.delete(id);
    this.#failures.delete(id);
    this.#o.metrics.actorsQuarantined.dec({ kind: info.kind });
    await this.#o.db.audit({ actor: by, action: 'actor.released', subject: id, details: { reason: info.reason } });
    const row = await this.#store.loadOne(id);
    if (row?.status === 'active') await this.#restoreRow(row);
    return this.#actors.has(id);
  }

  /** Persists everything, then stops every actor and the root. */
  async stop(): Promise<void> {
    if (!this.#stopping) {
      this.#stopping = true;
      try {
        await this.#o.onStop?.();
      } catch (err) {
        this.#o.logger.warn({ err }, 'A stop hook failed; stopping anyway');
      }
    }
    if (this.#draining) {
      if (this.#fencedBy && this.root.getSnapshot().status === 'active') this.root.stop();
      return;
    }
    this.#draining = true;
    this.root.send({ type: 'system.drain' });
    for (const managed of this.#actors.values()) {
      if (managed.restartTimer !== undefined) this.#o.clock.clearTimeout(managed.restartTimer);
    }
    try {
      await this.#writer.close();
    } catch (err) {
      // Refused writes (lease lost meanwhile): the actors were halted already; nothing to persist.
      this.#o.logger.warn({ err }, 'Stopping without persisting: the last writes were refused');
    }
    for (const managed of this.#actors.values()) this.#halt(managed);
    this.#actors.clear();
    this.root.stop();
  }

  // ---- internals ---------------------------------------------------------

  #kindFor(id: string): ActorKind {
    const kind = this.#kinds.get(kindOf(id));
    if (!kind) throw new VantaError('ACTOR_UNKNOWN_KIND', `No actor kind is registered for ${id}.`, { details: { actorId: id } });
    return kind;
  }

  async #restoreRow(row: StoredSnapshot): Promise<'restored' | 'migrated' | 'quarantined'> {
    const kind = this.#kinds.get(row.kind);
    if (!kind) {
      await this.#quarantine({ id: row.id, kind: row.kind, parent: row.parent }, 'ACTOR_UNKNOWN_KIND', `no actor kind "${row.kind}" in this build`);
      return 'quarantined';
    }
    try {
      const { snapshot, migrated } = prepareSnapshot(kind, row);
      this.#writer.setVersion(row.id, row.version);
      const managed = this.#start(kind, row.id, row.parent, { snapshot });
      if (migrated) this.#markDirty(managed);
      return migrated ? 'migrated' : 'restored';
    } catch (err) {
      const code = err instanceof VantaError ? err.code : 'SNAPSHOT_CORRUPT';
      await this.#quarantine({ id: row.id, kind: row.kind, parent: row.parent }, code, describeError(err).message);
      return 'quarantined';
    }
  }

  #start(kind: ActorKind, id: string, parent: string | null, from: { input: unknown } | { snapshot: PersistedSnapshot }): Managed {
    const actor = createActor(kind.logic, {
      id,
      systemId: id,
      parent: this.root,
      ...('snapshot' in from ? { snapshot: from.snapshot as never } : { input: from.input }),
    });
    const initial = actor.getSnapshot() as { status: string; error?: unknown };
    if (initial.status === 'error') {
      throw new SnapshotError('SNAPSHOT_CORRUPT', id, `XState cannot restore it (${describeError(initial.error).message})`, initial.error);
    }
    const managed: Managed = { id, kind, parent, actor, subscription: undefined as never, last: undefined, status: 'running', held: [], restartTimer: undefined };
    this.#actors.set(id, managed);
    const transitions = this.#transitionCounter(kind.kind);
    managed.subscription = actor.subscribe({
      next: (snapshot) => {
        if (snapshot === managed.last) return;
        managed.last = snapshot;
        transitions.inc();
        this.#markDirty(managed);
      },
      // Failures reach the supervisor as xstate.error.actor.<id>; this observer only keeps XState from rethrowing.
      error: () => {},
    });
    this.#o.metrics.actorsLive.inc({ kind: kind.kind });
    actor.start();
    if ('snapshot' in from) managed.last = actor.getSnapshot();
    this.#o.onStatus?.(id, 'running');
    return managed;
  }

  #markDirty(managed: Managed): void {
    managed.dirty ??= {
      id: managed.id,
      kind: managed.kind.kind,
      parent: managed.parent,
      machineVersion: managed.kind.version,
      read: () => {
        const last = managed.last as { status?: string } | undefined;
        if (!last) return null;
        const snapshot = reviveFailedChildren(managed.kind.logic.getPersistedSnapshot(last as never));
        return { snapshot, status: last.status === 'done' ? 'done' : 'active' };
      },
      final: () => (managed.last as { status?: string } | undefined)?.status === 'done',
    };
    this.#writer.markDirty(managed.dirty);
  }

  #transitionCounter(kind: string): { inc(): void } {
    let counter = this.#transitions.get(kind);
    if (!counter) {
      counter = this.#o.metrics.actorTransitions.labels({ kind });
      this.#transitions.set(kind, counter);
    }
    return counter;
  }

  #onFailure(id: string, error: unknown): void {
    const managed = this.#actors.get(id);
    if (!managed || this.#draining) return;
    const kind = managed.kind.kind;
    this.#o.metrics.actorFailures.inc({ kind });
    const { failures, decision } = decideOnFailure(this.#failures.get(id) ?? [], this.#o.clock.now(), this.#o.policy);
    this.#failures.set(id, failures);
    this.loggerFor(id).error({ err: error, decision }, 'Actor failed');
    managed.subscription.unsubscribe();
    if (decision.type === 'quarantine') {
      this.#forgetLive(managed);
      void this.#quarantine(managed, 'ACTOR_QUARANTINED', `${decision.failuresInWindow} failures within ${this.#o.policy.windowMs} ms; last: ${describeError(error).message}`);
      return;
    }
    managed.status = 'restarting';
    this.#o.onStatus?.(id, 'restarting');
    managed.restartTimer = this.#o.clock.setTimeout(() => void this.#restart(managed), decision.delayMs);
  }

  async #restart(managed: Managed): Promise<void> {
    const { id, kind, parent } = managed;
    try {
      // The last good snapshot may still be on its way to the database. If it was refused, the
      // actor was stopped (conflict) or everything was (lease lost): the checks below return.
      await this.#writer.flushed([id]).catch(() => {});
      if (this.#draining || this.#actors.get(id) !== managed) return;
      this.#forgetLive(managed);
      const row = await this.#store.loadOne(id);
      const fresh =
        row && row.status === 'active'
          ? this.#start(kind, id, parent, { snapshot: prepareSnapshot(kind, row).snapshot })
          : this.#start(kind, id, parent, { input: (managed.actor as unknown as { options: { input: unknown } }).options.input });
      this.#o.metrics.actorRestarts.inc({ kind: kind.kind });
      this.root.send({ type: 'actor.restarted', actorId: id });
      this.loggerFor(id).warn({ held_events: managed.held.length }, 'Restarted actor from its last persisted snapshot');
      for (const event of managed.held) fresh.actor.send(event);
    } catch (err) {
      this.#forgetLive(managed);
      await this.#quarantine(managed, 'SNAPSHOT_CORRUPT', `restart failed: ${describeError(err).message}`);
    }
  }

  #forgetLive(managed: Managed): void {
    if (this.#actors.get(managed.id) === managed) {
      this.#actors.delete(managed.id);
      this.#o.metrics.actorsLive.dec({ kind: managed.kind.kind });
    }
  }

  async #quarantine(row: { id: string; kind: string | ActorKind; parent: string | null }, code: string, reason: string): Promise<void> {
    const kind = typeof row.kind === 'string' ? row.kind : row.kind.kind;
    const info: QuarantineInfo = { id: row.id, kind, parent: row.parent, reason };
    if (this.#quarantined.has(row.id)) return;
    this.#quarantined.set(row.id, info);
    this.#o.metrics.actorQuarantines.inc({ kind, reason: code });
    this.#o.metrics.actorsQuarantined.inc({ kind });
    this.#o.onStatus?.(row.id, 'quarantined');
    this.loggerFor(row.id).error({ code, reason }, 'Quarantined actor; it stays stopped until an operator releases it');
    try {
      this.#o.onQuarantine?.(info);
    } catch (err) {
      this.#o.logger.error({ err }, 'The quarantine notification hook failed');
    }
    if (this.#fencedBy) return;
    try {
      this.#writer.forget(row.id);
      // Let an in-flight batch land first, so it cannot flip the row back to active.
      await this.#writer.flushed([row.id]).catch(() => {});
      await this.#store.quarantine({ id: row.id, kind, parent: row.parent }, `${code}: ${reason}`);
      await this.#o.db.audit({ actor: 'system', action: 'actor.quarantined', subject: row.id, details: { code, reason } });
    } catch (err) {
      this.#o.logger.error({ err, actor_id: row.id }, 'Failed to record a quarantine in the database; it holds in memory until restart');
    }
    this.root.send({ type: 'actor.quarantined', actorId: row.id });
  }

  #onCompleted(id: string): void {
    const managed = this.#actors.get(id);
    if (!managed) return;
    // The done snapshot is already queued (status 'done'); the row stays for history and is not restored.
    managed.subscription.unsubscribe();
    this.#forgetLive(managed);
    this.#failures.delete(id);
    this.#o.onStatus?.(id, 'done');
  }

  #onConflict(id: string): void {
    const managed = this.#actors.get(id);
    this.#o.logger.error({ err: new PersistConflictError(id), actor_id: id }, 'Stopped the local copy of an actor another instance owns');
    if (!managed) return;
    this.#halt(managed);
    this.#forgetLive(managed);
    this.#o.onStatus?.(id, 'stopped');
  }

  /**
   * The lease is lost: another engine owns these actors now, and may already be running them.
   * Stop every one at once, without writing, before anything else runs: stopping aborts their
   * in-flight effects (each effect's signal), and flushed() waiters only hear of it after.
   */
  #onFenced(error: FencedError): void {
    if (this.#fencedBy) return;
    this.#fencedBy = error;
    this.#draining = true;
    const halted = this.#actors.size;
    for (const managed of this.#actors.values()) {
      this.#halt(managed);
      this.#o.metrics.actorsLive.dec({ kind: managed.kind.kind });
      this.#o.onStatus?.(managed.id, 'stopped');
    }
    this.#actors.clear();
    this.#o.logger.fatal({ err: error, halted }, `Lease lost: stopped all ${halted} actors without writing; another engine owns them now`);
    this.#o.onFenced?.(error);
  }

  #halt(managed: Managed): void {
    managed.subscription.unsubscribe();
    if (managed.restartTimer !== undefined) this.#o.clock.clearTimeout(managed.restartTimer);
    if (managed.status === 'running') stopDetached(managed.actor);
  }
}
