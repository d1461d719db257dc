/**
 * The composition root and the only place that instantiates anything:
 * config → logger, metrics, shutdown → database, redis → actor system →
 * price sources → HTTP (ops, inspector). Every resource registers its close
 * with the shutdown registry as it starts, so SIGTERM closes them in reverse.
 */
import type { InspectionEvent } from 'xstate';
import pkg from '../package.json' with { type: 'json' };
import { createInspectionHub } from './actors/inspection-hub.ts';
import { priceFeedSystemId } from './actors/kinds/price-feed.actor.ts';
import type { ActorRuntime } from './actors/runtime.ts';
import { createVantaSystem } from './actors/system.ts';
import { ConfigError, describeError } from './errors.ts';
import { systemClock } from './infra/clock.ts';
import { CONFIG_EXIT_CODE, loadConfig, type Config } from './infra/config.ts';
import { createDatabase } from './infra/db/database.ts';
import type { ReadinessCheck } from './infra/http/inspector-source.ts';
import { createInspectorServer } from './infra/http/inspector-server.ts';
import { createOpsServer } from './infra/http/ops-server.ts';
import { startStatelyRelay } from './infra/http/stately-relay.ts';
import { createLogger, type Logger } from './infra/logger.ts';
import { createMetrics, type Metrics } from './infra/metrics.ts';
import { startPriceSimulation, type SimulatedPair } from './infra/prices/simulated-prices.ts';
import { createRedis } from './infra/redis.ts';
import { createShutdown, installProcessHandlers, type Shutdown } from './infra/shutdown.ts';

/** Pairs the sandbox simulates, with their Avantis pair indexes and rough start prices. */
const SANDBOX_PAIRS: readonly (SimulatedPair & { pairIndex: number })[] = [
  { pair: 'ETH/USD', pairIndex: 0, start: 3150, volatility: 0.0008 },
  { pair: 'BTC/USD', pairIndex: 1, start: 97_000, volatility: 0.0006 },
  { pair: 'SOL/USD', pairIndex: 2, start: 180, volatility: 0.0012 },
];
const PRICE_HEARTBEAT_MS = 10_000;
/** Snapshot writes waiting beyond this make the instance unready: the database is not keeping up. */
const MAX_PENDING_WRITES = 50_000;

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`vanta: ${err.message}\n`);
    process.exit(CONFIG_EXIT_CODE);
  }
  const logger = createLogger({ level: config.logLevel });
  const metrics = createMetrics({ version: pkg.version, mode: config.mode });
  const shutdown = createShutdown({ logger, graceMs: config.shutdownGraceMs, onDuration: (s) => metrics.shutdownSeconds.set(s) });
  installProcessHandlers(shutdown, logger);
  logger.info(
    { mode: config.mode, reason: config.modeReason, database: config.database.kind === 'postgres' ? config.database.display : config.database.dir, version: pkg.version },
    `Starting Vanta in ${config.mode} mode`,
  );
  try {
    await start(config, logger, metrics, shutdown);
  } catch (err) {
    logger.fatal({ err }, `Failed to start: ${describeError(err).message}`);
    process.exit(await shutdown.run('start-up failed', 1));
  }
}

async function start(config: Config, logger: Logger, metrics: Metrics, shutdown: Shutdown): Promise<void> {
  const readiness: ReadinessCheck[] = [];
  const db = await createDatabase({ target: config.database, logger });
  shutdown.add('database', () => db.close());
  readiness.push({ name: 'db', required: true, check: () => db.ping() });

  if (config.redis) {
    const redis = await createRedis({ ...config.redis, logger });
    shutdown.add('redis', () => redis.close());
    readiness.push({ name: 'redis', required: true, check: () => redis.ping() });
  }

  // The hub describes actors through the runtime, which needs the hub's inspect at construction.
  const late: { runtime?: ActorRuntime } = {};
  const hub = createInspectionHub({ describe: (ref) => late.runtime?.describe(ref.id) });
  // Optional relay to Stately's inspector UI (never the cloud "sky" inspector); off unless STATELY_RELAY_PORT is set.
  const relay = config.inspector.statelyRelayPort !== null ? await startStatelyRelay({ port: config.inspector.statelyRelayPort, logger }) : null;
  if (relay) shutdown.add('stately relay', () => relay.stop());
  const inspect = config.inspector.enabled
    ? (event: InspectionEvent) => {
        hub.inspect(event);
        relay?.inspect(event);
      }
    : undefined;
  const system = createVantaSystem({
    db,
    logger,
    metrics,
    clock: systemClock,
    supervisor: config.supervisor,
    persistBatchMax: config.persistBatchMax,
    ...(inspect ? { inspect } : {}),
    onStatus: (id, status) => {
      if (status === 'done' || status === 'stopped') hub.remove(id);
      else if (status === 'running' || status === 'restarting' || status === 'quarantined') hub.setStatus(id, status);
    },
    onQuarantine: (info) => logger.error({ admin_alert: true, ...info }, 'Admin alert: an actor was quarantined'),
  });
  late.runtime = system;
  shutdown.add('actor system', () => system.stop());
  const report = await system.boot();
  for (const q of system.quarantined()) hub.setStatus(q.id, 'quarantined', { kind: q.kind, parent: q.parent });
  readiness.push({
    name: 'actors',
    required: true,
    check: async () => {
      if (system.pendingWrites > MAX_PENDING_WRITES) throw new Error(`${system.pendingWrites} snapshot writes are waiting; the database is not keeping up`);
      await Promise.resolve();
    },
  });

  if (config.mode === 'sandbox') startSandboxPrices(system, shutdown);

  const ops = await createOpsServer({ host: config.ops.host, port: config.ops.port, metrics, readiness, logger, version: pkg.version, mode: config.mode });
  shutdown.add('ops http', () => ops.close());
  if (config.inspector.enabled) {
    const inspector = await createInspectorServer({ host: config.inspector.host, port: config.inspector.port, token: config.inspector.token, source: hub.source, logger });
    shutdown.add('inspector http', () => inspector.close());
  }
  logger.info({ mode: config.mode, actors: report.restored, quarantined: system.quarantined().length, ops: ops.url }, 'Vanta is running');
}

/** Sandbox: one price-feed actor per simulated pair, fed by the seeded random walk. */
function startSandboxPrices(system: ActorRuntime, shutdown: Shutdown): void {
  for (const p of SANDBOX_PAIRS) {
    const id = priceFeedSystemId(p.pair);
    if (!system.get(id) && !system.quarantined().some((q) => q.id === id)) {
      system.spawn(id, { input: { pair: p.pair, pairIndex: p.pairIndex, heartbeatMs: PRICE_HEARTBEAT_MS } });
    }
  }
  const simulation = startPriceSimulation({
    pairs: SANDBOX_PAIRS,
    intervalMs: 1_000,
    seed: 42,
    clock: systemClock,
    onPrice: (o) => system.send(priceFeedSystemId(o.pair), { type: 'price.observed', price: o.price, publishTime: o.publishTime, source: 'simulator' }),
  });
  shutdown.add('price simulation', () => simulation.stop());
}

await main();
