import type { Address, PublicClient } from 'viem';
import { abiOf, type SimulatorContract } from './artifacts.ts';
import type { AvantisDeployment, DeployedPair } from './deploy.ts';
import { chainlinkTo1e10 } from './prices.ts';
import type { OpenLimitOrder, PendingMarketOrder as AvantisPendingMarketOrder, Trade, TradeInfo } from '../chain/avantis/types.ts';

/** The v1 structs are the protocol client's own types (one definition, AVANTIS.md §3.1, §4.1). */
export type { OpenLimitOrder, Trade, TradeInfo } from '../chain/avantis/types.ts';

/** A pending market order as TradingStorage stores it (the client adds its id and direction). */
export type PendingMarketOrder = Omit<AvantisPendingMarketOrder, 'orderId' | 'open'>;

/** Typed reads of simulator state, for the keeper, the devnet tools and tests. */
export interface SimReads {
  openTrade(trader: Address, pairIndex: bigint, index: bigint): Promise<Trade>;
  tradeInfo(trader: Address, pairIndex: bigint, index: bigint): Promise<TradeInfo>;
  pendingOrder(orderId: bigint): Promise<PendingMarketOrder>;
  isPendingOpen(orderId: bigint): Promise<boolean>;
  openLimitOrders(): Promise<readonly OpenLimitOrder[]>;
  openLimitOrderType(trader: Address, pairIndex: bigint, index: bigint): Promise<number>;
  liquidationPrice(trade: Trade): Promise<bigint>;
  pairSpreadP(pairIndex: bigint): Promise<bigint>;
  /** The pair's Chainlink-style feed: price 1e10 and its `updatedAt`. */
  chainlinkPrice(pair: DeployedPair): Promise<{ price: bigint; updatedAt: bigint }>;
  usdcBalance(owner: Address): Promise<bigint>;
}

export function createSimReads(publicClient: PublicClient, deployment: AvantisDeployment): SimReads {
  const read = <T>(address: Address, contract: SimulatorContract, functionName: string, args: readonly unknown[] = []) =>
    publicClient.readContract({ address, abi: abiOf(contract), functionName, args }) as Promise<T>;
  const storage = <T>(fn: string, args: readonly unknown[]) => read<T>(deployment.tradingStorage, 'TradingStorage', fn, args);
  return {
    openTrade: (trader, pairIndex, index) => storage<Trade>('openTrades', [trader, pairIndex, index]),
    tradeInfo: (trader, pairIndex, index) => storage<TradeInfo>('openTradesInfo', [trader, pairIndex, index]),
    pendingOrder: (orderId) => storage<PendingMarketOrder>('reqIDpendingMarketOrder', [orderId]),
    isPendingOpen: (orderId) => storage<boolean>('isPendingOpen', [orderId]),
    openLimitOrders: () => storage<readonly OpenLimitOrder[]>('getOpenLimitOrders', []),
    openLimitOrderType: (trader, pairIndex, index) => storage<number>('openLimitOrderTypes', [trader, pairIndex, index]),
    liquidationPrice: (t) =>
      read(deployment.pairInfos, 'PairInfos', 'getTradeLiquidationPrice', [t.trader, t.pairIndex, t.index, t.openPrice, t.buy, t.initialPosToken, t.leverage]),
    pairSpreadP: (pairIndex) => read(deployment.pairStorage, 'PairStorage', 'pairSpreadP', [pairIndex, false]),
    chainlinkPrice: async (pair) => {
      const [decimals, round] = await Promise.all([
        read<number>(pair.chainlinkFeed, 'SimChainlinkAggregator', 'decimals'),
        read<readonly [bigint, bigint, bigint, bigint, bigint]>(pair.chainlinkFeed, 'SimChainlinkAggregator', 'latestRoundData'),
      ]);
      return { price: chainlinkTo1e10(round[1], decimals), updatedAt: round[3] };
    },
    usdcBalance: (owner) => read(deployment.usdc, 'SimUSDC', 'balanceOf', [owner]),
  };
}
