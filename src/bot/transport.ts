import { createServer, type Server } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { run, type RunnerHandle } from '@grammyjs/runner';
import { webhookCallback } from 'grammy';
import type { Logger } from 'pino';
import type { VantaBot } from './bot.ts';
import { COMMANDS } from './bot.ts';

/**
 * How updates reach the bot: long polling through @grammyjs/runner (the default: works behind
 * any NAT, one process per token), or a webhook with Telegram's secret token checked on every
 * request. Long work never blocks the webhook answer: a handler only asks the engine and
 * answers; chain work happens in the actors.
 */
export type Transport =
  | { readonly kind: 'polling' }
  | { readonly kind: 'webhook'; readonly url: string; readonly secret: string; readonly host: string; readonly port: number };

export interface RunningBot {
  /** Where the webhook listens (webhook only). */
  readonly listening: string | null;
  stop(): Promise<void>;
}

const ALLOWED_UPDATES = ['message', 'callback_query'] as const;
/** @grammyjs/runner's pacing of getUpdates: 0 polls at once after every answer; see the runner's SourceOptions. */
const POLL_SPEED_TRAFFIC_BALANCE = 0.1;
const POLL_PAUSE_MAX_MS = 8;
/** How long stopping waits for the updates being handled. */
const IN_FLIGHT_GRACE_MS = 10_000;

export async function startBot(vanta: VantaBot, transport: Transport, logger: Logger): Promise<RunningBot> {
  const { bot } = vanta;
  bot.catch((err) => logger.error({ err: err.error, update_id: err.ctx.update.update_id }, 'An update failed outside the error boundary'));
  // Not bot.init(): it retries getMe on its own with delays growing to 20 minutes, so a bot whose
  // Bot API was down would come up long after it is back. startBotWhenReachable paces the tries.
  if (!bot.isInited()) bot.botInfo = await bot.api.getMe();
  await bot.api.setMyCommands(COMMANDS.map((c) => ({ command: c.command, description: c.description })));
  if (transport.kind === 'polling') {
    // run() does not remove a webhook, and Telegram refuses getUpdates while one is set.
    await bot.api.deleteWebhook();
    const runner: RunnerHandle = run(bot, {
      // A few ms between polls under load, so each getUpdates brings several updates instead of one
      // or two (at 1,000 updates/s it was ~480 calls a second); never more than POLL_PAUSE_MAX_MS.
      source: { speedTrafficBalance: POLL_SPEED_TRAFFIC_BALANCE, maxDelayMilliseconds: POLL_PAUSE_MAX_MS },
      runner: { fetch: { timeout: 25, allowed_updates: [...ALLOWED_UPDATES] }, retryInterval: 'exponential', maxRetryTime: Infinity },
    });
    logger.info({ bot: bot.botInfo.username, transport: 'polling' }, 'Telegram bot is polling for updates');
    return {
      listening: null,
      stop: async () => {
        if (runner.isRunning()) await runner.stop();
        // The runner's stop() resolves once fetching stops, not when the updates being handled are
        // done: wait for them (a confirmed order on its way to the actor), bounded, so the engine
        // is not stopped under them.
        const until = Date.now() + IN_FLIGHT_GRACE_MS;
        while (runner.size() > 0 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
        if (runner.size() > 0) logger.warn({ updates: runner.size() }, 'Stopped the Telegram bot with updates still being handled');
      },
    };
  }
  const handle = webhookCallback(bot, 'http', { secretToken: transport.secret, timeoutMilliseconds: 10_000, onTimeout: 'return' });
  const server: Server = createServer((req, res) => {
    if (req.method !== 'POST') {
      res.writeHead(405).end();
      return;
    }
    handle(req, res).catch((err: unknown) => {
      logger.error({ err }, 'A webhook update failed');
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(transport.port, transport.host, () => resolve());
  });
  const address = server.address();
  const listening = typeof address === 'object' && address ? `http://${transport.host}:${address.port}` : `http://${transport.host}:${transport.port}`;
  await bot.api.setWebhook(transport.url, { secret_token: transport.secret, allowed_updates: [...ALLOWED_UPDATES] });
  logger.info({ bot: bot.botInfo.username, transport: 'webhook', url: transport.url, listening }, 'Telegram bot receives updates by webhook');
  return {
    listening,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Telegram keeps its connection open between updates; an idle one must not hold the stop.
        server.closeIdleConnections();
      }),
  };
}

/**
 * Starts the bot, and keeps trying while the Bot API cannot be reached: the engine runs on
 * (positions are followed, notices wait durably in the traders' actors) and the bot comes up as
 * soon as Telegram answers. Backs off from 1 s to 30 s; `stop()` ends the attempts too.
 */
export function startBotWhenReachable(vanta: VantaBot, transport: Transport, logger: Logger, sleep = (ms: number, signal: AbortSignal) => abortableSleep(ms, signal)): RunningBot & { readonly started: Promise<void> } {
  const controller = new AbortController();
  let running: RunningBot | null = null;
  const started = (async () => {
    for (let attempt = 0; !controller.signal.aborted; attempt++) {
      try {
        running = await startBot(vanta, transport, logger);
        if (controller.signal.aborted) await running.stop();
        return;
      } catch (err) {
        const waitMs = Math.min(30_000, 1_000 * 2 ** Math.min(attempt, 5));
        logger.warn({ err, retry_in_ms: waitMs }, 'The Telegram Bot API cannot be reached; trading goes on and the bot starts as soon as it answers');
        await sleep(waitMs, controller.signal);
      }
    }
  })();
  return {
    started,
    get listening() {
      return running?.listening ?? null;
    },
    stop: async () => {
      controller.abort();
      await started;
      await running?.stop();
    },
  };
}

/** Resolves after `ms`, or at once when `signal` aborts (stopping ends the wait, it is not an error). */
function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return delay(ms, undefined, { signal }).catch(() => {});
}
