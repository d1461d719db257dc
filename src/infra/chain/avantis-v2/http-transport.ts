/**
 * What every Avantis v2 (Veranta) service call shares (AVANTIS-V2.md §2, §6): base URLs, timeouts,
 * retries and the log hook.
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
import { getAddress, isAddress } from 'viem';
import { z } from 'zod';
import { serviceError } from './envelope.ts';
import { shortText, V2Error, V2ResponseError } from './errors.ts';


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

export const RETRY_STATUS: Readonly<Record<RetryPolicy, ReadonlySet<number>>> = {
  idempotent: new Set([429, 502, 503, 504]),
  'refused-only': new Set([429, 503]),
};

/**
 * The plain (non-envelope) services answer errors by HTTP status; the nearest §6 code for each.
 * ASSUMED: batched-market, core and blitz answer errors with a NestJS body (documented only for
 * batched-market's 400, §9.1); 503 is treated as UPSTREAM_ERROR (back off), as §6 and §9.4 say.
 */
export const STATUS_CODE: Readonly<Record<number, string>> = {
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

export interface Call {
  readonly method: 'GET' | 'POST' | 'PUT';
  /** Path template for logs and messages. */
  readonly route: string;
  readonly url: string;
  readonly body?: unknown;
  readonly policy: RetryPolicy;
  readonly signal?: AbortSignal | undefined;
}

export interface RawAnswer {
  readonly status: number;
  readonly text: string;
}

/** The shared transport: timeouts, retries per policy, logging without secrets. */
export class Transport {
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

export function retryAfter(header: string | null): number | null {
  if (header === null) return null;
  const seconds = Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : null;
}

export function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}${path}`;
}

export function query(params: Readonly<Record<string, string | undefined>>): string {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) search.set(k, v);
  const s = search.toString();
  return s === '' ? '' : `?${s}`;
}

/** JSON of a plain (non-envelope) service; errors by status as typed §6 errors. */
export function plainJson(answer: RawAnswer, what: string): unknown {
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
export function plainError(answer: RawAnswer, what: string): V2Error {
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

export function badShape(what: string, error: z.ZodError): V2ResponseError {
  const problems = error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
  return new V2ResponseError(`${what} answered an unexpected shape (${shortText(problems, 200)}). Nothing was done.`, { details: { what } });
}

export const addressSchema = z.string().refine((s) => isAddress(s, { strict: false }), 'not an address').transform((s) => getAddress(s));
export const uintString = z.union([z.string().regex(/^[0-9]{1,78}$/), z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)]).transform((v) => BigInt(v));

// ————————————————————————————————————— tx-builder —————————————————————————————————————
