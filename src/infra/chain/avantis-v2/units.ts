/**
 * Human decimal strings ↔ the raw integers of v2 intent messages (AVANTIS-V2.md §3).
 *
 * VERIFIED (reference, high confidence; matches v1): USDC amounts ×1e6; price, leverage,
 * slippage %, percentage and coin exposure ×1e10. /v2/meta also states `units`; meta.ts refuses
 * an answer whose scales differ from these, so the two can never silently disagree.
 *
 * Scaling is done on the decimal digits, never through a binary float: 0.0003 × 1e10 must be
 * 3000000 (a float gives 2999999.9999…, truncated to 2999999 by the reference's own example).
 * Input is parsed strictly — ASCII digits, at most one point with digits on both sides, no sign
 * unless allowed, no exponent, no more decimals than the unit has — so a typo is refused instead
 * of becoming a silently rounded order.
 */
import { BadInputError } from '../../../errors.ts';
import { shortText } from './errors.ts';

/** Decimal places of each raw quantity. */
export const RAW_DECIMALS = {
  /** Collateral, amounts to close, added collateral (×1e6). */
  usdc: 6,
  /** Open, wanted, TP, SL and trigger prices (×1e10). */
  price: 10,
  /** Leverage and its bounds: 10x = 10 × 1e10. */
  leverage: 10,
  /** Slippage in percent: "1" (1 %) = 1 × 1e10. */
  slippagePercent: 10,
  /** TpSlReq's signed trigger percentage (×1e10). */
  percentage: 10,
  /** Size in the base asset (coin-sized orders, partial TP/SL) (×1e10). */
  coinExposure: 10,
} as const;

export type RawQuantity = keyof typeof RAW_DECIMALS;

/** The largest uint256: a raw value above it cannot be signed or encoded. */
export const MAX_UINT256 = 2n ** 256n - 1n;
/** int256 bounds, for TpSlReq.percentage. */
export const MAX_INT256 = 2n ** 255n - 1n;
export const MIN_INT256 = -(2n ** 255n);

/** ASCII only: `\d` would also be ASCII here, but spelled out so nobody adds the `u` flag. */
const DECIMAL = /^(-)?([0-9]+)(?:\.([0-9]+))?$/;
/** Longer input is refused before any work: no real amount needs 100 characters. */
const MAX_INPUT_LENGTH = 100;

export interface ToRawOptions {
  /** Accept a leading minus (only TpSlReq's percentage is signed). Default false. */
  readonly allowNegative?: boolean;
}

/**
 * "0.0003" (price) → 3_000_000n. Throws BadInputError, naming the quantity, for anything that
 * is not a plain non-negative decimal with at most the unit's decimals and within 256 bits.
 */
export function toRaw(quantity: RawQuantity, human: string, options: ToRawOptions = {}): bigint {
  if (typeof human !== 'string') throw new BadInputError(`Not a ${quantity} value: expected a decimal string, got ${typeof human}.`, { quantity });
  const match = human.length <= MAX_INPUT_LENGTH ? DECIMAL.exec(human) : null;
  if (!match) throw new BadInputError(`Not a ${quantity} value: "${shortText(human, 40)}". Write a plain decimal number such as "12.5".`, { quantity });
  const [, minus, whole = '0', fraction = ''] = match;
  if (minus && !options.allowNegative) throw new BadInputError(`A ${quantity} value cannot be negative: "${human}".`, { quantity });
  const decimals = RAW_DECIMALS[quantity];
  if (fraction.length > decimals) {
    throw new BadInputError(`Too many decimals for ${quantity}: "${human}" has ${fraction.length}, the most is ${decimals}.`, { quantity });
  }
  const magnitude = BigInt(whole) * 10n ** BigInt(decimals) + BigInt(fraction.padEnd(decimals, '0') || '0');
  const raw = minus ? -magnitude : magnitude;
  if (raw > (options.allowNegative ? MAX_INT256 : MAX_UINT256) || raw < MIN_INT256) {
    throw new BadInputError(`The ${quantity} value "${shortText(human, 40)}" is too large to sign.`, { quantity });
  }
  return raw;
}

/** 3_000_000n (price) → "0.0003": the shortest exact decimal string. */
export function fromRaw(quantity: RawQuantity, raw: bigint): string {
  if (typeof raw !== 'bigint') throw new BadInputError(`Not a raw ${quantity} integer: ${typeof raw}.`, { quantity });
  const decimals = RAW_DECIMALS[quantity];
  const scale = 10n ** BigInt(decimals);
  const magnitude = raw < 0n ? -raw : raw;
  const fraction = (magnitude % scale).toString().padStart(decimals, '0').replace(/0+$/, '');
  return `${raw < 0n ? '-' : ''}${magnitude / scale}${fraction ? `.${fraction}` : ''}`;
}

/** "100" USDC → 100_000_000n. */
export const usdcToRaw = (human: string): bigint => toRaw('usdc', human);
/** "3500.5" → 35_005_000_000_000n. */
export const priceToRaw = (human: string): bigint => toRaw('price', human);
/** "10" (10x) → 100_000_000_000n. */
export const leverageToRaw = (human: string): bigint => toRaw('leverage', human);
/** "1" (1 %) → 10_000_000_000n. */
export const slippagePercentToRaw = (human: string): bigint => toRaw('slippagePercent', human);
/** "-2.5" (%) → -25_000_000_000n: signed, for TpSlReq's percentage trigger. */
export const percentageToRaw = (human: string): bigint => toRaw('percentage', human, { allowNegative: true });
/** "0.5" (coins) → 5_000_000_000n. */
export const coinExposureToRaw = (human: string): bigint => toRaw('coinExposure', human);
