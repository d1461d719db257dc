import { BadInputError } from '../errors.ts';
import type { OrderDraft, Side } from '../actors/desk.ts';

/**
 * Parsing what a trader types. Only the shape is checked here (a number is a number); whether
 * the pair exists, the leverage fits the pair and the collateral fits the wallet is the desk's
 * call, with the numbers in its refusal.
 */
const MAX_INPUT = 200;
const SIDES: Readonly<Record<string, Side>> = { long: 'long', buy: 'long', short: 'short', sell: 'short' };
/** `long eth 100 10x`, `short btc 50 @5x`, `buy ETH/USD $25 x3`, `long eth 100usdc 10`. */
const ORDER = /^(long|short|buy|sell)\s+([a-z0-9]{1,12}(?:[/-][a-z0-9]{1,12})?)\s+\$?(\S+?)(?:\s*usdc)?\s+@?x?(\S+?)x?$/i;

/** Null when the text does not look like an order at all (so other handlers may take it). */
export function parseTextOrder(text: string): OrderDraft | null {
  const t = text.trim().replace(/\s+/g, ' ');
  if (t.length > MAX_INPUT) return null;
  const m = ORDER.exec(t);
  if (!m) {
    if (/^(long|short|buy|sell)\b/i.test(t)) {
      throw new BadInputError('I could not read that order. Write it like: long eth 100 10x (side, pair, USDC collateral, leverage), or use /trade.');
    }
    return null;
  }
  const [, sideWord = '', pair = '', amount = '', lev = ''] = m;
  return { side: SIDES[sideWord.toLowerCase()] ?? 'long', pair: pair.toUpperCase(), collateral: parseUsdc(amount), leverage: parseLeverage(lev) };
}

/** A positive USDC amount with at most 6 decimals, as a canonical decimal string. */
export function parseUsdc(input: string): string {
  const t = input.trim().replace(/^\$/, '').replace(/,/g, '');
  if (!/^\d{1,12}(\.\d{1,6})?$/.test(t)) {
    throw new BadInputError(`"${clip(input)}" is not an amount of USDC. Use a plain number with at most 6 decimals, e.g. 100 or 25.5.`);
  }
  const [whole = '0', frac = ''] = t.split('.');
  const canonical = `${BigInt(whole)}${frac.replace(/0+$/, '') ? `.${frac.replace(/0+$/, '')}` : ''}`;
  if (/^0(\.0*)?$/.test(canonical)) throw new BadInputError('The collateral must be more than 0 USDC.');
  return canonical;
}

/** Leverage: a positive number with at most 2 decimals (`10`, `10x`, `x10`, `@10`, `2.5`). */
export function parseLeverage(input: string): number {
  const t = input.trim().toLowerCase().replace(/^@/, '').replace(/^x/, '').replace(/x$/, '');
  if (!/^\d{1,4}(\.\d{1,2})?$/.test(t)) throw new BadInputError(`"${clip(input)}" is not a leverage. Use a number like 5 or 10x.`);
  const value = Number(t);
  if (!(value > 0)) throw new BadInputError('The leverage must be more than 0.');
  return value;
}

/** A Telegram user id typed by an admin. */
export function parseUserId(input: string | undefined): number {
  const t = (input ?? '').trim();
  if (!/^\d{1,15}$/.test(t) || Number(t) <= 0) throw new BadInputError('Give a Telegram user id (digits only), e.g. /suspend 123456789.');
  return Number(t);
}

/** Clips untrusted text that is echoed back in an error (it is escaped where it is shown). */
export function clip(text: string, max = 40): string {
  const chars = [...text];
  return chars.length > max ? `${chars.slice(0, max).join('')}…` : text;
}
