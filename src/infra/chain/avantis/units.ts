/**
 * Decimal strings ↔ the protocol's fixed-point integers (AVANTIS.md §2).
 *
 * Verified against the vendored v1 ABI and the simulator: USDC amounts are 1e6, prices,
 * leverage and percentages are 1e10. A trader's input ("1000.5", "3000", "10") is parsed
 * strictly: no exponent, no sign unless allowed, no more decimals than the unit has, so a
 * typo never becomes a silently rounded order.
 */
import { BadInputError } from '../../../errors.ts';

/** The scale of each protocol quantity, in decimal places. */
export const UNIT_DECIMALS = {
  /** USDC amounts: collateral, fees, payouts, notional. */
  usdc: 6,
  /** Prices: open, TP, SL, liquidation, limit trigger. */
  price: 10,
  /** Leverage: 10x = 10 × 1e10. */
  leverage: 10,
  /** Percent × 1e10: slippage, spread, fee %, percent profit. */
  percent: 10,
} as const;

export type Unit = keyof typeof UNIT_DECIMALS;

/** `PRECISION` in the contracts: the 1e10 scale of prices, leverage and percentages. */
export const PRECISION = 10n ** 10n;
/** One USDC in base units. */
export const USDC_ONE = 10n ** 6n;

const DECIMAL = /^(-)?(\d+)(?:\.(\d+))?$/;

export interface ParseOptions {
  /** Accept a leading minus (only percent profit and PnL can be negative). Default false. */
  readonly allowNegative?: boolean;
}

/**
 * Parses a decimal string ("1000.5") into the unit's integer (1_000_500_000n for USDC).
 * Throws BadInputError on anything else: empty, "1e3", "1,000", " 5", too many decimals.
 */
export function parseUnit(unit: Unit, text: string, options: ParseOptions = {}): bigint {
  const decimals = UNIT_DECIMALS[unit];
  const match = typeof text === 'string' ? DECIMAL.exec(text) : null;
  if (!match) throw new BadInputError(`Not a ${unit} amount: ${describe(text)}. Write a plain decimal number such as "12.5".`, { unit });
  const [, minus, whole = '0', fraction = ''] = match;
  if (minus && !options.allowNegative) throw new BadInputError(`A ${unit} amount cannot be negative: ${describe(text)}.`, { unit });
  if (fraction.length > decimals) {
    throw new BadInputError(`Too many decimals for ${unit}: ${describe(text)} has ${fraction.length}, the most is ${decimals}.`, { unit });
  }
  const magnitude = BigInt(whole) * 10n ** BigInt(decimals) + BigInt(fraction.padEnd(decimals, '0') || '0');
  return minus ? -magnitude : magnitude;
}

/** Formats the unit's integer as the shortest exact decimal string (1_000_500_000n USDC → "1000.5"). */
export function formatUnit(unit: Unit, value: bigint): string {
  if (typeof value !== 'bigint') throw new BadInputError(`Not an integer ${unit} value: ${describe(value)}.`, { unit });
  const decimals = BigInt(UNIT_DECIMALS[unit]);
  const negative = value < 0n;
  const magnitude = negative ? -value : value;
  const scale = 10n ** decimals;
  const whole = magnitude / scale;
  const fraction = (magnitude % scale).toString().padStart(Number(decimals), '0').replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
}

/** "100" → 100_000_000n. */
export const usdc = (text: string): bigint => parseUnit('usdc', text);
/** "3000.25" → 30_002_500_000_000n. */
export const price = (text: string): bigint => parseUnit('price', text);
/** "10" → 100_000_000_000n. */
export const leverage = (text: string): bigint => parseUnit('leverage', text);
/** "1" (1 %) → 10_000_000_000n. */
export const percent = (text: string): bigint => parseUnit('percent', text);

/**
 * Parses a base-10 integer string (a raw on-chain value kept in JSON) back to bigint.
 * Throws BadInputError when it is not one.
 */
export function parseRawInteger(text: string, what: string): bigint {
  if (typeof text !== 'string' || !/^-?\d+$/.test(text)) throw new BadInputError(`${what} is not an integer string: ${describe(text)}.`);
  return BigInt(text);
}

function describe(value: unknown): string {
  const shown = typeof value === 'string' ? JSON.stringify(value) : typeof value === 'bigint' ? `${value}n` : String(value);
  return shown.length > 40 ? `${shown.slice(0, 40)}…` : shown;
}
