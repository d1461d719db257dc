import type { Address, Hex, PublicClient } from 'viem';
import type { Logger } from 'pino';
import { abiOf } from './artifacts.ts';
import { sendCall, type DevnetWallet } from './clients.ts';
import { createTickLoop } from './tick-loop.ts';
import type { AvantisDeployment, DeployedPair } from './deploy.ts';
import { currentPriceUpdate, type PriceUpdate } from './price-updates.ts';
import { createSimReads, type OpenLimitOrder, type Trade } from './sim-reads.ts';

/**
 * The devnet keeper: what Avantis's operators do on mainnet (AVANTIS.md §6). It fills pending
 * market orders at the oracle price with `executeMarketOrders`, and fires limit/stop opens, TPs,
 * SLs and liquidations with `executeLimitOrder` once the oracle price reaches their trigger.
 *
 * It learns about work from events, as a real keeper does: `MarketOrderInitiated` (v1, or the v2
 * one from executed intents) for pending orders, `MarketExecuted` / `LimitExecuted` opens for
 * trades to watch; limit orders are read
 * from `getOpenLimitOrders()`. Each tick re-reads the state before acting, so a missed or stale
 * event costs a read, never a wrong fill.
 */
export interface Keeper {
  /** One pass: fill, trigger, and report what was sent. Ticks never overlap; `signal` ends it early. */
  tick(signal?: AbortSignal): Promise<KeeperReport>;
  /** Ticks every `pollIntervalMs` until stop(). */
  start(): void;
  /** Aborts the tick in progress (its receipt waits end at once) and stops the loop. */
  stop(): Promise<void>;
}

export interface KeeperReport {
  readonly marketOrdersExecuted: readonly bigint[];
  readonly limitOrdersExecuted: readonly LimitExecution[];
}

export interface LimitExecution {
  readonly kind: LimitKind;
  readonly trader: Address;
  readonly pairIndex: bigint;
  readonly index: bigint;
}

/** `executeLimitOrder._orderType` (AVANTIS.md §3.2). */
export const LIMIT_KIND = { TP: 0, SL: 1, LIQ: 2, OPEN: 3 } as const;
export type LimitKind = (typeof LIMIT_KIND)[keyof typeof LIMIT_KIND];

/** `openTrade._type` of a stored limit order. */
const REVERSAL = 1; // stop: a long fires at or above the trigger
const PYTH_SOURCING_CORE = 0;

export interface KeeperDeps {
  readonly publicClient: PublicClient;
  /** An operator of Trading (`isOperator`). */
  readonly wallet: DevnetWallet;
  readonly deployment: AvantisDeployment;
  readonly logger: Logger;
}

export interface KeeperOptions {
  readonly pollIntervalMs?: number;
}

export function createKeeper(deps: KeeperDeps, options: KeeperOptions = {}): Keeper {
  const { publicClient, deployment } = deps;
  const logger = deps.logger.child({ component: 'devnet-keeper' });
  const reads = createSimReads(publicClient, deployment);
  const pairsByIndex = new Map(deployment.pairs.map((p) => [BigInt(p.index), p]));
  const pending = new Set<bigint>();
  const watchedTrades = new Map<string, { trader: Address; pairIndex: bigint; index: bigint }>();
  let scannedTo = -1n;
  let running: Promise<KeeperReport> | undefined;

  async function scanEvents(): Promise<void> {
    const latest = await publicClient.getBlockNumber({ cacheTime: 0 });
    if (latest <= scannedTo) return;
    const range = { fromBlock: scannedTo + 1n, toBlock: latest };
    const [initiated, initiatedV2, marketFills, limitFills] = await Promise.all([
      publicClient.getContractEvents({ address: deployment.trading, abi: abiOf('Trading'), eventName: 'MarketOrderInitiated', ...range }),
      // v2 intents (executed through Trading's fallback) emit the 13-field v2 event instead.
      publicClient.getContractEvents({ address: deployment.trading, abi: abiOf('TradingV2'), eventName: 'MarketOrderInitiated', ...range }),
      publicClient.getContractEvents({ address: deployment.tradingCallbacks, abi: abiOf('TradingCallbacks'), eventName: 'MarketExecuted', ...range }),
      publicClient.getContractEvents({ address: deployment.tradingCallbacks, abi: abiOf('TradingCallbacks'), eventName: 'LimitExecuted', ...range }),
    ]);
    for (const log of [...initiated, ...initiatedV2]) pending.add((log.args as { orderId: bigint }).orderId);
    for (const log of marketFills) {
      const args = log.args as { t: Trade; open: boolean };
      if (args.open) watch(args.t);
    }
    for (const log of limitFills) {
      const args = log.args as { t: Trade; orderType: number };
      if (args.orderType === LIMIT_KIND.OPEN) watch(args.t);
    }
    scannedTo = latest;
  }

  function watch(t: Trade): void {
    watchedTrades.set(`${t.trader}:${t.pairIndex}:${t.index}`, { trader: t.trader, pairIndex: t.pairIndex, index: t.index });
  }

  /** One oracle read per pair per tick. */
  function priceCache(): (pairIndex: bigint) => Promise<PriceUpdate & { pair: DeployedPair }> {
    const cache = new Map<bigint, Promise<PriceUpdate & { pair: DeployedPair }>>();
    return (pairIndex) => {
      let entry = cache.get(pairIndex);
      if (!entry) {
        const pair = pairsByIndex.get(pairIndex);
        if (!pair) return Promise.reject(new Error(`pair ${pairIndex} is not listed on the devnet`));
        entry = currentPriceUpdate(publicClient, reads, pair).then((u) => ({ ...u, pair }));
        cache.set(pairIndex, entry);
      }
      return entry;
    };
  }

  async function executeMarketOrders(priceOf: ReturnType<typeof priceCache>, signal: AbortSignal | undefined): Promise<bigint[]> {
    const byPair = new Map<bigint, bigint[]>();
    for (const orderId of pending) {
      signal?.throwIfAborted();
      const order = await reads.pendingOrder(orderId);
      if (order.trade.trader === '0x0000000000000000000000000000000000000000') {
        pending.delete(orderId);
        continue;
      }
      byPair.set(order.trade.pairIndex, [...(byPair.get(order.trade.pairIndex) ?? []), orderId]);
    }
    const executed: bigint[] = [];
    for (const [pairIndex, orderIds] of byPair) {
      try {
        const { priceUpdateData } = await priceOf(pairIndex);
        const spreadP = await reads.pairSpreadP(pairIndex);
        await send('executeMarketOrders', [orderIds, priceUpdateData, PYTH_SOURCING_CORE, spreadP], priceUpdateData, signal);
        for (const id of orderIds) pending.delete(id);
        executed.push(...orderIds);
        logger.debug({ pairIndex, orderIds: orderIds.map(String) }, 'Filled market orders');
      } catch (err) {
        if (signal?.aborted) throw err;
        logger.warn({ err, pairIndex, orderIds: orderIds.map(String) }, 'executeMarketOrders failed; will retry');
      }
    }
    return executed;
  }

  async function executeLimitOpens(priceOf: ReturnType<typeof priceCache>, signal: AbortSignal | undefined): Promise<LimitExecution[]> {
    const executed: LimitExecution[] = [];
    for (const order of await reads.openLimitOrders()) {
      signal?.throwIfAborted();
      const { price, priceUpdateData } = await priceOf(order.pairIndex);
      const kind = await reads.openLimitOrderType(order.trader, order.pairIndex, order.index);
      const spreadP = await reads.pairSpreadP(order.pairIndex);
      if (!limitOpenFillable(order, kind, price, spreadP)) continue;
      const job = { kind: LIMIT_KIND.OPEN, trader: order.trader, pairIndex: order.pairIndex, index: order.index } as const;
      if (await executeLimit(job, priceUpdateData, spreadP, signal)) executed.push(job);
    }
    return executed;
  }

  async function executeTriggers(priceOf: ReturnType<typeof priceCache>, signal: AbortSignal | undefined): Promise<LimitExecution[]> {
    const executed: LimitExecution[] = [];
    for (const [key, ref] of watchedTrades) {
      signal?.throwIfAborted();
      const trade = await reads.openTrade(ref.trader, ref.pairIndex, ref.index);
      if (trade.leverage === 0n) {
        watchedTrades.delete(key);
        continue;
      }
      if ((await reads.tradeInfo(ref.trader, ref.pairIndex, ref.index)).beingMarketClosed) continue;
      const { price, priceUpdateData } = await priceOf(trade.pairIndex);
      const kind = closeTrigger(trade, price, await reads.liquidationPrice(trade));
      if (kind === null) continue;
      const job = { kind, trader: trade.trader, pairIndex: trade.pairIndex, index: trade.index };
      if (await executeLimit(job, priceUpdateData, 0n, signal)) executed.push(job);
    }
    return executed;
  }

  async function executeLimit(job: LimitExecution, priceUpdateData: readonly Hex[], spreadP: bigint, signal: AbortSignal | undefined): Promise<boolean> {
    try {
      await send('executeLimitOrder', [job.kind, job.trader, job.pairIndex, job.index, priceUpdateData, PYTH_SOURCING_CORE, spreadP], priceUpdateData, signal);
      logger.debug({ ...job, pairIndex: String(job.pairIndex), index: String(job.index) }, 'Executed limit order');
      return true;
    } catch (err) {
      if (signal?.aborted) throw err;
      logger.warn({ err, ...job, pairIndex: String(job.pairIndex), index: String(job.index) }, 'executeLimitOrder failed; will retry');
      return false;
    }
  }

  function send(functionName: string, args: readonly unknown[], priceUpdateData: readonly Hex[], signal: AbortSignal | undefined) {
    // The Pyth fee: 1 wei per update on the simulator, as on Base.
    const call = { address: deployment.trading, abi: abiOf('Trading'), functionName, args, value: BigInt(priceUpdateData.length) };
    return sendCall(publicClient, deps.wallet, call, signal ? { signal } : {});
  }

  async function runTick(signal: AbortSignal | undefined): Promise<KeeperReport> {
    await scanEvents();
    const priceOf = priceCache();
    const marketOrdersExecuted = await executeMarketOrders(priceOf, signal);
    const limitOrdersExecuted = [...(await executeLimitOpens(priceOf, signal)), ...(await executeTriggers(priceOf, signal))];
    return { marketOrdersExecuted, limitOrdersExecuted };
  }

  const tick = (signal?: AbortSignal): Promise<KeeperReport> => {
    running = (running ?? Promise.resolve(emptyReport())).catch(() => emptyReport()).then(() => runTick(signal));
    return running;
  };

  const ticker = createTickLoop({ tick, intervalMs: options.pollIntervalMs ?? 500, onError: (err) => logger.warn({ err }, 'Keeper tick failed') });

  return {
    tick,
    start() {
      ticker.start();
    },
    async stop() {
      await ticker.stop();
      await running?.catch(() => undefined);
    },
  };
}

function emptyReport(): KeeperReport {
  return { marketOrdersExecuted: [], limitOrdersExecuted: [] };
}

/**
 * Which close the oracle price triggers, if any. Liquidation first, then SL, then TP, the same
 * order of precedence a keeper racing for rewards would pick.
 */
export function closeTrigger(trade: Trade, price: bigint, liquidationPrice: bigint): LimitKind | null {
  if (trade.buy ? price <= liquidationPrice : price >= liquidationPrice) return LIMIT_KIND.LIQ;
  if (trade.sl !== 0n && (trade.buy ? price <= trade.sl : price >= trade.sl)) return LIMIT_KIND.SL;
  if (trade.tp !== 0n && (trade.buy ? price >= trade.tp : price <= trade.tp)) return LIMIT_KIND.TP;
  return null;
}

/** Mirrors TradingCallbacks.fillLimitOpen: trigger reached and the fill within slippage. */
export function limitOpenFillable(order: OpenLimitOrder, kind: number, price: bigint, spreadP: bigint): boolean {
  const stop = kind === REVERSAL;
  const triggered = stop === order.buy ? price >= order.price : price <= order.price;
  if (!triggered) return false;
  const spread = (price * spreadP) / 100n / 10n ** 10n;
  const fill = order.buy ? price + spread : price - spread;
  const band = (order.price * order.slippageP) / 100n / 10n ** 10n;
  return order.buy ? fill <= order.price + band : fill + band >= order.price;
}
