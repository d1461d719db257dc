/**
 * The composition root and the only place that instantiates anything:
 * config → logger, metrics, shutdown → database, redis → the engine lease →
 * chain, trading → actor system → price sources → HTTP (ops, inspector).
 * Every resource registers its close with the shutdown registry as it starts,
 * so SIGTERM closes them in reverse.
 *
 * One owner at a time (ADR 0010): on PostgreSQL nothing past the lease starts
 * until this engine holds it; meanwhile it is a standby (logged, and in /readyz).
 * An engine that loses its lease stops every actor at once and exits with
 * LEASE_LOST_EXIT_CODE; restarted, it comes back as a standby.
 */
import type { InspectionEvent } from 'xstate';
import pkg from '../package.json' with { type: 'json' };
import { createInspectionHub, type InspectionHub } from './actors/inspection-hub.ts';
import { createTransitionJournal } from './actors/transition-journal.ts';
import { SUPERVISOR_SYSTEM_ID } from './machines/supervisor.machine.ts';
import { priceFeedSystemId } from './actors/kinds/price-feed.actor.ts';
import type { ActorRuntime } from './actors/runtime.ts';
import { createVantaSystem } from './actors/system.ts';
import { BadInputError, ConfigError, describeError, type FencedError } from './errors.ts';
import { systemClock } from './infra/clock.ts';
import { CONFIG_EXIT_CODE, loadConfig, type Config } from './infra/config.ts';
import { createDatabase } from './infra/db/database.ts';
import { OWNED_OUTRIGHT, type Fence } from './infra/db/fence.ts';
import { EngineLease } from './infra/db/lease.ts';
import { fencedChainClient } from './infra/chain/fenced-client.ts';
import type { ReadinessCheck } from './infra/http/inspector-source.ts';
import { createInspectorServer } from './infra/http/inspector-server.ts';
import { createInspectorControls } from './actors/inspector-controls.ts';
import { createOpsServer } from './infra/http/ops-server.ts';
import { startStatelyRelay } from './infra/http/stately-relay.ts';
import { chooseConsole, createLogger, type Logger } from './infra/logger.ts';
import { createMetrics, type Metrics } from './infra/metrics.ts';
import { createRedis } from './infra/redis.ts';
import { parseGwei, type Address, type PublicClient } from 'viem';
import { createChainClients } from './infra/chain/rpc.ts';
import { createOutbox } from './infra/chain/tx/outbox.ts';
import { createTxMetrics } from './infra/chain/tx/metrics.ts';
import { TxPipeline } from './infra/chain/tx/pipeline.ts';
import { BASE_MAINNET, resolveAvantisAddresses, type AvantisAddresses } from './infra/chain/avantis/addresses.ts';
import { verifyDeployment } from './infra/chain/avantis/verify.ts';
import { detectProtocolVersion, refusalOf } from './infra/chain/avantis/detect.ts';
import { findRevert, rejectionFor } from './infra/chain/avantis/revert.ts';
import { avantisAddressesOf } from './infra/devnet/deploy.ts';
import { createSandboxLedger } from './infra/devnet/ledger.ts';
import { startDevnet } from './infra/devnet/start-devnet.ts';
import { createKeyStoreFromConfig } from './infra/keys/from-config.ts';
import { createWallets } from './infra/keys/wallets.ts';
import { createChainlinkReader, discoverChainlinkFeeds, startChainlinkPoller, type ChainlinkFeed } from './infra/prices/chainlink.ts';
import { createAvantisProtocol, type AvantisProtocol } from './infra/chain/avantis/protocol.ts';
import { price as price1e10, usdc as usdcUnits } from './infra/chain/avantis/units.ts';
import { ensureUsdcAllowance } from './infra/chain/tx/allowance.ts';
import { startV2Orders } from './actors/v2-orders.ts';
import { prepareV2Devnet, startSandboxV2Services } from './sandbox/avantis-v2/devnet-services.ts';
import { createChainOrderGateway, refusingWrites, type OrderGateway } from './actors/order-gateway.ts';
import { createChainWithdrawalGateway, type WithdrawalGateway } from './actors/withdrawal-gateway.ts';
import type { Wallets } from './infra/keys/wallets.ts';
import type { Database } from './infra/db/database.ts';
import { Secret } from './infra/secret.ts';
import type { RiskLimits } from './machines/risk.ts';
import { createShutdown, installProcessHandlers, type Shutdown } from './infra/shutdown.ts';
import type { AdminDesk, DelegationDesk, NoticeSink, TradingDesk } from './actors/desk.ts';
import { createDelegateConnectSessions } from './actors/delegate-connect.ts';
import { createV2DelegationDesk, type RunningDelegationDesk } from './actors/delegation-desk.ts';
import { createConnectServer, type ConnectServer } from './infra/http/connect-server.ts';
import { Registry } from 'prom-client';
import { createAdminDesk } from './actors/admin-desk.ts';
import { readTradingControls } from './actors/kinds/controls.actor.ts';
import { createTradingDesk } from './actors/trading-desk.ts';
import { createVantaBot } from './bot/bot.ts';
import { startBotWhenReachable, type Transport } from './bot/transport.ts';
import type { RedisHandle } from './infra/redis.ts';
import { createKeyRotationMetrics } from './infra/keys/rotation-metrics.ts';
import { startBotApiDouble } from './sandbox/telegram/bot-api-double.ts';

const PRICE_HEARTBEAT_MS = 10_000;
/** Exit code after losing the lease (sysexits EX_TEMPFAIL): restart me; I will wait as a standby. */
const LEASE_LOST_EXIT_CODE = 75;
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
  const logger = createLogger({ level: config.logLevel, ...chooseConsole({ setting: config.logFormat, isTTY: process.stdout.isTTY === true, colorAllowed: config.logColor }) });
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
    // A standby stopped by SIGTERM while it waited: the signal handler is already shutting down.
    if (shutdown.isShuttingDown) return;
    logger.fatal({ err }, `Failed to start: ${describeError(err).message}`);
    process.exit(await shutdown.run('start-up failed', 1));
  }
}

async function start(config: Config, logger: Logger, metrics: Metrics, shutdown: Shutdown): Promise<void> {
  // Health answers from the first moment; readiness stays false until everything below is up.
  const readiness: ReadinessCheck[] = [];
  const booted = { done: false, phase: 'still starting' };
  readiness.push({
    name: 'boot',
    required: true,
    startup: true,
    check: () => (booted.done ? Promise.resolve() : Promise.reject(new Error(booted.phase))),
  });
  const ops = await createOpsServer({ host: config.ops.host, port: config.ops.port, metrics, readiness, logger, version: pkg.version, mode: config.mode });
  shutdown.add('ops http', () => ops.close());

  const { db, redis } = await startStorage(config, logger, shutdown, readiness);
  // Before anything is restored or resumed (the sandbox's chain, the outbox, the actors).
  booted.phase = 'waiting for the engine lease';
  const ownership = await takeOwnership(config, db, logger, shutdown, readiness);
  booted.phase = 'still starting';
  // The chain side comes before the actors: restored positions resume their on-chain steps at boot.
  const chain = await startChain(config, db, logger, shutdown, readiness);
  const trading = await startTrading(config, chain, db, ownership.fence, logger, metrics, shutdown, readiness);
  // Notices wait (durably, in the traders' actors) until the Telegram front end is up.
  const notices = lateNoticeSink();
  const { system, hub } = await startActors(config, db, ownership, trading, notices.sink, logger, metrics, shutdown, readiness);
  startPriceFeeds(system, chain.client, trading.feeds, logger, shutdown);
  const desks = await startDesks(config, chain, trading, system, db, ownership.fence, logger, metrics, shutdown);
  const chat = await startTelegram(config, desks, redis, logger, shutdown, readiness);
  notices.attach(chat.notices);

  if (config.inspector.enabled) {
    // Read-only unless the operator opted in; every control is audited (src/actors/inspector-controls.ts).
    const controls = config.inspector.controls ? createInspectorControls(system, db) : undefined;
    if (controls) logger.warn({ inspector_controls: true }, 'Inspector controls are on: anyone holding the inspector token can send events to actors and release quarantined ones (audited)');
    const inspector = await createInspectorServer({
      host: config.inspector.host,
      port: config.inspector.port,
      token: config.inspector.token,
      source: hub.source,
      logger,
      machines: system.machines(),
      ...(controls ? { controls } : {}),
    });
    shutdown.add('inspector http', () => inspector.close());
  }
  booted.done = true;
  logger.info({ mode: config.mode, actors: system.ids().length, quarantined: system.quarantined().length, ops: ops.url }, 'Vanta is running');
  if (desks.connectUrl && config.mode === 'sandbox') logger.info({ connect: desks.connectUrl }, `Delegate connect page (own wallets, Avantis v2): ${desks.connectUrl}/connect/<token>; /connect 0xYourAddress in the chat gives a link`);
  // The newcomer's first contact: the last line, plainly.
  if (chat.chatUrl) logger.info({ chat: chat.chatUrl }, `Sandbox chat: open ${chat.chatUrl} in your browser and send /start`);
}

interface Desks {
  readonly trading: TradingDesk;
  readonly admin: AdminDesk;
  /** Avantis v2's trading keys (/connect, /disconnect); null on v1, in paper mode and on a refused deployment. */
  readonly delegation: DelegationDesk | null;
  /** Where the delegate connect page listens (v2 only). */
  readonly connectUrl: string | null;
  /** Set by the Telegram front end: tells a trader the outcome of their connect page. */
  tell: ((telegramId: number, text: string) => Promise<void>) | null;
}

/** The trader's and the operator's ports (src/actors/desk.ts) over the running engine. */
async function startDesks(config: Config, chain: ChainHandle, trading: Trading, system: ActorRuntime, db: Database, fence: Fence, logger: Logger, metrics: Metrics, shutdown: Shutdown): Promise<Desks> {
  const desk = createTradingDesk({
    mode: config.mode,
    runtime: system,
    db,
    wallets: trading.wallets,
    client: chain.client,
    chainId: chain.chainId,
    protocol: trading.protocol,
    limits: riskLimitsOf(config),
    refusal: chain.refusal,
    ...(chain.faucet ? { faucet: chain.faucet } : {}),
    tradingControls: () => readTradingControls(system),
    clock: systemClock,
    logger: logger.child({ component: 'desk' }),
    withdrawAddressDelayMs: config.withdrawals.addressDelayHours * 3_600_000,
  });
  const admin = createAdminDesk({
    runtime: system,
    db,
    logger,
    clock: systemClock,
    // A rotation opens its own keystore (with VAULT_OPERATOR_TOKEN against Vault).
    rotationKeystore: () => createKeyStoreFromConfig(config, logger, db, 'rotation'),
    rotationMetrics: createKeyRotationMetrics(metrics.registry),
  });
  shutdown.add('admin desk', () => admin.close());
  const desks: Desks = { trading: desk, admin, delegation: null, connectUrl: null, tell: null };
  if (chain.protocolVersion !== 'v2' || !chain.v2Services || !chain.tradable || chain.refusal !== null) return desks;
  return startDelegation(config, chain, chain.v2Services, trading, db, fence, logger, shutdown, desks);
}

/**
 * Avantis v2: the trader's trading key (delegate) behind /connect and /disconnect, and the connect
 * page where a trader's own wallet signs its registration (ADR 0018; loopback unless
 * CONNECT_PUBLIC_URL names the HTTPS address a proxy serves it under). Its revocations go through
 * the transaction outbox like every transaction of a trader's wallet (their own pipeline instance:
 * nonces are reserved in the outbox, so two instances never share one).
 */
async function startDelegation(
  config: Config,
  chain: ChainHandle,
  services: NonNullable<ChainHandle['v2Services']>,
  trading: Trading,
  db: Database,
  fence: Fence,
  logger: Logger,
  shutdown: Shutdown,
  desks: Desks,
): Promise<Desks> {
  const log = logger.child({ component: 'delegation' });
  const late: { server: ConnectServer | null; desk: RunningDelegationDesk | null } = { server: null, desk: null };
  const sessions = createDelegateConnectSessions({
    onComplete: (outcome, session) => {
      const telegramId = late.desk?.telegramIdOfDelegate(session.message.delegate) ?? null;
      if (telegramId === null || !desks.tell) return;
      const text =
        outcome.status === 'registered'
          ? `✅ Your wallet ${session.trader} registered Vanta's trading key. ${outcome.detail ?? ''} Send /connect to see it.`.replace(/\s+/g, ' ').trim()
          : `⚠️ Registering Vanta's trading key for ${session.trader} failed: ${outcome.reason} Send /connect ${session.trader} for a new link.`;
      desks.tell(telegramId, text).catch((err: unknown) => log.warn({ err }, 'Could not tell a trader how their connect page ended'));
    },
  });
  const delegation = createV2DelegationDesk({
    ...services,
    chainId: chain.chainId,
    db,
    fence,
    wallets: trading.wallets,
    pipeline: {
      client: fencedChainClient(chain.client, fence),
      fees: { maxFeePerGas: parseGwei(String(config.tx.maxFeeGwei)), minPriorityFeePerGas: 1n },
      clock: systemClock,
      logger: logger.child({ component: 'tx' }),
      // Its own registry: the engine's pipeline registered the tx metrics' names already.
      metrics: createTxMetrics(new Registry()),
      speedUpAfterMs: config.tx.speedUpAfterMs,
      receiptTimeoutMs: config.tx.receiptTimeoutMs,
      rpcs: chain.rpcs,
      supersedeAfterMs: config.tx.supersedeAfterMs,
      ...(chain.chainDurable ? { chainDurable: chain.chainDurable } : {}),
    },
    connect: { sessions, linkFor: (token) => late.server!.linkFor(token) },
    metaRefreshMs: config.avantisV2.metaRefreshMs,
    logger,
  });
  late.desk = delegation;
  const server = await createConnectServer({
    host: config.connect.host,
    port: config.connect.port,
    ...(config.connect.publicUrl ? { publicUrl: config.connect.publicUrl } : {}),
    sessions,
    submit: (signed) => delegation.submitOwnWallet(signed),
    logger,
  });
  late.server = server;
  shutdown.add('connect http', () => server.close());
  return Object.assign(desks, { delegation, connectUrl: config.connect.publicUrl ?? server.url });
}

/**
 * The Telegram front end. With a token it serves that bot (on Telegram, or on TELEGRAM_API_ROOT);
 * in a sandbox without one it serves the built-in Bot API double and its chat page, so a newcomer
 * can talk to the bot in a browser with no account anywhere.
 */
async function startTelegram(
  config: Config,
  desks: Desks,
  redis: RedisHandle | null,
  logger: Logger,
  shutdown: Shutdown,
  readiness: ReadinessCheck[],
): Promise<{ notices: NoticeSink; chatUrl: string | null }> {
  let token = config.telegram.token?.reveal() ?? null;
  let apiRoot = config.telegram.apiRoot;
  let chatUrl: string | null = null;
  if (token === null) {
    if (config.mode !== 'sandbox') throw new ConfigError('CONFIG_INVALID', ['TELEGRAM_BOT_TOKEN: this mode serves real Telegram; set the token BotFather gave you']);
    const dataDir = config.dataDir.replace(/\/$/, '');
    const double = await startBotApiDouble({
      host: config.sandboxChat.host,
      port: config.sandboxChat.port,
      logger: logger.child({ component: 'sandbox-chat' }),
      statePath: `${dataDir}/sandbox-chat.json`,
    });
    shutdown.add('sandbox chat', () => double.close());
    token = double.token;
    apiRoot = double.apiRoot;
    chatUrl = double.chatUrl;
  }
  const botLogger = logger.child({ component: 'bot' });
  const vanta = createVantaBot({
    token,
    apiRoot,
    desk: desks.trading,
    admin: desks.admin,
    delegation: desks.delegation,
    adminIds: config.telegram.adminIds,
    mode: config.mode,
    logger: botLogger,
    redis: redis?.client ?? null,
  });
  desks.tell = async (telegramId, text) => void (await vanta.bot.api.sendMessage(telegramId, text));
  const transport: Transport =
    config.telegram.transport.kind === 'webhook'
      ? { kind: 'webhook', url: config.telegram.transport.url, secret: config.telegram.transport.secret.reveal(), host: config.telegram.transport.host, port: config.telegram.transport.port }
      : { kind: 'polling' };
  // In the sandbox the double is local: wait for the bot, so the chat works when the URL is printed.
  const running = startBotWhenReachable(vanta, transport, botLogger);
  if (chatUrl) await running.started;
  shutdown.add('telegram bot', () => running.stop());
  readiness.push({ name: 'telegram', required: false, check: async () => void (await vanta.bot.api.getMe()) });
  return { notices: vanta.notices, chatUrl };
}

/**
 * The actors exist before the bot (the bot needs the desks, the desks need the actors), and
 * restored traders may have notices to deliver at once: until the bot is attached, delivery is
 * refused and the notice courier tries again later. Nothing is lost meanwhile.
 */
function lateNoticeSink(): { sink: NoticeSink; attach(sink: NoticeSink): void } {
  let target: NoticeSink | null = null;
  return {
    sink: (notice) => (target ? target(notice) : Promise.reject(new Error('the Telegram front end is not started yet'))),
    attach: (sink) => {
      target = sink;
    },
  };
}

async function startStorage(config: Config, logger: Logger, shutdown: Shutdown, readiness: ReadinessCheck[]): Promise<{ db: Database; redis: RedisHandle | null }> {
  const db = await createDatabase({ target: config.database, logger });
  shutdown.add('database', () => db.close());
  readiness.push({ name: 'db', required: true, check: () => db.ping() });
  if (!config.redis) return { db, redis: null };
  const redis = await createRedis({ ...config.redis, logger });
  shutdown.add('redis', () => redis.close());
  readiness.push({ name: 'redis', required: true, check: () => redis.ping() });
  return { db, redis };
}

interface Ownership {
  /** What every owner-only write and broadcast carries. */
  readonly fence: Fence;
  /** Called when the lease is found lost, by the lease itself or by a refused write. */
  readonly lost: (error: FencedError) => void;
  /** Set once the actor system exists, so a lost lease halts it first. */
  halt: ((error: FencedError) => void) | null;
}

/**
 * PostgreSQL: wait as a standby until this engine holds the engine lease. The embedded database
 * is owned outright (its DATA_DIR lock was taken when it opened).
 */
async function takeOwnership(config: Config, db: Database, logger: Logger, shutdown: Shutdown, readiness: ReadinessCheck[]): Promise<Ownership> {
  let handled = false;
  const ownership: Ownership = {
    fence: OWNED_OUTRIGHT,
    halt: null,
    lost: (error) => {
      if (handled) return;
      handled = true;
      ownership.halt?.(error);
      logger.fatal(
        { err: error, code: error.code, exit_code: LEASE_LOST_EXIT_CODE },
        'This engine lost its lease to another engine: every actor stopped without writing and nothing more is sent. Exiting; restarted, it waits as a standby.',
      );
      void shutdown.run('lease lost', LEASE_LOST_EXIT_CODE).then((code) => process.exit(code));
    },
  };
  if (config.database.kind !== 'postgres') return ownership;
  const lease = new EngineLease({ url: config.database.url, db, logger, ...config.lease });
  readiness.push({ name: 'lease', required: true, check: () => lease.check() });
  // Registered after the database, so it closes before it: once everything else has stopped,
  // the lease is handed over at once instead of expiring.
  shutdown.add('engine lease', () => lease.release());
  lease.onLost(ownership.lost);
  const fence = await lease.acquire({ signal: shutdown.signal });
  return Object.assign(ownership, { fence });
}

interface Trading {
  readonly orders: OrderGateway | null;
  /** USDC withdrawals' transfers; null where nothing is sent (paper, an unverified deployment). */
  readonly withdrawals: WithdrawalGateway | null;
  readonly feeds: (ChainlinkFeed & { pairIndex: number })[];
  readonly wallets: Wallets;
  readonly protocol: AvantisProtocol;
}

/** Keys, the protocol, the pairs' price feeds and, where this mode trades, the order gateway. */
async function startTrading(
  config: Config,
  chain: ChainHandle,
  db: Database,
  fence: Fence,
  logger: Logger,
  metrics: Metrics,
  shutdown: Shutdown,
  readiness: ReadinessCheck[],
): Promise<Trading> {
  const keystore = await createKeyStoreFromConfig(config, logger, db);
  shutdown.add('keystore', () => keystore.close());
  readiness.push({
    name: 'keystore',
    required: config.mode === 'live',
    check: async () => {
      const health = await keystore.health();
      if (!health.ok) throw new Error(health.detail);
    },
  });
  const wallets = createWallets({ db, keystore, logger });
  const protocol = createAvantisProtocol({ version: 'v1', addresses: chain.addresses, chainId: chain.chainId }, { client: chain.client });
  // Each pair's Chainlink-style feed, as the protocol itself lists it (PairStorage): devnet and Base alike.
  const feeds = await discoverChainlinkFeeds(protocol.reads);
  const sending = chain.tradable ? await createOrders(config, chain, protocol, feeds, wallets, db, fence, logger, metrics) : null;
  if (sending?.stop) shutdown.add('avantis v2', () => sending.stop?.());
  if (sending?.ready) readiness.push({ name: 'avantis-v2', required: config.mode === 'live', check: () => sending.ready!() });
  return { orders: sending?.orders ?? null, withdrawals: sending?.withdrawals ?? null, feeds, wallets, protocol };
}

/** The supervised actor system, restored from the database, with the inspector hub attached. */
async function startActors(
  config: Config,
  db: Database,
  ownership: Ownership,
  trading: Pick<Trading, 'orders' | 'withdrawals'>,
  notices: NoticeSink,
  logger: Logger,
  metrics: Metrics,
  shutdown: Shutdown,
  readiness: ReadinessCheck[],
): Promise<{ system: ActorRuntime; hub: InspectionHub }> {
  // The hub describes actors through the runtime, which needs the hub's inspect at construction.
  const late: { runtime?: ActorRuntime } = {};
  // The transition journal (ADR 0013) is fed by the hub's onStep rather than by a second inspect
  // observer: the hub already finds each actor in its WeakMap and decides what is a step (state
  // value or context changed), so the journal costs one queue push per step and no second lookup
  // per event, and it journals exactly the steps the live history shows. It serves only the
  // inspector, so it runs only when the inspector does. Only persisted actors are journalled:
  // every actor the runtime describes except the supervisor root.
  const booting = { now: true };
  const journal = config.inspector.enabled ? createTransitionJournal({ db, logger: logger.child({ component: 'transition-journal' }) }) : null;
  // Closed after the actor system has stopped (closes run in reverse order): its last steps are queued by then.
  if (journal) shutdown.add('transition journal', () => journal.close());
  const hub = createInspectionHub({
    describe: (ref) => late.runtime?.describe(ref.id),
    ...(journal
      ? {
          journal,
          onStep: (step) => {
            if (step.id === SUPERVISOR_SYSTEM_ID) return;
            // A restored actor's first step is the state it was journalled in last: 100,000 of them at
            // boot would only repeat rows (and overflow the journal's queue). A new actor's first step,
            // or a supervised restart's after boot, is journalled.
            if (booting.now && step.event === 'xstate.init') return;
            journal.append({ actor: step.id, at: step.at, event: step.event, state: step.state, context: step.context });
          },
          onJournalError: (err) => logger.warn({ err }, 'Reading the transition journal failed; showing this run’s steps only'),
        }
      : {}),
  });
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
    fence: ownership.fence,
    onFenced: ownership.lost,
    logger,
    metrics,
    clock: systemClock,
    supervisor: config.supervisor,
    persistBatchMax: config.persistBatchMax,
    orders: trading.orders,
    withdrawals: trading.withdrawals,
    requireWithdrawAllowlist: config.mode === 'live',
    notices,
    limits: riskLimitsOf(config),
    ...(inspect ? { inspect } : {}),
    onStatus: (id, status) => {
      if (status === 'done' || status === 'stopped') hub.remove(id);
      else if (status === 'running' || status === 'restarting' || status === 'quarantined') hub.setStatus(id, status);
    },
    onQuarantine: (info) => logger.error({ admin_alert: true, ...info }, 'Admin alert: an actor was quarantined'),
  });
  late.runtime = system;
  ownership.halt = (error) => system.halt(error);
  shutdown.add('actor system', () => system.stop());
  await system.boot();
  booting.now = false;
  for (const q of system.quarantined()) hub.setStatus(q.id, 'quarantined', { kind: q.kind, parent: q.parent });
  readiness.push({
    name: 'actors',
    required: true,
    check: () => {
      if (system.fenced) return Promise.reject(new Error(`stopped: ${system.fenced.message}`));
      return system.pendingWrites > MAX_PENDING_WRITES
        ? Promise.reject(new Error(`${system.pendingWrites} snapshot writes are waiting; the database is not keeping up`))
        : Promise.resolve();
    },
  });
  return { system, hub };
}

interface ChainHandle {
  readonly client: PublicClient;
  /** One client per configured RPC URL, for verdicts every RPC must agree on. */
  readonly rpcs: readonly PublicClient[];
  readonly chainId: number;
  readonly addresses: AvantisAddresses;
  /** False in paper mode: prices are read, nothing is ever sent. */
  readonly tradable: boolean;
  /** Which Avantis answers on this chain, read from its code (v1 calls never go to v2, nor the reverse). */
  readonly protocolVersion: 'v1' | 'v2';
  /** Where its v2 services are: the configured hosts, or the sandbox's doubles. */
  readonly v2Services?: { readonly txBuilderUrl: string; readonly gatewayUrl: string };
  /**
   * Why orders are refused although the mode trades: the deployment is not one this build's
   * adapter is verified against (Avantis v2 on today's mainnet). Null when trading is allowed.
   */
  readonly refusal: string | null;
  /** Sandbox only: funds a new wallet with test ETH and USDC. */
  readonly faucet?: (address: Address) => Promise<void>;
  /** Sandbox only: resolves once the saved local chain holds `block` (record chain facts only after it). */
  readonly chainDurable?: (block: bigint) => Promise<void>;
}

/**
 * Sandbox: a local devnet (anvil + the Avantis simulator + keeper + price simulator), kept in
 * DATA_DIR across restarts. Paper and live: the configured Base RPC URLs and Avantis's mainnet
 * wiring as TradingStorage reports it; live first checks the chain id and that every contract has
 * code, and refuses to start otherwise.
 */
async function startChain(config: Config, db: Database, logger: Logger, shutdown: Shutdown, readiness: ReadinessCheck[]): Promise<ChainHandle> {
  if (config.mode === 'sandbox') {
    const dataDir = config.dataDir.replace(/\/$/, '');
    const stateDir = `${dataDir}/devnet`;
    // The chain is checked against what the database remembers; a mismatch names this fix.
    const resetHint =
      config.database.kind === 'pglite'
        ? `stop the engine and delete ${dataDir} (the embedded database and the chain go together; this deletes the sandbox's wallets, orders and positions)`
        : `stop the engine, delete ${stateDir} and point DATABASE_URL at an empty database (this deletes the sandbox's wallets, orders and positions)`;
    const v2Log = logger.child({ component: 'avantis-v2-sandbox' });
    // SANDBOX_PROTOCOL=v2: the devnet runs the v2 entry points and the v2 services are doubles over it.
    let v2Parts: Parameters<typeof startSandboxV2Services>[0] | null = null;
    const devnet = await startDevnet({
      logger: logger.child({ component: 'devnet' }),
      stateDir,
      ledger: createSandboxLedger(db),
      resetHint,
      ...(config.avantisV2.sandboxProtocol === 'v2'
        ? {
            beforeLoops: async (parts: NonNullable<typeof v2Parts>) => {
              await prepareV2Devnet(parts, v2Log);
              v2Parts = parts;
            },
          }
        : {}),
    });
    // Its stop includes a last save of the chain, which grows with the chain's history.
    shutdown.add('devnet', () => devnet.stop(), { timeoutMs: Math.max(2_500, Math.floor(config.shutdownGraceMs / 2)) });
    const { client, perUrl } = createChainClients({ urls: [new Secret(devnet.anvil.rpcUrl)], pollingIntervalMs: 250 });
    readiness.push(rpcCheck(client, devnet.anvil.chainId, true));
    const v2 = v2Parts ? await startSandboxV2Services(v2Parts, v2Log) : null;
    if (v2) shutdown.add('avantis v2 doubles', () => v2.close());
    return {
      client,
      rpcs: perUrl,
      chainId: devnet.anvil.chainId,
      addresses: avantisAddressesOf(devnet.deployment),
      tradable: true,
      protocolVersion: v2 ? 'v2' : 'v1',
      ...(v2 ? { v2Services: { txBuilderUrl: v2.txBuilderUrl, gatewayUrl: v2.gatewayUrl } } : {}),
      refusal: null,
      faucet: (address) => devnet.faucet(address),
      chainDurable: (block) => devnet.durableThrough(block),
    };
  }
  const { client, perUrl } = createChainClients({ urls: config.chain.rpcUrls });
  readiness.push(rpcCheck(client, config.chain.chainId, true));
  // The chain id and the entry contract first, so a wrong network fails with the clearest message;
  // then the whole wiring as TradingStorage reports it.
  await verifyDeployment(client, { tradingStorage: BASE_MAINNET.tradingStorage }, config.chain.chainId);
  const addresses = await resolveAvantisAddresses(client, { tradingStorage: BASE_MAINNET.tradingStorage, multicall: BASE_MAINNET.multicall });
  const report = await verifyDeployment(client, addresses, config.chain.chainId);
  logger.info({ chain_id: report.chainId }, 'Verified the Avantis deployment on chain');
  // Which generation of Avantis answers there, from its own code: v1 calls must never go to v2.
  const verdict = await detectProtocolVersion(client, addresses.trading);
  // v1 and v2 each have their adapter; a deployment that is neither is refused.
  const refusal = verdict.version === 'v1' || verdict.version === 'v2' ? null : refusalOf(verdict, addresses.trading);
  if (refusal && config.mode === 'live') {
    logger.error({ admin_alert: true, deployed: verdict.version, code_at: verdict.codeAt, evidence: verdict.evidence }, `Live trading refused: ${refusal}`);
    readiness.push({ name: 'protocol', required: true, check: () => Promise.reject(new Error(refusal)) });
  } else {
    logger.info({ deployed: verdict.version, evidence: verdict.evidence }, 'Avantis deployment version read from its code');
  }
  const protocolVersion = verdict.version === 'v2' ? 'v2' : 'v1';
  return {
    client,
    rpcs: perUrl,
    chainId: config.chain.chainId,
    addresses,
    tradable: config.mode === 'live',
    protocolVersion,
    ...(protocolVersion === 'v2' ? { v2Services: { txBuilderUrl: config.avantisV2.txBuilderUrl, gatewayUrl: config.avantisV2.gatewayUrl } } : {}),
    refusal,
  };
}

/** The transaction pipeline (resuming what was signed before a stop), the positions' gateway to Avantis and the withdrawals' transfers. */
async function createOrders(
  config: Config,
  chain: ChainHandle,
  protocol: AvantisProtocol,
  feeds: readonly (ChainlinkFeed & { pairIndex: number })[],
  wallets: Wallets,
  db: Database,
  fence: Fence,
  logger: Logger,
  metrics: Metrics,
): Promise<{ orders: OrderGateway; withdrawals: WithdrawalGateway | null; stop?: () => void; ready?: () => Promise<void> }> {
  // Every broadcast of this engine first checks its lease in the database (ADR 0010).
  const client = fencedChainClient(chain.client, fence);
  const pipeline = new TxPipeline({
    client,
    chainId: chain.chainId,
    // Every outbox step is fenced by the lease too: a stale owner changes no row (ADR 0008, 0010).
    outbox: createOutbox(db, fence),
    signer: wallets,
    fees: { maxFeePerGas: parseGwei(String(config.tx.maxFeeGwei)), minPriorityFeePerGas: 1n },
    clock: systemClock,
    logger: logger.child({ component: 'tx' }),
    metrics: createTxMetrics(metrics.registry),
    speedUpAfterMs: config.tx.speedUpAfterMs,
    receiptTimeoutMs: config.tx.receiptTimeoutMs,
    rpcs: chain.rpcs,
    supersedeAfterMs: config.tx.supersedeAfterMs,
    ...(chain.chainDurable ? { chainDurable: chain.chainDurable } : {}),
    explainRevert: (error, reason) => rejectionFor(findRevert(error) ?? { kind: 'string', reason }, {}, error),
  });
  // Transactions signed before a stop or crash are re-sent as they were, never signed anew; on a
  // deployment this build cannot verify, nothing is sent at all (a v1 call to v2 only burns gas).
  if (chain.refusal === null) await pipeline.recover();
  const feedOf = new Map(feeds.map((f) => [f.pairIndex, f]));
  const readPrice = createChainlinkReader(chain.client, systemClock);
  const gatewayPrice = async (pairIndex: number): Promise<bigint> => {
    const feed = feedOf.get(pairIndex);
    if (!feed) throw new BadInputError(`No price feed is known for pair ${pairIndex}; it cannot be traded.`);
    return price1e10((await readPrice(feed)).price);
  };
  const gateway = createChainOrderGateway({
    protocol,
    pipeline,
    client,
    wallets,
    limits: riskLimitsOf(config),
    clock: systemClock,
    logger: logger.child({ component: 'orders' }),
    ...(chain.faucet ? { faucet: chain.faucet } : {}),
    // The sandbox: a fill or a close is acted on only once the saved chain holds it (ADR 0011).
    ...(chain.chainDurable ? { durable: chain.chainDurable } : {}),
    priceOf: gatewayPrice,
  });
  if (chain.refusal !== null) return { orders: refusingWrites(gateway, chain.refusal), withdrawals: null };
  const withdrawals = createChainWithdrawalGateway({ pipeline, wallets, usdc: chain.addresses.usdc, logger: logger.child({ component: 'withdrawals' }) });
  if (chain.protocolVersion === 'v1' || !chain.v2Services) return { orders: gateway, withdrawals };
  // Avantis v2: orders are signed intents through its services (the v1 gateway above only watches
  // trades the chain closes by itself, and sends the trader's USDC approval).
  const v2 = await startV2Orders({
    ...chain.v2Services,
    chainId: chain.chainId,
    tradingStorage: chain.addresses.tradingStorage,
    db,
    fence,
    wallets,
    priceOf: gatewayPrice,
    blockNumber: () => chain.client.getBlockNumber(),
    limits: riskLimitsOf(config),
    chainFollower: gateway,
    prepareOpen: async (order, trader) => {
      if (chain.faucet && (await chain.client.getBalance({ address: trader })) === 0n) await chain.faucet(trader);
      await ensureUsdcAllowance({ client, pipeline }, { orderId: `position:${order.positionId}`, userId: order.owner, owner: trader, usdc: chain.addresses.usdc, spender: chain.addresses.tradingStorage, amount: usdcUnits(order.collateral) });
    },
    metaRefreshMs: config.avantisV2.metaRefreshMs,
    logger,
  });
  logger.info({ route: config.avantisV2.route, tx_builder: chain.v2Services.txBuilderUrl }, 'Orders go through Avantis v2 (signed intents, delegate keys)');
  return { orders: v2.orders, withdrawals, stop: () => v2.stop(), ready: () => v2.ready() };
}

/** The configured risk limits in the shape the pure check takes (exact decimals, no floats). */
function riskLimitsOf(config: Config): RiskLimits {
  return {
    maxLeverage: config.risk.maxLeverage,
    maxCollateralUsdc: String(config.risk.maxCollateralUsdc),
    maxNotionalUsdc: String(config.risk.maxPositionUsdc),
    maxOpenPositions: config.risk.maxOpenPositions,
  };
}

function rpcCheck(client: PublicClient, chainId: number, required: boolean): ReadinessCheck {
  return {
    name: 'rpc',
    required,
    check: async () => {
      const answered = await client.getChainId();
      if (answered !== chainId) throw new Error(`RPC serves chain ${answered}, expected ${chainId}`);
    },
  };
}

/** One price-feed actor per pair, fed by its Chainlink-style aggregator. */
function startPriceFeeds(system: ActorRuntime, client: PublicClient, feeds: readonly (ChainlinkFeed & { pairIndex: number })[], logger: Logger, shutdown: Shutdown): void {
  for (const feed of feeds) {
    const id = priceFeedSystemId(feed.pair);
    if (!system.get(id) && !system.quarantined().some((q) => q.id === id)) {
      system.spawn(id, { input: { pair: feed.pair, pairIndex: feed.pairIndex, heartbeatMs: PRICE_HEARTBEAT_MS } });
    }
  }
  const poller = startChainlinkPoller({
    client,
    feeds,
    intervalMs: 1_000,
    clock: systemClock,
    logger: logger.child({ component: 'chainlink' }),
    onPrice: (o) => system.send(priceFeedSystemId(o.pair), { type: 'price.observed', price: o.price, publishTime: o.publishTime, source: 'chainlink' }),
  });
  shutdown.add('chainlink poller', () => poller.stop());
}

await main();
