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
 *
 * Time travel: each shown actor keeps its last `historyPerActor` steps (a step
 * is a snapshot whose state value or context object changed) as references to
 * XState's immutable snapshot parts, sanitised only when `history()` is read.
 * Recording a step costs a reference comparison (a small structural one for
 * nested state values) and one reused ring slot. Steps that change the state
 * value also go to live subscribers as `transition` events, never coalesced,
 * in a queue bounded per flush (the oldest are dropped and counted).
 */
import type { AnyActor, AnyEventObject, InspectionEvent } from 'xstate';
import type { ActorRunStatus, ActorView, InspectorEvent, InspectorSource, TransitionStep } from '../infra/http/inspector-source.ts';
import { scrubSecrets } from '../infra/logger.ts';
import { EventRing, type RawLoggedEvent } from './inspection-event-ring.ts';
import { StepRing, type RawStep } from './inspection-step-ring.ts';

type LoggedEventBody = Extract<InspectorEvent, { type: 'event' }>['event'];
type TransitionEvent = Extract<InspectorEvent, { type: 'transition' }>;
type Listener = (event: InspectorEvent) => void;

/** Where an actor sits in the logical tree. */
export interface ActorDescription {
  /** systemId, e.g. `user:42`. */
  readonly id: string;
  readonly kind: string;
  /** Logical parent's systemId (`root` for top-level actors), null for the root. */
  readonly parent: string | null;
}

/**
 * A step as the hub saw it, handed to `onStep` as it happens. `state` and `context` are the
 * snapshot's own objects: NOT sanitised (the receiver sanitises, off the hot path).
 */
export interface ObservedStep {
  readonly id: string;
  readonly kind: string;
  readonly at: number;
  readonly event: string;
  readonly state: unknown;
  readonly context: unknown;
}

/** A step read back from a journal of earlier runs, context already sanitised. */
export type JournalStep = Omit<TransitionStep, 'origin'>;

/** Reads an actor's journalled steps (the transition journal in PostgreSQL). */
export interface StepJournalReader {
  /** The actor's newest `limit` steps, oldest first. */
  recent(id: string, limit: number): Promise<readonly JournalStep[]>;
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
  /** Called when a subscriber throws (that subscriber is dropped) or when `onStep` throws. */
  readonly onListenerError?: (err: unknown) => void;
  /** Steps kept per shown actor for `history()` (default 50; 0 keeps none). */
  readonly historyPerActor?: number;
  /** Transition events waiting for one flush, at most (default 5000); older ones are dropped and counted. */
  readonly maxPendingTransitions?: number;
  /**
   * Called synchronously with every step of every shown actor (the journal's feed). Must be
   * cheap and must not throw (a throw is reported through onListenerError, never to XState).
   */
  readonly onStep?: (step: ObservedStep) => void;
  /** Steps of earlier runs for `history()`; without it, history holds this run's steps only. */
  readonly journal?: StepJournalReader;
  /** Called when reading the journal failed; history() then answers with the live steps. */
  readonly onJournalError?: (err: unknown) => void;
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
  /** Transition events dropped because a flush had more than maxPendingTransitions waiting. */
  readonly droppedTransitions: number;
}

interface Entry {
  readonly id: string;
  readonly kind: string;
  readonly parent: string | null;
  /** Null for a placeholder: an actor known to the supervisor but not running. */
  readonly ref: AnyActor | null;
  updatedAt: number;
  override: 'restarting' | 'quarantined' | null;
  /** Recent steps; created at the first step, handed on to a restarted actor's new entry. */
  history: StepRing | null;
  /** State value and context of the last recorded step (UNSEEN before the first). */
  lastValue: unknown;
  lastContext: unknown;
}

/** Before an entry's first step: equal to no state value or context. */
const UNSEEN: unique symbol = Symbol('unseen');

/** The key under which root entries (parent null) are indexed; no systemId is empty. */
const ROOTS = '';

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
  const historyPerActor = options.historyPerActor ?? 50;
  if (!Number.isInteger(historyPerActor) || historyPerActor < 0) throw new RangeError(`historyPerActor must be a non-negative integer, got ${historyPerActor}`);
  const maxPendingTransitions = options.maxPendingTransitions ?? 5_000;
  if (!Number.isInteger(maxPendingTransitions) || maxPendingTransitions < 1) throw new RangeError(`maxPendingTransitions must be a positive integer, got ${maxPendingTransitions}`);
  const byId = new Map<string, Entry>();
  /** Children by logical parent id (ROOTS for the roots), kept as entries come and go. */
  const childrenOf = new Map<string, Set<Entry>>();
  const byRef = new WeakMap<object, Entry | typeof HIDDEN>();
  /**
   * Each live subscriber with the first log sequence number it has not read through recentEvents(),
   * and the number of the first transition event it has not been given.
   */
  const listeners = new Map<Listener, { fromSeq: number; fromMove: number }>();
  let droppedTransitions = 0;
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
    // A restarted actor keeps its systemId: the new reference replaces the old one, and keeps its history.
    const history = byId.get(description.id)?.history ?? null;
    const entry: Entry = { ...description, ref, updatedAt: now(), override: null, history, lastValue: UNSEEN, lastContext: UNSEEN };
    byRef.set(ref, entry);
    place(entry);
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

  function onSnapshot(ref: AnyActor, event: AnyEventObject, snapshot: { status: string; value?: unknown; context?: unknown }): void {
    const entry = entryOf(ref);
    if (!entry || byId.get(entry.id) !== entry) return;
    const at = now();
    entry.updatedAt = at;
    recordStep(entry, at, event.type, snapshot.value, snapshot.context);
    const status = snapshot.status;
    if ((status === 'stopped' || status === 'done') && entry.override === null) remove(entry.id);
    else feed.changed(entry);
  }

  /** A step is a snapshot whose state value or context object changed; only a new state value is a transition. */
  function recordStep(entry: Entry, at: number, event: string, value: unknown, context: unknown): void {
    // Not a state machine (a callback or promise actor): nothing to step through.
    if (value === undefined) return;
    const moved = !sameStateValue(value, entry.lastValue);
    if (!moved && context === entry.lastContext) return;
    entry.lastValue = value;
    entry.lastContext = context;
    if (historyPerActor > 0) (entry.history ??= new StepRing(historyPerActor)).push(at, event, value, context);
    if (options.onStep) {
      try {
        options.onStep({ id: entry.id, kind: entry.kind, at, event, state: value, context });
      } catch (err) {
        options.onListenerError?.(err);
      }
    }
    if (moved) feed.transitioned(entry.id, at, event, value);
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
    unindex(entry);
    feed.removed(entry);
  }

  /** Puts an entry in the tree, replacing a restarted actor's old entry. */
  function place(entry: Entry): void {
    const old = byId.get(entry.id);
    if (old) unindex(old);
    byId.set(entry.id, entry);
    const key = entry.parent ?? ROOTS;
    const siblings = childrenOf.get(key);
    if (siblings) siblings.add(entry);
    else childrenOf.set(key, new Set([entry]));
  }

  function unindex(entry: Entry): void {
    const key = entry.parent ?? ROOTS;
    const siblings = childrenOf.get(key);
    if (!siblings) return;
    siblings.delete(entry);
    if (siblings.size === 0) childrenOf.delete(key);
  }

  /** The first `limit` actors from the roots down, depth first, touching only those: a page's first paint. */
  function topOfTree(limit: number): Entry[] {
    const out: Entry[] = [];
    const roots = childrenOf.get(ROOTS);
    if (!roots) return out;
    const stack = [...roots].reverse();
    const seen = new Set<Entry>();
    while (stack.length && out.length < limit) {
      const entry = stack.pop() as Entry;
      if (seen.has(entry)) continue;
      seen.add(entry);
      out.push(entry);
      const kids = childrenOf.get(entry.id);
      if (!kids) continue;
      // Only as many children as could still be shown: a root with 100,000 children costs `limit`, not 100,000.
      const take: Entry[] = [];
      for (const kid of kids) {
        if (take.length >= limit - out.length) break;
        take.push(kid);
      }
      for (let i = take.length - 1; i >= 0; i -= 1) stack.push(take[i] as Entry);
    }
    return out;
  }

  /** Without the context (`withContext` false) nothing is sanitised: what a 100,000-actor tree needs. */
  function view(entry: Entry, withContext = true): ActorView {
    const snapshot = entry.ref?.getSnapshot() as { status?: string; value?: unknown; context?: unknown } | undefined;
    return {
      id: entry.id,
      kind: entry.kind,
      parent: entry.parent,
      status: entry.override ?? runStatus(snapshot?.status),
      state: snapshot?.value ?? null,
      context: !withContext || snapshot?.context === undefined ? null : sanitize(snapshot.context),
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
    /** Transitions since the last flush; `movedBase` is the number of the first one (listeners read from theirs). */
    let moves: TransitionEvent[] = [];
    let movedBase = 0;
    let timer: NodeJS.Timeout | null = null;

    /** Keeps the newest maxPendingTransitions (amortised: trimmed when twice that many wait, and at flush). */
    const trimMoves = (limit: number) => {
      const excess = moves.length - limit;
      if (excess <= 0) return;
      moves.splice(0, excess);
      movedBase += excess;
      droppedTransitions += excess;
    };

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
      trimMoves(maxPendingTransitions);
      const moved = moves;
      const base = movedBase;
      moves = [];
      movedBase += moved.length;
      const oldest = Math.min(...[...listeners.values()].map((l) => l.fromSeq));
      const logged = ring.since(oldest).map((raw) => ({ seq: raw.seq, event: toLogEvent(raw) }));
      for (const [listener, state] of [...listeners]) {
        const fresh = logged.filter((l) => l.seq >= state.fromSeq).map((l) => l.event);
        state.fromSeq = ring.written;
        // A listener that subscribed during this interval gets only the transitions after it did.
        const steps = state.fromMove <= base ? moved : moved.slice(state.fromMove - base);
        state.fromMove = movedBase;
        deliver(listener, changes.concat(steps, fresh));
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
      transitioned(id: string, at: number, event: string, state: unknown) {
        if (listeners.size === 0) return;
        moves.push({ type: 'transition', at, id, event, state });
        if (moves.length >= 2 * maxPendingTransitions) trimMoves(maxPendingTransitions);
        schedule();
      },
      /** Number of the next transition event: a new subscriber reads from there. */
      get nextMove() {
        return movedBase + moves.length;
      },
      stoppedAll() {
        if (timer) clearTimeout(timer);
        timer = null;
        dirty.clear();
        removed.length = 0;
        movedBase += moves.length;
        moves = [];
      },
    };
  }

  const source: InspectorSource = {
    actors() {
      return treeOrder(byId).map((entry) => view(entry));
    },
    tree(limit) {
      return (limit === undefined ? treeOrder(byId) : topOfTree(limit)).map((entry) => view(entry, false));
    },
    actor(id) {
      const entry = byId.get(id);
      return entry ? view(entry) : undefined;
    },
    recentEvents() {
      return ring.since(0).map(toLogEvent);
    },
    subscribe(listener) {
      // The subscriber reads the backlog through recentEvents(); the feed brings what comes after.
      listeners.set(listener, { fromSeq: ring.written, fromMove: feed.nextMove });
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0) feed.stoppedAll();
      };
    },
    history,
  };

  /**
   * The journal's steps older than this run's oldest live step, then the live ones (newest
   * `limit`, oldest first). The live ring is the newer record; a journal row of this run that
   * the ring still holds is as old as the ring's oldest step or newer, so it is left out.
   */
  async function history(id: string, limit = 100): Promise<TransitionStep[]> {
    const wanted = Math.min(Math.max(1, Math.floor(Number.isFinite(limit) ? limit : 100)), MAX_HISTORY);
    const live = liveSteps(byId.get(id)?.history?.newest(wanted) ?? []);
    if (!options.journal || live.length >= wanted) return live;
    let journalled: readonly JournalStep[] = [];
    try {
      journalled = await options.journal.recent(id, wanted);
    } catch (err) {
      options.onJournalError?.(err);
    }
    const cutoff = live[0]?.at ?? Number.POSITIVE_INFINITY;
    const earlier: TransitionStep[] = [];
    for (const step of journalled) if (step.at < cutoff) earlier.push({ at: step.at, event: step.event, state: step.state, context: step.context, origin: 'journal' });
    return earlier.concat(live).slice(-wanted);
  }

  /** Sanitised copies; consecutive steps often share one context object, sanitised once. */
  function liveSteps(raw: RawStep[]): TransitionStep[] {
    const clean = new Map<unknown, unknown>();
    return raw.map((step) => {
      if (!clean.has(step.context)) clean.set(step.context, step.context === undefined ? null : sanitize(step.context));
      return { at: step.at, event: step.event, state: step.value, context: clean.get(step.context), origin: 'live' };
    });
  }

  return {
    inspect(event) {
      // XState only ever reports its own Actor instances, which carry `_parent` and `systemId`.
      const ref = event.actorRef as AnyActor;
      switch (event.type) {
        case '@xstate.snapshot':
          onSnapshot(ref, event.event, event.snapshot);
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
        entry = { id, kind: placeholder.kind, parent: placeholder.parent, ref: null, updatedAt: now(), override: null, history: null, lastValue: UNSEEN, lastContext: UNSEEN };
        place(entry);
      }
      entry.override = status === 'running' ? null : status;
      entry.updatedAt = now();
      feed.changed(entry);
      return true;
    },
    remove,
    get droppedTransitions() {
      return droppedTransitions;
    },
  };
}

/** The most steps one history() answer holds. */
const MAX_HISTORY = 1_000;

/** State values are strings or small nested objects; XState builds a new object per snapshot, so compare by content. */
function sameStateValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  const keysA = Object.keys(a);
  if (keysA.length !== Object.keys(b).length) return false;
  for (const key of keysA) if (!sameStateValue((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key])) return false;
  return true;
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
/** Depth-first, parents before children; actors whose parent is not (or no longer) known come last, as roots. */
function treeOrder(byId: ReadonlyMap<string, Entry>): Entry[] {
  const children = new Map<string, Entry[]>();
  const roots: Entry[] = [];
  const orphans: Entry[] = [];
  for (const entry of byId.values()) {
    if (entry.parent === null) roots.push(entry);
    else if (entry.parent === entry.id || !byId.has(entry.parent)) orphans.push(entry);
    else {
      const list = children.get(entry.parent);
      if (list) list.push(entry);
      else children.set(entry.parent, [entry]);
    }
  }
  // Called for 100,000 actors when a page opens: one pass, no copies of the whole list.
  const out: Entry[] = [];
  const seen = new Set<Entry>();
  const stack: Entry[] = [];
  const walkFrom = (start: Entry): void => {
    stack.push(start);
    while (stack.length) {
      const entry = stack.pop() as Entry;
      if (seen.has(entry)) continue;
      seen.add(entry);
      out.push(entry);
      const kids = children.get(entry.id);
      if (kids) for (let i = kids.length - 1; i >= 0; i -= 1) stack.push(kids[i] as Entry);
    }
  };
  for (const list of [roots, orphans, byId.values()]) {
    // The last list catches entries in a parent cycle (a bug elsewhere): appended as roots rather than hidden.
    for (const entry of list) {
      if (out.length >= byId.size) return out;
      walkFrom(entry);
    }
  }
  return out;
}
