import { decodeEventLog, type Address, type PublicClient } from 'viem';
import { abiOf } from '../../src/infra/devnet/artifacts.ts';

/** Market open and close requests a trader's wallet sent, from Trading's own MarketOrderInitiated logs. */
export async function tradingRequests(client: PublicClient, trading: Address, trader: Address): Promise<{ open: number; close: number }> {
  const counts = { open: 0, close: 0 };
  for (const log of await client.getLogs({ address: trading, fromBlock: 0n })) {
    if (!log.topics[1]?.toLowerCase().endsWith(trader.slice(2).toLowerCase())) continue;
    try {
      const event = decodeEventLog({ abi: abiOf('Trading'), data: log.data, topics: log.topics }) as unknown as { eventName: string; args: { open: boolean } };
      if (event.eventName === 'MarketOrderInitiated') counts[event.args.open ? 'open' : 'close'] += 1;
    } catch {
      // another event of Trading
    }
  }
  return counts;
}
