/**
 * A small HTTP client for the Avantis v2 (Veranta) services (AVANTIS-V2.md §2, §6, §7, §9):
 *
 *   - `TxBuilderClient`: `GET /v2/meta`, the five intent builders we use, `/v2/delegation`,
 *     `/v2/nonce`, `/v2/positions`. Every intent answer goes through `unwrapEnvelope` and then
 *     `verifyIntentAnswer` against what we asked: this client NEVER returns an unverified intent.
 *   - `BatchedMarketClient`: `POST …/market/execute-batched` read as a Server-Sent-Events stream,
 *     and the tracking-id replay; `followOrder` joins the two so a dropped connection is
 *     recovered without ever resending an accepted order (§9.1: a new attempt needs a new intent).
 *   - `CoreApiClient`: `PUT …/price-triggers/global-{tp|sl}-{trader}-{pairIndex}-{index}`, `GET /user-data`.
 *   - `BlitzClient`: `POST …/relays`, `GET …/relays/{requestId}`.
 *
 * Base URLs are always passed in; `V2_DEFAULT_HOSTS` only documents the published ones (§2).
 *
 * Retries (§6: "Retry 502/503/504 and 429 with backoff"), per call — see `RetryPolicy`:
 *   - 'idempotent'   reads, and the tx-builder's intent builders (stateless, keyless: building an
 *                    intent twice has no effect). Retried on 429/502/503/504, network errors and
 *                    timeouts.
 *   - 'refused-only' writes that may have been taken: batched-market execute, blitz POST /relays,
 *                    the core TP/SL PUT. Retried ONLY on answers that prove the request was not
 *                    taken — 429 (rate limited) and 503 (service/relayer busy, §9.4) — and never
 *                    after a network error, a timeout, 502 or 504, where the service may have
 *                    accepted it. Those surface as errors whose `outcome` is 'unknown'.
 * Every call has a timeout (AbortSignal). Nothing secret is ever logged: the optional `log` hook
 * gets the method, the path template, the status, the attempt and the duration — never a body,
 * a signature, an intent or a query string.
 */
import { getAddress, isAddress, type Address, type Hex } from 'viem';
import { z } from 'zod';
import { serviceError, unwrapEnvelope } from './envelope.ts';
import { shortText, V2Error, V2IntentMismatchError, V2ResponseError } from './errors.ts';
import type { IntentPrimaryType } from './intent-types.ts';
import { KNOWN_TOS } from './intents.ts';
import { domainFor, openOrderTypeCode, parseMeta, type OpenOrderTypeName, type ParseMetaOptions, type V2Meta } from './meta.ts';
import { readSse } from './http-sse.ts';
import { toRaw } from './units.ts';
import { verifyIntentAnswer, type IntentRequest, type VerifiedIntent } from './verify-intent.ts';

/** The published hosts (§2), for configuration defaults and documentation. Never used implicitly. */
export const V2_DEFAULT_HOSTS = {
  mainnet: { txBuilder: 'https://tx-builder.veranta.xyz', gateway: 'https://prod-api.veranta.xyz' },
  testnet: { txBuilder: 'https://tx-builder-testnet.veranta.xyz', gateway: 'https://staging-api.veranta.xyz' },
} as const;

/** Service prefixes on the gateway (§2). */
export const GATEWAY_PREFIX = { core: '/core', batchedMarket: '/batched-market', blitz: '/blitz' } as const;

export type RetryPolicy = 'idempotent' | 'refused-only';

/** One line about one HTTP attempt. Contains no body, query, signature or key. */
export interface V2HttpLogEntry {
  readonly service: string;
  readonly method: string;
  /** The path template ("/v2/intents/open", "/relays/:id"), not the concrete URL. */
  readonly route: string;
  readonly attempt: number;
  readonly status: number | null;
  readonly ms: number;
  readonly outcome: 'ok' | 'retry' | 'error';
}

export interface V2HttpOptions {
  /** Per-attempt timeout. Default 10 s. */
  readonly timeoutMs?: number;
  /** Retries after the first attempt, where the policy allows. Default 3. */
  readonly retries?: number;
  /** First backoff; doubles per retry, with jitter. Default 250 ms. */
  readonly backoffMs?: number;
  /** Backoff ceiling (also caps a Retry-After header). Default 5 s. */
  readonly maxBackoffMs?: number;
  readonly fetch?: typeof fetch;
  readonly log?: (entry: V2HttpLogEntry) => void;
  /** For tests. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** For tests: the clock used for deadline sanity checks. */
  readonly now?: () => number;
}

/**
 * A request that never got a usable answer: a network error or a timeout. `outcome` says whether
 * the service may have taken it — 'unknown' for a write, so the caller must read state (the
 * position, the relay, the trigger) instead of resending.
 */
export class V2TransportError extends V2Error {
  override readonly name = 'V2TransportError';
  readonly outcome: 'not-taken' | 'unknown';
  constructor(what: string, reason: string, outcome: 'not-taken' | 'unknown', cause: unknown) {
    super(
      'CHAIN_UNAVAILABLE',
      'V2_UPSTREAM_ERROR',
      outcome === 'unknown'
        ? `${what}: ${reason}. It may or may not have been taken, so it is NOT resent; read the current state before acting again.`
        : `${what}: ${reason}. Nothing was changed; it is retried shortly.`,
      { cause, retryable: outcome === 'not-taken', details: { what, outcome } },
    );
    this.outcome = outcome;
  }
}

const RETRY_STATUS: Readonly<Record<RetryPolicy, ReadonlySet<number>>> = {
  idempotent: new Set([429, 502, 503, 504]),
  'refused-only': new Set([429, 503]),
};

/**
 * The plain (non-envelope) services answer errors by HTTP status; the nearest §6 code for each.
 * ASSUMED: batched-market, core and blitz answer errors with a NestJS body (documented only for
 * batched-market's 400, §9.1); 503 is treated as UPSTREAM_ERROR (back off), as §6 and §9.4 say.
 */
const STATUS_CODE: Readonly<Record<number, string>> = {
  400: 'BAD_REQUEST',
  404: 'NOT_FOUND',
  422: 'VALIDATION_ERROR',
  429: 'RATE_LIMITED',
  451: 'GEO_RESTRICTED',
  500: 'INTERNAL_ERROR',
  502: 'UPSTREAM_ERROR',
  503: 'UPSTREAM_ERROR',
  504: 'UPSTREAM_ERROR',
};

interface Call {
  readonly method: 'GET' | 'POST' | 'PUT';
  /** Path template for logs and messages. */
  readonly route: string;
  readonly url: string;
  readonly body?: unknown;
  readonly policy: RetryPolicy;
  readonly signal?: AbortSignal | undefined;
}

interface RawAnswer {
  readonly status: number;
  readonly text: string;
}

/** The shared transport: timeouts, retries per policy, logging without secrets. */
class Transport {
  readonly #service: string;
  readonly #options: Required<Omit<V2HttpOptions, 'log'>> & { readonly log: ((entry: V2HttpLogEntry) => void) | undefined };
  constructor(service: string, options: V2HttpOptions) {
    this.#service = service;
    this.#options = {
      timeoutMs: options.timeoutMs ?? 10_000,
      retries: options.retries ?? 3,
      backoffMs: options.backoffMs ?? 250,
      maxBackoffMs: options.maxBackoffMs ?? 5_000,
      fetch: options.fetch ?? globalThis.fetch.bind(globalThis),
      sleep: options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
      now: options.now ?? Date.now,
      log: options.log,
    };
  }

  get now(): () => number {
    return this.#options.now;
  }

  get timeoutMs(): number {
    return this.#options.timeoutMs;
  }

  get fetch(): typeof fetch {
    return this.#options.fetch;
  }

  get sleep(): (ms: number) => Promise<void> {
    return this.#options.sleep;
  }

  what(call: Pick<Call, 'method' | 'route'>): string {
    return `${this.#service} ${call.method} ${call.route}`;
  }

  log(entry: Omit<V2HttpLogEntry, 'service'>): void {
    try {
      this.#options.log?.({ service: this.#service, ...entry });
    } catch {
      // A failing logger never fails a call.
    }
  }

  /**
   * Sends `call`, retrying as its policy allows; returns the last answer (retryable or not) for
   * the caller to interpret. Throws V2TransportError when no answer came.
   */
  async send(call: Call): Promise<RawAnswer> {
    const what = this.what(call);
    for (let attempt = 1; ; attempt++) {
      const started = performance.now();
      let answer: RawAnswer & { retryAfterMs: number | null };
      try {
        answer = await this.#once(call);
      } catch (cause) {
        if (call.signal?.aborted === true) throw cause;
        const timedOut = cause instanceof Error && (cause.name === 'TimeoutError' || cause.name === 'AbortError');
        const reason = timedOut ? `no answer within ${this.#options.timeoutMs} ms` : `the connection failed (${shortText(cause instanceof Error ? cause.message : cause, 80)})`;
        const outcome = call.policy === 'idempotent' ? 'not-taken' : 'unknown';
        const canRetry = outcome === 'not-taken' && attempt <= this.#options.retries;
        this.log({ method: call.method, route: call.route, attempt, status: null, ms: Math.round(performance.now() - started), outcome: canRetry ? 'retry' : 'error' });
        if (!canRetry) throw new V2TransportError(what, reason, outcome, cause);
        await this.#options.sleep(this.#backoff(attempt, null));
        continue;
      }
      const retry = RETRY_STATUS[call.policy].has(answer.status) && attempt <= this.#options.retries;
      const ok = answer.status >= 200 && answer.status <= 299;
      this.log({ method: call.method, route: call.route, attempt, status: answer.status, ms: Math.round(performance.now() - started), outcome: ok ? 'ok' : retry ? 'retry' : 'error' });
      if (!retry) return answer;
      await this.#options.sleep(this.#backoff(attempt, answer.retryAfterMs));
    }
  }

  async #once(call: Call): Promise<RawAnswer & { retryAfterMs: number | null }> {
    const signals = [AbortSignal.timeout(this.#options.timeoutMs), ...(call.signal === undefined ? [] : [call.signal])];
    const init: RequestInit = {
      method: call.method,
      headers: call.body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
      signal: AbortSignal.any(signals),
      ...(call.body === undefined ? {} : { body: JSON.stringify(call.body) }),
    };
    const response = await this.#options.fetch(call.url, init);
    const text = await response.text();
    return { status: response.status, text, retryAfterMs: retryAfter(response.headers.get('retry-after')) };
  }

  #backoff(attempt: number, retryAfterMs: number | null): number {
    const exponential = this.#options.backoffMs * 2 ** (attempt - 1);
    const base = Math.max(exponential, retryAfterMs ?? 0);
    const jittered = base * (0.75 + Math.random() * 0.5);
    return Math.min(this.#options.maxBackoffMs, Math.round(jittered));
  }
}

function retryAfter(header: string | null): number | null {
  if (header === null) return null;
  const seconds = Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : null;
}

function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}${path}`;
}

function query(params: Readonly<Record<string, string | undefined>>): string {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) search.set(k, v);
  const s = search.toString();
  return s === '' ? '' : `?${s}`;
}

/** JSON of a plain (non-envelope) service; errors by status as typed §6 errors. */
function plainJson(answer: RawAnswer, what: string): unknown {
  if (answer.status < 200 || answer.status > 299) throw plainError(answer, what);
  try {
    return JSON.parse(answer.text) as unknown;
  } catch (cause) {
    throw new V2ResponseError(`${what} answered something that is not JSON (${shortText(answer.text, 60)}). Nothing was done.`, { cause, details: { status: answer.status, what } });
  }
}

/**
 * The typed error of a non-2xx answer from a plain service. The message is taken from a NestJS
 * body `{statusCode, message, error}` (§9.1; `message` may be a list), an `{ok:false,error}`
 * envelope, or the raw text — always shortened, only ever quoted.
 */
function plainError(answer: RawAnswer, what: string): V2Error {
  let said = answer.text;
  let code = STATUS_CODE[answer.status] ?? `HTTP_${answer.status}`;
  try {
    const body = JSON.parse(answer.text) as unknown;
    if (body !== null && typeof body === 'object') {
      const b = body as { message?: unknown; error?: unknown; ok?: unknown };
      if (b.ok === false && b.error !== null && typeof b.error === 'object') {
        const e = b.error as { code?: unknown; message?: unknown };
        if (typeof e.code === 'string') code = e.code;
        if (typeof e.message === 'string') said = e.message;
      } else if (Array.isArray(b.message)) said = b.message.map((m) => String(m)).join('; ');
      else if (typeof b.message === 'string') said = b.message;
    }
  } catch {
    // Not JSON: the raw text is quoted.
  }
  return serviceError(code, said === '' ? `HTTP ${answer.status}` : said, null, { status: answer.status, what });
}

function badShape(what: string, error: z.ZodError): V2ResponseError {
  const problems = error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
  return new V2ResponseError(`${what} answered an unexpected shape (${shortText(problems, 200)}). Nothing was done.`, { details: { what } });
}

const addressSchema = z.string().refine((s) => isAddress(s, { strict: false }), 'not an address').transform((s) => getAddress(s));
const uintString = z.union([z.string().regex(/^[0-9]{1,78}$/), z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)]).transform((v) => BigInt(v));

// ————————————————————————————————————— tx-builder —————————————————————————————————————

export interface TxBuilderClientOptions extends V2HttpOptions {
  /** e.g. V2_DEFAULT_HOSTS.mainnet.txBuilder. */
  readonly baseUrl: string;
  /** Passed to parseMeta: meta for another chain is refused. */
  readonly meta?: ParseMetaOptions;
  /**
   * The longest deadline accepted from the service when we did not choose one (ms from now).
   * Default 10 minutes. ASSUMED sane bound; the documented default is 120 s (§6 `intentDeadlineMs`).
   */
  readonly maxServiceDeadlineMs?: number;
}

/** Common to every intent request: when given, they are sent and then checked in the answer. */
export interface ReplayFields {
  /** Any unused 256-bit value (§8.3). Recommended: choose it (randomNonce()) so it is verified. */
  readonly nonce?: bigint;
  /**
   * Unix MILLISECONDS. ASSUMED: the service reads `deadlineMs` as an absolute time (§7.3 leaves
   * it open). If it read it as a lifetime, the answer's `_deadline` would differ from what we
   * sent and verification would refuse it — safe either way.
   */
  readonly deadlineMs?: bigint;
}

/** Human units as decimal strings (§3): "100" USDC, "10" = 10x, "3500.5", "1" = 1 %. */
export interface OpenIntentRequest extends ReplayFields {
  readonly trader: Address;
  readonly pairIndex: number;
  readonly side: 'long' | 'short';
  readonly orderType: OpenOrderTypeName;
  readonly collateralUsdc: string;
  readonly leverage: string;
  readonly openPrice: string;
  readonly slippagePercent: string;
  readonly takeProfit?: string;
  readonly stopLoss?: string;
}

export interface CloseIntentRequest extends ReplayFields {
  readonly trader: Address;
  readonly pairIndex: number;
  readonly tradeIndex: number;
  readonly collateralToCloseUsdc: string;
  readonly expectedPrice?: string;
  /** Unix seconds: the position's current open time (§8.3). */
  readonly openTimestamp?: number;
}

export interface IncreaseIntentRequest extends ReplayFields {
  readonly trader: Address;
  readonly pairIndex: number;
  readonly tradeIndex: number;
  readonly additionalCollateralUsdc: string;
  readonly leverage: string;
  readonly openPrice?: string;
  readonly slippagePercent: string;
}

export interface TpSlUpdateIntentRequest extends ReplayFields {
  readonly trader: Address;
  readonly pairIndex: number;
  readonly tradeIndex: number;
  /** "0" resets TP to the pair's cap (§8.3). */
  readonly takeProfit: string;
  /** "0" removes the SL. */
  readonly stopLoss: string;
}

export interface DelegateSetIntentRequest extends ReplayFields {
  readonly trader: Address;
  readonly delegate: Address;
  /** Absolute unix SECONDS. */
  readonly expirySeconds: number;
}

export interface Delegation {
  readonly isEnabled: boolean;
  /** Unix seconds. */
  readonly expiry: bigint;
  readonly canDelegatedAction: boolean;
  readonly canSignIntents: boolean;
}

const delegationSchema = z.object({ isEnabled: z.boolean(), expiry: uintString, canDelegatedAction: z.boolean(), canSignIntents: z.boolean() });

/** ASSUMED shape of `/v2/nonce` (§14: unpublished): `{nonce}` and, with `check`, `{nonce, available}`. */
const nonceSchema = z.object({ nonce: uintString, available: z.boolean().optional() });

/**
 * ASSUMED shape of `/v2/positions` (§14: unpublished): `{trades: [...], limitOrders?: [...]}`;
 * rows are passed through as objects (raw decimal strings), only `trader/pairIndex/index` checked.
 */
const positionsSchema = z.object({
  trades: z.array(z.object({ trader: addressSchema, pairIndex: uintString, index: uintString }).passthrough()),
  limitOrders: z.array(z.record(z.string(), z.unknown())).optional(),
});

export type V2Positions = z.infer<typeof positionsSchema>;

/** A random unused-looking 256-bit nonce (§8.3: unordered bitmap, use random values). */
export function randomNonce(): bigint {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return BigInt(`0x${Buffer.from(bytes).toString('hex')}`);
}

export class TxBuilderClient {
  readonly #base: string;
  readonly #http: Transport;
  readonly #metaOptions: ParseMetaOptions;
  readonly #maxDeadlineMs: number;
  #meta: V2Meta | null = null;

  constructor(options: TxBuilderClientOptions) {
    this.#base = options.baseUrl;
    this.#http = new Transport('tx-builder', options);
    this.#metaOptions = options.meta ?? {};
    this.#maxDeadlineMs = options.maxServiceDeadlineMs ?? 10 * 60_000;
  }

  /** `GET /v2/meta`, validated; cached after the first success (§11: read once at start-up). */
  async meta(signal?: AbortSignal): Promise<V2Meta> {
    if (this.#meta === null) this.#meta = parseMeta(await this.#get('/v2/meta', {}, signal), this.#metaOptions);
    return this.#meta;
  }

  /** `GET /v2/delegation?trader&delegate`. */
  async delegation(trader: Address, delegate: Address, signal?: AbortSignal): Promise<Delegation> {
    const data = await this.#get('/v2/delegation', { trader, delegate }, signal);
    const parsed = delegationSchema.safeParse(data);
    if (!parsed.success) throw badShape(this.#http.what({ method: 'GET', route: '/v2/delegation' }), parsed.error);
    return parsed.data;
  }

  /** `GET /v2/nonce?trader[&check]`: a free nonce, or whether `check` is still free. */
  async nonce(trader: Address, check?: bigint, signal?: AbortSignal): Promise<{ readonly nonce: bigint; readonly available?: boolean }> {
    const data = await this.#get('/v2/nonce', { trader, check: check?.toString() }, signal);
    const parsed = nonceSchema.safeParse(data);
    if (!parsed.success) throw badShape(this.#http.what({ method: 'GET', route: '/v2/nonce' }), parsed.error);
    return parsed.data.available === undefined ? { nonce: parsed.data.nonce } : { nonce: parsed.data.nonce, available: parsed.data.available };
  }

  /** `GET /v2/positions?trader`. */
  async positions(trader: Address, signal?: AbortSignal): Promise<V2Positions> {
    const data = await this.#get('/v2/positions', { trader }, signal);
    const parsed = positionsSchema.safeParse(data);
    if (!parsed.success) throw badShape(this.#http.what({ method: 'GET', route: '/v2/positions' }), parsed.error);
    return parsed.data;
  }

  /** `POST /v2/intents/open` → a verified OpenTradeReq. */
  async openIntent(r: OpenIntentRequest, signal?: AbortSignal): Promise<VerifiedIntent<'OpenTradeReq'>> {
    const meta = await this.meta(signal);
    const t = {
      trader: r.trader,
      pairIndex: BigInt(r.pairIndex),
      index: 0n,
      initialPosToken: 0n,
      positionSizeUSDC: toRaw('usdc', r.collateralUsdc),
      openPrice: toRaw('price', r.openPrice),
      buy: r.side === 'long',
      leverage: toRaw('leverage', r.leverage),
      tp: r.takeProfit === undefined ? 0n : toRaw('price', r.takeProfit),
      sl: r.stopLoss === undefined ? 0n : toRaw('price', r.stopLoss),
      timestamp: 0n,
    };
    const fields = { _t: t, _type: openOrderTypeCode(meta, r.orderType), _slippageP: toRaw('slippagePercent', r.slippagePercent), ...replayFields('_deadline', '_nonce', r) };
    const body = { trader: r.trader, pairIndex: r.pairIndex, side: r.side, orderType: r.orderType, collateralUsdc: r.collateralUsdc, leverage: r.leverage, openPrice: r.openPrice, slippagePercent: r.slippagePercent, ...optional({ takeProfit: r.takeProfit, stopLoss: r.stopLoss }), ...replayBody(r) };
    const verified = await this.#intent('/v2/intents/open', body, { primaryType: 'OpenTradeReq', domain: domainFor(meta, 'OpenTradeReq'), fields }, signal);
    this.#checkServiceDeadline(verified.message._deadline, r, 'message._deadline');
    return verified;
  }

  /** `POST /v2/intents/close` → a verified CloseTradeReq. */
  async closeIntent(r: CloseIntentRequest, signal?: AbortSignal): Promise<VerifiedIntent<'CloseTradeReq'>> {
    const meta = await this.meta(signal);
    const fields = {
      _trader: r.trader,
      _pairIndex: BigInt(r.pairIndex),
      _index: BigInt(r.tradeIndex),
      _amount: toRaw('usdc', r.collateralToCloseUsdc),
      ...(r.expectedPrice === undefined ? {} : { _wantedPrice: toRaw('price', r.expectedPrice) }),
      ...(r.openTimestamp === undefined ? {} : { _openTimestamp: BigInt(r.openTimestamp) }),
      ...replayFields('_deadline', '_nonce', r),
    };
    const body = { trader: r.trader, pairIndex: r.pairIndex, tradeIndex: r.tradeIndex, collateralToCloseUsdc: r.collateralToCloseUsdc, ...optional({ expectedPrice: r.expectedPrice, openTimestamp: r.openTimestamp }), ...replayBody(r) };
    const verified = await this.#intent('/v2/intents/close', body, { primaryType: 'CloseTradeReq', domain: domainFor(meta, 'CloseTradeReq'), fields }, signal);
    this.#checkServiceDeadline(verified.message._deadline, r, 'message._deadline');
    return verified;
  }

  /** `POST /v2/intents/increase` → a verified IncreasePositionSizeReq. */
  async increaseIntent(r: IncreaseIntentRequest, signal?: AbortSignal): Promise<VerifiedIntent<'IncreasePositionSizeReq'>> {
    const meta = await this.meta(signal);
    const fields = {
      _updateInfo: {
        trader: r.trader,
        pairIndex: BigInt(r.pairIndex),
        index: BigInt(r.tradeIndex),
        initialPosToken: toRaw('usdc', r.additionalCollateralUsdc),
        leverage: toRaw('leverage', r.leverage),
        ...(r.openPrice === undefined ? {} : { openPrice: toRaw('price', r.openPrice) }),
      },
      _slippageP: toRaw('slippagePercent', r.slippagePercent),
      ...replayFields('_deadline', '_nonce', r),
    };
    const body = { trader: r.trader, pairIndex: r.pairIndex, tradeIndex: r.tradeIndex, additionalCollateralUsdc: r.additionalCollateralUsdc, leverage: r.leverage, slippagePercent: r.slippagePercent, ...optional({ openPrice: r.openPrice }), ...replayBody(r) };
    const verified = await this.#intent('/v2/intents/increase', body, { primaryType: 'IncreasePositionSizeReq', domain: domainFor(meta, 'IncreasePositionSizeReq'), fields }, signal);
    this.#checkServiceDeadline(verified.message._deadline, r, 'message._deadline');
    return verified;
  }

  /** `POST /v2/intents/tpsl-update` → a verified UpdateTpSlReq (submitted to the core API). */
  async tpslUpdateIntent(r: TpSlUpdateIntentRequest, signal?: AbortSignal): Promise<VerifiedIntent<'UpdateTpSlReq'>> {
    const meta = await this.meta(signal);
    const fields = { trader: r.trader, _pairIndex: BigInt(r.pairIndex), _index: BigInt(r.tradeIndex), _newTp: toRaw('price', r.takeProfit), _newSl: toRaw('price', r.stopLoss), ...replayFields('_deadline', '_nonce', r) };
    const body = { trader: r.trader, pairIndex: r.pairIndex, tradeIndex: r.tradeIndex, takeProfit: r.takeProfit, stopLoss: r.stopLoss, ...replayBody(r) };
    const verified = await this.#intent('/v2/intents/tpsl-update', body, { primaryType: 'UpdateTpSlReq', domain: domainFor(meta, 'UpdateTpSlReq'), fields }, signal);
    this.#checkServiceDeadline(verified.message._deadline, r, 'message._deadline');
    return verified;
  }

  /** `POST /v2/intents/delegate-set` → a verified DelegateReq (trader-only), its `tnc` one of the known ToS texts. */
  async delegateSetIntent(r: DelegateSetIntentRequest, signal?: AbortSignal): Promise<VerifiedIntent<'DelegateReq'>> {
    const meta = await this.meta(signal);
    const fields = { trader: r.trader, delegate: r.delegate, expiry: BigInt(r.expirySeconds), ...replayFields('deadline', 'nonce', r) };
    const body = { trader: r.trader, delegate: r.delegate, expirySeconds: r.expirySeconds, ...replayBody(r) };
    const verified = await this.#intent('/v2/intents/delegate-set', body, { primaryType: 'DelegateReq', domain: domainFor(meta, 'DelegateReq'), fields }, signal);
    if (!KNOWN_TOS.includes(verified.message.tnc)) throw new V2IntentMismatchError('message.tnc', 'not one of the two known Avantis/Veranta terms-of-service texts');
    this.#checkServiceDeadline(verified.message.deadline, r, 'message.deadline');
    return verified;
  }

  /** A deadline the service chose must be in the future and not absurdly far (we could not compare it). */
  #checkServiceDeadline(deadline: bigint, asked: ReplayFields, field: string): void {
    if (asked.deadlineMs !== undefined) return;
    const now = BigInt(this.#http.now());
    if (deadline <= now) throw new V2IntentMismatchError(field, `the service chose a deadline already past (${deadline})`);
    if (deadline > now + BigInt(this.#maxDeadlineMs)) throw new V2IntentMismatchError(field, `the service chose a deadline more than ${this.#maxDeadlineMs} ms away (${deadline})`);
  }

  async #intent<P extends IntentPrimaryType>(route: string, body: unknown, request: IntentRequest<P>, signal: AbortSignal | undefined): Promise<VerifiedIntent<P>> {
    const call: Call = { method: 'POST', route, url: joinUrl(this.#base, route), body, policy: 'idempotent', signal };
    const answer = await this.#http.send(call);
    const data = unwrapEnvelope(answer.text, { status: answer.status, what: this.#http.what(call) });
    return verifyIntentAnswer(data, request);
  }

  async #get(route: string, params: Readonly<Record<string, string | undefined>>, signal: AbortSignal | undefined): Promise<unknown> {
    const call: Call = { method: 'GET', route, url: joinUrl(this.#base, `${route}${query(params)}`), policy: 'idempotent', signal };
    const answer = await this.#http.send(call);
    return unwrapEnvelope(answer.text, { status: answer.status, what: this.#http.what(call) });
  }
}

function replayFields<D extends string, N extends string>(deadlineKey: D, nonceKey: N, r: ReplayFields): Partial<Record<D | N, bigint>> {
  const out: Partial<Record<string, bigint>> = {};
  if (r.deadlineMs !== undefined) out[deadlineKey] = r.deadlineMs;
  if (r.nonce !== undefined) out[nonceKey] = r.nonce;
  return out;
}

function replayBody(r: ReplayFields): Record<string, string> {
  return { ...(r.nonce === undefined ? {} : { nonce: r.nonce.toString() }), ...(r.deadlineMs === undefined ? {} : { deadlineMs: r.deadlineMs.toString() }) };
}

function optional(values: Readonly<Record<string, string | number | undefined>>): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(values)) if (v !== undefined) out[k] = v;
  return out;
}

// ————————————————————————————————————— batched-market —————————————————————————————————————

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
    // Replay: poll until a terminal event or until we give up.
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
        if (event.seq === null || seen.has(event.seq)) continue;
        seen.add(event.seq);
        lastSeq = Math.max(lastSeq, event.seq);
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

export interface CoreApiClientOptions extends V2HttpOptions {
  /** The gateway host; the client appends `/core` (§2). */
  readonly gatewayUrl: string;
}

export class CoreApiClient {
  readonly #base: string;
  readonly #http: Transport;
  constructor(options: CoreApiClientOptions) {
    this.#base = joinUrl(options.gatewayUrl, GATEWAY_PREFIX.core);
    this.#http = new Transport('core', options);
  }

  /**
   * `PUT …/price-triggers/global-{tp|sl}-{trader}-{pairIndex}-{index}` with
   * `{userIntent, signedMessage}` (§9.2). 2xx = accepted; then poll `/user-data`. Retried only on
   * 429/503 (ASSUMED not idempotent: a repeat of an accepted PUT may be refused for its used nonce).
   * ASSUMED: the trader in the path is written as the checksummed address.
   */
  async putGlobalTpSl(kind: 'tp' | 'sl', trader: Address, pairIndex: number, index: number, userIntent: Hex, signedMessage: Hex, signal?: AbortSignal): Promise<unknown> {
    const route = '/price-triggers/global-:kind-:trader-:pairIndex-:index';
    const call: Call = { method: 'PUT', route, url: joinUrl(this.#base, `/price-triggers/global-${kind}-${getAddress(trader)}-${pairIndex}-${index}`), body: { userIntent, signedMessage }, policy: 'refused-only', signal };
    const answer = await this.#http.send(call);
    return answer.text === '' && answer.status >= 200 && answer.status <= 299 ? {} : plainJson(answer, this.#http.what(call));
  }

  /** `GET …/user-data?trader=` (§12.1), raw strings; only the top-level lists are checked. */
  async userData(trader: Address, signal?: AbortSignal): Promise<{ readonly positions: readonly Record<string, unknown>[]; readonly limitOrders: readonly Record<string, unknown>[] }> {
    const route = '/user-data';
    const call: Call = { method: 'GET', route, url: joinUrl(this.#base, `${route}${query({ trader })}`), policy: 'idempotent', signal };
    const what = this.#http.what(call);
    const parsed = z.object({ positions: z.array(z.record(z.string(), z.unknown())), limitOrders: z.array(z.record(z.string(), z.unknown())) }).safeParse(plainJson(await this.#http.send(call), what));
    if (!parsed.success) throw badShape(what, parsed.error);
    return parsed.data;
  }
}

// ————————————————————————————————————— blitz —————————————————————————————————————

export interface BlitzTxParams {
  readonly to: Address;
  readonly data: Hex;
  readonly value: string;
  readonly gasLimit: string;
  readonly chainId: number;
  readonly transactionType: 2 | 4;
  readonly authorizationList?: readonly Readonly<Record<string, unknown>>[];
}

export interface BlitzRelayStatus {
  readonly status: 'Inflight' | 'Finalised' | 'Failed';
  readonly receipt: Readonly<Record<string, unknown>> | null;
}

export interface BlitzClientOptions extends V2HttpOptions {
  /** The gateway host; the client appends `/blitz` (§2). */
  readonly gatewayUrl: string;
}

export class BlitzClient {
  readonly #base: string;
  readonly #http: Transport;
  constructor(options: BlitzClientOptions) {
    this.#base = joinUrl(options.gatewayUrl, GATEWAY_PREFIX.blitz);
    this.#http = new Transport('blitz', options);
  }

  /**
   * `POST …/relays` → requestId. Retried on 503 (relayer wallets busy, §9.4) and 429 only; after
   * a network error or timeout it is NOT resent (§9.4) — V2TransportError with outcome 'unknown'.
   */
  async relay(txParams: BlitzTxParams, wallet: Address, signal?: AbortSignal): Promise<string> {
    const call: Call = { method: 'POST', route: '/relays', url: joinUrl(this.#base, '/relays'), body: { txParams, wallet }, policy: 'refused-only', signal };
    const what = this.#http.what(call);
    const parsed = z.object({ requestId: z.string().min(1).max(200) }).safeParse(plainJson(await this.#http.send(call), what));
    if (!parsed.success) throw badShape(what, parsed.error);
    return parsed.data.requestId;
  }

  /** `GET …/relays/{requestId}`. On Finalised, check `receipt.status` (§9.4). */
  async relayStatus(requestId: string, signal?: AbortSignal): Promise<BlitzRelayStatus> {
    const call: Call = { method: 'GET', route: '/relays/:requestId', url: joinUrl(this.#base, `/relays/${encodeURIComponent(requestId)}`), policy: 'idempotent', signal };
    const what = this.#http.what(call);
    const parsed = z.object({ status: z.enum(['Inflight', 'Finalised', 'Failed']), receipt: z.record(z.string(), z.unknown()).nullable().optional() }).safeParse(plainJson(await this.#http.send(call), what));
    if (!parsed.success) throw badShape(what, parsed.error);
    return { status: parsed.data.status, receipt: parsed.data.receipt ?? null };
  }
}

