import type { AnyStateMachine } from 'xstate';

/**
 * A machine's statechart as data, read from the machine's own definition: every state node with
 * its type, initial child, entry/exit actions, invoked effects and tags, and every transition with
 * its event, guard, delay and targets. The inspector page draws it (issue 8); nothing here is
 * drawn or laid out, and nothing is hand-kept per machine: a new kind is charted as it is defined.
 *
 * Names are the ones given in `setup()` (actions, guards, actors); an inline function has no name
 * and shows as "inline". Pure: no I/O, and the machine is only read.
 */
export interface ChartNode {
  /** The state node's id, e.g. `position.open.closing`. */
  readonly id: string;
  readonly key: string;
  readonly parent: string | null;
  readonly type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  /** The child entered first (compound states). */
  readonly initial: string | null;
  readonly children: readonly string[];
  readonly entry: readonly string[];
  readonly exit: readonly string[];
  /** Invoked effects, by the name given in `setup()`. */
  readonly invoke: readonly string[];
  readonly tags: readonly string[];
}

export interface ChartEdge {
  /** Unique within the chart: source, event and the transition's place among that event's. */
  readonly id: string;
  readonly source: string;
  /** Empty for a transition that stays (actions only). */
  readonly targets: readonly string[];
  /** The event name; for a delayed transition `after <delay>`; for an eventless one `always`. */
  readonly event: string;
  readonly kind: 'event' | 'delayed' | 'always';
  readonly guard: string | null;
  /** A delayed transition's delay: milliseconds, or the name of a delay given in `setup()`. */
  readonly delay: string | null;
  readonly actions: readonly string[];
}

export interface Statechart {
  readonly machine: string;
  readonly root: string;
  readonly nodes: readonly ChartNode[];
  readonly edges: readonly ChartEdge[];
}

/** The parts of an XState state node this reads (its public definition objects). */
interface StateNodeLike {
  readonly id: string;
  readonly key: string;
  readonly type: ChartNode['type'];
  readonly parent?: StateNodeLike;
  readonly states: Readonly<Record<string, StateNodeLike>>;
  readonly initial?: { readonly target?: readonly StateNodeLike[] };
  readonly entry: readonly unknown[];
  readonly exit: readonly unknown[];
  readonly invoke: readonly { readonly src: unknown; readonly id?: string }[];
  readonly tags: readonly string[];
  readonly transitions: ReadonlyMap<string, readonly TransitionLike[]>;
  readonly after: readonly (TransitionLike & { readonly delay: unknown })[];
  readonly always?: readonly TransitionLike[];
}

interface TransitionLike {
  readonly eventType: string;
  readonly target?: readonly StateNodeLike[];
  readonly guard?: unknown;
  readonly actions: readonly unknown[];
}

export function statechartOf(machine: AnyStateMachine): Statechart {
  const root = machine.root as unknown as StateNodeLike;
  const nodes: ChartNode[] = [];
  const edges: ChartEdge[] = [];
  const visit = (node: StateNodeLike): void => {
    const children = Object.values(node.states);
    nodes.push({
      id: node.id,
      key: node.key,
      parent: node.parent?.id ?? null,
      type: node.type,
      initial: node.type === 'compound' ? (node.initial?.target?.[0]?.id ?? null) : null,
      children: children.map((c) => c.id),
      entry: node.entry.map(nameOf),
      exit: node.exit.map(nameOf),
      invoke: node.invoke.map((i) => (typeof i.src === 'string' ? i.src : (i.id ?? 'inline'))),
      tags: [...node.tags],
    });
    const delayed = new Set(node.after.map((t) => t.eventType));
    for (const [event, transitions] of node.transitions) {
      if (delayed.has(event)) continue;
      transitions.forEach((t, index) => edges.push(edge(node, t, event, 'event', null, index)));
    }
    node.after.forEach((t, index) => {
      const delay = typeof t.delay === 'number' ? String(t.delay) : typeof t.delay === 'string' ? t.delay : 'inline';
      edges.push(edge(node, t, `after ${delay}`, 'delayed', delay, index));
    });
    (node.always ?? []).forEach((t, index) => edges.push(edge(node, t, 'always', 'always', null, index)));
    for (const child of children) visit(child);
  };
  visit(root);
  return { machine: machine.id, root: root.id, nodes, edges };
}

function edge(node: StateNodeLike, t: TransitionLike, event: string, kind: ChartEdge['kind'], delay: string | null, index: number): ChartEdge {
  return {
    id: `${node.id}:${event}:${index}`,
    source: node.id,
    targets: (t.target ?? []).map((target) => target.id),
    event,
    kind,
    guard: t.guard === undefined ? null : nameOf(t.guard),
    delay,
    actions: t.actions.map(nameOf),
  };
}

/** An action's or guard's name as given in `setup()`; "inline" for an anonymous function. */
function nameOf(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'function') return value.name && !value.name.startsWith('bound ') ? value.name : 'inline';
  if (typeof value === 'object' && value !== null && 'type' in value && typeof value.type === 'string') return value.type;
  return 'inline';
}
