/**
 * Typed errors of the Avantis v2 (Veranta) surface: the tx-builder's envelope, its intent
 * answers and `/v2/meta`.
 *
 * The shared `ErrorCode` union (src/errors.ts) is closed and owned elsewhere, so each v2 error
 * carries two codes: `code`, the nearest shared code (so retries, `describeError`, the bot's
 * trader-facing filter and metrics keep working unchanged), and `v2Code`, the stable v2-specific
 * reason that tests, logs and alerts branch on. Messages never contain secrets: an intent holds
 * addresses and amounts only, and service text is shortened and stripped of control characters.
 */
import { VantaError, type ErrorCode } from '../../../errors.ts';

type Details = Readonly<Record<string, string | number | boolean | null>>;

/** Every v2-specific reason an answer or an input is refused. */
export type V2ErrorCode =
  | 'V2_INTENT_MISMATCH'
  | 'V2_BAD_RESPONSE'
  | 'V2_META_INVALID'
  | 'V2_VALIDATION_ERROR'
  | 'V2_BAD_REQUEST'
  | 'V2_TX_REJECTED'
  | 'V2_SIMULATION_FAILED'
  | 'V2_RATE_LIMITED'
  | 'V2_GEO_RESTRICTED'
  | 'V2_UPSTREAM_ERROR'
  | 'V2_RPC_ERROR'
  | 'V2_NOT_FOUND'
  | 'V2_INTERNAL_ERROR'
  | 'V2_UNKNOWN_ERROR';

export interface V2ErrorOptions {
  readonly cause?: unknown;
  readonly retryable?: boolean;
  readonly details?: Details;
}

/** Base class of every v2 error: a shared `code` for the engine, a `v2Code` for precision. */
export class V2Error extends VantaError {
  override readonly name: string = 'V2Error';
  readonly v2Code: V2ErrorCode;
  constructor(code: ErrorCode, v2Code: V2ErrorCode, message: string, options: V2ErrorOptions = {}) {
    super(code, message, { ...options, details: { ...options.details, v2Code } });
    this.v2Code = v2Code;
  }
}

/**
 * The tx-builder answered an intent that is not the one we asked for (another domain, another
 * type list, a changed field, a digest or encoding that does not match what we compute). The
 * action is refused before anything is signed and the operator is alerted: this is either a bug
 * on one side or a tampered answer. `field` names the first difference found.
 */
export class V2IntentMismatchError extends V2Error {
  override readonly name = 'V2IntentMismatchError';
  readonly field: string;
  constructor(field: string, reason: string, details: Details = {}) {
    super('PROTOCOL_UNVERIFIED', 'V2_INTENT_MISMATCH', `Nothing was signed: the intent prepared by Avantis differs from the one Vanta asked for (${field}: ${reason}). The action is refused and the operator is alerted.`, {
      details: { ...details, field },
    });
    this.field = field;
  }
}

/** A v2 service answered something that is not the documented shape (not JSON, no envelope…). */
export class V2ResponseError extends V2Error {
  override readonly name = 'V2ResponseError';
  constructor(message: string, options: V2ErrorOptions = {}) {
    super('CHAIN_BAD_RESPONSE', 'V2_BAD_RESPONSE', message, options);
  }
}

/** `/v2/meta` is malformed or disagrees with what this build can sign: live must not trade. */
export class V2MetaError extends V2Error {
  override readonly name = 'V2MetaError';
  constructor(problems: readonly string[]) {
    super('CHAIN_DEPLOYMENT_MISMATCH', 'V2_META_INVALID', `The Avantis v2 service description (/v2/meta) cannot be used, so nothing will be traded on v2:\n  - ${problems.join('\n  - ')}`, {
      details: { problems: problems.join('; ').slice(0, 500) },
    });
  }
}

/** A v2 service refused the request with `{ok:false, error}`; see envelope.ts for the mapping. */
export class V2ServiceError extends V2Error {
  override readonly name = 'V2ServiceError';
  /** The service's own `error.code`, as sent (shortened). */
  readonly serviceCode: string;
  /** The decoded revert the service put in `details`, when there was one (SIMULATION_FAILED). */
  readonly revert: string | null;
  constructor(code: ErrorCode, v2Code: V2ErrorCode, serviceCode: string, message: string, options: V2ErrorOptions & { readonly revert?: string | null } = {}) {
    super(code, v2Code, message, { ...options, details: { ...options.details, serviceCode, revert: options.revert ?? null } });
    this.serviceCode = serviceCode;
    this.revert = options.revert ?? null;
  }
}

/** Untrusted text made safe for a message: no control characters, at most `max` characters. */
export function shortText(value: unknown, max = 160): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/g, ' ');
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}
