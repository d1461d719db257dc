import { randomBytes } from 'node:crypto';
import { parseEther, parseUnits, type Address, type PublicClient } from 'viem';
import { Redis } from 'ioredis';
import type { ActorKind } from '../../src/actors/kind.ts';
import type { ChainOrderGatewayDeps } from '../../src/actors/order-gateway.ts';
import { createAdminDesk, type RunningAdminDesk } from '../../src/actors/admin-desk.ts';
import { readTradingControls } from '../../src/actors/kinds/controls.actor.ts';
import { priceFeedSystemId } from '../../src/actors/kinds/price-feed.actor.ts';
import type { ActorRuntime } from '../../src/actors/runtime.ts';
import type { Notice, TradingDesk } from '../../src/actors/desk.ts';
import { createTradingDesk } from '../../src/actors/trading-desk.ts';
import { createChainWithdrawalGateway } from '../../src/actors/withdrawal-gateway.ts';
import { createVantaBot, type VantaBot } from '../../src/bot/bot.ts';
import type { OutgoingLimits } from '../../src/bot/outgoing.ts';
import { startBot, type RunningBot } from '../../src/bot/transport.ts';
import { createAvantisProtocol } from '../../src/infra/chain/avantis/protocol.ts';
import type { PipelineOptions } from '../../src/infra/chain/tx/pipeline.ts';
import { createKeyRotationMetrics } from '../../src/infra/keys/rotation-metrics.ts';
import { systemClock } from '../../src/infra/clock.ts';
import { abiOf } from '../../src/infra/devnet/artifacts.ts';
import { sendCall } from '../../src/infra/devnet/clients.ts';
import { avantisAddressesOf } from '../../src/infra/devnet/deploy.ts';
import { createKeyedLock } from '../../src/infra/keyed-lock.ts';
import type { Keeper } from '../../src/infra/devnet/keeper.ts';
import type { KeyStore } from '../../src/infra/keys/keystore.ts';
import { discoverChainlinkFeeds, startChainlinkPoller, type ChainlinkPoller } from '../../src/infra/prices/chainlink.ts';
import type { RiskLimits } from '../../src/machines/risk.ts';
import { startBotApiDouble, type BotApiDouble } from '../../src/sandbox/telegram/bot-api-double.ts';
import { tradingRequests } from './trading-requests.ts';
import { silentLogger, testMetrics } from './common.ts';
import { devnetGateway } from './devnet-gateway.ts';
import { testSystem, waitFor } from './runtime.ts';
import { txFixture, type TxFixture } from '../infra/chain/tx/support.ts';

/**
 * The whole trader path in one process, as main composes it in the sandbox: the devnet with its
 * keeper, real PostgreSQL (and Redis when asked), the actor system with the real chain gateway,
 * the desks (`startEngineHarness`, which the bot benchmark uses too), and the real grammY bot
 * polling the Bot API double over HTTP (`startBotHarness`). Tests talk to it as Telegram users do,
 * through the double.
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
  readonly limits: RiskLimits;
  /** Hands the traders' notices to this bot from now on (until then they wait, as in main). */
  readonly deliverTo: (vanta: VantaBot) => void;
  /** Stops the devnet keeper: orders stay pending on chain until `resumeKeeper`. */
  holdKeeper(): Promise<void>;
  /** A new keeper (it reads the chain from the start, so it fills what waited meanwhile). */
  resumeKeeper(): void;
  walletOf(telegramId: number): Promise<Address>;
  /** Orders and closes sent to Trading by a trader's wallet. */
  requests(trader: Address): Promise<{ open: number; close: number }>;
  close(): Promise<void>;
}

export interface BotHarness extends Omit<EngineHarness, 'deliverTo' | 'desk'> {
  readonly double: BotApiDouble;
  readonly vanta: VantaBot;
  /** The bot's incoming limit per user. */
  readonly rateLimit: { readonly windowMs: number; readonly limit: number };
}

export interface EngineHarnessOptions {
  /** Live: the desk runs live rules (the withdrawal allowlist; no faucet) on the devnet. Default sandbox. */
  readonly mode?: 'sandbox' | 'live';
  /** Live: how long a new withdrawal address waits (default 24 h). */
  readonly withdrawAddressDelayMs?: number;
  /** Risk limits over HARNESS_LIMITS (the desk, the user actors and the gateway). */
  readonly limits?: Partial<RiskLimits>;
  /** More actor kinds (a test kind an admin test drives into quarantine). */
  readonly extraKinds?: readonly ActorKind[];
  /** The admin desk's rotation keystore, given the fixture; default none (the desk says it cannot rotate). */
  readonly rotationKeystore?: (f: TxFixture) => (() => Promise<KeyStore>) | null;
  /** Overrides for the wallets' transaction pipeline (e.g. onStep, to see broadcasts). */
  readonly pipeline?: Partial<PipelineOptions>;
  /** How often the Chainlink feeds are read (default 100 ms, fast for tests; main reads every second). */
  readonly pricePollMs?: number;
  /** The chain gateway's polls (default: fast, for tests). */
  readonly gatewayPolls?: Pick<ChainOrderGatewayDeps, 'pollMs' | 'watchPollMs' | 'settleScans'>;
}

export interface BotHarnessOptions extends EngineHarnessOptions {
  /** Rate limits, sessions and buttons in Redis (keys under a prefix of this harness only). */
  readonly redis?: boolean;
  /**
   * Chats paced at 20 messages a second (bot and double alike) instead of Telegram's one a second
   * after a burst of 5: for files that walk through hundreds of replies. The journey, the chat
   * page and the crash test keep Telegram's pace.
   */
  readonly fastChats?: boolean;
  /** The bot's incoming limit per user (default the bot's own, 8 updates per 2 s). */
  readonly rateLimit?: { readonly windowMs: number; readonly limit: number };
  /** Operators' Telegram ids (default [ADMIN_ID]). */
  readonly adminIds?: readonly number[];
  /** The bot's clock for reviews (default Date.now): a test moves it to expire one. */
  readonly now?: () => number;
  /** How long the double accepts an answer to a button press (Telegram: about 15 s). */
  readonly callbackAnswerTimeoutMs?: number;
}

export async function startEngineHarness(o: EngineHarnessOptions = {}): Promise<EngineHarness> {
  const mode = o.mode ?? 'sandbox';
  const limits: RiskLimits = { ...HARNESS_LIMITS, ...o.limits };
  const f = await txFixture();
  const client = f.sim.clients.publicClient as unknown as PublicClient;
  const addresses = avantisAddressesOf(f.sim.deployment);
  const protocol = createAvantisProtocol({ version: 'v1', chainId: f.sim.anvil.chainId, addresses }, { client });
  // One pipeline for the wallet's orders and withdrawals, as main has.
  const pipeline = f.pipeline(o.pipeline);
  const orders = devnetGateway({
    clients: f.sim.clients,
    chainId: f.sim.anvil.chainId,
    deployment: f.sim.deployment,
    wallets: f.wallets,
    pipeline,
    minter: f.sim.deployer,
    overrides: { limits, ...o.gatewayPolls },
  });
  const late: { vanta?: VantaBot } = {};
  const delivered: Notice[] = [];
  const runtime = testSystem(f.pg.db, {
    orders,
    withdrawals: createChainWithdrawalGateway({ pipeline, wallets: f.wallets, usdc: f.sim.deployment.usdc, logger: silentLogger() }),
    requireWithdrawAllowlist: mode === 'live',
    limits,
    fillTimeoutMs: 60_000,
    ...(o.extraKinds ? { extraKinds: () => o.extraKinds ?? [] } : {}),
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
    mode,
    runtime,
    db: f.pg.db,
    wallets: f.wallets,
    client,
    chainId: f.sim.anvil.chainId,
    protocol,
    limits,
    refusal: null,
    ...(o.withdrawAddressDelayMs === undefined ? {} : { withdrawAddressDelayMs: o.withdrawAddressDelayMs }),
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
  const admin = createAdminDesk({ runtime, db: f.pg.db, logger: silentLogger(), clock: systemClock, rotationKeystore: o.rotationKeystore?.(f) ?? null, rotationMetrics: createKeyRotationMetrics(testMetrics().registry) });
  let keeper: Keeper = f.sim.keeper();
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
    limits,
    deliverTo: (vanta) => {
      late.vanta = vanta;
    },
    holdKeeper: () => keeper.stop(),
    resumeKeeper: () => {
      keeper = f.sim.keeper();
      keeper.start();
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

/** Telegram's pace relaxed for files that walk through hundreds of replies (bot and double alike). */
const FAST_CHATS: OutgoingLimits = { perSecond: 30, chatBurst: 20, chatIntervalMs: 50 };

export async function startBotHarness(o: BotHarnessOptions = {}): Promise<BotHarness> {
  const engine = await startEngineHarness(o);
  const double = await startBotApiDouble({
    logger: silentLogger(),
    limits: {
      ...(o.fastChats ? { flood: { global: { perSecond: 30, burst: 30 }, perChat: { perSecond: 20, burst: 20 } } } : {}),
      ...(o.callbackAnswerTimeoutMs !== undefined ? { callbackAnswerTimeoutMs: o.callbackAnswerTimeoutMs } : {}),
    },
  });
  // Under a prefix of its own, so harnesses running at the same time (other files, other
  // worktrees on this machine) never share a rate limit, a session or a button.
  const redisPrefix = `test:bot:${process.pid}:${randomBytes(4).toString('hex')}:`;
  const redis = o.redis ? new Redis('redis://127.0.0.1:6379', { keyPrefix: redisPrefix }) : null;
  const vanta = createVantaBot({
    token: double.token,
    apiRoot: double.apiRoot,
    desk: engine.desk,
    admin: engine.admin,
    adminIds: o.adminIds ?? [ADMIN_ID],
    mode: o.mode ?? 'sandbox',
    logger: silentLogger(),
    redis,
    ...(o.rateLimit ? { rateLimit: o.rateLimit } : {}),
    ...(o.fastChats ? { outgoingLimits: FAST_CHATS } : {}),
    ...(o.now ? { now: o.now } : {}),
  });
  engine.deliverTo(vanta);
  const running: RunningBot = await startBot(vanta, { kind: 'polling' }, silentLogger());
  const { deliverTo: _deliverTo, desk: _desk, ...rest } = engine;
  return {
    ...rest,
    double,
    vanta,
    rateLimit: o.rateLimit ?? { windowMs: 2_000, limit: 8 },
    close: async () => {
      await running.stop();
      await engine.close();
      await double.close();
      if (redis) {
        // Leave nothing behind: every key of this harness, with the prefix the client adds itself.
        const keys = await redis.keys(`${redisPrefix}*`);
        if (keys.length) await redis.del(...keys.map((k) => k.slice(redisPrefix.length)));
        await redis.quit();
      }
    },
  };
}
