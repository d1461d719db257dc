/**
 * Turns XState inspection events into the plain `InspectorSource` the
 * inspector page renders: the logical actor tree, each actor's state and
 * sanitised context, and a bounded log of recent events.
 *
 * Built for a busy system (thousands of transitions a second, up to a hundred
 * thousand actors): per actor it keeps one small record holding the actor
 * reference, whose `getSnapshot()` is always the latest snapshot, and it
 * never copies or sanitises anything until someone looks. With nobody
 * watching, an inspection event costs a WeakMap lookup and at most one field
 * write or one ring-buffer slot. With live subscribers, changes are coalesced
 * and sanitised once per flush interval rather than once per transition.
 */
import type { AnyActor, AnyEventObject, InspectionEvent } from 'xstate';
import type { ActorRunStatus, ActorView, InspectorEvent, InspectorSource } from '../infra/http/inspector-source.ts';
import { scrubSecrets } from '../infra/logger.ts';
import { EventRing, type RawLoggedEvent } from './inspection-event-ring.ts';

type LoggedEventBody = Extract<InspectorEvent, { type: 'event' }>['event'];
type Listener = (event: InspectorEvent) => void;

/** Where an actor sits in the logical tree. */
export interface ActorDescription {
  /** systemId, e.g. `user:42`. */
  readonly id: string;
  readonly kind: string;
  /** Logical parent's systemId (`root` for top-level actors), null for the root. */
  readonly parent: string | null;
}

/** Statuses the supervisor knows and XState does not. `running` clears them. */
export type SupervisionStatus = 'running' | 'restarting' | 'quarantined';

export interface InspectionHubOptions {
  /**
   * Places an actor in the logical tree, or returns undefined to hide it
   * (timer children, one-off promises). Called at the actor's first event
   * after `start()` (its systemId is registered by then; it is not yet when
   * XState reports `@xstate.actor`). A description is cached for the actor's
   * life; so is "hidden" for an actor without a systemId. An actor *with* a
   * systemId that gets undefined is asked again at its next event, so keep
   * this a cheap lookup.
   */
  readonly describe: (actorRef: AnyActor) => ActorDescription | undefined;
  /** Removes secrets from contexts and events (default: scrubSecrets). */
  readonly sanitize?: (value: unknown) => unknown;
  /** Size of the event log ring (default 1000). */
  readonly maxEvents?: number;
  readonly now?: () => number;
  /** How often live subscribers get the coalesced changes (default 100 ms). */
  readonly flushIntervalMs?: number;
  /** Called when a subscriber throws; that subscriber is dropped. */
  readonly onListenerError?: (err: unknown) => void;
}

export interface InspectionHub {
  /** Pass to `createActor(logic, { inspect: hub.inspect })` on the root. */
  readonly inspect: (event: InspectionEvent) => void;
  readonly source: InspectorSource;
  /**
   * Marks an actor restarting or quarantined (shown even once its XState
   * actor has stopped), or running again. An actor the hub has never seen
   * (quarantined at boot, never started) needs `placeholder` to be shown.
   * Returns false when the id is unknown and no placeholder was given.
   */
  setStatus(id: string, status: SupervisionStatus, placeholder?: Omit<ActorDescription, 'id'>): boolean;
  /** Removes an actor from the tree (it finished, or was deleted). */
  remove(id: string): void;
}

interface Entry {
  readonly id: string;
  readonly kind: string;
  readonly parent: string | null;
  /** Null for a placeholder: an actor known to the supervisor but not running. */
  readonly ref: AnyActor | null;
  updatedAt: number;
  override: 'restarting' | 'quarantined' | null;
}

/** Cached "do not show this actor". */
const HIDDEN = null;

/**
 * @example
 * const hub = createInspectionHub({ describe: (ref) => runtime.describe(ref) });
 * const root = createActor(rootMachine, { inspect: hub.inspect }).start();
 * await createInspectorServer({ port, token, source: hub.source, logger });
 */
export function createInspectionHub(options: InspectionHubOptions): InspectionHub {
  const sanitize = options.sanitize ?? ((value: unknown) => scrubSecrets(value));
  const now = options.now ?? Date.now;
  const flushIntervalMs = options.flushIntervalMs ?? 100;
  const ring = new EventRing(options.maxEvents ?? 1_000);
  const byId = new Map<string, Entry>();
  const byRef = new WeakMap<object, Entry | typeof HIDDEN>();
  /** Each live subscriber with the first log sequence number it has not read through recentEvents(). */
  const listeners = new Map<Listener, { fromSeq: number }>();
  const feed = createFeed();

  function entryOf(ref: AnyActor): Entry | undefined {
    const cached = byRef.get(ref);
    if (cached !== undefined) return cached ?? undefined;
    const description = options.describe(ref);
    if (!description) {
      // Without a systemId the actor is an internal helper (a timer, a promise): hidden for good.
      // With one, the runtime may simply not know it yet (it is wired after the root starts): ask again next event.
      if (ref.systemId === undefined) byRef.set(ref, HIDDEN);
      return undefined;
    }
    const entry: Entry = { ...description, ref, updatedAt: now(), override: null };
    byRef.set(ref, entry);
    // A restarted actor keeps its systemId: the new reference replaces the old one.
    byId.set(entry.id, entry);
    feed.changed(entry);
    return entry;
  }

  /** The sender as the tree knows it: a hidden child (a timer) speaks for its nearest shown ancestor. */
  function sourceIdOf(ref: AnyActor | undefined): string | null {
    for (let r = ref, hops = 0; r && hops < 8; r = r._parent as AnyActor | undefined, hops += 1) {
      const entry = entryOf(r);
      if (entry) return entry.id;
    }
    return null;
  }

  function onSnapshot(ref: AnyActor, status: string): void {
    const entry = entryOf(ref);
    if (!entry || byId.get(entry.id) !== entry) return;
    entry.updatedAt = now();
    if ((status === 'stopped' || status === 'done') && entry.override === null) remove(entry.id);
    else feed.changed(entry);
  }

  function onEvent(target: AnyActor, source: AnyActor | undefined, event: AnyEventObject): void {
    const entry = entryOf(target);
    if (!entry) return;
    ring.push(now(), entry.id, sourceIdOf(source), event);
    feed.logged();
  }

  function remove(id: string): void {
    const entry = byId.get(id);
    if (!entry) return;
    byId.delete(id);
    feed.removed(entry);
  }

  function view(entry: Entry): ActorView {
    const snapshot = entry.ref?.getSnapshot() as { status?: string; value?: unknown; context?: unknown } | undefined;
    return {
      id: entry.id,
      kind: entry.kind,
      parent: entry.parent,
      status: entry.override ?? runStatus(snapshot?.status),
      state: snapshot?.value ?? null,
      context: snapshot?.context === undefined ? null : sanitize(snapshot.context),
      updatedAt: entry.updatedAt,
    };
  }

  function sanitizeEvent(event: AnyEventObject): LoggedEventBody {
    const clean = sanitize(event);
    if (clean && typeof clean === 'object' && typeof (clean as { type?: unknown }).type === 'string') return clean as LoggedEventBody;
    return { type: String(event.type) };
  }

  function toLogEvent(raw: RawLoggedEvent): InspectorEvent {
    return { type: 'event', at: raw.at, target: raw.target, source: raw.source, event: sanitizeEvent(raw.event) };
  }

  /** Coalesces changes while someone watches; does nothing otherwise. */
  function createFeed() {
    const dirty = new Set<Entry>();
    const removed: { id: string; at: number }[] = [];
    let timer: NodeJS.Timeout | null = null;

    const schedule = () => {
      if (timer || listeners.size === 0) return;
      timer = setTimeout(flush, flushIntervalMs);
      timer.unref();
    };
    const flush = () => {
      timer = null;
      const changes: InspectorEvent[] = [];
      for (const r of removed.splice(0)) changes.push({ type: 'actor.removed', id: r.id, at: r.at });
      for (const entry of dirty) if (byId.get(entry.id) === entry) changes.push({ type: 'actor.upsert', actor: view(entry) });
      dirty.clear();
      const oldest = Math.min(...[...listeners.values()].map((l) => l.fromSeq));
      const logged = ring.since(oldest).map((raw) => ({ seq: raw.seq, event: toLogEvent(raw) }));
      for (const [listener, state] of [...listeners]) {
        const fresh = logged.filter((l) => l.seq >= state.fromSeq).map((l) => l.event);
        state.fromSeq = ring.written;
        deliver(listener, fresh.length ? changes.concat(fresh) : changes);
      }
    };
    const deliver = (listener: Listener, events: InspectorEvent[]) => {
      try {
        for (const event of events) listener(event);
      } catch (err) {
        listeners.delete(listener);
        options.onListenerError?.(err);
      }
    };
    return {
      changed(entry: Entry) {
        if (listeners.size === 0) return;
        dirty.add(entry);
        schedule();
      },
      removed(entry: Entry) {
        if (listeners.size === 0) return;
        dirty.delete(entry);
        removed.push({ id: entry.id, at: now() });
        schedule();
      },
      logged() {
        if (listeners.size !== 0) schedule();
      },
      stoppedAll() {
        if (timer) clearTimeout(timer);
        timer = null;
        dirty.clear();
        removed.length = 0;
      },
    };
  }

  const source: InspectorSource = {
    actors() {
      return treeOrder([...byId.values()]).map(view);
    },
    recentEvents() {
      return ring.since(0).map(toLogEvent);
    },
    subscribe(listener) {
      // The subscriber reads the backlog through recentEvents(); the feed brings what comes after.
      listeners.set(listener, { fromSeq: ring.written });
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0) feed.stoppedAll();
      };
    },
  };

  return {
    inspect(event) {
      // XState only ever reports its own Actor instances, which carry `_parent` and `systemId`.
      const ref = event.actorRef as AnyActor;
      switch (event.type) {
        case '@xstate.snapshot':
          onSnapshot(ref, event.snapshot.status);
          return;
        case '@xstate.event':
          onEvent(ref, event.sourceRef as AnyActor | undefined, event.event);
          return;
        default:
          // '@xstate.actor' comes before the systemId is registered, so actors are placed at their first event instead;
          // transition/microstep/action events carry nothing the page shows.
          return;
      }
    },
    source,
    setStatus(id, status, placeholder) {
      let entry = byId.get(id);
      if (!entry) {
        if (!placeholder || status === 'running') return false;
        entry = { id, kind: placeholder.kind, parent: placeholder.parent, ref: null, updatedAt: now(), override: null };
        byId.set(id, entry);
      }
      entry.override = status === 'running' ? null : status;
      entry.updatedAt = now();
      feed.changed(entry);
      return true;
    },
    remove,
  };
}

function runStatus(status: string | undefined): ActorRunStatus {
  switch (status) {
    case 'done':
      return 'done';
    case 'error':
      return 'error';
    case 'stopped':
      return 'stopped';
    default:
      return 'running';
  }
}

/** Depth-first, parents before children; actors whose parent is not (or no longer) known come last, as roots. */
function treeOrder(entries: Entry[]): Entry[] {
  const ids = new Set(entries.map((e) => e.id));
  const children = new Map<string, Entry[]>();
  const roots: Entry[] = [];
  const orphans: Entry[] = [];
  for (const entry of entries) {
    if (entry.parent === null) roots.push(entry);
    else if (!ids.has(entry.parent) || entry.parent === entry.id) orphans.push(entry);
    else {
      const list = children.get(entry.parent);
      if (list) list.push(entry);
      else children.set(entry.parent, [entry]);
    }
  }
  const out: Entry[] = [];
  // Entries caught in a parent cycle (a bug elsewhere) are appended as roots rather than hidden.
  const stack = [...roots, ...orphans, ...entries].reverse();
  const seen = new Set<string>();
  while (stack.length) {
    const entry = stack.pop() as Entry;
    if (seen.has(entry.id)) continue;
    seen.add(entry.id);
    out.push(entry);
    const kids = children.get(entry.id);
    if (kids) for (let i = kids.length - 1; i >= 0; i -= 1) stack.push(kids[i] as Entry);
  }
  return out;
}
