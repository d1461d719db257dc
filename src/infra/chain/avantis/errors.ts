/**
 * Typed errors of the Avantis client. Each says what happened in words a trader or an
 * operator can act on, and carries the raw detail (revert string, chain id, address) for logs.
 */
import { VantaError, type VantaErrorOptions } from '../../../errors.ts';

/** The chain or the contracts are not the ones configured: refuse to trade (the live-mode check). */
export class AvantisDeploymentError extends VantaError {
  override readonly name = 'AvantisDeploymentError';
  declare readonly code: 'CHAIN_DEPLOYMENT_MISMATCH';
  constructor(message: string, options: VantaErrorOptions = {}) {
    super('CHAIN_DEPLOYMENT_MISMATCH', message, options);
  }
}

/** An RPC answer or a log did not have the shape the ABI promises. Nothing was changed. */
export class ChainResponseError extends VantaError {
  override readonly name = 'ChainResponseError';
  declare readonly code: 'CHAIN_BAD_RESPONSE';
  constructor(message: string, options: VantaErrorOptions = {}) {
    super('CHAIN_BAD_RESPONSE', message, options);
  }
}

/** The RPC could not be reached or timed out; trying again later may work. */
export class ChainUnavailableError extends VantaError {
  override readonly name = 'ChainUnavailableError';
  declare readonly code: 'CHAIN_UNAVAILABLE';
  constructor(message: string, options: Omit<VantaErrorOptions, 'retryable'> = {}) {
    super('CHAIN_UNAVAILABLE', message, { ...options, retryable: true });
  }
}

/**
 * Stable reasons a trade request is refused by the protocol. The engine branches on these;
 * the message is for the trader.
 */
export type RejectionReason =
  | 'position-too-small'
  | 'leverage-out-of-range'
  | 'wrong-tp'
  | 'wrong-sl'
  | 'sl-too-far'
  | 'too-many-trades'
  | 'too-many-pending'
  | 'timelock'
  | 'no-trade'
  | 'already-closing'
  | 'no-limit-order'
  | 'bad-slippage'
  | 'bad-price'
  | 'bad-amount'
  | 'pair-not-listed'
  | 'paused'
  | 'withdraw-too-large'
  | 'not-delegate'
  | 'delegation-forbidden'
  | 'usdc-allowance-too-low'
  | 'usdc-balance-too-low'
  | 'oracle-unavailable'
  | 'pnl-orders-unsupported'
  | 'not-allowed'
  | 'nonce-used'
  | 'position-mismatch'
  | 'deadline-passed'
  | 'relayer-only'
  | 'slippage-exceeded'
  | 'unknown';

/** The protocol refused the request (a revert). `revert` is the raw reason or error name. */
export class TradeRejectedError extends VantaError {
  override readonly name = 'TradeRejectedError';
  declare readonly code: 'TRADE_REJECTED';
  readonly reason: RejectionReason;
  readonly revert: string;
  constructor(reason: RejectionReason, revert: string, message: string, options: VantaErrorOptions = {}) {
    super('TRADE_REJECTED', message, { ...options, details: { ...options.details, reason, revert } });
    this.reason = reason;
    this.revert = revert;
  }
}
