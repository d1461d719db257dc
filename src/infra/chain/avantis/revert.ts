/**
 * Turns a failed call into a typed error a trader understands.
 *
 * v1 reverts are strings (VERIFIED: the v1 ABI has no custom errors; the strings are the ones
 * the simulator's contracts use, which follow AVANTIS.md §3.3). v2 reverts are custom errors
 * (UNVERIFIED names from SDK-v2, see v2/abi.ts). Transport failures become
 * ChainUnavailableError (retryable); anything else that is not a revert becomes
 * ChainResponseError.
 */
import { BaseError, decodeErrorResult, formatUnits, isHex, parseAbi, type Hex } from 'viem';
import { VantaError } from '../../../errors.ts';
import { ChainResponseError, ChainUnavailableError, TradeRejectedError, type RejectionReason } from './errors.ts';
import { v2ErrorsAbi } from './v2/abi.ts';

/** Facts that make a message concrete ("the minimum is 100 USDC"). All optional. */
export interface RejectionContext {
  /** USDC 1e6 */
  readonly minPositionUsdc?: bigint;
  /** 1e10 */
  readonly minLeverage?: bigint;
  /** 1e10 */
  readonly maxLeverage?: bigint;
  readonly maxTradesPerPair?: bigint;
  readonly timelockBlocks?: bigint;
  /** Percent × 1e10 of collateral (80 % on mainnet). */
  readonly maxSlP?: bigint;
}

/** What a revert said, once decoded. */
export type DecodedRevert =
  | { readonly kind: 'string'; readonly reason: string }
  | { readonly kind: 'custom'; readonly name: string }
  | { readonly kind: 'panic'; readonly code: bigint }
  | { readonly kind: 'unknown'; readonly data: Hex };

interface Rule {
  readonly reason: RejectionReason;
  readonly retryable?: boolean;
  readonly message: (c: RejectionContext) => string;
}

const x = (lev: bigint) => `${formatUnits(lev, 10)}x`;
const oracle: Rule = { reason: 'oracle-unavailable', retryable: true, message: () => 'The oracle price is not usable right now (stale or uncertain). Try again in a moment.' };
const notAllowed: Rule = { reason: 'not-allowed', message: () => 'This account is not allowed to do that on Avantis.' };

/** v1 revert strings (and the simulator's) → rule. */
const V1_RULES: Readonly<Record<string, Rule>> = {
  BELOW_MIN_POS: {
    reason: 'position-too-small',
    message: (c) =>
      c.minPositionUsdc === undefined
        ? 'Position too small: collateral × leverage is below the pair’s minimum.'
        : `Position too small: the minimum is ${formatUnits(c.minPositionUsdc, 6)} USDC notional (collateral × leverage).`,
  },
  LEVERAGE_INCORRECT: {
    reason: 'leverage-out-of-range',
    message: (c) =>
      c.minLeverage === undefined || c.maxLeverage === undefined
        ? 'Leverage out of range for this pair.'
        : `Leverage out of range: this pair allows ${x(c.minLeverage)} to ${x(c.maxLeverage)}.`,
  },
  WRONG_TP: { reason: 'wrong-tp', message: () => 'Take-profit on the wrong side: for a long it must be above the price, for a short below.' },
  WRONG_SL: { reason: 'wrong-sl', message: () => 'Stop-loss on the wrong side: for a long it must be below the price, for a short above.' },
  SL_TOO_BIG: {
    reason: 'sl-too-far',
    message: (c) => `Stop-loss too far: it may lose at most ${c.maxSlP === undefined ? '80' : formatUnits(c.maxSlP, 10)} % of the collateral.`,
  },
  MAX_TRADES_PER_PAIR: {
    reason: 'too-many-trades',
    message: (c) => `Too many trades on this market: at most ${c.maxTradesPerPair ?? 'the maximum of'} open trades and orders per pair.`,
  },
  MAX_PENDING_ORDERS: { reason: 'too-many-pending', retryable: true, message: () => 'Too many orders are waiting to be filled. Wait for them, then try again.' },
  LIMIT_TIMELOCK: {
    reason: 'timelock',
    retryable: true,
    message: (c) => `Too soon after the last change: wait ${c.timelockBlocks ?? 'a few'} blocks (about ${c.timelockBlocks === undefined ? 'a minute' : `${c.timelockBlocks * 2n} s`}) and try again.`,
  },
  NO_TRADE: { reason: 'no-trade', message: () => 'That position no longer exists: it may have been closed by its TP, its SL or a liquidation.' },
  ALREADY_BEING_CLOSED: { reason: 'already-closing', message: () => 'This position is already being closed.' },
  NO_LIMIT: { reason: 'no-limit-order', message: () => 'That order no longer exists: it may have been filled or cancelled.' },
  WRONG_SLIPPAGE: { reason: 'bad-slippage', message: () => 'Slippage must be above 0 % and at most 100 %.' },
  WRONG_PRICE: { reason: 'bad-price', message: () => 'The price must be above zero.' },
  WRONG_AMOUNT: { reason: 'bad-amount', message: () => 'Amount out of range: it must be above zero and below the position’s collateral.' },
  PAIR_NOT_LISTED: { reason: 'pair-not-listed', message: () => 'This market is not listed on Avantis.' },
  PAUSED: { reason: 'paused', retryable: true, message: () => 'Avantis has paused trading. Try again later.' },
  WITHDRAW_THRESHOLD: { reason: 'withdraw-too-large', message: () => 'Cannot withdraw that much: the position would be too close to liquidation.' },
  DELEGATE_NOT_APPROVED: { reason: 'not-delegate', message: () => 'The bot is not your delegate on Avantis. Approve it as delegate first.' },
  NOT_ALLOWED_IN_DELEGATION: { reason: 'delegation-forbidden', message: () => 'A delegate cannot change delegation. Sign this from your own wallet.' },
  PNL_ORDERS_NOT_SIMULATED: { reason: 'pnl-orders-unsupported', message: () => 'Zero-fee (PnL) orders are not available on this network.' },
  SLIPPAGE_EXCEEDED: { reason: 'slippage-exceeded', message: () => 'The price moved beyond your slippage.' },
  USDC_TRANSFER: { reason: 'usdc-balance-too-low', message: () => 'The USDC transfer failed: check your USDC balance and approval.' },
  'ERC20: insufficient allowance': { reason: 'usdc-allowance-too-low', message: () => 'USDC not approved: approve Avantis (TradingStorage) to use your USDC first.' },
  'ERC20: transfer amount exceeds allowance': { reason: 'usdc-allowance-too-low', message: () => 'USDC not approved: approve Avantis (TradingStorage) to use your USDC first.' },
  'ERC20: transfer amount exceeds balance': { reason: 'usdc-balance-too-low', message: () => 'Not enough USDC in your wallet for this.' },
  PRICE_CONFIDENCE_TOO_LOW: oracle,
  BACKUP_DEVIATION_TOO_HIGH: oracle,
  PYTH_STALE_PRICE: oracle,
  PYTH_BAD_PRICE: oracle,
  PYTH_PRICE_FEED_NOT_FOUND: oracle,
  PYTH_INSUFFICIENT_FEE: oracle,
  ZERO_PRICE: oracle,
  ONLY_OPERATOR: notAllowed,
  ONLY_TRADING: notAllowed,
  ONLY_CALLBACKS: notAllowed,
  GOV_ONLY: notAllowed,
};

/** UNVERIFIED v2 custom errors (names from SDK-v2) → rule. */
const V2_RULES: Readonly<Record<string, Rule>> = {
  InvalidNonce: { reason: 'nonce-used', message: () => 'This signed request was already used. Sign a new one.' },
  PositionMismatch: { reason: 'position-mismatch', message: () => 'The position changed since this request was made. Check it and try again.' },
  InvalidDeadline: { reason: 'deadline-passed', retryable: true, message: () => 'The signed request expired before it was executed. Try again.' },
  OnlyBatchedFlowAllowed: { reason: 'relayer-only', message: () => 'Avantis accepts this only through its relayer (signed request), not as a direct transaction.' },
  PnlOrderNotAllowed: { reason: 'pnl-orders-unsupported', message: () => 'Zero-fee (PnL) orders are not allowed for this market.' },
  WrongSl: { reason: 'wrong-sl', message: () => 'Stop-loss not accepted: it is on the wrong side or too far away.' },
  HighSlippage: { reason: 'slippage-exceeded', message: () => 'The price moved beyond your slippage.' },
};

/** Maps a decoded revert to a TradeRejectedError with a trader-facing message. */
export function rejectionFor(revert: DecodedRevert, context: RejectionContext = {}, cause?: unknown): TradeRejectedError {
  const raw = revert.kind === 'string' ? revert.reason : revert.kind === 'custom' ? revert.name : revert.kind === 'panic' ? `Panic(${revert.code})` : revert.data;
  const rule = revert.kind === 'string' ? V1_RULES[revert.reason] : revert.kind === 'custom' ? V2_RULES[revert.name] : undefined;
  if (!rule) return new TradeRejectedError('unknown', raw, `Avantis refused the request (${raw.slice(0, 80)}).`, { cause });
  return new TradeRejectedError(rule.reason, raw, rule.message(context), { cause, retryable: rule.retryable ?? false });
}

/** v1 string reverts and panics (Solidity built-ins), then the UNVERIFIED v2 custom errors. */
const REVERT_ABI = [...parseAbi(['error Error(string message)', 'error Panic(uint256 code)']), ...v2ErrorsAbi];

/** Decodes revert data: Error(string), Panic(uint256), a known v2 custom error, or unknown. */
export function decodeRevertData(data: Hex): DecodedRevert {
  try {
    const decoded = decodeErrorResult({ abi: REVERT_ABI, data });
    if (decoded.errorName === 'Error') return { kind: 'string', reason: decoded.args[0] };
    if (decoded.errorName === 'Panic') return { kind: 'panic', code: decoded.args[0] };
    return { kind: 'custom', name: decoded.errorName };
  } catch {
    return { kind: 'unknown', data };
  }
}

/** The revert inside any viem error (call, estimateGas, simulate, send), or null when it was not a revert. */
export function findRevert(error: unknown): DecodedRevert | null {
  if (!(error instanceof BaseError)) return null;
  let found: DecodedRevert | null = null;
  error.walk((e) => {
    const candidate = e as { data?: unknown; reason?: unknown };
    const data = typeof candidate.data === 'object' && candidate.data !== null ? (candidate.data as { data?: unknown }).data : candidate.data;
    if (typeof data === 'string' && isHex(data) && data.length >= 10) found = decodeRevertData(data);
    else if (typeof candidate.reason === 'string' && candidate.reason !== '') found = { kind: 'string', reason: candidate.reason };
    return found !== null;
  });
  return found ?? revertFromMessage(error);
}

/** Some nodes put the reason only in the message ("execution reverted: WRONG_TP"). */
function revertFromMessage(error: BaseError): DecodedRevert | null {
  const match = /execution reverted(?::|, reason:)?\s*"?([^"\n]+?)"?\s*(?:\n|$)/i.exec(`${error.details ?? ''}\n${error.shortMessage}`);
  const reason = match?.[1]?.trim();
  return reason && reason !== 'execution reverted' ? { kind: 'string', reason } : null;
}

/**
 * Classifies any error from a protocol call: a revert becomes TradeRejectedError, an
 * unreachable RPC ChainUnavailableError, anything else ChainResponseError. VantaErrors pass.
 */
export function toChainError(error: unknown, context: RejectionContext = {}, what = 'Avantis call'): VantaError {
  if (error instanceof VantaError) return error;
  const revert = findRevert(error);
  if (revert) return rejectionFor(revert, context, error);
  if (isTransportFailure(error)) return new ChainUnavailableError(`${what}: the RPC did not answer. It is retried later.`, { cause: error });
  const detail = error instanceof BaseError ? error.shortMessage : error instanceof Error ? error.message : String(error);
  return new ChainResponseError(`${what}: unexpected answer from the chain (${detail.slice(0, 160)}).`, { cause: error });
}

function isTransportFailure(error: unknown): boolean {
  if (!(error instanceof BaseError)) return false;
  return error.walk((e) => ['HttpRequestError', 'TimeoutError', 'WebSocketRequestError', 'SocketClosedError'].includes((e as Error).name)) !== null;
}
