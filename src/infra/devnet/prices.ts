import { encodeAbiParameters, parseUnits, type Hex } from 'viem';

/**
 * Unit conversions between the devnet's price sources and the protocol's 1e10 prices
 * (AVANTIS.md §2), and the update bytes SimPyth accepts.
 */

export const PRICE_DECIMALS = 10;
/** Chainlink USD feeds on Base report 8 decimals; the simulator's aggregators do the same. */
export const CHAINLINK_DECIMALS = 8;
/** The Pyth exponent the devnet publishes with (price × 10^-8). */
export const PYTH_EXPO = -8;

/** "3000.5" → 30_005_000_000_000n (1e10). */
export function price1e10(decimal: string): bigint {
  return parseUnits(decimal, PRICE_DECIMALS);
}

/** A percent written as a decimal string ("0.045") → percent × 1e10, the protocol's unit. */
export function percent1e10(decimal: string): bigint {
  return parseUnits(decimal, PRICE_DECIMALS);
}

/** A Chainlink answer with `decimals` → price 1e10. */
export function chainlinkTo1e10(answer: bigint, decimals: number): bigint {
  return decimals <= PRICE_DECIMALS ? answer * 10n ** BigInt(PRICE_DECIMALS - decimals) : answer / 10n ** BigInt(decimals - PRICE_DECIMALS);
}

/** Price 1e10 → an 8-decimal Chainlink answer (truncating). */
export function toChainlinkAnswer(price: bigint): bigint {
  return price / 10n ** BigInt(PRICE_DECIMALS - CHAINLINK_DECIMALS);
}

export interface PythUpdate {
  readonly feedId: Hex;
  /** 1e10 */
  readonly price: bigint;
  /** Unix seconds. */
  readonly publishTime: bigint;
  /** 1e10, default 0. */
  readonly confidence?: bigint;
}

/** The `priceUpdateData` element SimPyth decodes: (id, int64 price, uint64 conf, int32 expo, uint64 publishTime). */
export function encodePythUpdate(update: PythUpdate): Hex {
  const scale = 10n ** BigInt(PRICE_DECIMALS + PYTH_EXPO);
  return encodeAbiParameters(
    [{ type: 'bytes32' }, { type: 'int64' }, { type: 'uint64' }, { type: 'int32' }, { type: 'uint64' }],
    [update.feedId, update.price / scale, (update.confidence ?? 0n) / scale, PYTH_EXPO, update.publishTime],
  );
}
