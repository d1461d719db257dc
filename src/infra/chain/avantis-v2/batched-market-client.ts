/**
 * The batched-market service (AVANTIS-V2.md §9.1): `POST …/market/execute-batched` read as a
 * Server-Sent-Events stream, and the tracking-id replay; `submit` joins the two so a dropped
 * connection is recovered without ever resending an accepted order (a new attempt needs a new intent).
 */
import { type Hex } from 'viem';
import { z } from 'zod';
import { shortText, V2Error, V2ResponseError } from './errors.ts';
import { readSse } from './http-sse.ts';
import { RETRY_STATUS, Transport, type Call, joinUrl, query, plainJson, plainError, badShape, GATEWAY_PREFIX, type V2HttpOptions, retryAfter } from './http-transport.ts';

/** The orderType codes of §9.1, by the intent each one carries. */
export const BATCHED_ORDER_TYPES = {
  open: 0,
  openUpside: 6,
  openCoin: 12,
  openCoinUpside: 13,
  close: 1,
  closeUpside: 7,
  closeCoin: 15,
  closeCoinUpside: 16,
  increase: 9,
  increaseCoin: 14,
} as const;

export interface ExecuteBatchedBody {
  readonly orderType: number;
  readonly erc712: { readonly userIntent: Hex; readonly userSignature: Hex };
  /** Optional pre-signed 7702 leg (§9.1); passed through as is. */
  readonly eip7702?: Readonly<Record<string, unknown>>;
}

/** The event types §9.1 documents. Any other type is ignored (not yielded). */
export const BATCHED_EVENT_TYPES = ['MarketOrderAccepted', 'AttemptFailed', 'MarketOrderInitiated', 'IncreasePositionRequested', 'MarketOrderExecuted', 'PositionSizeIncreased', 'MarketOrderCanceled', 'Error'] as const;
export type BatchedEventType = (typeof BATCHED_EVENT_TYPES)[number];

export interface BatchedMarketEvent {
  readonly type: BatchedEventType;
  /** The `id:` (stream) or `seq` (replay); null for an event without one (STREAM_TIMEOUT). */
  readonly seq: number | null;
  readonly payload: Readonly<Record<string, unknown>>;
  readonly via: 'stream' | 'replay';
}

/** Success, protocol decline, or failure: the order's story is over (§9.1). STREAM_TIMEOUT is not one. */
export function isTerminalEvent(event: Pick<BatchedMarketEvent, 'type' | 'payload'>): boolean {
  if (event.type === 'Error') return event.payload.code !== 'STREAM_TIMEOUT';
  return event.type === 'MarketOrderExecuted' || event.type === 'PositionSizeIncreased' || event.type === 'MarketOrderCanceled';
}

export interface BatchedMarketClientOptions extends V2HttpOptions {
  /** The gateway host; the client appends `/batched-market` (§2). */
  readonly gatewayUrl: string;
  /** No byte at all (keep-alives come every ~15 s) for this long = the connection is dead. Default 40 s. */
  readonly idleTimeoutMs?: number;
  /** Whole-stream cap. Default 200 s (the service caps at 60 s intent mode / 180 s 7702 mode). */
  readonly streamLifetimeMs?: number;
  /** Replay polling interval after a disconnect. Default 1 s. */
  readonly replayIntervalMs?: number;
  /** How long to keep replaying before giving up (the order is then still unknown). Default 200 s. */
  readonly replayForMs?: number;
}

/**
 * The stream ended without a terminal event after the order was accepted, and replay did not
 * find one in time; or the connection failed before the order was accepted. Either way the
 * order's fate is unknown: NEVER resend it (§9.1) — read the positions.
 */
export class V2OrderOutcomeUnknownError extends V2Error {
  override readonly name = 'V2OrderOutcomeUnknownError';
  readonly trackingId: string | null;
  constructor(trackingId: string | null, reason: string, cause?: unknown) {
    super(
      'CHAIN_UNAVAILABLE',
      'V2_UPSTREAM_ERROR',
      `The market order's outcome is unknown (${reason}). It is not resent: check the positions before doing anything else.`,
      { cause, retryable: false, details: { trackingId, outcome: 'unknown' } },
    );
    this.trackingId = trackingId;
  }
}

/**
 * ASSUMED: the replay answer is bare JSON (no envelope), as §9.1 writes it; its `seq` is the
 * stream's `id:`, starting at 1, and `afterSeq=n` returns the events with seq > n.
 */
const replaySchema = z.object({
  events: z.array(z.object({ seq: z.union([z.number().int().nonnegative(), z.string().regex(/^[0-9]{1,15}$/).transform(Number)]), type: z.string(), payload: z.record(z.string(), z.unknown()), at: z.unknown().optional() })),
});

/** Internal: the stream broke after it started (not an HTTP refusal). */
class StreamBroken extends Error {
  constructor(reason: string, cause?: unknown) {
    super(reason, cause === undefined ? undefined : { cause });
  }
}

export class BatchedMarketClient {
  readonly #base: string;
  readonly #http: Transport;
  readonly #idleMs: number;
  readonly #lifetimeMs: number;
  readonly #replayIntervalMs: number;
  readonly #replayForMs: number;

  constructor(options: BatchedMarketClientOptions) {
    this.#base = joinUrl(options.gatewayUrl, GATEWAY_PREFIX.batchedMarket);
    this.#http = new Transport('batched-market', options);
    this.#idleMs = options.idleTimeoutMs ?? 40_000;
    this.#lifetimeMs = options.streamLifetimeMs ?? 200_000;
    this.#replayIntervalMs = options.replayIntervalMs ?? 1_000;
    this.#replayForMs = options.replayForMs ?? 200_000;
  }

  /**
   * Submits a signed market order and yields its lifecycle until a terminal event, each event
   * exactly once. A connection that drops after `MarketOrderAccepted` (or a STREAM_TIMEOUT) is
   * recovered by replaying `tracking-id/{id}/status?afterSeq=` from the last seen sequence; the
   * order is NEVER resent. HTTP refusals before the stream throw typed errors (400 = rejected).
   */
  async *submit(body: ExecuteBatchedBody, signal?: AbortSignal): AsyncGenerator<BatchedMarketEvent, void, undefined> {
    let trackingId: string | null = null;
    let lastSeq = 0;
    const seen = new Set<number>();
    try {
      for await (const event of this.stream(body, signal)) {
        if (event.seq !== null) {
          if (seen.has(event.seq)) continue;
          seen.add(event.seq);
          lastSeq = Math.max(lastSeq, event.seq);
        }
        if (event.type === 'MarketOrderAccepted' && typeof event.payload.trackingId === 'string') trackingId = event.payload.trackingId;
        yield event;
        if (isTerminalEvent(event)) return;
        if (event.type === 'Error') break; // STREAM_TIMEOUT: only the connection expired.
      }
    } catch (error) {
      if (!(error instanceof StreamBroken)) throw error;
      if (trackingId === null) throw new V2OrderOutcomeUnknownError(null, `the connection broke before the order was accepted: ${error.message}`, error);
    }
    if (trackingId === null) throw new V2OrderOutcomeUnknownError(null, 'the stream ended before the order was accepted');
    yield* this.replay(trackingId, lastSeq, signal);
  }

  /**
   * The rest of an accepted order's story, from the tracking-id replay: polls until a terminal
   * event (each event after `afterSeq` yielded once) or until `replayForMs` passes, which throws
   * V2OrderOutcomeUnknownError. Also what a restarted engine uses for an order it had accepted.
   */
  async *replay(trackingId: string, afterSeq: number, signal?: AbortSignal): AsyncGenerator<BatchedMarketEvent, void, undefined> {
    let lastSeq = afterSeq;
    const until = this.#http.now() + this.#replayForMs;
    for (;;) {
      signal?.throwIfAborted();
      let events: readonly BatchedMarketEvent[] = [];
      try {
        events = await this.status(trackingId, lastSeq, signal);
      } catch (error) {
        // 404 right after acceptance (not yet recorded) or a transient failure: keep polling.
        if (!(error instanceof V2Error) || !(error.retryable || error.v2Code === 'V2_NOT_FOUND')) throw error;
      }
      for (const event of events) {
        if (event.seq === null || event.seq <= lastSeq) continue;
        lastSeq = event.seq;
        yield event;
        if (isTerminalEvent(event)) return;
      }
      if (this.#http.now() >= until) throw new V2OrderOutcomeUnknownError(trackingId, `no final event within ${this.#replayForMs} ms of replay`);
      await this.#http.sleep(this.#replayIntervalMs);
    }
  }

  /**
   * The raw stream of one submission (no recovery). Throws a typed error for an HTTP refusal,
   * and StreamBroken (internal) when the connection fails after the stream began. Submission is
   * never retried except on 429/503 answers, which prove the order was not taken.
   */
  async *stream(body: ExecuteBatchedBody, signal?: AbortSignal): AsyncGenerator<BatchedMarketEvent, void, undefined> {
    const route = '/market/execute-batched';
    const what = this.#http.what({ method: 'POST', route });
    const response = await this.#open(route, body, signal, what);
    const controller = new AbortController();
    const lifetime = setTimeout(() => controller.abort(new StreamBroken(`the stream exceeded ${this.#lifetimeMs} ms`)), this.#lifetimeMs);
    let idle = setTimeout(() => controller.abort(new StreamBroken(`no data for ${this.#idleMs} ms`)), this.#idleMs);
    const onAbort = (): void => controller.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const reader = response.body!.getReader();
    controller.signal.addEventListener('abort', () => void reader.cancel().catch(() => undefined), { once: true });
    const idleMs = this.#idleMs;
    const chunks = async function* (): AsyncGenerator<Uint8Array> {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        clearTimeout(idle);
        idle = setTimeout(() => controller.abort(new StreamBroken(`no data for ${idleMs} ms`)), idleMs);
        yield value;
      }
    };
    try {
      for await (const message of readSse(chunks())) {
        if (controller.signal.aborted) break;
        if (!(BATCHED_EVENT_TYPES as readonly string[]).includes(message.event)) continue; // unknown types are ignored (§9.1)
        yield { type: message.event as BatchedEventType, seq: parseSeq(message.id, what), payload: parsePayload(message.data, message.event, what), via: 'stream' };
      }
      if (controller.signal.aborted) throw controller.signal.reason instanceof StreamBroken ? controller.signal.reason : new StreamBroken('the stream was aborted', controller.signal.reason);
      throw new StreamBroken('the stream ended without a final event');
    } catch (error) {
      if (signal?.aborted === true) throw signal.reason;
      if (error instanceof StreamBroken || error instanceof V2Error) throw error;
      if (controller.signal.reason instanceof StreamBroken) throw controller.signal.reason;
      throw new StreamBroken(`the connection broke (${shortText(error instanceof Error ? error.message : error, 80)})`, error);
    } finally {
      clearTimeout(lifetime);
      clearTimeout(idle);
      signal?.removeEventListener('abort', onAbort);
      reader.releaseLock();
      void response.body?.cancel().catch(() => undefined);
    }
  }

  /** `GET …/tracking-id/{trackingId}/status?afterSeq=n`: events with seq > n (empty = nothing yet). */
  async status(trackingId: string, afterSeq: number, signal?: AbortSignal): Promise<BatchedMarketEvent[]> {
    const route = '/tracking-id/:trackingId/status';
    const call: Call = { method: 'GET', route, url: joinUrl(this.#base, `/tracking-id/${encodeURIComponent(trackingId)}/status${query({ afterSeq: String(afterSeq) })}`), policy: 'idempotent', signal };
    const what = this.#http.what(call);
    const json = plainJson(await this.#http.send(call), what);
    const parsed = replaySchema.safeParse(json);
    if (!parsed.success) throw badShape(what, parsed.error);
    return parsed.data.events
      .filter((e) => (BATCHED_EVENT_TYPES as readonly string[]).includes(e.type) && e.seq > afterSeq)
      .sort((a, b) => a.seq - b.seq)
      .map((e) => ({ type: e.type as BatchedEventType, seq: e.seq, payload: e.payload, via: 'replay' as const }));
  }

  /** POSTs the order; returns the streaming response once its headers say 2xx. */
  async #open(route: string, body: ExecuteBatchedBody, signal: AbortSignal | undefined, what: string): Promise<Response> {
    const retries = RETRY_STATUS['refused-only'];
    for (let attempt = 1; ; attempt++) {
      const started = performance.now();
      const connect = AbortSignal.timeout(this.#http.timeoutMs);
      const headersArrived = new AbortController();
      let response: Response;
      try {
        // The connect timeout stops applying once the headers are in (the stream has its own timers).
        const timeoutUntilHeaders = AbortSignal.any([headersArrived.signal, connect]);
        const linked = new AbortController();
        timeoutUntilHeaders.addEventListener('abort', () => {
          if (!headersArrived.signal.aborted) linked.abort(connect.reason);
        });
        signal?.addEventListener('abort', () => linked.abort(signal.reason), { once: true });
        response = await this.#http.fetch(joinUrl(this.#base, route), {
          method: 'POST',
          headers: { accept: 'text/event-stream', 'content-type': 'application/json' },
          body: JSON.stringify(body),
          signal: linked.signal,
        });
        headersArrived.abort();
      } catch (cause) {
        if (signal?.aborted === true) throw cause;
        this.#http.log({ method: 'POST', route, attempt, status: null, ms: Math.round(performance.now() - started), outcome: 'error' });
        // Never retried: the order may have been taken before the connection failed.
        throw new V2OrderOutcomeUnknownError(null, `the order service did not answer (${shortText(cause instanceof Error ? cause.message : cause, 80)})`, cause);
      }
      const ok = response.status >= 200 && response.status <= 299;
      const retry = !ok && retries.has(response.status) && attempt <= 3;
      this.#http.log({ method: 'POST', route, attempt, status: response.status, ms: Math.round(performance.now() - started), outcome: ok ? 'ok' : retry ? 'retry' : 'error' });
      if (ok) {
        if (response.body === null) throw new V2OrderOutcomeUnknownError(null, 'the order service answered without a stream');
        return response;
      }
      const text = await response.text().catch(() => '');
      if (!retry) throw plainError({ status: response.status, text }, what);
      await this.#http.sleep(Math.min(5_000, (retryAfter(response.headers.get('retry-after')) ?? 250 * 2 ** (attempt - 1))));
    }
  }
}

function parseSeq(id: string | null, what: string): number | null {
  if (id === null || id === '') return null;
  if (!/^[0-9]{1,15}$/.test(id)) throw new V2ResponseError(`${what} sent an event id that is not a sequence number (${shortText(id, 30)}).`);
  return Number(id);
}

function parsePayload(data: string, type: string, what: string): Readonly<Record<string, unknown>> {
  let json: unknown;
  try {
    json = JSON.parse(data) as unknown;
  } catch (cause) {
    throw new V2ResponseError(`${what} sent a ${shortText(type, 40)} event whose data is not JSON (${shortText(data, 60)}).`, { cause });
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new V2ResponseError(`${what} sent a ${shortText(type, 40)} event whose data is not an object.`);
  return json as Record<string, unknown>;
}

// ————————————————————————————————————— core API —————————————————————————————————————
