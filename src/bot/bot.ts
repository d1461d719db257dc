import { autoRetry } from '@grammyjs/auto-retry';
import { limit } from '@grammyjs/ratelimiter';
import { sequentialize } from '@grammyjs/runner';
import { RedisAdapter } from '@grammyjs/storage-redis';
import { Bot, MemorySessionStorage, session, type StorageAdapter } from 'grammy';
import type { UserFromGetMe } from 'grammy/types';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { AdminDesk, DelegationDesk, Mode, NoticeSink, TradingDesk } from '../actors/desk.ts';
import type { ActionTable } from './actions.ts';
import { answerPress, correlationId, errorBoundary } from './boundary.ts';
import { initialSession, type SessionData, type VantaContext } from './context.ts';
import { accountActions, accountCommands, applyTypedSetting } from './flows/account.ts';
import { ADMIN_COMMANDS, adminActions, adminCommands, previewBroadcast } from './flows/admin.ts';
import { delegationActions, delegationCommands } from './flows/delegation.ts';
import { positionActions, positionCommands } from './flows/positions.ts';
import { textOrder, tradeActions, tradeCommands, typedWizardValue } from './flows/trade.ts';
import { typedWithdrawalValue, withdrawActions } from './flows/withdraw.ts';
import { html } from './html.ts';
import { createBotApiFetch } from './bot-api-fetch.ts';
import { Keyboards } from './keyboards.ts';
import { memoryKeyValue, redisKeyValue, rememberingKeyValue } from './kv.ts';
import { createNoticeSink } from './notices.ts';
import { OrderCards } from './order-cards.ts';
import { OutgoingLimiter, outgoingLimiter, TELEGRAM_LIMITS, type OutgoingLimits } from './outgoing.ts';
import { parseTextOrder } from './parse.ts';
import { rememberingSessions } from './session-store.ts';
import { randomId } from './random.ts';

/**
 * The Telegram front end: a thin grammY adapter. A handler parses and validates what the trader
 * sent, asks the desk (one event to the trader's actor, or a read), and renders the answer; no
 * trading rule lives here. Plugins (ADR 0012): runner's sequentialize (one update at a time per
 * chat), auto-retry (Telegram's retry_after) under our own outgoing limiter (src/bot/outgoing.ts),
 * ratelimiter (incoming spam per user) and sessions (UI state only), both in Redis when it is
 * configured and in memory otherwise.
 */
export interface VantaBotOptions {
  readonly token: string;
  /** Bot API root, e.g. https://api.telegram.org, a self-hosted Bot API server, or the sandbox double. */
  readonly apiRoot: string;
  readonly desk: TradingDesk;
  readonly admin: AdminDesk | null;
  /** Avantis v2's trading key (/connect, /disconnect); absent or null on v1 and in paper mode. */
  readonly delegation?: DelegationDesk | null;
  readonly adminIds: readonly number[];
  readonly mode: Mode;
  readonly logger: Logger;
  readonly redis: Redis | null;
  /** Skips getMe at start (tests that know the bot). */
  readonly botInfo?: UserFromGetMe;
  /** Incoming updates allowed per user per window (default 8 per 2 s). */
  readonly rateLimit?: { readonly windowMs: number; readonly limit: number };
  /** Tries of a failed Bot API call (429, 5xx, network) before it fails (default 3). */
  readonly apiRetries?: number;
  /**
   * Outgoing flood control (default: Telegram's limits, TELEGRAM_LIMITS). Tests that walk through
   * hundreds of replies and the benchmark raise them (with the double's own flood control); false
   * leaves the limiter out (auto-retry still honours 429s).
   */
  readonly outgoingLimits?: OutgoingLimits | false;
  /** The clock reviews are timed by (default Date.now; tests move it to expire a review). */
  readonly now?: () => number;
}

export interface VantaBot {
  readonly bot: Bot<VantaContext>;
  /** Hand this to the engine: it delivers the trader's notices (resolves once Telegram has them). */
  readonly notices: NoticeSink;
}

export const COMMANDS = [
  { command: 'start', description: 'Your wallet and the mode' },
  { command: 'trade', description: 'Open a position step by step' },
  { command: 'positions', description: 'Open positions, PnL, close' },
  { command: 'wallet', description: 'Balances and deposit address' },
  { command: 'markets', description: 'Pairs, prices, leverage, fees' },
  { command: 'history', description: 'Finished trades' },
  { command: 'settings', description: 'Leverage, slippage, notifications' },
  { command: 'status', description: 'Mode, chain and price feeds' },
  { command: 'connect', description: 'Vanta’s trading key: what it can do, enable it' },
  { command: 'disconnect', description: 'Revoke Vanta’s trading key' },
  { command: 'help', description: 'Everything Vanta can do' },
] as const;

/** UI sessions (a flow's step, a typed value awaited) are forgotten a day after they last changed. */
const SESSION_TTL_SECONDS = 24 * 3600;

const KNOWN_COMMANDS = new Set<string>([...COMMANDS.map((c) => c.command), ...ADMIN_COMMANDS]);
const ACTIONS: ActionTable = { ...accountActions, ...tradeActions, ...positionActions, ...withdrawActions, ...delegationActions, ...adminActions };

export function createVantaBot(o: VantaBotOptions): VantaBot {
  // Our Bot API client (src/bot/bot-api-fetch.ts): half the CPU per call of grammY's node-fetch.
  const bot = new Bot<VantaContext>(o.token, { client: { apiRoot: o.apiRoot, fetch: createBotApiFetch() }, ...(o.botInfo ? { botInfo: o.botInfo } : {}) });
  // Outgoing: each call to a chat waits its turn under Telegram's limits (a burst of a few messages
  // per chat goes at once, then about one a second; 30 a second overall), and when Telegram still
  // says 429, auto-retry waits retry_after and the limiter holds that chat's next calls as long.
  // The limiter is installed first, so it runs inside auto-retry: every retry waits its turn again.
  // Network errors are not retried here: auto-retry would retry them forever (3 s doubling to an
  // hour, whatever maxRetryAttempts says), holding a chat's updates behind one call. They fail at
  // once instead; the notice courier and the polling runner retry at their own pace.
  if (o.outgoingLimits !== false) bot.api.config.use(outgoingLimiter(new OutgoingLimiter(o.outgoingLimits ?? TELEGRAM_LIMITS)));
  bot.api.config.use(autoRetry({ maxRetryAttempts: o.apiRetries ?? 3, maxDelaySeconds: 30, rethrowHttpErrors: true }));
  const kv = o.redis ? rememberingKeyValue(redisKeyValue(o.redis)) : memoryKeyValue();
  const keyboards = new Keyboards(kv);
  const cards = new OrderCards(kv);
  const services = {
    desk: o.desk,
    admin: o.admin,
    delegation: o.delegation ?? null,
    adminIds: new Set(o.adminIds),
    keyboards,
    cards,
    mode: o.mode,
    logger: o.logger,
    newOrderId: () => randomId(6, 'base64url'),
    now: o.now ?? Date.now,
  };

  bot.use(async (ctx, next) => {
    ctx.vanta = services;
    ctx.correlationId = correlationId();
    ctx.acked = false;
    // Made on first use: most updates log nothing, and a child logger (scrubbed bindings) per update
    // was a measurable share of the bot's CPU under load.
    let log: Logger | undefined;
    Object.defineProperty(ctx, 'log', {
      get: () => (log ??= o.logger.child({ correlation_id: ctx.correlationId, telegram_id: ctx.from?.id, update_id: ctx.update.update_id })),
      configurable: true,
    });
    await next();
  });
  bot.use(errorBoundary);
  // A trader's wallet, orders and buttons are theirs alone: Vanta answers in private chats only.
  bot.use(async (ctx, next) => {
    if (ctx.chat && ctx.chat.type !== 'private') {
      const text = 'Vanta works in a private chat only: open a chat with me to trade.';
      if (ctx.callbackQuery) {
        await answerPress(ctx, { text });
      } else if (ctx.message?.text?.startsWith('/')) await ctx.reply(text);
      return;
    }
    await next();
  });
  // Counted as updates arrive, before they queue behind each other per chat: after sequentialize,
  // a burst from one chat reached the limiter one reply at a time and was never limited.
  const window = o.rateLimit ?? { windowMs: 2_000, limit: 8 };
  bot.use(
    limit<VantaContext, Redis>({
      timeFrame: window.windowMs,
      limit: window.limit,
      storageClient: o.redis ?? 'MEMORY_STORE',
      keyPrefix: 'vanta:bot:rate:',
      keyGenerator: (ctx) => ctx.from?.id.toString(),
      // Called for every update over the limit, not only the first: each tap must be answered.
      alwaysReply: true,
      onLimitExceeded: (ctx) => void tellToSlowDown(ctx),
    }),
  );
  bot.use(sequentialize((ctx: VantaContext) => String(ctx.chat?.id ?? ctx.from?.id ?? '')));

  /** Every tap is answered (or the trader's client spins); skipped messages are mentioned once per window. */
  async function tellToSlowDown(ctx: VantaContext): Promise<void> {
    try {
      if (ctx.callbackQuery) await ctx.answerCallbackQuery({ text: 'Slow down a little: too many taps at once.' });
      else if (ctx.from && (await kv.claim(`rate-told:${ctx.from.id}`, Math.max(1, Math.ceil(window.windowMs / 1000))))) {
        await ctx.reply('You are sending messages too fast; I skipped some. Wait a moment and try again.');
      }
    } catch (err) {
      ctx.log.warn({ err }, 'Could not tell a trader to slow down');
    }
  }
  const storage: StorageAdapter<SessionData> = o.redis
    ? rememberingSessions(new RedisAdapter<SessionData>({ instance: o.redis, ttl: SESSION_TTL_SECONDS }), initialSession, { ttlSeconds: SESSION_TTL_SECONDS })
    : new MemorySessionStorage<SessionData>(SESSION_TTL_SECONDS * 1000);
  bot.use(session({ initial: initialSession, storage, prefix: 'vanta:bot:session:', getSessionKey: (ctx) => ctx.from?.id.toString() }));
  // A command ends whatever typed value was being asked for: "type the slippage" must not turn a
  // number typed after /positions into a setting. (A command that asks for a value sets it again.)
  bot.on('message:text', async (ctx, next) => {
    if (ctx.message.text.startsWith('/') && ctx.session.awaiting) ctx.session.awaiting = null;
    await next();
  });

  bot.on('callback_query:data', async (ctx) => {
    const message = ctx.callbackQuery.message;
    const pressed = await keyboards.resolve(ctx.from.id, message?.chat.id, message?.message_id, ctx.callbackQuery.data);
    const action = ACTIONS[pressed.action];
    if (!action || !message) throw new Error(`a stored button names an unknown action ${pressed.action}`);
    await answerPress(ctx, action.ack ? { text: action.ack } : {});
    await action.run(ctx, pressed.args, message.message_id);
  });
  bot.on('callback_query', async (ctx) => {
    await answerPress(ctx, { text: 'This button is not valid any more.' });
  });

  bot.use(accountCommands, tradeCommands, positionCommands, delegationCommands, adminCommands);

  bot.on('message:text', async (ctx) => {
    const text = ctx.message.text;
    if (text.startsWith('/')) {
      const name = text.slice(1).split(/[\s@]/)[0]?.toLowerCase() ?? '';
      const hint = KNOWN_COMMANDS.has(name) ? '' : ' I do not know that command.';
      await ctx.reply(`${hint.trim() || 'That command did not work here.'} Send /help to see what I can do.`.trim());
      return;
    }
    const awaiting = ctx.session.awaiting;
    // An order typed in the middle of another flow is an order: it ends that flow.
    if (awaiting && !/^(long|short|buy|sell)\b/i.test(text.trim())) {
      // Each step keeps waiting until a valid value arrives (a typo is refused and can be retyped).
      if (awaiting.kind === 'collateral' || awaiting.kind === 'leverage') return typedWizardValue(ctx, awaiting.kind, text);
      if (awaiting.kind === 'withdraw-amount' || awaiting.kind === 'withdraw-to' || awaiting.kind === 'withdraw-add') return typedWithdrawalValue(ctx, awaiting, text);
      if (awaiting.kind === 'setting') {
        await applyTypedSetting(ctx, awaiting.setting, text);
        ctx.session.awaiting = null;
        return;
      }
      ctx.session.awaiting = null;
      return previewBroadcast(ctx, text);
    }
    ctx.session.awaiting = null;
    const draft = parseTextOrder(text);
    if (draft) return textOrder(ctx, draft);
    if (/^\s*\d+([.,]\d+)?\s*x?\s*$/i.test(text)) {
      await ctx.reply('A number on its own answers a question I am not asking now (a command you sent since ended it). Start over with /trade or /settings, or type a whole order like long eth 100 10x.');
      return;
    }
    await ctx.reply(
      html`I did not understand that. Try /trade, /positions or /help, or type an order like <code>long eth 100 10x</code>.`.value,
      { parse_mode: 'HTML' },
    );
  });
  bot.on('message', async (ctx) => {
    await ctx.reply('I read text messages and commands only. Send /help to see what I can do.');
  });

  return { bot, notices: createNoticeSink({ api: bot.api, keyboards, cards, logger: o.logger }) };
}
