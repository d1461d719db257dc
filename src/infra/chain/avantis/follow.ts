/**
 * Following an order or a trade until the chain settles it (DESIGN.md "The chain is the truth").
 *
 * The chain acts on its own: keepers fill and cancel, TP, SL and liquidations close trades, an
 * operator cancels a stuck order, and a freed slot is reused by the next trade. So each follow
 * asks the chain's *state* first, pinned to one block H: while the order is still pending (or the
 * trade is still this trade) at H, nothing can have happened to it at or before H, and the cursor
 * moves to H + 1 at the cost of one call. Once the state has moved on, the logs of
 * `[cursor, H]` (bounded ranges, topic filters, see ../logs.ts) say how: the fill, the cancel,
 * the TP, SL or liquidation, with its price and payout.
 *
 * Lagging or lying RPCs: a state read names its block, so it cannot be older than it says; a log
 * node can be behind the state node, so a scan that finds nothing never moves the persisted
 * cursor closer than `lagBlocks` to H, and scans again. After `settleScans` empty scans the
 * follow concludes from state alone where that is safe (a close request that vanished while the
 * trade is still ours was canceled) and otherwise reports what it knows ("closed on chain, payout
 * unknown") rather than wait forever.
 *
 * Every follow reports its cursor through `onProgress` so the caller can persist it: after days
 * of downtime the scan resumes where it stopped, chunk by chunk, however far behind it is.
 */
import { getAddress, toEventSelector, type Address, type Hex, type PublicClient } from 'viem';
import type { Logger } from 'pino';
import { pause, type Clock } from '../../clock.ts';
import type { LogScanner } from '../logs.ts';
import { callbacksAbi } from './abi-v1.ts';
import type { AvantisAddresses } from './addresses.ts';
import { decodeAvantisLogs, type AvantisEvent } from './events.ts';
import { readPendingMarketOrder, readTrade } from './reads.ts';
import type { Trade } from './types.ts';

/** What makes a trade *this* trade: a slot (trader, pair, index) is reused by the next trade. */
export interface TradeIdentity {
  readonly trader: Address;
  readonly pairIndex: bigint;
  readonly index: bigint;
  readonly buy: boolean;
  readonly openPrice: bigint;
  readonly leverage: bigint;
  /** Collateral after the opening fee (`initialPosToken`), USDC 1e6. */
  readonly collateral: bigint;
  /**
   * `Trade.timestamp`: the block time the trade opened. Null only for a position recorded before
   * it was kept: the other fields must then match alone (see `identify`).
   */
  readonly openedAt: bigint | null;
}

/** True when `trade` (a slot's current content, null when empty) is the trade `id` describes. */
export function isSameTrade(trade: Trade | null, id: TradeIdentity): boolean {
  return (
    trade !== null &&
    trade.leverage !== 0n &&
    sameSlotAndOpening(trade, id) &&
    trade.openPrice === id.openPrice &&
    trade.leverage === id.leverage &&
    trade.initialPosToken === id.collateral
  );
}

/** An event's trade is this one: same slot, side and opening moment (its size may have changed since). */
function sameSlotAndOpening(trade: Trade, id: TradeIdentity): boolean {
  return (
    trade.trader.toLowerCase() === id.trader.toLowerCase() &&
    trade.pairIndex === id.pairIndex &&
    trade.index === id.index &&
    trade.buy === id.buy &&
    (id.openedAt === null ? trade.openPrice === id.openPrice : trade.timestamp === id.openedAt)
  );
}

export type ClosedBy = 'trader' | 'tp' | 'sl' | 'liquidation' | 'unknown';

export interface Closure {
  readonly by: ClosedBy;
  /** 1e10; null when no event said. */
  readonly price: bigint | null;
  /** USDC 1e6 sent to the trader; null when no event said. */
  readonly payout: bigint | null;
  /** The close order that did it, when it was a market close. */
  readonly orderId: bigint | null;
}

export type OpenSettlement = { readonly kind: 'filled'; readonly trade: Trade; readonly block: bigint } | { readonly kind: 'canceled'; readonly by: 'protocol' | 'operator' };
export type CloseSettlement = ({ readonly kind: 'closed' } & Closure) | { readonly kind: 'close-canceled' };

export interface FollowHooks {
  /** The first block not yet known to be settled for this follow: persist it, pass it back as `fromBlock`. */
  readonly onProgress: (cursor: bigint) => void;
  readonly signal: AbortSignal;
}

export interface ChainFollowerDeps {
  readonly client: PublicClient;
  readonly addresses: AvantisAddresses;
  readonly scanner: LogScanner;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Between state reads while an order is pending (default 1 s). */
  readonly pollMs?: number;
  /** Between state reads of an open trade (default 5 s: one call per open position). */
  readonly watchPollMs?: number;
  /** A scan that found nothing keeps the cursor this far behind the head (default 64 blocks). */
  readonly lagBlocks?: bigint;
  /** Empty scans after the state moved on before concluding from state alone (default 30). */
  readonly settleScans?: number;
  /** Report progress while waiting only every so many blocks (default 1,000): fewer snapshot writes. */
  readonly progressEveryBlocks?: bigint;
  /** Resolves once the chain up to `block` is durable (the sandbox devnet); absent on real chains. */
  readonly durable?: (block: bigint) => Promise<void>;
}

export interface ChainFollower {
  /** Follows a market open request until it is filled or canceled. */
  followOpen(p: { readonly trader: Address; readonly orderId: bigint; readonly fromBlock: bigint }, hooks: FollowHooks): Promise<OpenSettlement>;
  /** Follows a market close request until the trade is closed (by it or by anything else) or the request is canceled. */
  followClose(p: { readonly trade: TradeIdentity; readonly orderId: bigint; readonly fromBlock: bigint }, hooks: FollowHooks): Promise<CloseSettlement>;
  /** Watches an open trade until it is no longer on chain, then says how it closed. */
  watchTrade(p: { readonly trade: TradeIdentity; readonly fromBlock: bigint }, hooks: FollowHooks): Promise<Closure>;
  /** Whether the slot still holds this trade now (checked before any action on it). */
  stillOpen(trade: TradeIdentity): Promise<boolean>;
  /** The opening time of a trade recorded without one, read from its slot if everything else matches; null when the slot holds no such trade. */
  identify(trade: TradeIdentity): Promise<bigint | null>;
}

const MARKET_EXECUTED = toEventSelector(eventItem('MarketExecuted'));
const LIMIT_EXECUTED = toEventSelector(eventItem('LimitExecuted'));
const MARKET_OPEN_CANCELED = toEventSelector(eventItem('MarketOpenCanceled'));
/** `LimitExecuted.orderType` → how the trade closed (3 is a limit *open*). */
const LIMIT_CLOSE: Readonly<Record<number, ClosedBy>> = { 0: 'tp', 1: 'sl', 2: 'liquidation' };

export function createChainFollower(deps: ChainFollowerDeps): ChainFollower {
  const { client, addresses, scanner, clock, logger } = deps;
  const pollMs = deps.pollMs ?? 1_000;
  const watchPollMs = deps.watchPollMs ?? 5_000;
  const lagBlocks = deps.lagBlocks ?? 64n;
  const settleScans = deps.settleScans ?? 30;
  const progressEvery = deps.progressEveryBlocks ?? 1_000n;
  const decode = (logs: Parameters<typeof decodeAvantisLogs>[0]) => decodeAvantisLogs(logs, addresses).events;

  /**
   * The loop every follow shares: wait while `unsettled(H)`, then scan `[cursor, H]` with
   * `find`; after `settleScans` empty scans, `conclude(H)` may decide from state alone.
   */
  async function follow<T>(p: {
    what: string;
    fromBlock: bigint;
    hooks: FollowHooks;
    every: number;
    query: { addresses: Address[]; topics0: Hex[] };
    unsettled: (head: bigint) => Promise<boolean>;
    find: (events: AvantisEvent[]) => { value: T; block: bigint | null } | undefined;
    conclude: (head: bigint, emptyScans: number) => Promise<T | undefined>;
  }): Promise<T> {
    let cursor = p.fromBlock;
    let reported = p.fromBlock;
    let emptyScans = 0;
    let failures = 0;
    const advance = (to: bigint, force: boolean) => {
      if (to <= cursor) return;
      cursor = to;
      if (force || cursor - reported >= progressEvery) {
        reported = cursor;
        p.hooks.onProgress(cursor);
      }
    };
    for (;;) {
      if (p.hooks.signal.aborted) throw stopped();
      try {
        const head = await client.getBlockNumber({ cacheTime: 0 });
        if (await p.unsettled(head)) {
          // Nothing about it can be in a block the state says is still before the change.
          advance(head + 1n, false);
          failures = 0;
          await pause(clock, p.every, p.hooks.signal);
          continue;
        }
        let found: { value: T; block: bigint | null } | undefined;
        await scanner.scan(
          p.query,
          cursor,
          head,
          (logs, chunkTo) => {
            found = p.find(decode(logs));
            if (found) return true;
            const safe = head > lagBlocks ? head - lagBlocks : 0n;
            advance(chunkTo + 1n < safe ? chunkTo + 1n : safe, true);
            return false;
          },
          p.hooks.signal,
        );
        failures = 0;
        if (found) {
          await deps.durable?.(found.block ?? head);
          return found.value;
        }
        emptyScans += 1;
        if (emptyScans === 1 || emptyScans % 10 === 0) logger.info({ follow: p.what, head: head.toString(), cursor: cursor.toString(), empty_scans: emptyScans }, 'The chain moved on but its logs do not say how yet; reading them again');
        if (emptyScans >= settleScans) {
          const concluded = await p.conclude(head, emptyScans);
          if (concluded !== undefined) {
            await deps.durable?.(head);
            return concluded;
          }
        }
      } catch (err) {
        if (p.hooks.signal.aborted) throw stopped();
        // A follow only reads: any failure (a node down, a block it does not have yet, a
        // garbled answer) is retried; giving up would leave the position blind.
        failures += 1;
        if (failures === 1 || failures % 20 === 0) logger.warn({ err, follow: p.what, failures }, 'Reading the chain failed; retrying');
      }
      await pause(clock, pollMs, p.hooks.signal);
    }
  }

  function closureOf(events: AvantisEvent[], trade: TradeIdentity, closeOrderId: bigint | null): { value: Closure; block: bigint | null } | undefined {
    for (const e of events) {
      if (e.type === 'callbacks.MarketExecuted' && !e.args.open && (e.args.orderId === closeOrderId || sameSlotAndOpening(e.args.t, trade))) {
        return { value: { by: 'trader', price: e.args.price, payout: e.args.usdcSentToTrader, orderId: e.args.orderId }, block: e.log.blockNumber };
      }
      if (e.type === 'callbacks.LimitExecuted' && LIMIT_CLOSE[e.args.orderType] !== undefined && sameSlotAndOpening(e.args.t, trade)) {
        return { value: { by: LIMIT_CLOSE[e.args.orderType]!, price: e.args.price, payout: e.args.usdcSentToTrader, orderId: null }, block: e.log.blockNumber };
      }
    }
    return undefined;
  }

  const closureQuery = { addresses: [addresses.tradingCallbacks], topics0: [MARKET_EXECUTED, LIMIT_EXECUTED] };
  const tradeAt = (trade: TradeIdentity, blockNumber?: bigint) =>
    readTrade(client, { addresses, trader: trade.trader, pairIndex: trade.pairIndex, index: trade.index, ...(blockNumber === undefined ? {} : { blockNumber }) });
  const unknownClosure: Closure = { by: 'unknown', price: null, payout: null, orderId: null };

  return {
    followOpen(p, hooks) {
      return follow<OpenSettlement>({
        what: `open order ${p.orderId}`,
        fromBlock: p.fromBlock,
        hooks,
        every: pollMs,
        // MarketOpenCanceled comes from the callbacks (the protocol declined) or from TradingStorage (an operator's cancel).
        query: { addresses: [addresses.tradingCallbacks, addresses.tradingStorage], topics0: [MARKET_EXECUTED, MARKET_OPEN_CANCELED] },
        unsettled: async (head) => (await readPendingMarketOrder(client, { addresses, orderId: p.orderId, blockNumber: head })) !== null,
        find: (events) => {
          for (const e of events) {
            if (e.type === 'callbacks.MarketExecuted' && e.args.open && e.args.orderId === p.orderId && sameAddress(e.args.t.trader, p.trader)) {
              return { value: { kind: 'filled', trade: e.args.t, block: e.log.blockNumber ?? 0n }, block: e.log.blockNumber };
            }
            if ((e.type === 'callbacks.MarketOpenCanceled' || e.type === 'tradingStorage.MarketOpenCanceled') && e.args.orderId === p.orderId) {
              return { value: { kind: 'canceled', by: e.emitter === 'tradingStorage' ? 'operator' : 'protocol' }, block: e.log.blockNumber };
            }
          }
          return undefined;
        },
        // An open that left the pending book without a fill or a cancel event cannot be placed
        // from state alone (which slot is it?): keep reading, and say so loudly.
        conclude: (head, emptyScans) => {
          if (emptyScans === settleScans) logger.error({ admin_alert: true, order_id: p.orderId.toString(), head: head.toString() }, 'An open order left the pending book but no fill or cancel event can be found; still looking. Check the RPC (BASE_RPC_URLS) for missing logs.');
          return Promise.resolve(undefined);
        },
      });
    },

    followClose(p, hooks) {
      let stillOurs = false;
      return follow<CloseSettlement>({
        what: `close order ${p.orderId}`,
        fromBlock: p.fromBlock,
        hooks,
        every: pollMs,
        query: closureQuery,
        unsettled: async (head) => {
          if ((await readPendingMarketOrder(client, { addresses, orderId: p.orderId, blockNumber: head })) !== null) return true;
          // The request left the book. If the trade is still ours at that same block, nothing
          // closed it: the request was canceled (an operator, or the protocol declining it).
          stillOurs = isSameTrade(await tradeAt(p.trade, head), p.trade);
          return false;
        },
        find: (events) => {
          const closed = closureOf(events, p.trade, p.orderId);
          return closed ? { value: { kind: 'closed', ...closed.value }, block: closed.block } : stillOurs ? { value: { kind: 'close-canceled' }, block: null } : undefined;
        },
        conclude: () => Promise.resolve<CloseSettlement>({ kind: 'closed', ...unknownClosure }),
      });
    },

    watchTrade(p, hooks) {
      return follow<Closure>({
        what: `trade ${p.trade.pairIndex}/${p.trade.index}`,
        fromBlock: p.fromBlock,
        hooks,
        every: watchPollMs,
        query: closureQuery,
        unsettled: async (head) => isSameTrade(await tradeAt(p.trade, head), p.trade),
        find: (events) => closureOf(events, p.trade, null),
        conclude: () => Promise.resolve(unknownClosure),
      });
    },

    async stillOpen(trade) {
      return isSameTrade(await tradeAt(trade), trade);
    },

    async identify(trade) {
      const current = await tradeAt(trade);
      return current !== null && isSameTrade(current, { ...trade, openedAt: null }) ? current.timestamp : null;
    },
  };
}

function stopped(): Error {
  return Object.assign(new Error('Stopped following the chain; it resumes where it stopped at the next start.'), { code: 'SHUTTING_DOWN', retryable: true });
}

function sameAddress(a: string, b: string): boolean {
  return getAddress(a) === getAddress(b);
}

function eventItem(name: string) {
  const item = callbacksAbi.find((i) => i.type === 'event' && i.name === name);
  if (!item || item.type !== 'event') throw new Error(`The v1 callbacks ABI has no ${name} event`);
  return item;
}
