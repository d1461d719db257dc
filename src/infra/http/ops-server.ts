/**
 * The ops endpoints a platform probes and scrapes: /healthz (liveness),
 * /readyz (dependencies) and /metrics (Prometheus).
 *
 * Built on node:http rather than a framework: three fixed GET routes need no
 * router, body parsing or middleware, and keeping this server free of
 * dependencies means a probe still answers when the rest of the app is in
 * trouble. The inspector has its own server on its own port, so exposing
 * /metrics to a scraper never exposes trading state.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.ts';
import type { ReadinessCheck } from './inspector-source.ts';
import { listen, type ListeningServer } from './listen.ts';
import { runReadiness, type ReadinessReport } from './readiness.ts';
import { BASE_HEADERS, pathOf, sendJson } from './respond.ts';

export interface OpsServerOptions {
  /** Bind address; 0.0.0.0 in a container so the platform can probe it. */
  readonly host: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
  readonly metrics: Metrics;
  readonly readiness: readonly ReadinessCheck[];
  readonly logger: Logger;
  readonly version: string;
  readonly mode: string;
  /** Upper bound for each readiness check (default 2000 ms): a probe must answer before the platform's own timeout. */
  readonly checkTimeoutMs?: number;
  /** Seconds the process has been up (default process.uptime). */
  readonly uptimeSeconds?: () => number;
}

export interface OpsServer {
  readonly url: string;
  close(): Promise<void>;
}

/** The only values the `route` label takes, so a scanner hitting random paths cannot grow the series count. */
const ROUTES = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * Starts the ops server and resolves once it listens.
 * @example
 * const ops = await createOpsServer({ host: '0.0.0.0', port: 8080, metrics, readiness: [dbCheck], logger, version, mode });
 * shutdown.add('ops http', () => ops.close());
 */
export async function createOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const logger = options.logger.child({ component: 'ops-http' });
  const handle = createHandler(options, logger);
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      logger.error({ err, path: pathOf(req.url) }, 'Ops request failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });
  const listening: ListeningServer = await listen(server, { host: options.host, port: options.port, settingName: 'OPS_HOST/OPS_PORT' });
  logger.info({ url: listening.url }, 'Ops server listening');
  return { url: listening.url, close: listening.close };
}

function createHandler(options: OpsServerOptions, logger: Logger): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const timeoutMs = options.checkTimeoutMs ?? 2_000;
  const uptime = options.uptimeSeconds ?? (() => process.uptime());
  let last: ReadinessState | null = null;

  return async (req, res) => {
    const path = pathOf(req.url);
    const route = ROUTES.has(path) ? path.slice(1) : 'other';
    res.once('finish', () => options.metrics.httpRequests.inc({ route, status: String(res.statusCode) }));

    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(res, 405, { error: `method ${req.method ?? '?'} not allowed; use GET` }, { allow: 'GET, HEAD' });
      return;
    }
    switch (path) {
      case '/healthz':
        sendJson(res, 200, { status: 'ok', uptime_s: Math.round(uptime()), mode: options.mode, version: options.version });
        return;
      case '/readyz': {
        const report = await runReadiness(options.readiness, timeoutMs);
        const state = readinessState(report, options.readiness);
        if (state !== last) logReadinessChange(logger, report, state, last, options.readiness);
        last = state;
        sendJson(res, report.status === 'ready' ? 200 : 503, report);
        return;
      }
      case '/metrics': {
        const body = await options.metrics.registry.metrics();
        res.writeHead(200, { ...BASE_HEADERS, 'content-type': options.metrics.registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : body);
        return;
      }
      default:
        sendJson(res, 404, { error: `no route ${path}; try /healthz, /readyz or /metrics` });
    }
  };
}

/** `starting`: unready only because a start-up check says the instance is still on its way up. */
type ReadinessState = ReadinessReport['status'] | 'starting';

function readinessState(report: ReadinessReport, checks: readonly ReadinessCheck[]): ReadinessState {
  if (report.status === 'ready') return 'ready';
  const failing = Object.entries(report.checks).filter(([, r]) => !r.ok && r.required);
  const startup = new Set(checks.filter((c) => c.startup).map((c) => c.name));
  // A dependency failing alongside start-up is still a start-up matter: boot fails loudly on its own if it must.
  return failing.some(([name]) => startup.has(name)) ? 'starting' : 'not_ready';
}

/**
 * Logged on change only: probes run every few seconds and would drown the log otherwise. Being
 * unready while starting (a platform probes from the first second) is information; becoming
 * unready once started is the warning an operator must see.
 */
function logReadinessChange(logger: Logger, report: ReadinessReport, state: ReadinessState, previous: ReadinessState | null, checks: readonly ReadinessCheck[]): void {
  const failing = Object.entries(report.checks)
    .filter(([, r]) => !r.ok)
    .map(([name, r]) => ({ name, required: r.required, error: r.error }));
  if (state === 'ready') logger.info({ previous, failing_optional: failing }, 'Became ready');
  else if (state === 'starting') {
    const step = failing.find((f) => checks.some((c) => c.startup && c.name === f.name))?.error ?? 'still starting';
    logger.info({ previous, failing }, `Not ready yet: ${step}`);
  } else logger.warn({ previous, failing }, 'Became not ready');
}
