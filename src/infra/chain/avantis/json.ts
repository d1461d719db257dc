/**
 * JSON-safe forms of the domain objects, for actor snapshots (XState context cannot hold
 * bigint). Amounts become exact decimal strings in their human unit ("995.5" USDC, "3000.25"
 * for a price, "10" for 10x), so a snapshot is readable and round-trips without loss;
 * counters and ids become base-10 integer strings. `fromJson` validates every field and
 * throws BadInputError on a corrupt snapshot rather than building a wrong position.
 */
import { getAddress, isAddress, type Address } from 'viem';
import { BadInputError } from '../../../errors.ts';
import { formatUnit, parseRawInteger, parseUnit, type Unit } from './units.ts';
import type { OpenLimitOrder, PendingMarketOrder, Position, Trade } from './types.ts';

type Kind = Unit | 'int' | 'signedPercent' | 'bool' | 'address' | `${Unit}?`;
type Spec = { readonly [field: string]: Kind | Spec };

/** bigint → string, nested objects mapped, everything else as is. */
export type Jsonified<T> = T extends bigint ? string : T extends null ? null : T extends object ? { readonly [K in keyof T]: Jsonified<T[K]> } : T;

const TRADE: Spec = {
  trader: 'address',
  pairIndex: 'int',
  index: 'int',
  initialPosToken: 'usdc',
  positionSizeUSDC: 'int',
  openPrice: 'price',
  buy: 'bool',
  leverage: 'leverage',
  tp: 'price',
  sl: 'price',
  timestamp: 'int',
};

const POSITION: Spec = {
  trader: 'address',
  pairIndex: 'int',
  index: 'int',
  long: 'bool',
  collateral: 'usdc',
  notional: 'usdc',
  leverage: 'leverage',
  openPrice: 'price',
  tp: 'price',
  sl: 'price',
  openedAt: 'int',
  beingMarketClosed: 'bool',
  tpLastUpdatedBlock: 'int',
  slLastUpdatedBlock: 'int',
  liquidationPrice: 'price?',
};

const LIMIT_ORDER: Spec = {
  trader: 'address',
  pairIndex: 'int',
  index: 'int',
  positionSize: 'usdc',
  buy: 'bool',
  leverage: 'leverage',
  tp: 'price',
  sl: 'price',
  price: 'price',
  slippageP: 'percent',
  block: 'int',
  executionFee: 'int',
};

const PENDING_ORDER: Spec = { orderId: 'int', trade: TRADE, block: 'int', wantedPrice: 'price', slippageP: 'percent', open: 'bool' };

export const positionToJson = (p: Position): Jsonified<Position> => toJson(POSITION, p) as Jsonified<Position>;
export const positionFromJson = (j: unknown): Position => fromJson(POSITION, j, 'position') as unknown as Position;
export const limitOrderToJson = (o: OpenLimitOrder): Jsonified<OpenLimitOrder> => toJson(LIMIT_ORDER, o) as Jsonified<OpenLimitOrder>;
export const limitOrderFromJson = (j: unknown): OpenLimitOrder => fromJson(LIMIT_ORDER, j, 'limit order') as unknown as OpenLimitOrder;
export const pendingOrderToJson = (o: PendingMarketOrder): Jsonified<PendingMarketOrder> => toJson(PENDING_ORDER, o) as Jsonified<PendingMarketOrder>;
export const pendingOrderFromJson = (j: unknown): PendingMarketOrder => fromJson(PENDING_ORDER, j, 'pending order') as unknown as PendingMarketOrder;
export const tradeToJson = (t: Trade): Jsonified<Trade> => toJson(TRADE, t) as Jsonified<Trade>;

function toJson(spec: Spec, value: object): Record<string, unknown> {
  const record = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [field, kind] of Object.entries(spec)) {
    const v = record[field];
    if (typeof kind === 'object') out[field] = toJson(kind, v as object);
    else if (kind === 'bool' || kind === 'address') out[field] = v;
    else if (v === null) out[field] = null;
    else if (kind === 'int') out[field] = (v as bigint).toString(10);
    else if (kind === 'signedPercent') out[field] = formatUnit('percent', v as bigint);
    else out[field] = formatUnit(kind.replace('?', '') as Unit, v as bigint);
  }
  return out;
}

function fromJson(spec: Spec, json: unknown, what: string): Record<string, unknown> {
  if (typeof json !== 'object' || json === null) throw new BadInputError(`The stored ${what} is not an object.`);
  const record = json as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [field, kind] of Object.entries(spec)) {
    out[field] = typeof kind === 'object' ? fromJson(kind, record[field], `${what}.${field}`) : fieldFromJson(kind, record[field], `${what}.${field}`);
  }
  return out;
}

function fieldFromJson(kind: Kind, v: unknown, where: string): bigint | boolean | Address | null {
  if (kind === 'bool') {
    if (typeof v !== 'boolean') throw new BadInputError(`${where} must be true or false.`);
    return v;
  }
  if (kind === 'address') {
    if (typeof v !== 'string' || !isAddress(v, { strict: false })) throw new BadInputError(`${where} must be an address.`);
    return getAddress(v);
  }
  if (kind.endsWith('?') && v === null) return null;
  if (typeof v !== 'string') throw new BadInputError(`${where} must be a decimal string.`);
  if (kind === 'int') return parseRawInteger(v, where);
  if (kind === 'signedPercent') return parseUnit('percent', v, { allowNegative: true });
  return parseUnit(kind.replace('?', '') as Unit, v);
}
