/**
 * Telegram's flood control, approximated with token buckets: about 30 messages a second across all
 * chats and about one a second in any one chat, with a small burst allowed. A refused call gets
 * 429 with the whole seconds to wait until a message would pass, as Telegram's retry_after.
 */
export interface BucketLimit {
  /** Sustained rate. */
  readonly perSecond: number;
  /** Messages that may go at once after a quiet spell. */
  readonly burst: number;
}

export interface FloodLimits {
  readonly global: BucketLimit;
  readonly perChat: BucketLimit;
}

export const DEFAULT_FLOOD_LIMITS: FloodLimits = {
  global: { perSecond: 30, burst: 30 },
  perChat: { perSecond: 1, burst: 5 },
};

interface Bucket {
  tokens: number;
  updatedAt: number;
}

export interface FloodControl {
  /** Takes one message for `chatId`; returns null when allowed, or the seconds to wait. */
  take(chatId: number): number | null;
}

export function createFloodControl(limits: FloodLimits | false, now: () => number): FloodControl {
  if (limits === false) return { take: () => null };
  const global: Bucket = { tokens: limits.global.burst, updatedAt: now() };
  const chats = new Map<number, Bucket>();

  function refill(bucket: Bucket, limit: BucketLimit, at: number): void {
    bucket.tokens = Math.min(limit.burst, bucket.tokens + ((at - bucket.updatedAt) / 1000) * limit.perSecond);
    bucket.updatedAt = at;
  }
  const waitSeconds = (bucket: Bucket, limit: BucketLimit) => Math.max(1, Math.ceil((1 - bucket.tokens) / limit.perSecond));

  return {
    take(chatId) {
      const at = now();
      let chat = chats.get(chatId);
      if (!chat) {
        chat = { tokens: limits.perChat.burst, updatedAt: at };
        chats.set(chatId, chat);
      }
      refill(global, limits.global, at);
      refill(chat, limits.perChat, at);
      if (chat.tokens < 1) return waitSeconds(chat, limits.perChat);
      if (global.tokens < 1) return waitSeconds(global, limits.global);
      chat.tokens -= 1;
      global.tokens -= 1;
      return null;
    },
  };
}
