/**
 * The tx-builder's answer envelope (AVANTIS-V2.md §6): `{ok: true, data}` or
 * `{ok: false, error: {code, message, details}}`, and its error codes turned into typed errors a
 * trader can understand and the engine can branch on (`retryable`, `v2Code`).
 *
 * VERIFIED by the reference (high confidence): the envelope, the codes, their HTTP statuses and
 * handling. ASSUMED: where in `details` a SIMULATION_FAILED answer puts the decoded revert (no
 * schema is published; we look for a string under a few likely keys, or `details` itself).
 * The service's own message is untrusted text: it is shortened, stripped of control characters,
 * and only ever quoted, never interpreted.
 */
import type { ErrorCode } from '../../../errors.ts';
import { shortText, V2ResponseError, V2ServiceError, type V2ErrorCode } from './errors.ts';

/** The documented codes (§6). Anything else is still refused, as an unknown error. */
export type ServiceErrorCode =
  | 'VALIDATION_ERROR'
  | 'BAD_REQUEST'
  | 'TX_REJECTED'
  | 'SIMULATION_FAILED'
  | 'RATE_LIMITED'
  | 'GEO_RESTRICTED'
  | 'UPSTREAM_ERROR'
  | 'RPC_ERROR'
  | 'NOT_FOUND'
  | 'INTERNAL_ERROR';

interface Handling {
  readonly code: ErrorCode;
  readonly v2Code: V2ErrorCode;
  /** As §6's table says: only back-off codes are retried. */
  readonly retryable: boolean;
  readonly message: (said: string, revert: string | null) => string;
}

/** §6's table, one row per code. `said` is the service's (shortened) message. */
export const SERVICE_ERROR_HANDLING: Readonly<Record<ServiceErrorCode, Handling>> = {
  VALIDATION_ERROR: { code: 'BAD_INPUT', v2Code: 'V2_VALIDATION_ERROR', retryable: false, message: (said) => `Avantis refused the request as invalid (${said}). Nothing was sent; change the order and try again.` },
  BAD_REQUEST: { code: 'BAD_INPUT', v2Code: 'V2_BAD_REQUEST', retryable: false, message: (said) => `Avantis refused the request (${said}). Nothing was sent; change the order and try again.` },
  TX_REJECTED: { code: 'TX_REJECTED', v2Code: 'V2_TX_REJECTED', retryable: false, message: (said) => `Avantis rejected the transaction (${said}). Nothing was executed.` },
  // Not retryable as is: the same request fails the same way. A NEW request after reading the
  // position and price again may pass, which is the caller's decision.
  SIMULATION_FAILED: {
    code: 'TX_SIMULATION_FAILED',
    v2Code: 'V2_SIMULATION_FAILED',
    retryable: false,
    message: (said, revert) => `Avantis checked the order against the chain and it would fail: ${revert === null ? said : explainRevert(revert)}. Nothing was sent.`,
  },
  RATE_LIMITED: { code: 'CHAIN_UNAVAILABLE', v2Code: 'V2_RATE_LIMITED', retryable: true, message: () => 'Avantis is receiving too many requests from this bot right now. It is retried shortly, with backoff.' },
  // Stop: the service refuses this server's location. Retrying cannot help and must not be tried.
  GEO_RESTRICTED: {
    code: 'TRADING_PAUSED',
    v2Code: 'V2_GEO_RESTRICTED',
    retryable: false,
    message: () => 'Avantis refuses requests from the country this bot runs in (geo-restricted), so trading is stopped. Nothing was sent. The operator has been told.',
  },
  UPSTREAM_ERROR: { code: 'CHAIN_UNAVAILABLE', v2Code: 'V2_UPSTREAM_ERROR', retryable: true, message: () => 'An Avantis service behind the order builder is not answering. It is retried shortly, with backoff.' },
  RPC_ERROR: { code: 'CHAIN_UNAVAILABLE', v2Code: 'V2_RPC_ERROR', retryable: true, message: () => 'Avantis could not reach the blockchain. It is retried shortly, with backoff.' },
  NOT_FOUND: { code: 'BAD_INPUT', v2Code: 'V2_NOT_FOUND', retryable: false, message: (said) => `Avantis does not know what was asked for (${said}). Check the market or position and try again.` },
  // §6 gives no handling for 500 and lists only 429/502/503/504 for retries: not retried blindly.
  INTERNAL_ERROR: { code: 'CHAIN_UNAVAILABLE', v2Code: 'V2_INTERNAL_ERROR', retryable: false, message: () => 'Avantis had an internal error and did not take the request. Nothing was sent; try again later.' },
};

/** HTTP statuses §6 says to retry with backoff, used when the body names no known code. */
const RETRYABLE_STATUS: ReadonlySet<number> = new Set([429, 502, 503, 504]);

/** The custom errors §13 names, in a trader's words. Unknown names are quoted as they are. */
const REVERT_EXPLANATIONS: Readonly<Record<string, string>> = {
  HighSlippage: 'the price moved more than your slippage allows',
  WrongSl: 'the stop-loss is on the wrong side of the price or too close to it',
  BelowMinPosition: 'the position is smaller than this market’s minimum',
  InvalidNonce: 'this signed order was already used',
  PositionMismatch: 'the position changed since it was read (a margin change or partial close); refresh and try again',
  InvalidDeadline: 'the signed order expired before it could run',
  OnlyBatchedFlowAllowed: 'this action is only accepted through Avantis’s batched order service',
  PnlOrderNotAllowed: 'this market does not take Upside (PnL) orders',
};

export function explainRevert(revert: string): string {
  const name = /^([A-Za-z_][A-Za-z0-9_]*)/.exec(revert)?.[1] ?? '';
  return REVERT_EXPLANATIONS[name] ?? `the contract refused it (${shortText(revert, 80)})`;
}

/** ASSUMED keys where `details` may carry the decoded revert of a failed simulation. */
const REVERT_KEYS = ['revert', 'decodedRevert', 'decoded', 'errorName', 'reason', 'error'] as const;

function revertFrom(details: unknown): string | null {
  if (typeof details === 'string' && details.trim() !== '') return shortText(details.trim(), 120);
  if (details === null || typeof details !== 'object') return null;
  const record = details as Record<string, unknown>;
  for (const key of REVERT_KEYS) {
    const value = record[key];
    if (typeof value === 'string' && value.trim() !== '') return shortText(value.trim(), 120);
    if (value !== null && typeof value === 'object' && typeof (value as Record<string, unknown>).name === 'string') return shortText((value as Record<string, string>).name, 120);
  }
  return null;
}

export interface EnvelopeContext {
  /** The HTTP status, when known: decides retries when the body says nothing usable. */
  readonly status?: number;
  /** What was asked ("POST /v2/intents/open"), for messages and logs. */
  readonly what?: string;
}

/**
 * The `data` of a successful answer. `body` is the raw response text (so a non-JSON answer is
 * refused clearly) or already-parsed JSON. Throws V2ServiceError for `{ok:false}` and
 * V2ResponseError for anything that is not the envelope.
 */
export function unwrapEnvelope(body: unknown, context: EnvelopeContext = {}): unknown {
  const what = context.what ?? 'The Avantis tx-builder';
  const statusRetryable = context.status !== undefined && RETRYABLE_STATUS.has(context.status);
  const details = { status: context.status ?? null, what };
  let json = body;
  if (typeof body === 'string') {
    try {
      json = JSON.parse(body) as unknown;
    } catch (cause) {
      throw new V2ResponseError(`${what} answered something that is not JSON (${shortText(body, 60)}). Nothing was done.${statusRetryable ? ' It is retried shortly.' : ''}`, { cause, retryable: statusRetryable, details });
    }
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json) || typeof (json as { ok?: unknown }).ok !== 'boolean') {
    throw new V2ResponseError(`${what} answered without the {ok, data|error} envelope. Nothing was done.`, { retryable: statusRetryable, details });
  }
  const envelope = json as { ok: boolean; data?: unknown; error?: unknown };
  if (envelope.ok) {
    if (!('data' in envelope) || envelope.data === undefined) throw new V2ResponseError(`${what} said ok but sent no data. Nothing was done.`, { details });
    if (context.status !== undefined && (context.status < 200 || context.status > 299)) {
      throw new V2ResponseError(`${what} said ok with HTTP status ${context.status}. Nothing was done.`, { retryable: statusRetryable, details });
    }
    return envelope.data;
  }
  const error = envelope.error as { code?: unknown; message?: unknown; details?: unknown } | undefined;
  if (error === null || typeof error !== 'object' || typeof error.code !== 'string' || typeof error.message !== 'string') {
    throw new V2ResponseError(`${what} reported a failure without an error code and message. Nothing was done.`, { retryable: statusRetryable, details });
  }
  throw serviceError(error.code, error.message, error.details, context);
}

/** The typed error for one `{ok:false}` answer (exported for callers that parse elsewhere). */
export function serviceError(serviceCode: string, serviceMessage: string, serviceDetails: unknown, context: EnvelopeContext = {}): V2ServiceError {
  const said = shortText(serviceMessage, 160);
  const details = { status: context.status ?? null, what: context.what ?? null };
  const handling = Object.hasOwn(SERVICE_ERROR_HANDLING, serviceCode) ? SERVICE_ERROR_HANDLING[serviceCode as ServiceErrorCode] : null;
  if (handling === null) {
    const retryable = context.status !== undefined && RETRYABLE_STATUS.has(context.status);
    return new V2ServiceError('CHAIN_BAD_RESPONSE', 'V2_UNKNOWN_ERROR', shortText(serviceCode, 40), `Avantis refused the request with an unknown error ${shortText(serviceCode, 40)} (${said}).${retryable ? ' It is retried shortly.' : ' Nothing was sent.'}`, { retryable, details });
  }
  const revert = serviceCode === 'SIMULATION_FAILED' ? revertFrom(serviceDetails) : null;
  return new V2ServiceError(handling.code, handling.v2Code, serviceCode, handling.message(said, revert), { retryable: handling.retryable, details, revert });
}
