/**
 * Typed errors of the v2 intent store (intent-store.ts, ADR 0016). Like the other v2 errors each
 * carries the nearest shared `code` (so retries and describeError keep working) and a precise
 * `reason` that tests, logs and alerts branch on. Messages name the action and say what an
 * operator should do; they never contain a key or a whole signature.
 */
import { VantaError, type ErrorCode } from '../../../errors.ts';

export type IntentStoreErrorReason =
  /** No row for this action id. */
  | 'V2_ACTION_UNKNOWN'
  /** The action id was reserved before with another signer, kind, domain or message. */
  | 'V2_ACTION_CONFLICT'
  /** A second, different signature was offered for an action that is already signed. */
  | 'V2_INTENT_RESIGNED'
  /** The digest, the encoding or the recovered signer is not the stored intent's. */
  | 'V2_SIGNATURE_MISMATCH'
  /** The step is not allowed from the action's current state (e.g. resending an accepted order). */
  | 'V2_ACTION_STATE'
  /** A different tracking id, or one already used by another action. */
  | 'V2_TRACKING_CONFLICT'
  /** A stream event with this sequence number was stored before with other content. */
  | 'V2_EVENT_CONFLICT'
  /** Expiry asked for before the deadline (plus the clock margin) has passed. */
  | 'V2_NOT_EXPIRED'
  /** No unused nonce found after several random draws (a broken random source). */
  | 'V2_NONCE_EXHAUSTED';

type Details = Readonly<Record<string, string | number | boolean | null>>;

const SHARED: Record<IntentStoreErrorReason, ErrorCode> = {
  V2_ACTION_UNKNOWN: 'INTERNAL',
  V2_ACTION_CONFLICT: 'INTERNAL',
  V2_INTENT_RESIGNED: 'INTERNAL',
  V2_SIGNATURE_MISMATCH: 'BAD_INPUT',
  V2_ACTION_STATE: 'INTERNAL',
  V2_TRACKING_CONFLICT: 'CHAIN_BAD_RESPONSE',
  V2_EVENT_CONFLICT: 'CHAIN_BAD_RESPONSE',
  V2_NOT_EXPIRED: 'INTERNAL',
  V2_NONCE_EXHAUSTED: 'INTERNAL',
};

/** Nothing was written when this is thrown. */
export class IntentStoreError extends VantaError {
  override readonly name = 'IntentStoreError';
  readonly reason: IntentStoreErrorReason;
  readonly actionId: string;
  constructor(reason: IntentStoreErrorReason, actionId: string, message: string, details: Details = {}) {
    super(SHARED[reason], message, { details: { ...details, reason, actionId: actionId.slice(0, 200) }, retryable: reason === 'V2_NONCE_EXHAUSTED' });
    this.reason = reason;
    this.actionId = actionId;
  }
}
