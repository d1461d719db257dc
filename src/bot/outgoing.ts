import type { Transformer } from 'grammy';

/**
 * Outgoing flood control: Bot API calls addressed to a chat wait their turn under Telegram's
 * limits, so the bot rarely meets a 429, and when it does, the chat (or the whole bot) waits the
 * `retry_after` Telegram named before its next call.
 *
 * Why our own and not @grammyjs/transformer-throttler (ADR 0012): the throttler's Bottleneck
 * queues schedule every call through timers and async generators, ~12 ms per call even with no
 * limit set, which alone kept the bot far from its latency goal. Here a call that is within the
 * limits goes out synchronously, with two token-bucket refills and no timer; only calls that must
 * wait are queued, and one timer serves the whole queue.
 *
 * Calls with a `chat_id` count against their chat and against the bot overall. Calls without one
 * (getUpdates, answerCallbackQuery, getMe, setWebhook…) are not limited: Telegram's message limits
 * do not apply to them, and holding getUpdates or a button's answer behind a broadcast would stall
 * every trader.
 */
export interface OutgoingLimits {
  /** Calls a second to all chats together (Telegram: about 30 messages a second). */
  readonly perSecond: number;
  /** Per chat, calls that may go at once before pacing starts. */
  readonly chatBurst: number;
  /** Per chat, then one call per this many ms (Telegram: about one message a second). */
  readonly chatIntervalMs: number;
}

/**
 * Telegram's limits, with a little margin: 30 messages a second overall; in one chat a short
 * burst, then about one a second (a burst of 5 lets a command's answer and a notice go without
 * waiting a second each). Paced exactly at the limit, the few ms between our clock and Telegram's
 * turned every sixth message of a burst into a 429.
 */
export const TELEGRAM_LIMITS: OutgoingLimits = { perSecond: 28, chatBurst: 5, chatIntervalMs: 1_050 };

/** A token bucket refilled continuously; tokens may go negative to keep a pause Telegram asked for. */
class Bucket {
  tokens: number;
  #at: number;
  readonly #capacity: number;
  readonly #perMs: number;

  constructor(capacity: number, perMs: number, now: number) {
    this.tokens = capacity;
    this.#capacity = capacity;
    this.#perMs = perMs;
    this.#at = now;
  }

  refill(now: number): void {
    if (now <= this.#at) return;
    this.tokens = Math.min(this.#capacity, this.tokens + (now - this.#at) * this.#perMs);
    this.#at = now;
  }

  /** Ms from `now` (after a refill) until one token is there. */
  untilOne(): number {
    return this.tokens >= 1 ? 0 : Math.ceil((1 - this.tokens) / this.#perMs);
  }

  /** No call for `ms`: the bucket holds one token only after that long. */
  pauseFor(ms: number): void {
    this.tokens = Math.min(this.tokens, 1 - ms * this.#perMs);
  }

  get full(): boolean {
    return this.tokens >= this.#capacity;
  }
}

/** What grammY passes as a call's signal (its type is a polyfill's AbortSignal, not the DOM's). */
interface Abortable {
  readonly aborted: boolean;
  readonly reason?: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

interface Waiter {
  readonly chat: string;
  readonly go: () => void;
  readonly fail: (err: unknown) => void;
  done: boolean;
}

interface ChatState {
  readonly bucket: Bucket;
  /** Calls of this chat in the queue: a new call waits behind them, in order. */
  waiting: number;
}

/** Chats at rest (bucket full, nothing waiting) are forgotten once there are more than this many. */
const SWEEP_ABOVE = 10_000;

export class OutgoingLimiter {
  readonly #limits: OutgoingLimits;
  readonly #now: () => number;
  readonly #global: Bucket;
  readonly #chats = new Map<string, ChatState>();
  #queue: Waiter[] = [];
  #timer: ReturnType<typeof setTimeout> | null = null;
  #timerAt = Infinity;
  #sweepAbove = SWEEP_ABOVE;

  constructor(limits: OutgoingLimits, now: () => number = () => performance.now()) {
    if (!(limits.perSecond > 0 && limits.chatBurst >= 1 && limits.chatIntervalMs > 0)) {
      throw new RangeError(`outgoing limits must be positive (got ${JSON.stringify(limits)})`);
    }
    this.#limits = limits;
    this.#now = now;
    this.#global = new Bucket(limits.perSecond, limits.perSecond / 1_000, now());
  }

  /** Calls waiting for their turn now (for metrics and tests). */
  get queued(): number {
    return this.#queue.length;
  }

  /**
   * Waits for `chat`'s turn. Resolves at once (same tick, no timer) when the chat and the bot are
   * within their limits and nothing of this chat is queued ahead.
   */
  acquire(chat: string, signal?: Abortable): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const now = this.#now();
    // Whoever queued first goes first: let the queue take what has refilled before this call does.
    if (this.#queue.length) this.#pump(now);
    const state = this.#chat(chat, now);
    this.#global.refill(now);
    state.bucket.refill(now);
    if (state.waiting === 0 && state.bucket.tokens >= 1 && this.#global.tokens >= 1) {
      state.bucket.tokens -= 1;
      this.#global.tokens -= 1;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        chat,
        done: false,
        go: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        fail: reject,
      };
      const onAbort = () => {
        if (waiter.done) return;
        waiter.done = true;
        state.waiting -= 1;
        reject(abortError(signal!));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      state.waiting += 1;
      this.#queue.push(waiter);
      this.#schedule(now, Math.min(state.bucket.untilOne(), this.#global.untilOne()));
    });
  }

  /** Telegram said 429 with `retry_after`: nothing more to this chat (or to anyone, with no chat) until then. */
  pause(chat: string | null, retryAfterMs: number): void {
    const now = this.#now();
    if (chat === null) {
      this.#global.refill(now);
      this.#global.pauseFor(retryAfterMs);
    } else {
      const state = this.#chat(chat, now);
      state.bucket.refill(now);
      state.bucket.pauseFor(retryAfterMs);
    }
  }

  /** Fails every queued call (the bot is stopping); later calls are limited as before. */
  clear(reason: Error): void {
    const queue = this.#queue;
    this.#queue = [];
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#timerAt = Infinity;
    for (const w of queue) {
      if (w.done) continue;
      w.done = true;
      this.#chats.get(w.chat)!.waiting -= 1;
      w.fail(reason);
    }
  }

  #chat(chat: string, now: number): ChatState {
    let state = this.#chats.get(chat);
    if (!state) {
      if (this.#chats.size >= this.#sweepAbove) this.#sweep(now);
      state = { bucket: new Bucket(this.#limits.chatBurst, 1 / this.#limits.chatIntervalMs, now), waiting: 0 };
      this.#chats.set(chat, state);
    }
    return state;
  }

  /** Lets queued calls go, in order, as far as the buckets allow; schedules the next try. */
  #pump(now: number): void {
    this.#global.refill(now);
    const kept: Waiter[] = [];
    const blocked = new Set<string>();
    let nextInMs = Infinity;
    let index = 0;
    for (; index < this.#queue.length; index++) {
      const w = this.#queue[index]!;
      if (w.done) continue;
      if (blocked.has(w.chat)) {
        kept.push(w);
        continue;
      }
      const state = this.#chats.get(w.chat)!;
      state.bucket.refill(now);
      if (state.bucket.tokens < 1) {
        // Later calls of this chat stay behind this one.
        blocked.add(w.chat);
        nextInMs = Math.min(nextInMs, state.bucket.untilOne());
        kept.push(w);
        continue;
      }
      if (this.#global.tokens < 1) {
        nextInMs = Math.min(nextInMs, this.#global.untilOne());
        break;
      }
      state.bucket.tokens -= 1;
      this.#global.tokens -= 1;
      state.waiting -= 1;
      w.done = true;
      w.go();
    }
    for (; index < this.#queue.length; index++) if (!this.#queue[index]!.done) kept.push(this.#queue[index]!);
    this.#queue = kept;
    if (kept.length) this.#schedule(now, nextInMs === Infinity ? 1 : nextInMs);
  }

  #schedule(now: number, inMs: number): void {
    const at = now + Math.max(1, inMs);
    if (this.#timer && this.#timerAt <= at) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#timerAt = Infinity;
      this.#pump(this.#now());
    }, Math.max(1, inMs));
  }

  /** Forgets chats at rest; if most are busy, sweeps again only when twice as many. */
  #sweep(now: number): void {
    for (const [chat, state] of this.#chats) {
      state.bucket.refill(now);
      if (state.waiting === 0 && state.bucket.full) this.#chats.delete(chat);
    }
    this.#sweepAbove = Math.max(SWEEP_ABOVE, this.#chats.size * 2);
  }
}

function abortError(signal: Abortable): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('The Bot API call was aborted while it waited for its turn under the rate limit');
}

/** The chat a call is addressed to, if any (a number or an @username). */
function chatOf(payload: unknown): string | null {
  if (typeof payload !== 'object' || payload === null || !('chat_id' in payload)) return null;
  const chat = payload.chat_id;
  return typeof chat === 'number' || typeof chat === 'string' ? String(chat) : null;
}

/**
 * The grammY API transformer. Install it before auto-retry (`config.use(outgoing, autoRetry)`
 * runs auto-retry outside it), so each retry waits its turn again and a 429's pause applies to it.
 */
export function outgoingLimiter(limiter: OutgoingLimiter): Transformer {
  return async (prev, method, payload, signal) => {
    const chat = chatOf(payload);
    if (chat === null) return prev(method, payload, signal);
    await limiter.acquire(chat, signal);
    const result = await prev(method, payload, signal);
    const retryAfter = !result.ok && result.error_code === 429 ? result.parameters?.retry_after : undefined;
    if (typeof retryAfter === 'number' && retryAfter > 0) limiter.pause(chat, retryAfter * 1_000);
    return result;
  };
}
