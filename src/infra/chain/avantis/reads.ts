/**
 * Reads of Avantis state, one function per job, `(client, params)`, mapped to domain types.
 *
 * VERIFIED against the vendored v1 ABI (every function used is in abi-v1.ts, which the ABI
 * test compares to the JSON). v2 keeps these storage reads (AVANTIS.md §0(b)), so both
 * adapters share them. Any RPC failure or undecodable answer becomes a typed error
 * (ChainUnavailableError / ChainResponseError), never a raw viem error.
 */
import { erc20Abi, getAddress, zeroAddress, type Address, type Client } from 'viem';
import { getGasPrice, readContract } from 'viem/actions';
import { multicallAbi, pairInfosAbi, pairStorageAbi, priceAggregatorAbi, tradingAbi, tradingStorageAbi } from './abi-v1.ts';
import type { AvantisAddresses } from './addresses.ts';
import { ChainResponseError } from './errors.ts';
import { EXECUTION_FEE_FALLBACK_WEI, executionFee } from './math.ts';
import { toChainError } from './revert.ts';
import type { OpenLimitOrder, PairInfo, PendingMarketOrder, Position, Trade, TradeInfo } from './types.ts';

interface Base {
  readonly addresses: AvantisAddresses;
}
interface TraderParams extends Base {
  readonly trader: Address;
}
interface SlotParams extends TraderParams {
  readonly pairIndex: bigint;
  readonly index: bigint;
}

/** Runs a read and turns any failure into a typed chain error naming the read. */
async function guarded<T>(what: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    throw toChainError(error, {}, what);
  }
}

/** A read pinned to one block (so a state read and a log scan describe the same chain), else the latest. */
interface AtBlock {
  readonly blockNumber?: bigint;
}

/** The trade in a slot, or null when the slot is empty (`leverage == 0`). */
export async function readTrade(client: Client, p: SlotParams & AtBlock): Promise<Trade | null> {
  const trade = await guarded('Reading a trade', () =>
    readContract(client, {
      address: p.addresses.tradingStorage,
      abi: tradingStorageAbi,
      functionName: 'openTrades',
      args: [p.trader, p.pairIndex, p.index],
      ...(p.blockNumber === undefined ? {} : { blockNumber: p.blockNumber }),
    }),
  );
  return trade.leverage === 0n ? null : trade;
}

export function readTradeInfo(client: Client, p: SlotParams): Promise<TradeInfo> {
  return guarded('Reading trade info', () =>
    readContract(client, { address: p.addresses.tradingStorage, abi: tradingStorageAbi, functionName: 'openTradesInfo', args: [p.trader, p.pairIndex, p.index] }),
  );
}

export function readOpenTradesCount(client: Client, p: TraderParams & { pairIndex: bigint }): Promise<bigint> {
  return guarded('Reading the open trade count', () =>
    readContract(client, { address: p.addresses.tradingStorage, abi: tradingStorageAbi, functionName: 'openTradesCount', args: [p.trader, p.pairIndex] }),
  );
}

/** `PairInfos.getTradeLiquidationPrice` (includes the accrued rollover fee on mainnet). */
export function readLiquidationPrice(client: Client, p: Base & { trade: Pick<Trade, 'trader' | 'pairIndex' | 'index' | 'openPrice' | 'buy' | 'initialPosToken' | 'leverage'> }): Promise<bigint> {
  const t = p.trade;
  return guarded('Reading a liquidation price', () =>
    readContract(client, {
      address: p.addresses.pairInfos,
      abi: pairInfosAbi,
      functionName: 'getTradeLiquidationPrice',
      args: [t.trader, t.pairIndex, t.index, t.openPrice, t.buy, t.initialPosToken, t.leverage],
    }),
  );
}

/** One position with its info and liquidation price, or null when the slot is empty. */
export async function readPosition(client: Client, p: SlotParams): Promise<Position | null> {
  const [trade, info] = await Promise.all([readTrade(client, p), readTradeInfo(client, p)]);
  if (!trade) return null;
  return toPosition(trade, info, await readLiquidationPrice(client, { addresses: p.addresses, trade }));
}

/** Maps the v1 structs to the engine's Position. */
export function toPosition(trade: Trade, info: TradeInfo, liquidationPrice: bigint | null): Position {
  return {
    trader: getAddress(trade.trader),
    pairIndex: trade.pairIndex,
    index: trade.index,
    long: trade.buy,
    collateral: trade.initialPosToken,
    notional: info.openInterestUSDC,
    leverage: trade.leverage,
    openPrice: trade.openPrice,
    tp: trade.tp,
    sl: trade.sl,
    openedAt: trade.timestamp,
    beingMarketClosed: info.beingMarketClosed,
    tpLastUpdatedBlock: info.tpLastUpdated,
    slLastUpdatedBlock: info.slLastUpdated,
    liquidationPrice,
  };
}

/**
 * A trader's open positions from TradingStorage: `openTradesCount` per pair, then the slots
 * in order until that many are found (slots are not compact: closing slot 0 leaves slot 1).
 * `pairIndexes` defaults to every pair; on mainnet prefer readPositionsViaMulticall.
 */
export async function readPositions(client: Client, p: TraderParams & { pairIndexes?: readonly bigint[] }): Promise<Position[]> {
  const pairIndexes = p.pairIndexes ?? range(await readPairsCount(client, p));
  const maxSlots = await readMaxTradesPerPair(client, p);
  const perPair = await Promise.all(
    pairIndexes.map(async (pairIndex) => {
      const count = await readOpenTradesCount(client, { ...p, pairIndex });
      return count === 0n ? [] : scanSlots(client, { ...p, pairIndex }, count, maxSlots);
    }),
  );
  return perPair.flat();
}

async function scanSlots(client: Client, p: TraderParams & { pairIndex: bigint }, count: bigint, maxSlots: bigint): Promise<Position[]> {
  const found: Position[] = [];
  for (let next = 0n; BigInt(found.length) < count && next < maxSlots; ) {
    const batch = range(minBig(count - BigInt(found.length), maxSlots - next)).map((i) => next + i);
    next += BigInt(batch.length);
    const positions = await Promise.all(batch.map((index) => readPosition(client, { ...p, index })));
    for (const position of positions) if (position) found.push(position);
  }
  if (BigInt(found.length) !== count) {
    throw new ChainResponseError(`TradingStorage reports ${count} trades on pair ${p.pairIndex} but ${found.length} slots hold one.`);
  }
  return found;
}

/**
 * Positions through Avantis's Multicall `getPositions(trader)` (one call). v1 pads the array
 * with empty entries (`leverage == 0`); those are dropped.
 */
export async function readPositionsViaMulticall(client: Client, p: TraderParams): Promise<Position[]> {
  const multicall = p.addresses.multicall;
  if (multicall === undefined) throw new ChainResponseError('No Multicall address is configured; use readPositions.');
  const [trades] = await guarded('Reading positions (Multicall)', () =>
    readContract(client, { address: multicall, abi: multicallAbi, functionName: 'getPositions', args: [p.trader] }),
  );
  return trades.filter((t) => t.trade.leverage !== 0n).map((t) => toPosition(t.trade, t.tradeInfo, t.liquidationPrice));
}

/** The trader's pending market orders (opens and closes waiting for a keeper). */
export async function readPendingMarketOrders(client: Client, p: TraderParams): Promise<PendingMarketOrder[]> {
  const ids = await guarded('Reading pending order ids', () =>
    readContract(client, { address: p.addresses.tradingStorage, abi: tradingStorageAbi, functionName: 'getPendingOrderIds', args: [p.trader] }),
  );
  const orders = await Promise.all(ids.map((orderId) => readPendingMarketOrder(client, { addresses: p.addresses, orderId })));
  return orders.filter((o): o is PendingMarketOrder => o !== null);
}

/**
 * One pending market order, or null once filled or cancelled. `open` is inferred: an open
 * request carries the wanted price in `trade.openPrice` (the contract refuses 0), a v1 close
 * carries 0 there.
 */
export async function readPendingMarketOrder(client: Client, p: Base & AtBlock & { orderId: bigint }): Promise<PendingMarketOrder | null> {
  const order = await guarded('Reading a pending market order', () =>
    readContract(client, {
      address: p.addresses.tradingStorage,
      abi: tradingStorageAbi,
      functionName: 'reqIDpendingMarketOrder',
      args: [p.orderId],
      ...(p.blockNumber === undefined ? {} : { blockNumber: p.blockNumber }),
    }),
  );
  if (order.trade.trader === zeroAddress) return null;
  return { orderId: p.orderId, trade: order.trade, block: order.block, wantedPrice: order.wantedPrice, slippageP: order.slippageP, open: order.trade.openPrice !== 0n };
}

/** The trader's open limit / stop orders on the given pairs (default: every pair). */
export async function readOpenLimitOrders(client: Client, p: TraderParams & { pairIndexes?: readonly bigint[] }): Promise<OpenLimitOrder[]> {
  const pairIndexes = p.pairIndexes ?? range(await readPairsCount(client, p));
  const maxSlots = await readMaxTradesPerPair(client, p);
  const perPair = await Promise.all(pairIndexes.map((pairIndex) => readLimitOrdersOnPair(client, { ...p, pairIndex }, maxSlots)));
  return perPair.flat();
}

async function readLimitOrdersOnPair(client: Client, p: TraderParams & { pairIndex: bigint }, maxSlots: bigint): Promise<OpenLimitOrder[]> {
  const storage = p.addresses.tradingStorage;
  const count = await guarded('Reading the limit order count', () =>
    readContract(client, { address: storage, abi: tradingStorageAbi, functionName: 'openLimitOrdersCount', args: [p.trader, p.pairIndex] }),
  );
  const orders: OpenLimitOrder[] = [];
  for (let index = 0n; BigInt(orders.length) < count && index < maxSlots; index++) {
    const args = [p.trader, p.pairIndex, index] as const;
    const has = await guarded('Reading a limit order slot', () => readContract(client, { address: storage, abi: tradingStorageAbi, functionName: 'hasOpenLimitOrder', args }));
    if (!has) continue;
    orders.push(await guarded('Reading a limit order', () => readContract(client, { address: storage, abi: tradingStorageAbi, functionName: 'getOpenLimitOrder', args })));
  }
  return orders;
}

export async function readPairsCount(client: Client, p: Base): Promise<bigint> {
  const count = await guarded('Reading the pair count', () => readContract(client, { address: p.addresses.pairStorage, abi: pairStorageAbi, functionName: 'pairsCount' }));
  return plausible('pairsCount', count);
}

/** One pair's catalogue entry: name, feeds, leverage bounds, spread, fees, gain/loss caps. */
export async function readPair(client: Client, p: Base & { pairIndex: bigint }): Promise<PairInfo> {
  const address = p.addresses.pairStorage;
  const [pair, data] = await guarded('Reading a pair', () =>
    Promise.all([
      readContract(client, { address, abi: pairStorageAbi, functionName: 'pairs', args: [p.pairIndex] }),
      readContract(client, { address, abi: pairStorageAbi, functionName: 'getPairData', args: [p.pairIndex] }),
    ]),
  );
  const [feed, backupFeed, spreadP, , leverages, , , groupIndex, feeIndex, values] = pair;
  const [openFeeP, closeFeeP, limitOrderFeeP, minLevPosUSDC] = await guarded('Reading a pair’s fees', () =>
    readContract(client, { address, abi: pairStorageAbi, functionName: 'fees', args: [feeIndex] }),
  );
  const [from, to] = data;
  return {
    index: p.pairIndex,
    name: from === '' ? '' : `${from}/${to}`,
    listed: from !== '',
    pythFeedId: feed.feedId,
    backupFeed: backupFeed.feedId,
    spreadP,
    minLeverage: leverages.minLeverage,
    maxLeverage: leverages.maxLeverage,
    maxGainP: values.maxGainP,
    maxSlP: values.maxSlP,
    groupIndex,
    feeIndex,
    openFeeP,
    closeFeeP,
    limitOrderFeeP,
    minPositionUsdc: minLevPosUSDC,
    maxOpenDeviationP: feed.maxOpenDeviationP,
    maxCloseDeviationP: feed.maxCloseDeviationP,
  };
}

/** Every pair in the catalogue, delisted ones included (`listed: false`). */
export async function readPairs(client: Client, p: Base): Promise<PairInfo[]> {
  return Promise.all(range(await readPairsCount(client, p)).map((pairIndex) => readPair(client, { ...p, pairIndex })));
}

/** The opening fee % × 1e10 for a notional (`PriceAggregator.openFeeP`; skew-dependent on mainnet). */
export function readOpenFeeP(client: Client, p: Base & { pairIndex: bigint; notional: bigint; long: boolean }): Promise<bigint> {
  return guarded('Reading the open fee', () =>
    readContract(client, { address: p.addresses.priceAggregator, abi: priceAggregatorAbi, functionName: 'openFeeP', args: [p.pairIndex, p.notional, p.long] }),
  );
}

/** Blocks that must pass after placing/updating a limit order, or a TP/SL change, before the next. */
export function readLimitOrdersTimelock(client: Client, p: Base): Promise<bigint> {
  return guarded('Reading the limit-order timelock', () => readContract(client, { address: p.addresses.trading, abi: tradingAbi, functionName: 'limitOrdersTimelock' }));
}

export async function readMaxTradesPerPair(client: Client, p: Base): Promise<bigint> {
  const max = await guarded('Reading maxTradesPerPair', () => readContract(client, { address: p.addresses.tradingStorage, abi: tradingStorageAbi, functionName: 'maxTradesPerPair' }));
  return plausible('maxTradesPerPair', max);
}

export function readMaxPendingMarketOrders(client: Client, p: Base): Promise<bigint> {
  return guarded('Reading maxPendingMarketOrders', () =>
    readContract(client, { address: p.addresses.tradingStorage, abi: tradingStorageAbi, functionName: 'maxPendingMarketOrders' }),
  );
}

export function readLiqThreshold(client: Client, p: Base): Promise<bigint> {
  return guarded('Reading the liquidation threshold', () => readContract(client, { address: p.addresses.pairInfos, abi: pairInfosAbi, functionName: 'liqThreshold' }));
}

/** The USDC the trader lets TradingStorage pull (the approval target is TradingStorage, not Trading). */
export function readUsdcAllowance(client: Client, p: Base & { owner: Address }): Promise<bigint> {
  return guarded('Reading the USDC allowance', () =>
    readContract(client, { address: p.addresses.usdc, abi: erc20Abi, functionName: 'allowance', args: [p.owner, p.addresses.tradingStorage] }),
  );
}

export function readUsdcBalance(client: Client, p: Base & { owner: Address }): Promise<bigint> {
  return guarded('Reading the USDC balance', () => readContract(client, { address: p.addresses.usdc, abi: erc20Abi, functionName: 'balanceOf', args: [p.owner] }));
}

/** The v1 delegate of a trader, or null when none. */
export async function readDelegate(client: Client, p: TraderParams): Promise<Address | null> {
  const delegate = await guarded('Reading the delegate', () => readContract(client, { address: p.addresses.trading, abi: tradingAbi, functionName: 'delegations', args: [p.trader] }));
  return delegate === zeroAddress ? null : getAddress(delegate);
}

/**
 * The ETH execution fee to attach to an open, limit open or close (AVANTIS.md §3.4), from the
 * current gas price; the SDK's 0.00035 ETH when the gas price cannot be read.
 */
export async function readExecutionFee(client: Client): Promise<bigint> {
  try {
    return executionFee(await getGasPrice(client));
  } catch {
    return EXECUTION_FEE_FALLBACK_WEI;
  }
}

/** Counts drive loops; an absurd one is a bad answer, not a reason to read a million slots. */
const MAX_PLAUSIBLE_COUNT = 10_000n;
function plausible(what: string, value: bigint): bigint {
  if (value > MAX_PLAUSIBLE_COUNT) throw new ChainResponseError(`${what} answered ${value}, which no Avantis deployment has; refusing to scan that many.`);
  return value;
}

function range(n: bigint): bigint[] {
  return Array.from({ length: Number(n) }, (_, i) => BigInt(i));
}

function minBig(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}
