/**
 * Bot benchmark (issue 7).
 *
 * 1. Non-chain commands: USERS simulated users send /positions, /markets, /settings and presses
 *    of a /settings toggle in equal shares (each user at most one update a second, inside the
 *    8-per-2-s rate limit), through the Bot API double over HTTP to the real grammY bot (runner
 *    polling; sessions, rate limits and buttons in Redis, as in paper and live) over the real
 *    engine (actors on PostgreSQL, the devnet). Latency: from the update queued in the double to
 *    the reply applied by it, taken in the users' own process (bench/bot-users.ts). Telegram's
 *    limits are lifted on both sides: the double's flood control is off and the bot's outgoing
 *    limiter runs with limits no load reaches (Telegram lets a bot send about 30 messages a second, so 1,000 replies a
 *    second can only measure the bot without them).
 *    Runs: a bare grammY bot (runner, no middleware, only replies) at RATE and LOW_RATE; Vanta at
 *    LOW_RATE, MID_RATE and RATE; Vanta without its outgoing limiter at LOW_RATE and RATE (what it costs).
 *    Each run reports CPU per reply and event-loop figures of both processes, to say where the
 *    time goes; BENCH_BOT_CPU_PROFILE=<file> profiles the bot during the LOW_RATE run (with
 *    BENCH_BOT_CPU_PROFILE_RUN=high, during Vanta's RATE run; with BENCH_BOT_HEAP_PROFILE=1, its
 *    allocations instead of its CPU).
 * 2. Text orders (`long eth 100 10x`, confirmations off with the /settings button), the bot
 *    otherwise idle: from the update queued to the open's broadcast (the pipeline's `broadcast`
 *    step), automine off and a standing allowance, as in order-path. Baselines, same run: the
 *    same order sent straight to the trader's actor on the same engine, and order-path's figures.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { monitorEventLoopDelay, performance as nodePerformance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { run as runner } from '@grammyjs/runner';
import { Bot, InlineKeyboard } from 'grammy';
import { erc20Abi, parseEther, parseUnits, type Address } from 'viem';
import { createVantaBot, type VantaBotOptions } from '../src/bot/bot.ts';
import { startBot } from '../src/bot/transport.ts';
import type { TxIntent } from '../src/infra/chain/tx/outbox.ts';
import { sendCall } from '../src/infra/devnet/clients.ts';
import { createLogger } from '../src/infra/logger.ts';
import { createRedis } from '../src/infra/redis.ts';
import { Secret } from '../src/infra/secret.ts';
import { startEngineHarness, type EngineHarness } from '../test/helpers/bot-harness.ts';
import type { LoadResult, Request } from './bot-users.ts';
import { run as orderPath } from './order-path.bench.ts';
import { latency, round } from './support.ts';

const USERS = Number(process.env['BENCH_BOT_USERS'] ?? 1_000);
const RATE = Number(process.env['BENCH_BOT_RATE'] ?? 1_000);
const WARMUP_MS = 2_000;
/** A rate the bot carries without a queue on a small machine, for latency without queueing. */
const LOW_RATE = Number(process.env['BENCH_BOT_LOW_RATE'] ?? 100);
/** Between the two: where the latency goal still holds on this machine. */
const MID_RATE = Number(process.env['BENCH_BOT_MID_RATE'] ?? 500);
const WINDOW_MS = Number(process.env['BENCH_BOT_WINDOW_MS'] ?? 8_000);
/** How long replies are waited for after the last update; what is still missing then counts as unanswered. */
const DRAIN_MS = 10_000;
const ORDERS = Number(process.env['BENCH_BOT_ORDERS'] ?? 40);
/** Orders order-path sends through its pipeline (and raw viem) for the figures shown alongside. */
const PATH_ORDERS = Number(process.env['BENCH_BOT_PATH_ORDERS'] ?? 100);
/** A Redis database of its own: the bench flushes it, and the tests use database 0. */
const REDIS_URL = 'redis://127.0.0.1:6379/13';
/** The outgoing limiter's code path stays, with limits no load here reaches. */
const NO_OUTGOING_LIMITS = { perSecond: 1e9, chatBurst: 1e9, chatIntervalMs: 1e-6 };
const logger = createLogger({ level: 'silent' });
/** Progress on stderr (the figures go to stdout as JSON). */
const began = performance.now();
const step = (what: string) => process.stderr.write(`bench bot: ${Math.round((performance.now() - began) / 1000)} s: ${what}\n`);
const USERS_SCRIPT = fileURLToPath(new URL('./bot-users.ts', import.meta.url));

/**
 * What the bot's process spent while `work` ran: CPU ms per reply, its event loop's busy share,
 * and how late its event loop ran timers (a stall there delays every update).
 */
async function costOf(work: () => Promise<LoadResult>): Promise<Measured> {
  const cpu = process.cpuUsage();
  const elu = nodePerformance.eventLoopUtilization();
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  const result = await work();
  delay.disable();
  const used = process.cpuUsage(cpu);
  return {
    ...result,
    botCpuMsPerReply: round((used.user + used.system) / 1000 / Math.max(1, result.replied), 2),
    botEventLoopBusy: round(nodePerformance.eventLoopUtilization(elu).utilization, 2),
    botLoopDelayMs: { p99: round(delay.percentile(99) / 1e6, 1), max: round(delay.max / 1e6, 1) },
  };
}

/** The simulated users' process: one request at a time per call, answered by id. */
interface Users {
  request<T>(request: Request): Promise<T>;
  stop(): Promise<void>;
}

function startUsers(): Users {
  const child: ChildProcess = fork(USERS_SCRIPT, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let next = 1;
  child.on('message', (m: { id: number; ok: boolean; result?: unknown; error?: string }) => {
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    if (m.ok) w?.resolve(m.result);
    else w?.reject(new Error(`simulated users: ${m.error}`));
  });
  child.on('exit', (code) => {
    for (const w of waiting.values()) w.reject(new Error(`the simulated users' process exited (${code})`));
    waiting.clear();
  });
  return {
    request: <T>(request: Request) =>
      new Promise<T>((resolve, reject) => {
        const id = next++;
        waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
        child.send({ id, ...request });
      }),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.disconnect();
      }),
  };
}

const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

/** Broadcast moments of opens, by user id (epoch ms, comparable with the users' process). */
function broadcasts() {
  const at = new Map<string, number>();
  const waiting = new Map<string, () => void>();
  return {
    onStep: (step: string, intent: TxIntent) => {
      if (step !== 'broadcast' || intent.kind !== 'open' || at.has(intent.userId)) return;
      at.set(intent.userId, performance.timeOrigin + performance.now());
      waiting.get(intent.userId)?.();
    },
    async of(userId: string, timeoutMs = 20_000): Promise<number> {
      if (!at.has(userId)) {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no open was broadcast for ${userId} within ${timeoutMs} ms`)), timeoutMs);
          waiting.set(userId, () => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      return at.get(userId)!;
    },
  };
}

export async function run(): Promise<Record<string, unknown>> {
  const seen = broadcasts();
  // The engine's background paced as main paces it (the harness's defaults are fast, for tests).
  const engine = await startEngineHarness({
    pipeline: { onStep: seen.onStep, pollMs: 1_000 },
    pricePollMs: 1_000,
    gatewayPolls: { pollMs: 1_000, watchPollMs: 5_000, settleScans: 30 },
  });
  // The client main builds (src/infra/redis.ts), on a database of its own.
  const redisHandle = await createRedis({ url: new Secret(REDIS_URL), display: REDIS_URL, logger });
  const redis = redisHandle.client;
  await redis.flushdb();
  const users = startUsers();
  const bareUsers = startUsers();
  let stopBot = async () => {};
  try {
    const api = await users.request<{ apiRoot: string; token: string }>({ op: 'start' });
    const startVanta = async (outgoingLimits: NonNullable<VantaBotOptions['outgoingLimits']>) => {
      const vanta = createVantaBot({ ...api, desk: engine.desk, admin: engine.admin, adminIds: [], mode: 'sandbox', logger, redis, outgoingLimits });
      engine.deliverTo(vanta);
      // The runner's stop() does not wait for updates still being handled: count them. And time
      // each update's handling and each Bot API call as the handlers see it (limiter, retries, HTTP).
      let handling = 0;
      const handleUpdate = vanta.bot.handleUpdate.bind(vanta.bot);
      vanta.bot.handleUpdate = async (...args) => {
        handling += 1;
        const t = performance.now();
        try {
          return await handleUpdate(...args);
        } finally {
          handling -= 1;
          (timings['handleUpdate'] ??= []).push(performance.now() - t);
        }
      };
      vanta.bot.api.config.use(async (prev, method, payload, signal) => {
        const t = performance.now();
        try {
          return await prev(method, payload, signal);
        } finally {
          (timings[method] ??= []).push(performance.now() - t);
        }
      });
      const running = await startBot(vanta, { kind: 'polling' }, logger);
      stopBot = async () => {
        stopBot = async () => {};
        await running.stop();
        const until = performance.now() + 60_000;
        while (handling > 0 && performance.now() < until) await new Promise((resolve) => setTimeout(resolve, 50));
        // What an overloaded run left queued is dropped, as a restarted bot may choose to.
        await vanta.bot.api.deleteWebhook({ drop_pending_updates: true });
      };
    };
    const timings: Record<string, number[]> = {};
    /** Per step, since the last call: the update's handling and each Bot API method. */
    const timed = () => {
      const out = Object.fromEntries(Object.entries(timings).map(([k, v]) => [k === 'handleUpdate' ? 'handle_update_ms' : `${k}_ms`, latency(v)]));
      for (const k of Object.keys(timings)) delete timings[k];
      return out;
    };
    await startVanta(NO_OUTGOING_LIMITS);

    // ---- setup, before any measurement -------------------------------------------------------
    const loadIds = range(100_001, USERS);
    const orderIds = range(200_001, ORDERS);
    const actorIds = range(300_001, ORDERS);
    const setupStarted = performance.now();
    step(`creating ${USERS} wallets`);
    // The load's users get their wallet ahead with a little ETH, so /start does not wait on the
    // sandbox faucet (a mint per user, one at a time); /start still spawns and stores their actor.
    await inParallel(loadIds, 8, async (id) => {
      const { address } = await engine.f.wallets.create(`user:${id}`);
      await engine.f.sim.clients.testClient.setBalance({ address, value: parseEther('1') });
    });
    step(`onboarding ${USERS} users with /start and /settings`);
    const onboarding = await users.request<{ seconds: number }>({ op: 'onboard', users: loadIds, profile: 'vanta', concurrency: 50 });
    // Traders who order: onboarded with the faucet, confirmations turned off with the settings button.
    step(`onboarding ${2 * ORDERS} traders with the faucet`);
    await users.request({ op: 'onboard', users: orderIds, profile: 'vanta', confirmOrders: false, concurrency: 4 });
    await users.request({ op: 'onboard', users: actorIds, profile: 'vanta', concurrency: 4 });
    // A standing allowance, as order-path's traders have: no approval before the open.
    for (const id of [...orderIds, ...actorIds]) await approve(engine, await engine.walletOf(id));
    const setupSeconds = round((performance.now() - setupStarted) / 1000, 1);

    // ---- 1. non-chain commands -----------------------------------------------------------------
    const load = (rate: number) => costOf(() => users.request<LoadResult>({ op: 'load', users: loadIds, profile: 'vanta', rate, warmupMs: WARMUP_MS, windowMs: WINDOW_MS, drainMs: DRAIN_MS }));
    step(`bare grammY bot at ${RATE} and ${LOW_RATE} updates/s`);
    const bare = await bareBaseline(bareUsers, [RATE, LOW_RATE]);
    const idle = await idleCpu(3_000);
    step(`Vanta at ${LOW_RATE} updates/s`);
    timed();
    const vantaLow = await profiled('low', () => load(LOW_RATE));
    const lowTimings = timed();

    // ---- 2. text orders, then the same orders straight to the actors (the bot idle) ----------
    step('text orders');
    const testClient = engine.f.sim.clients.testClient;
    await testClient.setAutomine(false);
    const toBroadcast: number[] = [];
    const toAccepted: number[] = [];
    const refused: string[] = [];
    for (const id of orderIds) {
      const sent = await users.request<{ queuedAt: number; acceptedMs: number | null; reply: string }>({ op: 'order', user: id, text: 'long eth 100 10x' });
      if (sent.acceptedMs === null) {
        refused.push(sent.reply);
        continue;
      }
      toAccepted.push(sent.acceptedMs);
      toBroadcast.push((await seen.of(`user:${id}`)) - sent.queuedAt);
    }
    const viaActors: number[] = [];
    for (const [n, id] of actorIds.entries()) {
      const started = performance.timeOrigin + performance.now();
      engine.runtime.send(`user:${id}`, { type: 'order.requested', positionId: `bench-bot-actor-${n}`, pair: 'ETH/USD', pairIndex: 0, side: 'long', collateral: '100', leverage: 10 });
      viaActors.push((await seen.of(`user:${id}`)) - started);
    }
    await testClient.mine({ blocks: 1 });
    await testClient.setAutomine(true);

    // ---- 1 (cont.). the full rate, last: it may leave a queue behind --------------------------
    step(`Vanta at ${MID_RATE} updates/s`);
    timed();
    const vantaMid = await load(MID_RATE);
    const midTimings = timed();
    step(`Vanta at ${RATE} updates/s`);
    timed();
    const vantaHigh = await profiled('high', () => load(RATE));
    const highTimings = timed();
    await stopBot();
    step(`Vanta without its outgoing limiter at ${LOW_RATE} and ${RATE} updates/s`);
    await startVanta(false);
    timed();
    const unthrottledLow = await load(LOW_RATE);
    const unthrottledLowTimings = timed();
    const vantaUnthrottled = await load(RATE);
    const unthrottledTimings = timed();
    await stopBot();
    const violations = await users.request<unknown[]>({ op: 'violations' });
    const calls = await users.request<Record<string, number>>({ op: 'calls' });

    // The engine before the double: notices still on their way reach it while it is up.
    await engine.close();
    await users.stop();
    await bareUsers.stop();
    await redisHandle.close();

    step('order-path figures');
    const paths = PATH_ORDERS > 0 ? await orderPath({ orders: PATH_ORDERS, actorOrders: Math.max(1, ORDERS) }) : 'skipped (BENCH_BOT_PATH_ORDERS=0)';
    const order = latency(toBroadcast);
    const actors = latency(viaActors);
    const [bareHigh, bareLow] = bare;
    return {
      setup: { users: USERS, order_traders: ORDERS, seconds: setupSeconds, onboarding_via_start_seconds: onboarding.seconds },
      commands: {
        what: `${USERS} users; /positions, /markets, /settings and a /settings toggle press in equal shares; each rate for ${WINDOW_MS / 1000} s after ${WARMUP_MS / 1000} s of warm-up; latency from the update queued in the Bot API double to the reply applied by it`,
        setup: 'Bot API double and users in their own process, flood control off; grammY runner polling over HTTP; Redis (sessions, rate limits, buttons); PostgreSQL; the outgoing limiter with limits no load here reaches (Telegram allows ~30 messages/s)',
        [`at_${RATE}_per_s`]: {
          vanta: { ...figures(vantaHigh), inside_the_bot: highTimings },
          bare_grammy: figures(bareHigh!),
          ratio_p50: ratio(vantaHigh.reply.p50, bareHigh!.reply.p50),
          ratio_p99: ratio(vantaHigh.reply.p99, bareHigh!.reply.p99),
          vanta_without_outgoing_limiter: { ...figures(vantaUnthrottled), inside_the_bot: unthrottledTimings },
        },
        [`at_${MID_RATE}_per_s`]: { vanta: { ...figures(vantaMid), inside_the_bot: midTimings } },
        [`at_${LOW_RATE}_per_s`]: {
          vanta: { ...figures(vantaLow), inside_the_bot: lowTimings },
          bare_grammy: figures(bareLow!),
          ratio_p50: ratio(vantaLow.reply.p50, bareLow!.reply.p50),
          ratio_p99: ratio(vantaLow.reply.p99, bareLow!.reply.p99),
          vanta_without_outgoing_limiter: { ...figures(unthrottledLow), inside_the_bot: unthrottledLowTimings },
        },
        engine_idle_cpu_ms_per_s: idle,
        goal: `p99 < 50 ms at ${RATE} updates/s`,
      },
      text_order: {
        orders: toBroadcast.length,
        refused,
        update_to_broadcast_ms: order,
        update_to_accepted_reply_ms: latency(toAccepted),
        same_order_to_actor_ms: actors,
        ratio_p50_vs_actor: ratio(order.p50, actors.p50),
        ratio_p99_vs_actor: ratio(order.p99, actors.p99),
        setup: 'the bot otherwise idle; automine off (broadcast = queued in the node); standing USDC allowance; one order per trader, one after another',
      },
      order_path: paths,
      double: { violations, calls },
    };
  } finally {
    await stopBot().catch(() => {});
    await engine.close().catch(() => {});
    await users.stop().catch(() => {});
    await bareUsers.stop().catch(() => {});
    await redisHandle.close();
  }
}

/** CPU the bot's process spends with no update (the engine's polls, the actors): part of every per-reply figure. */
async function idleCpu(ms: number): Promise<number> {
  const cpu = process.cpuUsage();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const used = process.cpuUsage(cpu);
  return round((used.user + used.system) / ms, 1);
}

type Measured = LoadResult & { botCpuMsPerReply: number; botEventLoopBusy: number; botLoopDelayMs: { p99: number; max: number } };

function figures(r: Measured): Record<string, unknown> {
  return {
    reply_ms: r.reply,
    first_sign_ms: r.firstSign,
    picked_up_ms: r.pickedUp,
    by_kind_reply_ms: r.byKind,
    sent_per_s: r.achievedRate,
    replies_per_s: r.repliesPerSecond,
    unanswered: r.unanswered,
    wrong_replies: r.wrong,
    ...(r.wrongExamples.length ? { wrong_examples: r.wrongExamples } : {}),
    unsolicited: r.unsolicited,
    bot_cpu_ms_per_reply: r.botCpuMsPerReply,
    bot_event_loop_busy: r.botEventLoopBusy,
    bot_event_loop_delay_ms: r.botLoopDelayMs,
    double_cpu_ms_per_update: r.doubleCpuMsPerUpdate,
    double_event_loop_busy: r.doubleEventLoopBusy,
  };
}

/** A ratio of two latencies, or null when either is not a number (unanswered). */
const ratio = (x: number | string | null, base: number | string | null) => (typeof x === 'number' && typeof base === 'number' && base > 0 ? round(x / base, 2) : null);

/** The same users and rates against a bot that only replies: a message to a command, an edit to a press. */
async function bareBaseline(users: Users, rates: readonly number[]): Promise<Measured[]> {
  const api = await users.request<{ apiRoot: string; token: string }>({ op: 'start' });
  const bot = new Bot(api.token, { client: { apiRoot: api.apiRoot } });
  const button = new InlineKeyboard().text('Toggle', 'toggle');
  let presses = 0;
  bot.on('message:text', (ctx) => ctx.reply(ctx.message.text === '/start' ? 'Hello' : `You sent ${ctx.message.text}`, ctx.message.text === '/start' ? { reply_markup: button } : {}));
  bot.on('callback_query:data', async (ctx) => {
    await ctx.answerCallbackQuery();
    await ctx.editMessageText(`Pressed ${++presses}`, { reply_markup: button });
  });
  // Failed calls (the double under load) leave their update unanswered, counted there.
  bot.catch(() => {});
  await bot.init();
  const handle = runner(bot, { runner: { fetch: { timeout: 25, allowed_updates: ['message', 'callback_query'] } } });
  try {
    const ids = range(100_001, USERS);
    await users.request({ op: 'onboard', users: ids, profile: 'bare', concurrency: 50 });
    const results: Measured[] = [];
    for (const rate of rates) results.push(await costOf(() => users.request<LoadResult>({ op: 'load', users: ids, profile: 'bare', rate, warmupMs: WARMUP_MS, windowMs: WINDOW_MS, drainMs: DRAIN_MS })));
    return results;
  } finally {
    if (handle.isRunning()) await handle.stop();
  }
}

/** With BENCH_BOT_CPU_PROFILE=<file>, the bot's process is profiled during one run (open it in Chrome DevTools). */
async function profiled<T>(run: 'low' | 'high', work: () => Promise<T>): Promise<T> {
  const file = process.env['BENCH_BOT_CPU_PROFILE'];
  if (!file || (process.env['BENCH_BOT_CPU_PROFILE_RUN'] ?? 'low') !== run) return work();
  // BENCH_BOT_HEAP_PROFILE=1: where the load allocates (sampled), instead of where it spends CPU.
  const heap = process.env['BENCH_BOT_HEAP_PROFILE'] === '1';
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise<unknown>((resolve, reject) => session.post(method, params, (err, result) => (err ? reject(err) : resolve(result))));
  if (heap) {
    await post('HeapProfiler.enable');
    // Keep what was collected too: the young generation's churn is the point.
    await post('HeapProfiler.startSampling', { samplingInterval: 16_384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  } else {
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: 500 });
    await post('Profiler.start');
  }
  try {
    return await work();
  } finally {
    const { profile } = (await post(heap ? 'HeapProfiler.stopSampling' : 'Profiler.stop')) as { profile: unknown };
    writeFileSync(file, JSON.stringify(profile));
    session.disconnect();
    step(`${heap ? 'Allocation' : 'CPU'} profile of the load written to ${file}`);
  }
}

async function approve(engine: EngineHarness, owner: Address): Promise<void> {
  const { clients, deployment } = engine.f.sim;
  await clients.testClient.impersonateAccount({ address: owner });
  await sendCall(clients.publicClient, clients.wallet(owner), { address: deployment.usdc, abi: erc20Abi, functionName: 'approve', args: [deployment.tradingStorage, parseUnits('1000000', 6)] });
  await clients.testClient.stopImpersonatingAccount({ address: owner });
}

async function inParallel<T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

if (import.meta.main) console.log(JSON.stringify(await run(), null, 2));
