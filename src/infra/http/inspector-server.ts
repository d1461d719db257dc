/**
 * The self-hosted state-machine inspector: a static page plus a small JSON
 * and event-stream API over an `InspectorSource`. It needs no internet and
 * sends nothing anywhere (see docs/adr/0003-self-hosted-inspector.md).
 *
 * Access:
 * - The page's three static files (HTML shell with its token form, CSS, JS)
 *   are served to anyone who can reach the port: they hold code, never data.
 * - Every /api route needs `Authorization: Bearer <INSPECTOR_TOKEN>` when a
 *   token is configured. The page asks for it and keeps it in sessionStorage.
 * - With no token the server must sit on loopback (config enforces that), and
 *   it also refuses requests whose Host header is not a loopback name, so a
 *   web page using DNS rebinding cannot read trading state through the
 *   operator's browser.
 * - Read-only unless the operator passed `controls` (INSPECTOR_CONTROLS=true):
 *   then POST /api/control/* also needs a JSON body and the custom header
 *   `x-vanta-inspector: 1`, which no cross-site form or simple request can
 *   send, and every use is audited by the controls.
 *
 * The stream and /api/actors carry each actor without its context (a tree of
 * 100,000 actors stays a few MB); /api/actor?id= answers one actor in full.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { AnyStateMachine } from 'xstate';
import type { Secret } from '../secret.ts';
import { createBearerCheck } from './bearer-auth.ts';
import { openEventStream, type EventStream } from './event-stream.ts';
import { readControlRequest, type InspectorControls } from './inspector-controls.ts';
import type { ActorView, InspectorEvent, InspectorSource } from './inspector-source.ts';
import { listen } from './listen.ts';
import { BASE_HEADERS, pathOf, sendJson } from './respond.ts';
import { statechartOf } from './statechart.ts';
import { layoutStatechart, type LaidOutChart } from './statechart-layout.ts';
import { LOOPBACK_HOST_HEADER as LOOPBACK_HOST } from './loopback.ts';

export interface InspectorServerOptions {
  /** Default 127.0.0.1. Anything else needs a token (config refuses to start otherwise). */
  readonly host?: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
  readonly token: Secret | null;
  readonly source: InspectorSource;
  readonly logger: Logger;
  /** Default 15 s. */
  readonly heartbeatMs?: number;
  /** Live pages at once (default 16); more get 503 so a reload loop cannot exhaust memory. */
  readonly maxStreams?: number;
  /** Unread bytes after which a slow page is disconnected (default 8 MiB). */
  readonly maxBufferedBytes?: number;
  /** Each actor kind's machine, charted for the page from its own definition (kind → machine). */
  readonly machines?: Readonly<Record<string, AnyStateMachine>>;
  /**
   * Operator controls (send an event, release a quarantined actor). Absent: the inspector is
   * read-only and refuses every POST. Given only behind INSPECTOR_CONTROLS=true; every use is audited.
   */
  readonly controls?: InspectorControls;
  /** How often the source batches live changes, shown on the page (default 100 ms). */
  readonly batchMs?: number;
}

export interface InspectorServer {
  readonly url: string;
  close(): Promise<void>;
}

const PAGE_DIR = new URL('./inspector-page/', import.meta.url);
const ASSETS: Readonly<Record<string, { file: string; type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/inspector.css': { file: 'inspector.css', type: 'text/css; charset=utf-8' },
  '/inspector.js': { file: 'inspector.js', type: 'text/javascript; charset=utf-8' },
};
/** Everything the page loads comes from this server; it may not be framed or call anywhere else. */
const PAGE_HEADERS = {
  ...BASE_HEADERS,
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};
/** Actors in the snapshot's first message (what a page paints first), then in each further part. */
const SNAPSHOT_HEAD = 2_000;
const SNAPSHOT_PART = 20_000;

/**
 * Starts the inspector server and resolves once it listens.
 * @example
 * const inspector = await createInspectorServer({ port: config.inspector.port, token: config.inspector.token, source: hub.source, logger });
 * shutdown.add('inspector http', () => inspector.close());
 */
export async function createInspectorServer(options: InspectorServerOptions): Promise<InspectorServer> {
  const logger = options.logger.child({ component: 'inspector-http' });
  const host = options.host ?? '127.0.0.1';
  const assets = await loadAssets();
  const streams = new Set<EventStream>();
  const handle = createHandler({ ...options, logger, assets, streams, charts: new Map() });
  const server = createServer((req, res) => {
    try {
      handle(req, res);
    } catch (err) {
      logger.error({ err, path: pathOf(req.url) }, 'Inspector request failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      else res.destroy();
    }
  });
  const listening = await listen(server, { host, port: options.port, settingName: 'INSPECTOR_HOST/INSPECTOR_PORT' });
  logger.info({ url: listening.url, auth: options.token ? 'bearer token' : 'none (loopback only)' }, 'Inspector listening');
  return {
    url: listening.url,
    async close() {
      for (const stream of streams) stream.close();
      await listening.close();
    },
  };
}

async function loadAssets(): Promise<Map<string, { body: Buffer; type: string }>> {
  const loaded = new Map<string, { body: Buffer; type: string }>();
  for (const [path, asset] of Object.entries(ASSETS)) {
    loaded.set(path, { body: await readFile(new URL(asset.file, PAGE_DIR)), type: asset.type });
  }
  return loaded;
}

interface HandlerContext extends InspectorServerOptions {
  readonly assets: Map<string, { body: Buffer; type: string }>;
  readonly streams: Set<EventStream>;
  /** Laid-out charts by kind, computed once on first request. */
  readonly charts: Map<string, Promise<LaidOutChart>>;
}

function createHandler(ctx: HandlerContext): (req: IncomingMessage, res: ServerResponse) => void {
  const authorize = createBearerCheck(ctx.token);
  const maxStreams = ctx.maxStreams ?? 16;

  return (req, res) => {
    const path = pathOf(req.url);
    const isControl = req.method === 'POST' && path.startsWith('/api/control/');
    if (req.method !== 'GET' && req.method !== 'HEAD' && !isControl) {
      sendJson(res, 405, { error: `method ${req.method ?? '?'} not allowed; the inspector is read-only` }, { allow: 'GET, HEAD' });
      return;
    }
    if (!ctx.token && !LOOPBACK_HOST.test(req.headers.host ?? '')) {
      sendJson(res, 403, { error: 'this inspector has no token, so it only answers requests addressed to localhost; set INSPECTOR_TOKEN to reach it by another name' });
      return;
    }
    const asset = ctx.assets.get(path);
    if (asset) {
      res.writeHead(200, { ...PAGE_HEADERS, 'content-type': asset.type, 'content-length': asset.body.length });
      res.end(req.method === 'HEAD' ? undefined : asset.body);
      return;
    }
    if (!path.startsWith('/api/')) {
      sendJson(res, 404, { error: `no route ${path}` });
      return;
    }
    const auth = authorize(req);
    if (auth !== 'ok') {
      if (auth === 'refused') ctx.logger.warn({ remote: req.socket.remoteAddress, path }, 'Refused inspector token');
      sendJson(res, 401, { error: auth === 'missing' ? 'token required: send Authorization: Bearer <INSPECTOR_TOKEN>' : 'token refused' }, { 'www-authenticate': 'Bearer realm="vanta-inspector"' });
      return;
    }
    if (isControl) {
      void control(ctx, path, req, res);
      return;
    }
    routeApi(ctx, path, req, res, maxStreams);
  };
}

function routeApi(ctx: HandlerContext, path: string, req: IncomingMessage, res: ServerResponse, maxStreams: number): void {
  if (path.startsWith('/api/machines/')) {
    void sendChart(ctx, decodeURIComponent(path.slice('/api/machines/'.length)), res);
    return;
  }
  const query = new URL(req.url ?? '/', 'http://inspector').searchParams;
  switch (path) {
    case '/api/actors':
      sendJson(res, 200, { actors: treeOf(ctx.source) });
      return;
    case '/api/actor': {
      const id = query.get('id') ?? '';
      const actor = ctx.source.actor ? ctx.source.actor(id) : ctx.source.actors().find((a) => a.id === id);
      if (actor) sendJson(res, 200, { actor });
      else sendJson(res, 404, { error: `no actor ${id || '(give ?id=<systemId>)'} is running or quarantined` });
      return;
    }
    case '/api/history':
      void sendHistory(ctx, query, res);
      return;
    case '/api/machines':
      sendJson(res, 200, { machines: Object.entries(ctx.machines ?? {}).map(([kind, machine]) => ({ kind, machine: machine.id })) });
      return;
    case '/api/events':
      sendJson(res, 200, { events: ctx.source.recentEvents() });
      return;
    case '/api/stream':
      if (ctx.streams.size >= maxStreams) {
        sendJson(res, 503, { error: `too many open inspector pages (${maxStreams}); close one and reload` }, { 'retry-after': '5' });
        return;
      }
      streamTo(ctx, req, res);
      return;
    default:
      sendJson(res, 404, { error: `no route ${path}; try /api/actors, /api/actor?id=, /api/history?id=, /api/machines, /api/events or /api/stream` });
  }
}

/**
 * What the head did not carry, in parts. Changes may reach the page before these parts: it keeps
 * what it already has (see applySnapshotPart in the page). `countOwed`: the head did not say how
 * many actors there are, so the page hears the count even when nothing more is left to send.
 */
function sendRest(stream: EventStream, all: readonly ActorView[], head: readonly ActorView[], countOwed: boolean): void {
  const sent = new Set(head.map((a) => a.id));
  const rest = all.filter((a) => !sent.has(a.id));
  const total = sent.size + rest.length;
  for (let from = 0; from < rest.length; from += SNAPSHOT_PART) {
    if (!stream.send({ actors: rest.slice(from, from + SNAPSHOT_PART), total }, 'snapshot-more', { bulk: true })) return;
  }
  if (rest.length === 0 && countOwed) stream.send({ actors: [], total }, 'snapshot-more');
}

function treeOf(source: InspectorSource): ActorView[] {
  return source.tree ? source.tree() : source.actors().map(withoutContext);
}

/** The tree needs no context; the selected actor's comes from /api/actor. */
function withoutContext(actor: ActorView): ActorView {
  return { ...actor, context: null };
}

function lighten(event: InspectorEvent): InspectorEvent {
  return event.type === 'actor.upsert' ? { type: 'actor.upsert', actor: withoutContext(event.actor) } : event;
}

async function sendChart(ctx: HandlerContext, kind: string, res: ServerResponse): Promise<void> {
  const machine = ctx.machines?.[kind];
  if (!machine) {
    sendJson(res, 404, { error: `no machine for kind ${kind}; known kinds: ${Object.keys(ctx.machines ?? {}).join(', ') || 'none'}` });
    return;
  }
  let chart = ctx.charts.get(kind);
  if (!chart) {
    chart = layoutStatechart(statechartOf(machine));
    ctx.charts.set(kind, chart);
  }
  try {
    sendJson(res, 200, { kind, chart: await chart });
  } catch (err) {
    ctx.charts.delete(kind);
    ctx.logger.error({ err, kind }, 'Could not lay out a statechart');
    sendJson(res, 500, { error: `could not lay out the ${kind} machine; see the engine log` });
  }
}

async function sendHistory(ctx: HandlerContext, query: URLSearchParams, res: ServerResponse): Promise<void> {
  const id = query.get('id') ?? '';
  const limit = Math.min(Math.max(Number.parseInt(query.get('limit') ?? '100', 10) || 100, 1), 500);
  if (!id) {
    sendJson(res, 400, { error: 'give the actor: /api/history?id=<systemId>' });
    return;
  }
  try {
    sendJson(res, 200, { id, steps: ctx.source.history ? await ctx.source.history(id, limit) : [] });
  } catch (err) {
    ctx.logger.warn({ err, id }, 'Could not read an actor history');
    sendJson(res, 503, { error: 'the transition journal could not be read; try again' });
  }
}

async function control(ctx: HandlerContext, path: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (!ctx.controls) {
    sendJson(res, 403, { error: 'this inspector is read-only; an operator enables controls with INSPECTOR_CONTROLS=true' });
    return;
  }
  const parsed = await readControlRequest(req);
  if (!parsed.ok) {
    sendJson(res, parsed.status, { error: parsed.error });
    return;
  }
  const by = `inspector@${req.socket.remoteAddress ?? '?'}`;
  try {
    switch (path) {
      case '/api/control/send': {
        if (!parsed.body.event) {
          sendJson(res, 400, { error: 'give the event to send: {"id": "<systemId>", "event": {"type": "…"}}' });
          return;
        }
        const sent = await ctx.controls.send(parsed.body.id, parsed.body.event, by);
        sendJson(res, sent ? 200 : 404, sent ? { sent: true } : { error: `actor ${parsed.body.id} is not running` });
        return;
      }
      case '/api/control/release': {
        const released = await ctx.controls.release(parsed.body.id, by);
        sendJson(res, released ? 200 : 409, released ? { released: true } : { error: `actor ${parsed.body.id} is not quarantined` });
        return;
      }
      default:
        sendJson(res, 404, { error: `no control ${path}; try /api/control/send or /api/control/release` });
    }
  } catch (err) {
    ctx.logger.warn({ err, path }, 'Inspector control refused');
    sendJson(res, 409, { error: err instanceof Error ? err.message : 'refused' });
  }
}

/** A snapshot of everything first, then each change as it happens. */
function streamTo(ctx: HandlerContext, req: IncomingMessage, res: ServerResponse): void {
  const stream = openEventStream(res, {
    heartbeatMs: ctx.heartbeatMs ?? 15_000,
    maxBufferedBytes: ctx.maxBufferedBytes ?? 8 * 1024 * 1024,
    onSlowClient: () => ctx.logger.warn({ remote: req.socket.remoteAddress }, 'Dropped an inspector page that was reading too slowly'),
  });
  ctx.streams.add(stream);
  // Subscribe before reading the snapshot: the source delivers asynchronously, so nothing falls between the two.
  const unsubscribe = ctx.source.subscribe((event) => {
    stream.send(lighten(event));
  });
  const features = { controls: Boolean(ctx.controls), kinds: Object.keys(ctx.machines ?? {}), batchMs: ctx.batchMs ?? 100, history: typeof ctx.source.history === 'function' };
  // The top of the tree first, so the page paints at once; the rest follows in the same tick (no
  // change can come between two parts: the source delivers changes from its own timer).
  // A source that can read the top of its tree on its own (the hub, cheaply) sends that at once and
  // the whole tree on the next turn, after the head has left (Node sends a response's writes after
  // the current tick): a page with 100,000 actors paints before the rest is even computed.
  const events = ctx.source.recentEvents();
  if (ctx.source.tree) {
    const head = ctx.source.tree(SNAPSHOT_HEAD);
    stream.send({ actors: head, total: null, events, features }, 'snapshot', { bulk: true });
    setImmediate(() => sendRest(stream, treeOf(ctx.source), head, true));
  } else {
    const all = treeOf(ctx.source);
    const head = all.slice(0, SNAPSHOT_HEAD);
    stream.send({ actors: head, total: all.length, events, features }, 'snapshot', { bulk: true });
    sendRest(stream, all, head, false);
  }
  res.once('close', () => {
    unsubscribe();
    stream.close();
    ctx.streams.delete(stream);
  });
}
