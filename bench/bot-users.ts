/**
 * Telegram's side of the bot benchmark, in a process of its own: the Bot API double (flood
 * control off) and simulated users driven open-loop at a fixed rate. Apart from the bot, so the
 * double's own work (HTTP, validating every call) is not charged to the bot's event loop, and a
 * busy bot cannot delay the users' sends and hide its queueing (coordinated omission).
 *
 * Latencies are taken here, on one clock: from the moment a user's update is queued in the
 * double (taken just before the queue push) to the moment the bot's sendMessage/editMessageText
 * for that chat is applied by the double (its `subscribe` event).
 *
 * Driven by bench/bot.bench.ts over IPC: { id, op, ...args } → { id, ok, result | error }.
 */
import { startBotApiDouble, type BotApiDouble, type ChatEntry, type ChatEvent, type SimulatedUser } from '../src/sandbox/telegram/bot-api-double.ts';
import { createLogger } from '../src/infra/logger.ts';
import { performance as nodePerformance } from 'node:perf_hooks';
import { latency, round, type Latency } from './support.ts';

/** 'vanta': the real bot (the answer, or ⏳ then an edit; settings buttons). 'bare': a bot that only replies. */
/** What a Vanta command shows while a slow read runs (src/bot/pending.ts), before it is edited to the answer. */
const PLACEHOLDER = /^⏳ [^\n]*…$/;
export type Profile = 'vanta' | 'bare';
export type Kind = 'positions' | 'markets' | 'settings' | 'toggle';
export const KINDS: readonly Kind[] = ['positions', 'markets', 'settings', 'toggle'];

export type Request =
  | { readonly op: 'start' }
  | { readonly op: 'onboard'; readonly users: readonly number[]; readonly profile: Profile; readonly confirmOrders?: false; readonly concurrency: number }
  | { readonly op: 'load'; readonly users: readonly number[]; readonly profile: Profile; readonly rate: number; readonly warmupMs: number; readonly windowMs: number; readonly drainMs: number }
  | { readonly op: 'order'; readonly user: number; readonly text: string }
  | { readonly op: 'violations' }
  | { readonly op: 'calls' };

export interface LoadResult {
  readonly sent: number;
  /** Updates queued per second over the whole run (warm-up included). */
  readonly achievedRate: number;
  /** Replies completed per second while the updates were being sent: below the rate means a growing queue. */
  readonly repliesPerSecond: number;
  /** Updates answered in all, warm-up included. */
  readonly replied: number;
  readonly measured: number;
  /** The reply a user waits for: the answer (Vanta: sent as it is, or a ⏳ message edited to it). */
  readonly reply: Latency;
  /** The first message or edit the bot sent in that chat after the update (Vanta's "⏳ …" when a read is slow). */
  readonly firstSign: Latency;
  /** From the update queued to the bot's getUpdates taking it (commands only: presses are not reported). */
  readonly pickedUp: Latency;
  readonly byKind: Readonly<Record<Kind, Latency>>;
  /** Measured updates with no reply by the end of the drain. */
  readonly unanswered: number;
  /** Replies whose text was not what the command shows (an error, a refusal), with examples. */
  readonly wrong: number;
  readonly wrongExamples: readonly string[];
  /** Bot messages in a chat with no update waiting (e.g. "you are sending too fast"). */
  readonly unsolicited: number;
  /** This process (the double and the users): CPU ms per update sent and its event loop's busy share while sending. */
  readonly doubleCpuMsPerUpdate: number;
  readonly doubleEventLoopBusy: number;
}

const EXPECTED: Readonly<Record<Kind, RegExp>> = {
  positions: /Your positions|no open positions/i,
  markets: /^Markets/,
  settings: /^Settings/,
  toggle: /^Settings/,
};

interface Pending {
  readonly kind: Kind;
  readonly t0: number;
  readonly measured: boolean;
  firstAt?: number;
  /** The user's message id, for a command: the double reports when the bot fetched it. */
  messageId?: number;
}

interface Trader {
  readonly user: SimulatedUser;
  /** The message whose buttons the user presses (Vanta: the settings card; bare: the bot's first reply). */
  buttonsMessage: number;
  buttons: readonly (readonly { text: string; callback_data?: string }[])[];
  readonly pending: Pending[];
}

const logger = createLogger({ level: 'silent' });
let double: BotApiDouble | null = null;
const traders = new Map<number, Trader>();

function api(): BotApiDouble {
  if (!double) throw new Error('the double is not started');
  return double;
}

function isBotContent(event: ChatEvent): event is Extract<ChatEvent, { type: 'message' | 'edited' }> {
  return (event.type === 'message' || event.type === 'edited') && event.entry.from === 'bot';
}

async function start(): Promise<{ apiRoot: string; token: string }> {
  double = await startBotApiDouble({ logger, limits: { flood: false }, chatPage: false });
  // Keep each trader's button message current: a pressed toggle comes back with new buttons.
  double.subscribe((event) => {
    if (!isBotContent(event)) return;
    const trader = traders.get(event.chatId);
    if (trader && event.entry.messageId === trader.buttonsMessage && event.entry.keyboard) trader.buttons = event.entry.keyboard;
  });
  return { apiRoot: double.apiRoot, token: double.token };
}

const isWelcome = (m: ChatEntry) => m.from === 'bot' && /Welcome to Vanta|Welcome back/.test(m.text) && !!m.keyboard;
const isSettings = (m: ChatEntry) => m.from === 'bot' && /^Settings/.test(m.text) && !!m.keyboard;

async function onboardOne(id: number, profile: Profile, confirmOrders: boolean | undefined): Promise<void> {
  const user = api().user(id);
  if (profile === 'bare') {
    const reply = await user.reply('/start', 30_000);
    traders.set(id, { user, buttonsMessage: reply.messageId, buttons: reply.keyboard ?? [], pending: [] });
    return;
  }
  user.send('/start');
  await user.waitFor(isWelcome, 60_000);
  user.send('/settings');
  const card = await user.waitFor(isSettings, 30_000);
  const trader: Trader = { user, buttonsMessage: card.messageId, buttons: card.keyboard ?? [], pending: [] };
  traders.set(id, trader);
  if (confirmOrders === false) {
    const toggle = findButton(trader, /^✅ Confirm text orders/);
    if (toggle) {
      user.press(card.messageId, toggle);
      await user.waitFor((m) => m.messageId === card.messageId && /⬜ Confirm text orders/.test(JSON.stringify(m.keyboard ?? [])), 30_000, { fresh: true });
    }
  }
}

function findButton(trader: Trader, label: RegExp): string | undefined {
  return trader.buttons.flat().find((b) => label.test(b.text))?.callback_data;
}

async function onboard(users: readonly number[], profile: Profile, confirmOrders: boolean | undefined, concurrency: number): Promise<{ seconds: number }> {
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, users.length) }, async () => {
      while (next < users.length) await onboardOne(users[next++]!, profile, confirmOrders);
    }),
  );
  return { seconds: Math.round((performance.now() - started) / 100) / 10 };
}

/**
 * Open loop: update n goes at start + n/rate whatever the bot is doing; user i (of U) sends every
 * U/rate seconds and cycles through the kinds, offset by i so the mix is even at every moment.
 */
async function load(r: Extract<Request, { op: 'load' }>): Promise<LoadResult> {
  const users = r.users.map((id) => {
    const trader = traders.get(id);
    if (!trader) throw new Error(`user ${id} was not onboarded`);
    return trader;
  });
  const inLoad = new Map(users.map((t) => [t.user.id, t]));
  const total = Math.round((r.rate * (r.warmupMs + r.windowMs)) / 1000);
  const warmup = Math.round((r.rate * r.warmupMs) / 1000);
  const reply: number[] = [];
  const first: number[] = [];
  const byKind: Record<Kind, number[]> = { positions: [], markets: [], settings: [], toggle: [] };
  const wrongExamples: string[] = [];
  const trace: [number, number, string][] = [];
  let wrong = 0;
  let unsolicited = 0;

  const pickedUp: number[] = [];
  let sending = true;
  let repliedWhileSending = 0;
  let replied = 0;
  // Fetched by the bot, by chat and message id (possibly during send() itself, when a poll waits).
  const deliveredAt = new Map<string, number>();
  const stop = api().subscribe((event) => {
    if (event.type === 'delivered') {
      deliveredAt.set(`${event.chatId}:${event.messageId}`, performance.now());
      return;
    }
    if (!isBotContent(event)) return;
    const at = performance.now();
    const trader = inLoad.get(event.chatId);
    if (!trader) return; // another chat (a trader's order notices)
    const head = trader.pending[0];
    if (!head) {
      unsolicited += 1;
      return;
    }
    head.firstAt ??= at;
    // The reply a user waits for: a press edits the card (both bots); a command is answered by a
    // message, which for Vanta may first be a "⏳ …" placeholder (a slow read) edited to the answer.
    const final = head.kind === 'toggle' ? event.type === 'edited' : r.profile === 'vanta' ? !PLACEHOLDER.test(event.entry.text) : event.type === 'message';
    if (!final) return;
    trader.pending.shift();
    replied += 1;
    if (sending) repliedWhileSending += 1;
    if (r.profile === 'vanta' && !EXPECTED[head.kind].test(event.entry.text)) {
      wrong += 1;
      if (wrongExamples.length < 5) wrongExamples.push(`${head.kind}: ${event.entry.text.slice(0, 160)}`);
    }
    const fetched = head.messageId === undefined ? undefined : deliveredAt.get(`${event.chatId}:${head.messageId}`);
    if (fetched !== undefined) deliveredAt.delete(`${event.chatId}:${head.messageId}`);
    if (!head.measured) return;
    if (fetched !== undefined) pickedUp.push(fetched - head.t0);
    reply.push(at - head.t0);
    if (process.env['BENCH_BOT_TRACE']) trace.push([Math.round(head.t0 - started), Math.round(at - head.t0), head.kind]);
    first.push(head.firstAt - head.t0);
    byKind[head.kind].push(at - head.t0);
  });

  function fire(n: number): void {
    const index = n % users.length;
    const trader = users[index]!;
    const kind = KINDS[(index + Math.floor(n / users.length)) % KINDS.length]!;
    const pending: Pending = { kind, t0: performance.now(), measured: n >= warmup };
    trader.pending.push(pending);
    if (kind === 'toggle') {
      const data = r.profile === 'vanta' ? findButton(trader, /Fills$/) : trader.buttons.flat()[0]?.callback_data;
      if (!data) throw new Error(`user ${trader.user.id} has no button to press`);
      trader.user.press(trader.buttonsMessage, data);
    } else {
      pending.messageId = trader.user.send(`/${kind}`).messageId;
    }
  }

  const cpu = process.cpuUsage();
  const elu = nodePerformance.eventLoopUtilization();
  const started = performance.now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - started) * r.rate) / 1000) + 1);
      while (sent < due) fire(sent++);
      if (sent >= total) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  const sendSeconds = (performance.now() - started) / 1000;
  sending = false;
  const busy = nodePerformance.eventLoopUtilization(elu).utilization;
  const drainUntil = performance.now() + r.drainMs;
  while (users.some((t) => t.pending.length > 0) && performance.now() < drainUntil) await new Promise((res) => setTimeout(res, 20));
  stop();
  if (process.env['BENCH_BOT_TRACE']) (await import('node:fs')).writeFileSync(`${process.env['BENCH_BOT_TRACE']}-${r.profile}-${r.rate}-${Date.now()}.json`, JSON.stringify(trace));
  const used = process.cpuUsage(cpu);
  const lost: Record<Kind, number> = { positions: 0, markets: 0, settings: 0, toggle: 0 };
  for (const t of users) for (const p of t.pending) if (p.measured) lost[p.kind] += 1;
  const unanswered = KINDS.reduce((sum, kind) => sum + lost[kind], 0);
  for (const t of users) t.pending.length = 0;
  return {
    sent,
    achievedRate: Math.round(sent / sendSeconds),
    repliesPerSecond: Math.round(repliedWhileSending / sendSeconds),
    replied,
    measured: total - warmup,
    reply: latency(reply, unanswered),
    firstSign: latency(first, unanswered),
    pickedUp: latency(pickedUp),
    byKind: Object.fromEntries(KINDS.map((kind) => [kind, latency(byKind[kind], lost[kind])])) as Record<Kind, Latency>,
    unanswered,
    wrong,
    wrongExamples,
    unsolicited,
    doubleCpuMsPerUpdate: round((used.user + used.system) / 1000 / sent, 2),
    doubleEventLoopBusy: round(busy, 2),
  };
}

/** Sends a text order; returns when it was queued (epoch ms, to compare with the bot's process) and when it was accepted. */
async function order(id: number, text: string): Promise<{ queuedAt: number; acceptedMs: number | null; reply: string }> {
  const trader = traders.get(id);
  if (!trader) throw new Error(`user ${id} was not onboarded`);
  const accepted = trader.user.waitFor((m) => m.from === 'bot' && /order accepted|^⚠️/.test(m.text), 30_000, { fresh: true });
  const t0 = performance.now();
  const queuedAt = performance.timeOrigin + t0;
  trader.user.send(text);
  const entry = await accepted;
  const ok = /order accepted/.test(entry.text);
  return { queuedAt, acceptedMs: ok ? performance.now() - t0 : null, reply: entry.text.slice(0, 200) };
}

process.on('message', (message: { id: number } & Request) => {
  const { id } = message;
  const answer = (work: Promise<unknown>) =>
    work.then(
      (result) => process.send!({ id, ok: true, result }),
      (err: unknown) => process.send!({ id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
    );
  switch (message.op) {
    case 'start':
      void answer(start());
      break;
    case 'onboard':
      void answer(onboard(message.users, message.profile, message.confirmOrders, message.concurrency));
      break;
    case 'load':
      void answer(load(message));
      break;
    case 'order':
      void answer(order(message.user, message.text));
      break;
    case 'calls': {
      const counts: Record<string, number> = {};
      for (const c of api().calls()) counts[`${c.method}${c.ok ? '' : ` ${c.errorCode}`}`] = (counts[`${c.method}${c.ok ? '' : ` ${c.errorCode}`}`] ?? 0) + 1;
      void answer(Promise.resolve(counts));
      break;
    }
    case 'violations':
      void answer(Promise.resolve(api().violations().slice(0, 5)));
      break;
  }
});
process.on('disconnect', () => {
  void double?.close().finally(() => process.exit(0));
});
