/**
 * Where the Avantis contracts live, and how to learn the rest from one entry point.
 *
 * Mainnet addresses are from SDK-v1 `config.py` (AVANTIS.md §1.1). TradingCallbacks, the
 * emitter of fills, is not hard-coded anywhere: it is read from `TradingStorage.callbacks()`
 * at start-up, as third-party watchers do, so a redeploy cannot make us trust the wrong emitter.
 */
import { getAddress, type Address, type Client } from 'viem';
import { readContract } from 'viem/actions';
import { priceAggregatorAbi, tradingAbi, tradingStorageAbi } from './abi-v1.ts';
import { toChainError } from './revert.ts';

/** Every contract the client talks to. */
export interface AvantisAddresses {
  /** Trading (v2: TradingRouter, same proxy). Writes go here. */
  readonly trading: Address;
  /** TradingStorage: state reads, and the USDC approval target. */
  readonly tradingStorage: Address;
  /** TradingCallbacks: the only legitimate emitter of fills (`TradingStorage.callbacks()`). */
  readonly tradingCallbacks: Address;
  readonly pairStorage: Address;
  readonly pairInfos: Address;
  readonly priceAggregator: Address;
  readonly usdc: Address;
  /** Avantis's Multicall aggregator (`getPositions`), when deployed. */
  readonly multicall?: Address;
}

/** Base mainnet entry points (chain 8453). Resolve the rest with resolveAvantisAddresses. */
export const BASE_MAINNET = {
  chainId: 8453,
  tradingStorage: '0x8a311D7048c35985aa31C131B9A13e03a5f7422d',
  multicall: '0xA7cFc43872F4D7B0E6141ee8c36f1F7FEe5d099e',
  /** Expected values; resolveAvantisAddresses reads the live ones. */
  trading: '0x44914408af82bC9983bbb330e3578E1105e11d4e',
  pairStorage: '0x5db3772136e5557EFE028Db05EE95C84D76faEC4',
  pairInfos: '0x81F22d0Cc22977c91bEfE648C9fddf1f2bd977e5',
  priceAggregator: '0x64e2625621970F8cfA17B294670d61CB883dA511',
  usdc: '0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913',
} as const satisfies Record<string, Address | number>;

/**
 * Reads the whole address set from TradingStorage's wiring: `trading()`, `callbacks()`,
 * `priceAggregator()`, `usdc()`, then `Trading.pairInfos()` and `PriceAggregator.pairsStorage()`.
 */
export async function resolveAvantisAddresses(client: Client, params: { tradingStorage: Address; multicall?: Address }): Promise<AvantisAddresses> {
  const storage = params.tradingStorage;
  try {
    const [trading, tradingCallbacks, priceAggregator, usdc] = await Promise.all([
      readContract(client, { address: storage, abi: tradingStorageAbi, functionName: 'trading' }),
      readContract(client, { address: storage, abi: tradingStorageAbi, functionName: 'callbacks' }),
      readContract(client, { address: storage, abi: tradingStorageAbi, functionName: 'priceAggregator' }),
      readContract(client, { address: storage, abi: tradingStorageAbi, functionName: 'usdc' }),
    ]);
    const [pairInfos, pairStorage] = await Promise.all([
      readContract(client, { address: trading, abi: tradingAbi, functionName: 'pairInfos' }),
      readContract(client, { address: priceAggregator, abi: priceAggregatorAbi, functionName: 'pairsStorage' }),
    ]);
    return {
      trading: getAddress(trading),
      tradingStorage: getAddress(storage),
      tradingCallbacks: getAddress(tradingCallbacks),
      pairStorage: getAddress(pairStorage),
      pairInfos: getAddress(pairInfos),
      priceAggregator: getAddress(priceAggregator),
      usdc: getAddress(usdc),
      ...(params.multicall === undefined ? {} : { multicall: getAddress(params.multicall) }),
    };
  } catch (error) {
    throw toChainError(error, {}, 'Resolving the Avantis contract addresses');
  }
}
