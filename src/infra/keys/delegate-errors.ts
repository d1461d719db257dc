/**
 * Typed errors of delegate keys and their registration (issue 9 item 3; AVANTIS-V2.md §4, §11).
 * The shared ErrorCode union is closed, so each error carries the nearest shared `code` (retries,
 * describeError and the bot's filter keep working) and a precise `reason` to branch on. Messages
 * say what to do; they name user ids and addresses, never a key or a whole signature.
 */
import { VantaError, type ErrorCode } from '../../errors.ts';

export type DelegateErrorReason =
  /** The trader has no wallet Vanta created: nothing to sign the DelegateReq with. */
  | 'DELEGATE_NO_TRADER_WALLET'
  /** A Telegram id that is not a positive safe integer. */
  | 'DELEGATE_BAD_TELEGRAM_ID'
  /** The stored delegate row is not one this module wrote (another address than expected, a clash). */
  | 'DELEGATE_KEY_CONFLICT'
  /** The delegate key was asked to sign something that is not a trading intent. */
  | 'DELEGATE_SIGN_REFUSED'
  /** The relayer answered Failed, or a receipt that is not a success. */
  | 'DELEGATE_RELAY_FAILED'
  /** The relay is still in flight after the polls we allow. */
  | 'DELEGATE_RELAY_PENDING'
  /** The relay finalised but /v2/delegation does not show the delegate able to sign intents. */
  | 'DELEGATE_NOT_CONFIRMED'
  /** The registration's DelegateReq passed its deadline before it was relayed. */
  | 'DELEGATE_REQ_EXPIRED'
  /** The tx-builder's calldata answer is not the call we asked for. */
  | 'DELEGATE_CALLDATA_MISMATCH';

const SHARED: Record<DelegateErrorReason, ErrorCode> = {
  DELEGATE_NO_TRADER_WALLET: 'WALLET_NOT_FOUND',
  DELEGATE_BAD_TELEGRAM_ID: 'BAD_INPUT',
  DELEGATE_KEY_CONFLICT: 'INTERNAL',
  DELEGATE_SIGN_REFUSED: 'BAD_INPUT',
  DELEGATE_RELAY_FAILED: 'TX_REVERTED',
  DELEGATE_RELAY_PENDING: 'TX_TIMEOUT',
  DELEGATE_NOT_CONFIRMED: 'CHAIN_BAD_RESPONSE',
  DELEGATE_REQ_EXPIRED: 'TX_TIMEOUT',
  DELEGATE_CALLDATA_MISMATCH: 'PROTOCOL_UNVERIFIED',
};

const RETRYABLE: ReadonlySet<DelegateErrorReason> = new Set(['DELEGATE_RELAY_PENDING', 'DELEGATE_NOT_CONFIRMED', 'DELEGATE_REQ_EXPIRED', 'DELEGATE_RELAY_FAILED']);

type Details = Readonly<Record<string, string | number | boolean | null>>;

export class DelegateError extends VantaError {
  override readonly name = 'DelegateError';
  readonly reason: DelegateErrorReason;
  constructor(reason: DelegateErrorReason, message: string, details: Details = {}) {
    super(SHARED[reason], message, { details: { ...details, reason }, retryable: RETRYABLE.has(reason) });
    this.reason = reason;
  }
}
