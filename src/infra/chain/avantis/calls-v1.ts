/**
 * Call builders for Avantis v1: each returns `{ to, data, value }` for the transaction
 * pipeline to sign and send. Nothing here signs, sends or reads.
 *
 * VERIFIED against the vendored v1 ABI (abi-v1.ts is compared to the JSON by the ABI test) and
 * end to end on the simulator. Units per AVANTIS.md §2; argument order per §3.3 (note
 * `updateTpAndSl` takes the SL **before** the TP). Bad input throws BadInputError and builds
 * nothing.
 */
import { encodeFunctionData, erc20Abi, getAddress, isAddress, isAddressEqual, isHex, maxUint256, type Address, type Hex } from 'viem';
import { BadInputError } from '../../../errors.ts';
import { tradingAbi } from './abi-v1.ts';
import type { AvantisAddresses } from './addresses.ts';
import { PRECISION } from './units.ts';
import { MARGIN_UPDATE_TYPE, OPEN_ORDER_TYPE, PRICE_SOURCING, type CallRequest, type MarginUpdateKind, type OpenOrderKind, type PriceSourcing, type Trade } from './types.ts';

/** What the SDK attaches to the one-step calls that push a Pyth update: 1 wei (the fee on Base). */
export const PYTH_UPDATE_FEE_WEI = 1n;
/** The contracts' `_MAX_SLIPPAGE`: 100 %. */
const MAX_SLIPPAGE_P = 100n * PRECISION;

export interface OpenTradeParams {
  readonly trader: Address;
  readonly pairIndex: bigint;
  readonly long: boolean;
  /** USDC 1e6, before the opening fee. */
  readonly collateral: bigint;
  /** 1e10 */
  readonly leverage: bigint;
  /** market: the price the trader expects (the slippage reference); limit / stop: the trigger. 1e10 */
  readonly price: bigint;
  readonly kind: Exclude<OpenOrderKind, 'marketPnl'>;
  /** Percent × 1e10, above 0 and at most 100 %. */
  readonly slippageP: bigint;
  /** 1e10; 0 = the pair's max-gain price. */
  readonly tp?: bigint;
  /** 1e10; 0 = none. */
  readonly sl?: bigint;
  /** ETH execution fee in wei (see readExecutionFee). */
  readonly executionFeeWei: bigint;
}

/** The `Trade` tuple `openTrade` takes, with the SDK's conventions (index, initialPosToken, timestamp 0). */
export function tradeInput(p: OpenTradeParams): Trade {
  return {
    trader: p.trader,
    pairIndex: p.pairIndex,
    index: 0n,
    initialPosToken: 0n,
    positionSizeUSDC: p.collateral,
    openPrice: p.price,
    buy: p.long,
    leverage: p.leverage,
    tp: p.tp ?? 0n,
    sl: p.sl ?? 0n,
    timestamp: 0n,
  };
}

/** `openTrade(t, _type, _slippageP)`, payable with the execution fee. Market, limit or stop. */
export function buildOpenTrade(addresses: AvantisAddresses, p: OpenTradeParams): CallRequest {
  checkAddress('trader', p.trader);
  positive('collateral', p.collateral);
  positive('leverage', p.leverage);
  positive('price', p.price);
  checkSlippage(p.slippageP);
  checkTpSlSides({ long: p.long, price: p.price, tp: p.tp ?? 0n, sl: p.sl ?? 0n });
  nonNegative('execution fee', p.executionFeeWei);
  const data = encodeFunctionData({ abi: tradingAbi, functionName: 'openTrade', args: [tradeInput(p), OPEN_ORDER_TYPE[p.kind], p.slippageP] });
  return { to: addresses.trading, data, value: p.executionFeeWei };
}

export interface SlotParams {
  readonly pairIndex: bigint;
  readonly index: bigint;
}

export interface CloseTradeParams extends SlotParams {
  /** Collateral to close, USDC 1e6: the position's whole `collateral` closes it, less is a partial close. */
  readonly collateralToClose: bigint;
  /** The price the trader expects, 1e10. v1 does not take it (the keeper's price is final); v2 does. */
  readonly wantedPrice: bigint;
  readonly executionFeeWei: bigint;
}

/** v1 `closeTradeMarket(_pairIndex, _index, _amount)`: `_amount` is collateral, not notional. */
export function buildCloseTrade(addresses: AvantisAddresses, p: CloseTradeParams): CallRequest {
  positive('collateral to close', p.collateralToClose);
  nonNegative('execution fee', p.executionFeeWei);
  const data = encodeFunctionData({ abi: tradingAbi, functionName: 'closeTradeMarket', args: [p.pairIndex, p.index, p.collateralToClose] });
  return { to: addresses.trading, data, value: p.executionFeeWei };
}

export interface UpdateTpSlParams extends SlotParams {
  readonly trader: Address;
  /** 1e10; 0 = back to the max-gain price. */
  readonly tp: bigint;
  /** 1e10; 0 = remove. */
  readonly sl: bigint;
  /** The pair's price-update bytes (feed-v3 / Hermes on mainnet), passed on unread. */
  readonly priceUpdateData: readonly Hex[];
  readonly priceSourcing?: PriceSourcing;
}

/** v1 `updateTpAndSl(pair, index, newSl, newTp, priceUpdateData, priceSourcing)`: SL first. Value 1 wei. */
export function buildUpdateTpSl(addresses: AvantisAddresses, p: UpdateTpSlParams): CallRequest {
  nonNegative('tp', p.tp);
  nonNegative('sl', p.sl);
  checkPriceUpdateData(p.priceUpdateData);
  const data = encodeFunctionData({
    abi: tradingAbi,
    functionName: 'updateTpAndSl',
    args: [p.pairIndex, p.index, p.sl, p.tp, p.priceUpdateData, p.priceSourcing ?? PRICE_SOURCING.pythCore],
  });
  return { to: addresses.trading, data, value: PYTH_UPDATE_FEE_WEI };
}

export interface UpdateMarginParams extends SlotParams {
  readonly kind: MarginUpdateKind;
  /** USDC 1e6 */
  readonly amount: bigint;
  readonly priceUpdateData: readonly Hex[];
  readonly priceSourcing?: PriceSourcing;
}

/** `updateMargin(pair, index, 0 deposit | 1 withdraw, amount, priceUpdateData, priceSourcing)`. Value 1 wei. */
export function buildUpdateMargin(addresses: AvantisAddresses, p: UpdateMarginParams): CallRequest {
  positive('margin amount', p.amount);
  checkPriceUpdateData(p.priceUpdateData);
  const data = encodeFunctionData({
    abi: tradingAbi,
    functionName: 'updateMargin',
    args: [p.pairIndex, p.index, MARGIN_UPDATE_TYPE[p.kind], p.amount, p.priceUpdateData, p.priceSourcing ?? PRICE_SOURCING.pythCore],
  });
  return { to: addresses.trading, data, value: PYTH_UPDATE_FEE_WEI };
}

/** `cancelOpenLimitOrder(pair, index)`: refunds the escrow once the timelock has passed. No value. */
export function buildCancelLimitOrder(addresses: AvantisAddresses, p: SlotParams): CallRequest {
  return { to: addresses.trading, data: encodeFunctionData({ abi: tradingAbi, functionName: 'cancelOpenLimitOrder', args: [p.pairIndex, p.index] }), value: 0n };
}

export interface UpdateLimitOrderParams extends SlotParams {
  readonly long: boolean;
  /** New trigger, 1e10. */
  readonly price: bigint;
  readonly slippageP: bigint;
  readonly tp: bigint;
  readonly sl: bigint;
}

/** `updateOpenLimitOrder(pair, index, price, slippageP, tp, sl)`. No value. */
export function buildUpdateLimitOrder(addresses: AvantisAddresses, p: UpdateLimitOrderParams): CallRequest {
  positive('price', p.price);
  checkSlippage(p.slippageP);
  checkTpSlSides({ long: p.long, price: p.price, tp: p.tp, sl: p.sl });
  const data = encodeFunctionData({ abi: tradingAbi, functionName: 'updateOpenLimitOrder', args: [p.pairIndex, p.index, p.price, p.slippageP, p.tp, p.sl] });
  return { to: addresses.trading, data, value: 0n };
}

/** USDC `approve(TradingStorage, amount)`: TradingStorage pulls the collateral, not Trading. Default: unlimited. */
export function buildApproveUsdc(addresses: AvantisAddresses, p: { amount?: bigint } = {}): CallRequest {
  const amount = p.amount ?? maxUint256;
  nonNegative('allowance', amount);
  return { to: addresses.usdc, data: encodeFunctionData({ abi: erc20Abi, functionName: 'approve', args: [addresses.tradingStorage, amount] }), value: 0n };
}

/** v1 `setDelegate(delegate)`: one delegate per trader. Sent by the trader. */
export function buildSetDelegate(addresses: AvantisAddresses, p: { delegate: Address }): CallRequest {
  checkAddress('delegate', p.delegate);
  return { to: addresses.trading, data: encodeFunctionData({ abi: tradingAbi, functionName: 'setDelegate', args: [p.delegate] }), value: 0n };
}

/** v1 `removeDelegate()`. Sent by the trader. */
export function buildRemoveDelegate(addresses: AvantisAddresses): CallRequest {
  return { to: addresses.trading, data: encodeFunctionData({ abi: tradingAbi, functionName: 'removeDelegate' }), value: 0n };
}

/**
 * `delegatedAction(trader, call_data)`: the delegate sends `call` on the trader's behalf. The
 * inner call's value rides on this outer call. Only Trading calls can be wrapped.
 */
export function buildDelegatedAction(addresses: AvantisAddresses, p: { trader: Address; call: CallRequest }): CallRequest {
  checkAddress('trader', p.trader);
  if (!isAddressEqual(p.call.to, addresses.trading)) {
    throw new BadInputError(`Only Trading calls can be delegated; this call goes to ${p.call.to}.`);
  }
  const data = encodeFunctionData({ abi: tradingAbi, functionName: 'delegatedAction', args: [getAddress(p.trader), p.call.data] });
  return { to: addresses.trading, data, value: p.call.value };
}

function positive(name: string, value: bigint): void {
  if (typeof value !== 'bigint' || value <= 0n) throw new BadInputError(`The ${name} must be above zero.`);
}

function nonNegative(name: string, value: bigint): void {
  if (typeof value !== 'bigint' || value < 0n) throw new BadInputError(`The ${name} cannot be negative.`);
}

function checkAddress(name: string, value: string): void {
  if (!isAddress(value, { strict: false })) throw new BadInputError(`The ${name} is not an address: ${String(value).slice(0, 50)}.`);
}

function checkSlippage(slippageP: bigint): void {
  if (typeof slippageP !== 'bigint' || slippageP <= 0n || slippageP > MAX_SLIPPAGE_P) throw new BadInputError('Slippage must be above 0 % and at most 100 %.');
}

function checkPriceUpdateData(data: readonly Hex[]): void {
  if (!Array.isArray(data) || data.length === 0 || !data.every((d) => isHex(d, { strict: true }))) {
    throw new BadInputError('A TP/SL or margin update needs the pair’s price-update bytes (one or more hex strings).');
  }
}

/** The contracts' side rule: a long's TP above and SL below the price; mirrored for a short; 0 = unset. */
export function checkTpSlSides(p: { long: boolean; price: bigint; tp: bigint; sl: bigint }): void {
  nonNegative('tp', p.tp);
  nonNegative('sl', p.sl);
  if (p.tp !== 0n && (p.long ? p.tp <= p.price : p.tp >= p.price)) {
    throw new BadInputError(`Take-profit on the wrong side: for a ${p.long ? 'long it must be above' : 'short it must be below'} the price.`);
  }
  if (p.sl !== 0n && (p.long ? p.sl >= p.price : p.sl <= p.price)) {
    throw new BadInputError(`Stop-loss on the wrong side: for a ${p.long ? 'long it must be below' : 'short it must be above'} the price.`);
  }
}
