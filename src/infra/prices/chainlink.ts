import { formatUnits, parseAbi, type Address, type PublicClient } from 'viem';
import type { Logger } from 'pino';
import { BadInputError } from '../../errors.ts';
import type { Clock } from '../clock.ts';

/**
 * Chainlink-style aggregator reads (AggregatorV3Interface), the on-chain
 * reference price. The same code reads the devnet's simulated aggregators and
 * Base mainnet's feeds. Every answer is checked before it is believed: a
 * non-positive answer, a zero or future timestamp, or an answer from an
 * unfinished round is refused with a clear error and never reaches a trader.
 */
export const aggregatorV3Abi = parseAbi([
  'function decimals() view returns (uint8)',
  'function latestRoundData() view returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)',
]);

export interface ChainlinkObservation {
  readonly pair: string;
  /** Decimal string. */
  readonly price: string;
  /** Epoch ms of the round's update. */
  readonly publishTime: number;
}

export interface ChainlinkFeed {
  readonly pair: string;
  readonly address: Address;
}

const MAX_FUTURE_SKEW_MS = 60_000;

export async function readChainlink(client: PublicClient, feed: ChainlinkFeed, decimals: number, now: number): Promise<ChainlinkObservation> {
  const [roundId, answer, , updatedAt, answeredInRound] = await client.readContract({ address: feed.address, abi: aggregatorV3Abi, functionName: 'latestRoundData' });
  const publishTime = Number(updatedAt) * 1000;
  if (answer <= 0n) throw new BadInputError(`Chainlink ${feed.pair} answered a non-positive price; ignoring it.`, { pair: feed.pair });
  if (updatedAt === 0n || publishTime > now + MAX_FUTURE_SKEW_MS) throw new BadInputError(`Chainlink ${feed.pair} answered an impossible update time; ignoring it.`, { pair: feed.pair });
  if (answeredInRound < roundId) throw new BadInputError(`Chainlink ${feed.pair} answered from an unfinished round; ignoring it.`, { pair: feed.pair });
  return { pair: feed.pair, price: formatUnits(answer, decimals), publishTime };
}

/** Reads a feed with its decimals (asked once per feed, then cached). */
export function createChainlinkReader(client: PublicClient, clock: Clock): (feed: ChainlinkFeed) => Promise<ChainlinkObservation> {
  const decimals = new Map<string, number>();
  return async (feed) => {
    let d = decimals.get(feed.address);
    if (d === undefined) {
      d = await client.readContract({ address: feed.address, abi: aggregatorV3Abi, functionName: 'decimals' });
      decimals.set(feed.address, d);
    }
    return readChainlink(client, feed, d, clock.now());
  };
}

/**
 * The Chainlink-style feed of every listed pair, as the protocol itself knows it
 * (`PairStorage.pairs(i).backupFeed`): the same source Avantis checks its fills
 * against, on the devnet and on Base alike. Pairs without a feed are skipped.
 */
export async function discoverChainlinkFeeds(reads: { pairs(): Promise<readonly { index: bigint; name: string; listed: boolean; backupFeed: Address }[]> }): Promise<(ChainlinkFeed & { pairIndex: number })[]> {
  const pairs = await reads.pairs();
  return pairs
    .filter((p) => p.listed && p.name !== '' && !/^0x0{40}$/i.test(p.backupFeed))
    .map((p) => ({ pair: p.name, pairIndex: Number(p.index), address: p.backupFeed }));
}

export interface ChainlinkPoller {
  stop(): void;
}

/**
 * Polls each feed and reports a price only when its round changed, so an
 * unchanged feed looks quiet (and goes stale downstream) instead of repeating
 * an old price as if it were new.
 */
export function startChainlinkPoller(options: {
  client: PublicClient;
  feeds: readonly ChainlinkFeed[];
  intervalMs: number;
  clock: Clock;
  logger: Logger;
  onPrice: (observation: ChainlinkObservation) => void;
}): ChainlinkPoller {
  const read = createChainlinkReader(options.client, options.clock);
  const lastSeen = new Map<string, number>();
  const failing = new Set<string>();
  let stopped = false;
  let handle: unknown;

  const pollOne = async (feed: ChainlinkFeed) => {
    try {
      const observation = await read(feed);
      if (failing.delete(feed.pair)) options.logger.info({ pair: feed.pair }, 'Chainlink feed answers again');
      if (lastSeen.get(feed.pair) === observation.publishTime) return;
      lastSeen.set(feed.pair, observation.publishTime);
      options.onPrice(observation);
    } catch (err) {
      if (!failing.has(feed.pair)) options.logger.warn({ err, pair: feed.pair }, 'Chainlink feed read failed; the pair goes stale if this lasts');
      failing.add(feed.pair);
    }
  };
  const tick = async () => {
    await Promise.all(options.feeds.map(pollOne));
    if (!stopped) handle = options.clock.setTimeout(() => void tick(), options.intervalMs);
  };
  void tick();
  return {
    stop() {
      stopped = true;
      options.clock.clearTimeout(handle);
    },
  };
}
