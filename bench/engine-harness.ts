import { parseEther, parseUnits, type Address, type PublicClient } from 'viem';
import { Redis } from 'ioredis';
import type { Notice, TradingDesk } from '../src/actors/desk.ts';
import { createAdminDesk, type RunningAdminDesk } from '../src/actors/admin-desk.ts';
import type { ChainOrderGatewayDeps } from '../src/actors/order-gateway.ts';
import { readTradingControls } from '../src/actors/kinds/controls.actor.ts';
import { priceFeedSystemId } from '../src/actors/kinds/price-feed.actor.ts';
import type { ActorRuntime } from '../src/actors/runtime.ts';
import { createTradingDesk } from '../src/actors/trading-desk.ts';
import { createVantaBot, type VantaBot, type VantaBotOptions } from '../src/bot/bot.ts';
import { startBot, type RunningBot } from '../src/bot/transport.ts';
import { createAvantisProtocol } from '../src/infra/chain/avantis/protocol.ts';
import type { PipelineOptions } from '../src/infra/chain/tx/pipeline.ts';
import { createKeyRotationMetrics } from '../src/infra/keys/rotation-metrics.ts';
import { systemClock } from '../src/infra/clock.ts';
import { abiOf } from '../src/infra/devnet/artifacts.ts';
import { sendCall } from '../src/infra/devnet/clients.ts';
import { avantisAddressesOf } from '../src/infra/devnet/deploy.ts';
import { createKeyedLock } from '../src/infra/keyed-lock.ts';
import { discoverChainlinkFeeds, startChainlinkPoller, type ChainlinkPoller } from '../src/infra/prices/chainlink.ts';
import type { RiskLimits } from '../src/machines/risk.ts';
import { startBotApiDouble, type BotApiDouble, type BotApiLimits } from '../src/sandbox/telegram/bot-api-double.ts';
import { tradingRequests } from '../test/helpers/trading-requests.ts';
import { silentLogger, testMetrics } from '../test/helpers/common.ts';
import { devnetGateway } from '../test/helpers/devnet-gateway.ts';
import { testSystem, waitFor } from '../test/helpers/runtime.ts';
import { txFixture, type TxFixture } from '../test/infra/chain/tx/support.ts';

/**
 * The whole trader path in one process, as main composes it in the sandbox: the devnet with its
 * keeper, real PostgreSQL (and Redis when asked), the actor system with the real chain gateway,
 * the desks, and the real grammY bot polling the Bot API double over HTTP. Tests talk to it as
 * Telegram users do, through the double.
 */
export const HARNESS_LIMITS: RiskLimits = { maxLeverage: 100, maxCollateralUsdc: '5000', maxNotionalUsdc: '250000', maxOpenPositions: 5 };
export const ADMIN_ID = 777;

/** Everything behind the bot: devnet, PostgreSQL, the actors with the real chain gateway, the desks. */
export interface EngineHarness {
  readonly f: TxFixture;
  readonly runtime: ActorRuntime;
  readonly desk: TradingDesk;
  readonly admin: RunningAdminDesk;
  /** Notices the bot delivered (once `deliverTo` named it). */
  readonly delivered: Notice[];
  readonly client: PublicClient;
  /** Hands the trader's notices to this bot from now on (until then they wait, as in main). */
  readonly deliverTo: (vanta: VantaBot) => void;
  walletOf(telegramId: number): Promise<Address>;
  /** Orders and closes sent to Trading by a trader's wallet. */
  requests(trader: Address): Promise<{ open: number; close: number }>;
  close(): Promise<void>;
}

export interface BotHarness extends Omit<EngineHarness, 'deliverTo'> {
  readonly double: BotApiDouble;
  readonly vanta: VantaBot;
}

export interface EngineHarnessOptions {
  /** Overrides for the positions' transaction pipeline (e.g. onStep, to see broadcasts). */
  readonly pipeline?: Partial<PipelineOptions>;
  /** How often the Chainlink feeds are read (default 100 ms, fast for tests; main reads every second). */
  readonly pricePollMs?: number;
  /** The chain gateway's polls (default: fast, for tests). */
  readonly gatewayPolls?: Pick<ChainOrderGatewayDeps, 'pollMs' | 'watchPollMs' | 'settleScans'>;
}

export interface BotHarnessOptions extends EngineHarnessOptions {
  /** Sessions, rate limits and buttons in Redis (127.0.0.1:6379, flushed first), as in paper and live. */
  readonly redis?: boolean;
  /** The Redis database number (default 0). */
  readonly redisDb?: number;
  /** The Bot API double's limits (default: Telegram's). */
  readonly apiLimits?: Partial<BotApiLimits>;
  /** The bot's outgoing flood control (default: Telegram's limits). */
  readonly outgoingLimits?: VantaBotOptions['outgoingLimits'];
}

export async function startEngineHarness(o: EngineHarnessOptions = {}): Promise<EngineHarness> {
  const f = await txFixture();
  const client = f.sim.clients.publicClient as unknown as PublicClient;
  const addresses = avantisAddressesOf(f.sim.deployment);
  const protocol = createAvantisProtocol({ version: 'v1', chainId: f.sim.anvil.chainId, addresses }, { client });
  const orders = devnetGateway({
    clients: f.sim.clients,
    chainId: f.sim.anvil.chainId,
    deployment: f.sim.deployment,
    wallets: f.wallets,
    pipeline: f.pipeline(o.pipeline),
    minter: f.sim.deployer,
    overrides: { limits: HARNESS_LIMITS, ...o.gatewayPolls },
  });
  const late: { vanta?: VantaBot } = {};
  const delivered: Notice[] = [];
  const runtime = testSystem(f.pg.db, {
    orders,
    limits: HARNESS_LIMITS,
    fillTimeoutMs: 60_000,
    notices: async (notice) => {
      if (!late.vanta) throw new Error('the bot is not up yet');
      await late.vanta.notices(notice);
      delivered.push(notice);
    },
  });
  await runtime.boot();
  const feeds = await discoverChainlinkFeeds(protocol.reads);
  for (const feed of feeds) runtime.spawn(priceFeedSystemId(feed.pair), { input: { pair: feed.pair, pairIndex: feed.pairIndex, heartbeatMs: 600_000 } });
  const poller: ChainlinkPoller = startChainlinkPoller({
    client,
    feeds,
    intervalMs: o.pricePollMs ?? 100,
    clock: systemClock,
    logger: silentLogger(),
    onPrice: (p) => runtime.send(priceFeedSystemId(p.pair), { type: 'price.observed', price: p.price, publishTime: p.publishTime, source: 'chainlink' }),
  });
  const faucetAccount = f.sim.traders.at(-1)!;
  const mints = createKeyedLock();
  const desk = createTradingDesk({
    mode: 'sandbox',
    runtime,
    db: f.pg.db,
    wallets: f.wallets,
    client,
    chainId: f.sim.anvil.chainId,
    protocol,
    limits: HARNESS_LIMITS,
    refusal: null,
    faucet: async (address) => {
      await mints.run('faucet', () =>
        sendCall(f.sim.clients.publicClient, f.sim.clients.wallet(faucetAccount), { address: f.sim.deployment.usdc, abi: abiOf('SimUSDC'), functionName: 'mint', args: [address, parseUnits('1000', 6)] }),
      );
      await f.sim.clients.testClient.setBalance({ address, value: parseEther('5') });
    },
    tradingControls: () => readTradingControls(runtime),
    clock: systemClock,
    logger: silentLogger(),
  });
  const admin = createAdminDesk({ runtime, db: f.pg.db, logger: silentLogger(), clock: systemClock, rotationKeystore: null, rotationMetrics: createKeyRotationMetrics(testMetrics().registry) });
  const keeper = f.sim.keeper();
  keeper.start();
  await waitFor(() => {
    const s = runtime.get(priceFeedSystemId('ETH/USD'))?.getSnapshot() as { value?: unknown } | undefined;
    return s?.value === 'live';
  }, 'the ETH/USD feed to be live', 10_000);

  return {
    f,
    runtime,
    desk,
    admin,
    delivered,
    client,
    deliverTo: (vanta) => {
      late.vanta = vanta;
    },
    walletOf: async (telegramId) => (await f.wallets.find(`user:${telegramId}`))!.address,
    requests: (trader) => tradingRequests(client, f.sim.deployment.trading, trader),
    close: async () => {
      await keeper.stop();
      poller.stop();
      await admin.close();
      await runtime.stop();
      await f.close();
    },
  };
}

export async function startBotHarness(o: BotHarnessOptions = {}): Promise<BotHarness> {
  const engine = await startEngineHarness(o);
  const double = await startBotApiDouble({ logger: silentLogger(), ...(o.apiLimits ? { limits: o.apiLimits } : {}) });
  const redis = o.redis ? new Redis(`redis://127.0.0.1:6379/${o.redisDb ?? 0}`) : null;
  if (redis) await redis.flushdb();
  const vanta = createVantaBot({
    token: double.token,
    apiRoot: double.apiRoot,
    desk: engine.desk,
    admin: engine.admin,
    adminIds: [ADMIN_ID],
    mode: 'sandbox',
    logger: silentLogger(),
    redis,
    ...(o.outgoingLimits ? { outgoingLimits: o.outgoingLimits } : {}),
  });
  engine.deliverTo(vanta);
  const running: RunningBot = await startBot(vanta, { kind: 'polling' }, silentLogger());
  const { deliverTo: _deliverTo, ...rest } = engine;
  return {
    ...rest,
    double,
    vanta,
    close: async () => {
      await running.stop();
      await engine.close();
      await double.close();
      await redis?.quit();
    },
  };
}
