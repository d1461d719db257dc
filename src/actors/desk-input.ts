/**
 * What a trader types, checked before anything is read or sent: pair names, collateral,
 * leverage, order ids and settings. Every refusal is a BadInputError whose message names the
 * rule and echoes the input (shortened, so a 5,000-character paste never becomes a 5,000-character
 * reply). Pure: the numbers come back in the protocol's units (USDC 1e6, leverage 1e10).
 */
import { BadInputError } from '../errors.ts';
import { formatUnit, parseUnit } from '../infra/chain/avantis/units.ts';
import type { NotificationPrefs, Side, SettingsPatch } from './desk.ts';

/** An order id the bot chose when it showed the review: short, URL- and callback-safe. */
const ORDER_ID = /^[A-Za-z0-9_-]{6,32}$/;
/** More whole digits than any collateral limit could allow; refused before arithmetic. */
const MAX_COLLATERAL_DIGITS = 12;
const USDC_DECIMALS = 6;
/** Leverage is kept to two decimals (7.5x, 12.25x): finer is a typo, not a trade. */
const LEVERAGE_TEXT = /^\d{1,4}(\.\d{1,2})?$/;

/** The input as the trader wrote it, quoted and cut short for a message. */
export function shown(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : typeof value === 'number' ? String(value) : typeof value;
  const chars = Array.from(text);
  return chars.length > 24 ? `${chars.slice(0, 24).join('')}…"` : text;
}

export function parseOrderId(value: unknown): string {
  if (typeof value !== 'string' || !ORDER_ID.test(value)) {
    throw new BadInputError(`This order reference is not valid (${shown(value)}): it must be 6 to 32 letters, digits, "-" or "_". Start the order again.`);
  }
  return value;
}

export function parseSide(value: unknown): Side {
  if (value === 'long' || value === 'short') return value;
  throw new BadInputError(`The side must be "long" or "short", not ${shown(value)}.`);
}

/** Collateral in USDC base units (1e6), strictly a plain positive decimal with at most 6 decimals. */
export function parseCollateral(value: unknown): bigint {
  if (typeof value !== 'string') throw new BadInputError('Collateral must be an amount of USDC such as 100 or 25.5.');
  const text = value.trim();
  if (text === '') throw new BadInputError('Collateral is missing: write an amount of USDC such as 100 or 25.5.');
  if (/^-\s*\d/.test(text)) throw new BadInputError(`Collateral cannot be negative (${shown(text)}): write an amount of USDC such as 100 or 25.5.`);
  const match = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (!match) {
    throw new BadInputError(`Collateral must be a plain amount of USDC such as 100 or 25.5, without exponents, separators, signs or symbols; ${shown(text)} is not one.`);
  }
  const [, whole = '', fraction = ''] = match;
  if (whole.replace(/^0+/, '').length > MAX_COLLATERAL_DIGITS) throw new BadInputError(`Collateral ${shown(text)} is not a realistic amount of USDC.`);
  if (fraction.length > USDC_DECIMALS) {
    throw new BadInputError(`USDC has at most ${USDC_DECIMALS} decimals; ${shown(text)} has ${fraction.length}.`);
  }
  const amount = parseUnit('usdc', text);
  if (amount === 0n) throw new BadInputError('Collateral must be more than 0 USDC.');
  return amount;
}

/** Leverage as the protocol's 1e10 integer; a finite positive number with at most two decimals. */
export function parseLeverage(value: unknown): bigint {
  const text = typeof value === 'number' && Number.isFinite(value) ? String(value) : null;
  if (text === null || !LEVERAGE_TEXT.test(text)) {
    throw new BadInputError(`Leverage must be a number such as 10 (for 10x), with at most two decimals; ${shown(value)} is not one.`);
  }
  const leverage = parseUnit('leverage', text);
  if (leverage === 0n) throw new BadInputError('Leverage must be more than 0x.');
  return leverage;
}

/** "10000000000" (1e10) → 1; for messages and views. */
export function leverageNumber(leverage1e10: bigint): number {
  return Number(formatUnit('leverage', leverage1e10));
}

export interface NamedPair {
  readonly name: string;
}

/**
 * Finds a pair leniently: "eth", "ETH", "eth/usd", "ETH-USD", "ethusd" → ETH/USD; "jpy" →
 * USD/JPY when only one pair quotes it. Anything else is refused with a few valid names.
 */
export function resolvePair<P extends NamedPair>(value: unknown, pairs: readonly P[]): P {
  const text = typeof value === 'string' ? value.trim().toUpperCase() : '';
  const key = text.replace(/[\s\-_:]+/g, '/');
  const byName = new Map(pairs.map((p) => [p.name.toUpperCase(), p]));
  const exact = byName.get(key) ?? (key.includes('/') ? undefined : byName.get(`${key}/USD`));
  if (exact) return exact;
  if (/^[A-Z0-9]{2,10}$/.test(key)) {
    // "ETHUSD" without a separator, or the one pair that quotes a currency ("jpy").
    const glued = pairs.filter((p) => p.name.replace('/', '').toUpperCase() === key);
    if (glued.length === 1) return glued[0]!;
    const either = pairs.filter((p) => p.name.toUpperCase().split('/').includes(key));
    if (either.length === 1 && key !== 'USD') return either[0]!;
  }
  const some = pairs
    .slice(0, 8)
    .map((p) => p.name)
    .join(', ');
  throw new BadInputError(`Unknown pair ${shown(value)}. Try one of ${some}${pairs.length > 8 ? ', …' : ''} (/markets lists them all).`);
}

const SETTINGS_KEYS = new Set(['slippageBps', 'defaultLeverage', 'confirmOrders', 'notify']);
const NOTIFY_KEYS = new Set<keyof NotificationPrefs>(['fills', 'delays', 'closes']);
/** The user machine's own bounds (src/machines/user.machine.ts). */
export const MAX_SLIPPAGE_BPS = 1_000;
const MACHINE_MAX_LEVERAGE = 500;

/** A settings change, every field checked; refuses an empty change and unknown fields. */
export function parseSettingsPatch(value: unknown, maxLeverage: number): SettingsPatch {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new BadInputError('Nothing to change: choose a setting first.');
  const patch = value as Record<string, unknown>;
  const unknown = Object.keys(patch).filter((k) => !SETTINGS_KEYS.has(k));
  if (unknown.length) throw new BadInputError(`There is no setting called ${shown(unknown[0])}.`);
  const out: { -readonly [K in keyof SettingsPatch]: SettingsPatch[K] } = {};
  if (patch['slippageBps'] !== undefined) {
    const bps = patch['slippageBps'];
    if (typeof bps !== 'number' || !Number.isInteger(bps) || bps < 1 || bps > MAX_SLIPPAGE_BPS) {
      throw new BadInputError(`Slippage must be a whole number of basis points from 1 to ${MAX_SLIPPAGE_BPS} (0.01 % to 10 %); ${shown(bps)} is not.`);
    }
    out.slippageBps = bps;
  }
  if (patch['defaultLeverage'] !== undefined) {
    const lev = patch['defaultLeverage'];
    const most = Math.min(maxLeverage, MACHINE_MAX_LEVERAGE);
    const number = leverageNumber(parseLeverage(lev));
    if (number < 1 || number > most) throw new BadInputError(`The default leverage must be from 1x to ${most}x (the configured limit); ${shown(lev)} is not.`);
    out.defaultLeverage = number;
  }
  if (patch['confirmOrders'] !== undefined) {
    if (typeof patch['confirmOrders'] !== 'boolean') throw new BadInputError('Order confirmations are either on or off.');
    out.confirmOrders = patch['confirmOrders'];
  }
  if (patch['notify'] !== undefined) {
    const notify = patch['notify'];
    if (!notify || typeof notify !== 'object' || Array.isArray(notify)) throw new BadInputError('Choose which notifications to turn on or off.');
    const entries = Object.entries(notify as Record<string, unknown>);
    const bad = entries.find(([k, v]) => !NOTIFY_KEYS.has(k as keyof NotificationPrefs) || typeof v !== 'boolean');
    if (bad) throw new BadInputError(`There is no notification setting ${shown(bad[0])} that takes ${shown(bad[1])}; the choices are fills, delays and closes, on or off.`);
    if (entries.length === 0) throw new BadInputError('Choose which notifications to turn on or off.');
    out.notify = Object.fromEntries(entries);
  }
  if (Object.keys(out).length === 0) throw new BadInputError('Nothing to change: choose a setting first.');
  return out;
}
