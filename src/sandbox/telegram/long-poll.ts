/**
 * getUpdates as Telegram serves it: offset confirms, limit 1-100, timeout holds the request open
 * until an update arrives, and only one poller at a time: a new getUpdates terminates the one
 * still waiting with 409 Conflict. While a webhook is set, getUpdates itself is a 409.
 */
import { conflict, DESCRIPTIONS, type BotApiError } from './bot-api-error.ts';
import type { Update, UpdateQueue } from './update-queue.ts';

export interface PollRequest {
  readonly offset?: number;
  readonly limit?: number;
  readonly timeout?: number;
  readonly allowed_updates?: readonly string[];
}

/** The client's side of one HTTP request: whether it still listens, and when it goes away. */
export interface PollConnection {
  isAlive(): boolean;
  onClose(listener: () => void): void;
}

interface Waiting {
  readonly connection: PollConnection;
  terminate(error: BotApiError): void;
}

/** Longest hold Telegram allows; longer timeouts are served as this. */
const MAX_TIMEOUT_SECONDS = 50;

export class LongPoll {
  private waiting: Waiting | null = null;
  private readonly queue: UpdateQueue;
  private readonly webhookUrl: () => string | null;

  constructor(queue: UpdateQueue, webhookUrl: () => string | null) {
    this.queue = queue;
    this.webhookUrl = webhookUrl;
  }

  async getUpdates(request: PollRequest, connection: PollConnection): Promise<Update[]> {
    if (this.webhookUrl()) throw conflict(DESCRIPTIONS.webhookActive);
    await this.replaceWaiting(conflict(DESCRIPTIONS.pollConflict));
    this.queue.setAllowed(request.allowed_updates);
    if (request.offset !== undefined && request.offset !== 0) this.queue.confirm(request.offset);
    // Telegram takes 1-100 and treats anything else as the default, 100.
    const limit = request.limit === undefined || request.limit < 1 ? 100 : Math.min(100, request.limit);
    const timeoutSeconds = Math.min(MAX_TIMEOUT_SECONDS, Math.max(0, request.timeout ?? 0));

    if (this.queue.size > 0 || timeoutSeconds === 0) return this.queue.take(limit);
    await this.wait(timeoutSeconds * 1000, connection);
    return connection.isAlive() ? this.queue.take(limit) : [];
  }

  /** setWebhook ends a waiting poll the way Telegram does. */
  terminate(error: BotApiError): void {
    this.waiting?.terminate(error);
    this.waiting = null;
  }

  private async replaceWaiting(error: BotApiError): Promise<void> {
    const previous = this.waiting;
    if (!previous) return;
    // A poller that was just aborted (bot.stop(), runner restart) may close its socket a moment
    // after its successor connects; give the close a chance to arrive before calling it a conflict.
    if (previous.connection.isAlive()) await new Promise((resolve) => setTimeout(resolve, 25));
    if (this.waiting === previous) {
      this.waiting = null;
      previous.terminate(error);
    }
  }

  private wait(ms: number, connection: PollConnection): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (error?: BotApiError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        stopListening();
        if (this.waiting === self) this.waiting = null;
        if (error) reject(error);
        else resolve();
      };
      const self: Waiting = { connection, terminate: (error) => finish(error) };
      const timer = setTimeout(() => finish(), ms);
      const stopListening = this.queue.onPush(() => finish());
      connection.onClose(() => finish());
      this.waiting = self;
    });
  }
}
