import assert from 'node:assert/strict';
import type { CallbackAnswer, ChatEntry, SimulatedUser } from '../../src/sandbox/telegram/bot-api-double.ts';
import type { BotHarness } from './bot-harness.ts';
import { sleep, waitFor } from './runtime.ts';

/**
 * A trader in a bot test: a simulated Telegram user who waits for the bot's answer to each thing
 * they do, and who paces themselves under the bot's per-user rate limit (with a margin: the
 * limiter's window starts when the bot takes the first update, not when it was sent). Tests about
 * the limiter itself use the raw `user`.
 */
export interface Trader {
  readonly id: number;
  readonly user: SimulatedUser;
  /** Sends `text`; resolves with the first bot message (new or edited after the send) matching `expect`. */
  say(text: string, expect: RegExp, timeoutMs?: number): Promise<ChatEntry>;
  /**
   * Sends `text`; resolves with the bot's first settled message after it: a new message or the
   * edit of one, that is not a "⏳ Reading…" placeholder still waiting for its result.
   */
  answer(text: string, timeoutMs?: number): Promise<ChatEntry>;
  /** Presses the newest button labelled `label`; resolves with its answer (the toast or alert). */
  click(label: string): Promise<CallbackAnswer>;
  /** Presses the newest `label` and waits for a bot message (new or edited) matching `expect`. */
  clickFor(label: string, expect: RegExp, timeoutMs?: number): Promise<ChatEntry>;
  /** Presses `data` on message `messageId` (forged when it is not there); resolves with the answer. */
  press(messageId: number, data: string, options?: { forge?: boolean }): Promise<CallbackAnswer>;
  /** Waits for a bot message (already there, or new, or edited) matching `pattern`. */
  sees(pattern: RegExp, timeoutMs?: number): Promise<ChatEntry>;
  /** Waits until message `messageId` shows text matching `pattern`. */
  shows(messageId: number, pattern: RegExp, timeoutMs?: number): Promise<ChatEntry>;
  /** The newest bot message matching `pattern` now. */
  last(pattern: RegExp): ChatEntry;
  /** The callback data of the button labelled `label` on message `messageId`. */
  dataOf(messageId: number, label: string): string;
  /** Bot messages after message `messageId` (the chat as the trader sees it now). */
  botMessagesAfter(messageId: number): ChatEntry[];
  /** The id of the newest message in the chat (a marker for "after this"). */
  mark(): number;
}

const DEFAULT_WAIT_MS = 20_000;
/** What a command shows while it reads (src/bot/pending.ts), before it is edited to the result. */
const PLACEHOLDER = /^⏳ [^\n]*…$/;

/** Runs `work` for each item, the items shared round-robin among `traders`: one at a time per trader, the traders at once. */
export async function shared<T>(traders: readonly Trader[], items: readonly T[], work: (t: Trader, item: T) => Promise<void>): Promise<void> {
  await Promise.all(
    traders.map(async (t, k) => {
      for (let i = k; i < items.length; i += traders.length) await work(t, items[i]!);
    }),
  );
}

export function trader(h: Pick<BotHarness, 'double' | 'rateLimit'>, id: number, firstName = `Trader ${id}`): Trader {
  const user = h.double.user(id, { firstName });
  const sent: number[] = [];
  const WINDOW_MS = h.rateLimit.windowMs + 500;
  const PER_WINDOW = Math.max(1, h.rateLimit.limit - 2);

  async function pace(): Promise<void> {
    for (;;) {
      const now = Date.now();
      while (sent.length && sent[0]! <= now - WINDOW_MS) sent.shift();
      if (sent.length < PER_WINDOW) break;
      await sleep(sent[0]! + WINDOW_MS - now + 5);
    }
    sent.push(Date.now());
  }

  const fresh = (pattern: RegExp, timeoutMs: number) => user.waitFor((m) => m.from === 'bot' && pattern.test(m.text), timeoutMs, { fresh: true });

  const t: Trader = {
    id,
    user,
    async say(text, expect, timeoutMs = DEFAULT_WAIT_MS) {
      await pace();
      const waiting = fresh(expect, timeoutMs);
      user.send(text);
      return waiting;
    },
    async answer(text, timeoutMs = DEFAULT_WAIT_MS) {
      await pace();
      const sent = user.send(text);
      return user.waitFor((m) => m.from === 'bot' && m.messageId > sent.messageId && !PLACEHOLDER.test(m.text), timeoutMs);
    },
    async click(label) {
      await pace();
      return user.waitForAnswer(user.click(label), DEFAULT_WAIT_MS);
    },
    async clickFor(label, expect, timeoutMs = DEFAULT_WAIT_MS) {
      await pace();
      const waiting = fresh(expect, timeoutMs);
      waiting.catch(() => {});
      // A refusal shown as an alert fails at once, with what it said.
      const refused = user.waitForAnswer(user.click(label), timeoutMs).then((a) =>
        a.showAlert ? Promise.reject(new Error(`The bot answered ${JSON.stringify(label)} with an alert: ${a.text ?? ''}\n${transcript(user)}`)) : new Promise<never>(() => {}),
      );
      return Promise.race([waiting, refused]);
    },
    async press(messageId, data, options = {}) {
      await pace();
      return user.waitForAnswer(user.press(messageId, data, options), DEFAULT_WAIT_MS);
    },
    sees: (pattern, timeoutMs = DEFAULT_WAIT_MS) => user.waitFor((m) => m.from === 'bot' && pattern.test(m.text), timeoutMs),
    shows: (messageId, pattern, timeoutMs = DEFAULT_WAIT_MS) => user.waitFor((m) => m.messageId === messageId && pattern.test(m.text), timeoutMs),
    last(pattern) {
      const found = user.messages().filter((m) => m.from === 'bot' && pattern.test(m.text)).at(-1);
      assert.ok(found, `a bot message matching ${pattern}; chat:\n${transcript(user)}`);
      return found;
    },
    dataOf(messageId, label) {
      const message = user.messages().find((m) => m.messageId === messageId);
      const button = (message?.keyboard ?? []).flat().find((b) => b.text === label);
      assert.ok(button && 'callback_data' in button && typeof button.callback_data === 'string', `a button ${label} on message ${messageId}; chat:\n${transcript(user)}`);
      return button.callback_data;
    },
    botMessagesAfter: (messageId) => user.messages().filter((m) => m.from === 'bot' && m.messageId > messageId),
    mark: () => user.messages().at(-1)?.messageId ?? 0,
  };
  return t;
}

export function transcript(user: SimulatedUser): string {
  return user
    .messages()
    .slice(-15)
    .map((m) => `  #${m.messageId} ${m.from}: ${JSON.stringify(m.text.slice(0, 300))}${m.keyboard ? ` [${m.keyboard.flat().map((b) => b.text).join(' | ')}]` : ''}`)
    .join('\n');
}

/** Everything of record about a trader: what "changes nothing" is checked against. */
export interface TraderState {
  readonly actor: unknown;
  readonly rows: unknown;
  readonly wallets: number;
  readonly requests: { open: number; close: number } | null;
}

export async function stateOf(h: BotHarness, telegramId: number): Promise<TraderState> {
  const userId = `user:${telegramId}`;
  // Settled first: notices on their way out (delivered, not yet acknowledged) and writes in flight.
  await waitFor(() => ((h.runtime.get(userId)?.getSnapshot() as { context?: { notices?: unknown[] } } | undefined)?.context?.notices ?? []).length === 0, `${userId}'s notices to be delivered`, 10_000);
  await h.runtime.flushed();
  const actor = h.runtime.get(userId);
  const [{ n }] = (await h.f.pg.db.sql<{ n: string | number }>('select count(*) as n from wallets where user_id = ?', [userId])) as [{ n: string | number }];
  const rows = await h.f.pg.db.sql<{ id: string; status: string; snapshot: unknown }>(
    'select id, status, snapshot from actor_snapshots where id = ? or parent = ? order by id',
    [userId, userId],
  );
  const wallet = await h.f.wallets.find(userId);
  return {
    actor: actor ? JSON.parse(JSON.stringify(actor.getPersistedSnapshot())) : null,
    rows,
    wallets: Number(n),
    requests: wallet ? await h.requests(wallet.address) : null,
  };
}

/** Asserts a trader's actor, rows, wallet and on-chain requests are as they were. */
export async function assertUnchanged(h: BotHarness, telegramId: number, before: TraderState, what: string): Promise<void> {
  assert.deepEqual(await stateOf(h, telegramId), before, `${what} changed nothing`);
}
