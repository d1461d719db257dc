/**
 * Domain types of the Avantis protocol client, in the protocol's own units (AVANTIS.md §2):
 * USDC 1e6; prices, leverage and percentages 1e10. bigint throughout; see json.ts for the
 * snapshot-safe form actors keep.
 *
 * VERIFIED against the vendored v1 ABI (src/infra/chain/abi/v1): the struct layouts behind
 * Trade, TradeInfo, OpenLimitOrder and PendingMarketOrder, and the enum values below.
 */
import type { Address, Hex } from 'viem';

/** `openTrade._type` (IExecute.OpenLimitOrderType, AVANTIS.md §3.2). */
export const OPEN_ORDER_TYPE = {
  market: 0,
  /** REVERSAL: a long fills when the price rises to the trigger. */
  stop: 1,
  /** MOMENTUM: a long fills when the price falls to the trigger. */
  limit: 2,
  /** MARKET_PNL ("zero fee" / v2 Upside). Not simulated on the devnet. */
  marketPnl: 3,
} as const;
export type OpenOrderKind = keyof typeof OPEN_ORDER_TYPE;

/** `LimitExecuted.orderType` / `executeLimitOrder._orderType`. */
export const LIMIT_ORDER_KIND = { 0: 'tp', 1: 'sl', 2: 'liquidation', 3: 'open' } as const;
export type LimitOrderKind = (typeof LIMIT_ORDER_KIND)[keyof typeof LIMIT_ORDER_KIND];

/** `updateMargin._type`. */
export const MARGIN_UPDATE_TYPE = { deposit: 0, withdraw: 1 } as const;
export type MarginUpdateKind = keyof typeof MARGIN_UPDATE_TYPE;

/** `_priceSourcing`: Pyth core (Hermes) or Pyth Lazer (Pro). */
export const PRICE_SOURCING = { pythCore: 0, pythLazer: 1 } as const;
export type PriceSourcing = (typeof PRICE_SOURCING)[keyof typeof PRICE_SOURCING];

/** The v1 `Trade` struct, as stored or emitted. */
export interface Trade {
  readonly trader: Address;
  readonly pairIndex: bigint;
  readonly index: bigint;
  /** Collateral after the opening fee, USDC 1e6. */
  readonly initialPosToken: bigint;
  /** On input: collateral. Once stored or emitted: a block timestamp (v1 quirk); never a size. */
  readonly positionSizeUSDC: bigint;
  readonly openPrice: bigint;
  readonly buy: boolean;
  readonly leverage: bigint;
  readonly tp: bigint;
  readonly sl: bigint;
  readonly timestamp: bigint;
}

/** The v1 `TradeInfo` struct. */
export interface TradeInfo {
  /** Notional, USDC 1e6. */
  readonly openInterestUSDC: bigint;
  readonly tpLastUpdated: bigint;
  readonly slLastUpdated: bigint;
  readonly beingMarketClosed: boolean;
  readonly lossProtection: bigint;
}

/** An open trade as the engine sees it: who, where, how big, at what risk. */
export interface Position {
  readonly trader: Address;
  readonly pairIndex: bigint;
  readonly index: bigint;
  readonly long: boolean;
  /** Collateral after fees, USDC 1e6 (`initialPosToken`). */
  readonly collateral: bigint;
  /** Notional, USDC 1e6 (`openInterestUSDC`). */
  readonly notional: bigint;
  readonly leverage: bigint;
  readonly openPrice: bigint;
  /** 0 = none (a TP is always set by the contract: 0 becomes the max-gain price). */
  readonly tp: bigint;
  /** 0 = none. */
  readonly sl: bigint;
  /** Unix seconds of the open. */
  readonly openedAt: bigint;
  readonly beingMarketClosed: boolean;
  /** Block of the last TP / SL change (the limit-order timelock counts from the later). */
  readonly tpLastUpdatedBlock: bigint;
  readonly slLastUpdatedBlock: bigint;
  /** From PairInfos, 1e10; null when not read. */
  readonly liquidationPrice: bigint | null;
}

/** The v1 `OpenLimitOrder` struct: a limit or stop open waiting for its trigger. */
export interface OpenLimitOrder {
  readonly trader: Address;
  readonly pairIndex: bigint;
  readonly index: bigint;
  /** Escrowed collateral, USDC 1e6. */
  readonly positionSize: bigint;
  readonly buy: boolean;
  readonly leverage: bigint;
  readonly tp: bigint;
  readonly sl: bigint;
  /** Trigger price, 1e10. */
  readonly price: bigint;
  readonly slippageP: bigint;
  /** Block of placement or last update (the timelock base). */
  readonly block: bigint;
  readonly executionFee: bigint;
}

/** The v1 `PendingMarketOrder`: a market open or close waiting for a keeper. */
export interface PendingMarketOrder {
  readonly orderId: bigint;
  readonly trade: Trade;
  readonly block: bigint;
  /** 0 on a v1 close. */
  readonly wantedPrice: bigint;
  readonly slippageP: bigint;
  /** True for an open (a close carries the trade's index and 0 wanted price). */
  readonly open: boolean;
}

/** What the engine needs to know about one pair before it lets a trader open. */
export interface PairInfo {
  readonly index: bigint;
  /** "ETH/USD"; "" when delisted. */
  readonly name: string;
  readonly listed: boolean;
  readonly pythFeedId: Hex;
  readonly backupFeed: Address;
  readonly spreadP: bigint;
  readonly minLeverage: bigint;
  readonly maxLeverage: bigint;
  readonly maxGainP: bigint;
  readonly maxSlP: bigint;
  readonly groupIndex: bigint;
  readonly feeIndex: bigint;
  readonly openFeeP: bigint;
  readonly closeFeeP: bigint;
  readonly limitOrderFeeP: bigint;
  /** Minimum notional, USDC 1e6. */
  readonly minPositionUsdc: bigint;
  readonly maxOpenDeviationP: bigint;
  readonly maxCloseDeviationP: bigint;
}

/** A transaction request the pipeline signs and sends: nothing here holds a key. */
export interface CallRequest {
  readonly to: Address;
  readonly data: Hex;
  /** wei */
  readonly value: bigint;
}
