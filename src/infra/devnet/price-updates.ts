import type { Hex, PublicClient } from 'viem';
import type { DeployedPair } from './deploy.ts';
import { encodePythUpdate } from './prices.ts';
import type { SimReads } from './sim-reads.ts';

/** A price and the `priceUpdateData` that makes the simulator use it. */
export interface PriceUpdate {
  /** 1e10 */
  readonly price: bigint;
  readonly priceUpdateData: readonly Hex[];
}

/**
 * The devnet's stand-in for Hermes / feed-v3 (AVANTIS.md §6.8): the pair's current oracle price,
 * taken from its Chainlink-style feed (which the price simulator moves), wrapped as a Pyth
 * update published at the latest block's time. Keepers and clients pass the bytes on unread.
 */
export async function currentPriceUpdate(publicClient: PublicClient, reads: SimReads, pair: DeployedPair): Promise<PriceUpdate> {
  const [{ price }, block] = await Promise.all([reads.chainlinkPrice(pair), publicClient.getBlock()]);
  return { price, priceUpdateData: [encodePythUpdate({ feedId: pair.pythFeedId, price, publishTime: block.timestamp })] };
}
