/**
 * Webhook mode: each pending update is POSTed as JSON to the bot's URL, with
 * X-Telegram-Bot-Api-Secret-Token when setWebhook gave a secret_token, and retried until the bot
 * answers 2xx. Up to max_connections requests run at once, but never two for the same chat, so a
 * chat's updates arrive in order (as Telegram's webhook sender does). A 2xx whose JSON body names a
 * `method` is executed as a Bot API call, Telegram's "reply in the webhook response".
 */
import type { Logger } from 'pino';
import type { QueuedUpdate, UpdateQueue } from './update-queue.ts';

export interface WebhookOptions {
  /** First retry after a failed delivery; doubles up to 30 s (default 1000 ms). */
  readonly retryMs: number;
  /** How long the bot may take to answer one update (default 10 s). */
  readonly timeoutMs: number;
}

export interface WebhookSettings {
  readonly url: string;
  readonly secretToken?: string;
  readonly maxConnections: number;
}

export class WebhookDelivery {
  private settings: WebhookSettings | null = null;
  private lastError: { date: number; message: string } | null = null;
  private readonly inFlight = new Set<QueuedUpdate>();
  private readonly retryAt = new Map<QueuedUpdate, { at: number; attempts: number }>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly abort = new AbortController();
  private readonly stopListening: () => void;

  private readonly queue: UpdateQueue;
  private readonly options: WebhookOptions;
  private readonly logger: Logger;
  private readonly onReply: (method: string, params: Record<string, unknown>) => void;

  constructor(queue: UpdateQueue, options: WebhookOptions, logger: Logger, onReply: (method: string, params: Record<string, unknown>) => void) {
    this.queue = queue;
    this.options = options;
    this.logger = logger;
    this.onReply = onReply;
    this.stopListening = queue.onPush(() => this.pump());
  }

  url(): string | null {
    return this.settings?.url ?? null;
  }

  set(settings: WebhookSettings): void {
    const changed = this.settings?.url !== settings.url;
    this.settings = settings;
    if (changed) this.lastError = null;
    this.pump();
  }

  clear(): void {
    this.settings = null;
    this.lastError = null;
    this.retryAt.clear();
  }

  info(allowedUpdates: readonly string[]): Record<string, unknown> {
    return {
      url: this.settings?.url ?? '',
      has_custom_certificate: false,
      pending_update_count: this.queue.size,
      ...(this.settings ? { max_connections: this.settings.maxConnections, ip_address: '127.0.0.1', allowed_updates: allowedUpdates } : {}),
      ...(this.lastError ? { last_error_date: this.lastError.date, last_error_message: this.lastError.message } : {}),
    };
  }

  close(): void {
    this.stopListening();
    this.abort.abort();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private pump(): void {
    const settings = this.settings;
    if (!settings || this.abort.signal.aborted) return;
    const busyChats = new Set<number>();
    const now = Date.now();
    for (const entry of this.queue.entries()) {
      if (this.inFlight.size >= settings.maxConnections) break;
      // The first pending update of each chat goes first; later ones of that chat wait for it.
      if (busyChats.has(entry.chatId)) continue;
      busyChats.add(entry.chatId);
      if (this.inFlight.has(entry)) continue;
      const retry = this.retryAt.get(entry);
      if (retry && retry.at > now) continue;
      void this.deliver(entry, settings);
    }
  }

  private async deliver(entry: QueuedUpdate, settings: WebhookSettings): Promise<void> {
    this.inFlight.add(entry);
    this.queue.markHandedOut(entry);
    let failure: string | null = null;
    try {
      const response = await fetch(settings.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(settings.secretToken ? { 'x-telegram-bot-api-secret-token': settings.secretToken } : {}) },
        body: JSON.stringify(entry.update),
        signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.options.timeoutMs)]),
      });
      const body = await response.text();
      if (response.ok) this.handleReply(response.headers.get('content-type') ?? '', body);
      else failure = `Wrong response from the webhook: ${response.status} ${response.statusText}`;
    } catch (err) {
      if (this.abort.signal.aborted) return;
      failure = err instanceof Error && err.name === 'TimeoutError' ? 'Read timeout expired' : `Connection failed: ${describeFetchError(err)}`;
    } finally {
      this.inFlight.delete(entry);
    }
    if (this.settings?.url !== settings.url) return;
    if (failure === null) {
      this.queue.remove(entry);
      this.retryAt.delete(entry);
    } else {
      const attempts = (this.retryAt.get(entry)?.attempts ?? 0) + 1;
      const delay = Math.min(30_000, this.options.retryMs * 2 ** (attempts - 1));
      this.retryAt.set(entry, { at: Date.now() + delay, attempts });
      this.lastError = { date: Math.floor(Date.now() / 1000), message: failure };
      this.logger.debug({ updateId: entry.update.update_id, failure, retryInMs: delay }, 'Webhook delivery failed; will retry');
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        // Due now, whatever Date.now() says: a timer can fire a millisecond before the wall clock
        // reaches `at`, and the entry was then skipped with no timer left to wake it (a lost retry).
        const retry = this.retryAt.get(entry);
        if (retry) retry.at = 0;
        this.pump();
      }, delay);
      timer.unref();
      this.timers.add(timer);
    }
    this.pump();
  }

  private handleReply(contentType: string, body: string): void {
    if (!contentType.includes('application/json') || body.trim() === '') return;
    try {
      const reply = JSON.parse(body) as unknown;
      if (typeof reply === 'object' && reply !== null && typeof (reply as { method?: unknown }).method === 'string') {
        const { method, ...params } = reply as Record<string, unknown>;
        this.onReply(method as string, params);
      }
    } catch {
      // Telegram ignores a body it cannot read.
    }
  }
}

function describeFetchError(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } } | null)?.cause;
  return cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
}
