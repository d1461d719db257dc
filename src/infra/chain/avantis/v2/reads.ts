/**
 * UNVERIFIED: the one v2 read that differs from v1 for this client: delegation state, now per
 * (trader, delegate) with an expiry (AVANTIS.md §3.8).
 */
import type { Address, Client } from 'viem';
import { readContract } from 'viem/actions';
import type { AvantisAddresses } from '../addresses.ts';
import { toChainError } from '../revert.ts';
import { tradingV2Abi } from './abi.ts';

/** UNVERIFIED: true when `delegate` may act for `trader` at `nowSeconds`. */
export async function readIsDelegateV2(client: Client, p: { addresses: AvantisAddresses; trader: Address; delegate: Address; nowSeconds: bigint }): Promise<boolean> {
  try {
    const [isEnabled, expiry] = await readContract(client, {
      address: p.addresses.trading,
      abi: tradingV2Abi,
      functionName: 'multipleDelegations',
      args: [p.trader, p.delegate],
    });
    return isEnabled && expiry > p.nowSeconds;
  } catch (error) {
    throw toChainError(error, {}, 'Reading the v2 delegation');
  }
}
