import elkBundled from 'elkjs/lib/elk.bundled.js';
import type { ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api.js';
import type { ChartEdge, ChartNode, Statechart } from './statechart.ts';

/**
 * Lays a statechart out for drawing, with ELK's layered algorithm (elkjs, run in this process so the
 * page needs no layout code and makes no request anywhere). Compound and parallel states are boxes
 * that hold their children; every transition with a target is a routed edge with its label (event,
 * guard, delay); a transition without a target (actions only) is listed inside its state instead of
 * drawn as a loop, since it never changes the state.
 *
 * Coordinates are absolute (ELK's `ROOT` coordinate mode), in CSS pixels. Label sizes are estimated
 * from character counts for the page's monospace chart font (see CHAR_WIDTH), so layout needs no DOM.
 */
export interface LaidOutState extends ChartNode {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  /** Transitions that keep the state (no target), as "event [guard] / actions" lines. */
  readonly internal: readonly string[];
}

export interface LaidOutEdge extends Omit<ChartEdge, 'targets'> {
  /** One drawn edge per target; `edge` is the chart edge's id (shared by a multi-target transition). */
  readonly edge: string;
  readonly target: string;
  /** The route: start, bends, end. */
  readonly points: readonly { readonly x: number; readonly y: number }[];
  /** Where the label goes; `lines` is the event as read (see eventLabel) and its guard, if any. */
  readonly label: { readonly lines: readonly string[]; readonly x: number; readonly y: number; readonly width: number; readonly height: number };
}

export interface LaidOutChart {
  readonly machine: string;
  readonly root: string;
  readonly width: number;
  readonly height: number;
  readonly states: readonly LaidOutState[];
  readonly edges: readonly LaidOutEdge[];
}

/** Width of one character of the chart font (12 px monospace) and the line height, in px. */
export const CHAR_WIDTH = 7.3;
export const LINE_HEIGHT = 15;
const HEADER = 24;
const PAD = 10;

interface ElkLike {
  layout(graph: ElkNode): Promise<ElkNode>;
}
/** The bundle is CommonJS (`module.exports = ELK`); its typings describe an ES default export instead. */
const ElkConstructor = elkBundled as unknown as new () => ElkLike;

/**
 * @example
 * const drawn = await layoutStatechart(statechartOf(positionMachine));
 */
export async function layoutStatechart(chart: Statechart, elk: ElkLike = new ElkConstructor()): Promise<LaidOutChart> {
  const byId = new Map(chart.nodes.map((n) => [n.id, n]));
  const internal = new Map<string, string[]>();
  for (const e of chart.edges) {
    if (e.targets.length) continue;
    const list = internal.get(e.source) ?? [];
    list.push(edgeText(e));
    internal.set(e.source, list);
  }

  const toElk = (node: ChartNode): ElkNode => {
    const lines = detailLines(node, internal.get(node.id) ?? []);
    const textWidth = Math.max(node.key.length + 4, ...lines.map((l) => l.length)) * CHAR_WIDTH + 2 * PAD;
    if (node.children.length === 0) {
      return { id: node.id, width: Math.max(90, textWidth), height: HEADER + lines.length * LINE_HEIGHT + (lines.length ? PAD : 6) };
    }
    return {
      id: node.id,
      children: node.children.map((c) => toElk(byId.get(c)!)),
      layoutOptions: {
        // Room at the top for the state's name and its entry/exit/invoke lines.
        'elk.padding': `[top=${HEADER + lines.length * LINE_HEIGHT + PAD},left=${PAD + 4},bottom=${PAD + 4},right=${PAD + 4}]`,
        'elk.nodeSize.constraints': 'MINIMUM_SIZE',
        'elk.nodeSize.minimum': `(${Math.ceil(textWidth)}, 40)`,
        // A parallel state's regions sit side by side, as they run side by side.
        'elk.direction': node.type === 'parallel' ? 'RIGHT' : 'DOWN',
      },
    };
  };

  const drawn = chart.edges.flatMap((e) => e.targets.map((target, i) => ({ e, target, id: `${e.id}>${i}` })));
  const elkEdges: ElkExtendedEdge[] = drawn.map(({ e, target, id }) => {
    const lines = labelLines(e);
    const width = Math.max(...lines.map((l) => l.length)) * CHAR_WIDTH + 6;
    return { id, sources: [e.source], targets: [target], labels: [{ id: `${id}#label`, text: lines.join('\n'), width, height: lines.length * LINE_HEIGHT + 2 }] };
  });

  const rootNode = byId.get(chart.root)!;
  const graph: ElkNode = {
    id: '__graph__',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'DOWN',
      'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
      'elk.json.shapeCoords': 'ROOT',
      'elk.json.edgeCoords': 'ROOT',
      'elk.edgeRouting': 'ORTHOGONAL',
      'elk.edgeLabels.inline': 'false',
      'elk.layered.spacing.nodeNodeBetweenLayers': '36',
      'elk.spacing.nodeNode': '28',
      'elk.spacing.edgeLabel': '4',
      'elk.layered.nodePlacement.strategy': 'BRANDES_KOEPF',
      'elk.padding': '[top=8,left=8,bottom=8,right=8]',
    },
    children: [toElk(rootNode)],
    edges: elkEdges,
  };
  const out = await elk.layout(graph);

  const states: LaidOutState[] = [];
  const collect = (n: ElkNode): void => {
    const node = byId.get(n.id);
    if (node) states.push({ ...node, x: n.x ?? 0, y: n.y ?? 0, width: n.width ?? 0, height: n.height ?? 0, internal: internal.get(node.id) ?? [] });
    for (const child of n.children ?? []) collect(child);
  };
  collect(out);

  const routed = new Map<string, ElkExtendedEdge>();
  const gather = (n: ElkNode): void => {
    for (const e of n.edges ?? []) routed.set(e.id, e);
    for (const child of n.children ?? []) gather(child);
  };
  gather(out);

  const edges: LaidOutEdge[] = drawn.map(({ e, target, id }) => {
    const r = routed.get(id);
    const section = r?.sections?.[0];
    const points = section ? [section.startPoint, ...(section.bendPoints ?? []), section.endPoint].map((p) => ({ x: p.x, y: p.y })) : [];
    const l = r?.labels?.[0];
    const { targets: _targets, ...rest } = e;
    return {
      ...rest,
      id,
      edge: e.id,
      target,
      points,
      label: { lines: labelLines(e), x: l?.x ?? points[0]?.x ?? 0, y: l?.y ?? points[0]?.y ?? 0, width: l?.width ?? 0, height: l?.height ?? 0 },
    };
  });

  return { machine: chart.machine, root: chart.root, width: Math.ceil(out.width ?? 0), height: Math.ceil(out.height ?? 0), states, edges };
}

/**
 * XState's names for an invoked effect's outcome are long (`xstate.done.actor.submitOpen`); a chart
 * reads them as `done: submitOpen` and `error: submitOpen`. The full name stays on the edge's data.
 */
export function eventLabel(event: string): string {
  const m = /^xstate\.(done|error)\.actor\.(.+)$/.exec(event);
  return m ? `${m[1]}: ${m[2]}` : event;
}

/** An arrow's label: the event, and its guard on a second line. */
function labelLines(e: ChartEdge): string[] {
  return e.guard ? [eventLabel(e.event), `[${e.guard}]`] : [eventLabel(e.event)];
}

/** `event [guard] / actions`, for a transition drawn inside its state. */
function edgeText(e: ChartEdge): string {
  const guard = e.guard ? ` [${e.guard}]` : '';
  const actions = e.actions.length ? ` / ${e.actions.join(', ')}` : '';
  return `${eventLabel(e.event)}${guard}${actions}`;
}

/** What a state does, one line each, shown under its name. */
function detailLines(node: ChartNode, internal: readonly string[]): string[] {
  const lines: string[] = [];
  if (node.entry.length) lines.push(`entry / ${node.entry.join(', ')}`);
  if (node.exit.length) lines.push(`exit / ${node.exit.join(', ')}`);
  for (const src of node.invoke) lines.push(`invoke ${src}`);
  for (const line of internal) lines.push(line);
  if (node.tags.length) lines.push(`tags: ${node.tags.join(', ')}`);
  return lines;
}
