/**
 * The protocol's trade arithmetic, pure and in bigint, with the contracts' own integer steps
 * (AVANTIS.md §4.5; contracts/TradingCallbacks.sol, PairStorage.sol, PairInfos.sol,
 * Trading.sol). Same operand order, same truncating division (bigint `/` and Solidity `/`
 * both round toward zero, signed or not), so a quote here equals what the chain will do.
 *
 * VERIFIED against the simulator on a devnet (test/infra/chain/avantis/math.test.ts). The
 * simulator has no rollover fee, loss protection or price impact, and charges the flat open
 * fee of the pair's fee tier; on mainnet these inputs come from the chain (`openFeeP`,
 * `getTradeRolloverFee`), and the formulas take them as arguments.
 *
 * Units: USDC 1e6; prices, leverage and percentages 1e10 (percent × 1e10).
 */
import { BadInputError } from '../../../errors.ts';
import { PRECISION } from './units.ts';

/** PairInfos.liqThreshold() on the simulator and in SDK-v2 (percent of collateral lost). */
export const DEFAULT_LIQ_THRESHOLD = 85n;
/** Trading's withdraw rule: collateral + PnL must stay above this percent of collateral. */
export const WITHDRAW_MIN_VALUE_P = 20n;
const HUNDRED = 100n;
const MAX_LOSS_P = -100n * PRECISION;

/** Notional: `collateral × leverage / 1e10` (PositionMath.mul). */
export function notional(collateral: bigint, leverage: bigint): bigint {
  nonNegative('collateral', collateral);
  positive('leverage', leverage);
  return (collateral * leverage) / PRECISION;
}

/** The price band a fill may move against the trader: `wanted × slippageP / 100 / 1e10`. */
export function slippageBand(wantedPrice: bigint, slippageP: bigint): bigint {
  nonNegative('wanted price', wantedPrice);
  nonNegative('slippage', slippageP);
  return (wantedPrice * slippageP) / HUNDRED / PRECISION;
}

/** TradingCallbacks._withinSlippage: a long may not fill above wanted + band, a short not below wanted − band. */
export function isWithinSlippage(p: { fillPrice: bigint; wantedPrice: bigint; slippageP: bigint; long: boolean }): boolean {
  const band = slippageBand(p.wantedPrice, p.slippageP);
  return p.long ? p.fillPrice <= p.wantedPrice + band : p.fillPrice + band >= p.wantedPrice;
}

/** The fill price: oracle ± `oracle × spreadP / 100 / 1e10`, against the trader (longs pay up). */
export function fillPrice(p: { oraclePrice: bigint; spreadP: bigint; long: boolean }): bigint {
  positive('oracle price', p.oraclePrice);
  nonNegative('spread', p.spreadP);
  const spread = (p.oraclePrice * p.spreadP) / HUNDRED / PRECISION;
  return p.long ? p.oraclePrice + spread : p.oraclePrice - spread;
}

/** Opening fee in USDC 1e6: `notional × openFeeP / 1e10 / 100` (openFeeP from `PriceAggregator.openFeeP`). */
export function openFee(p: { collateral: bigint; leverage: bigint; openFeeP: bigint }): bigint {
  nonNegative('open fee %', p.openFeeP);
  return (notional(p.collateral, p.leverage) * p.openFeeP) / PRECISION / HUNDRED;
}

/** The collateral stored after the opening fee (`Trade.initialPosToken`). */
export function storedCollateral(p: { collateral: bigint; leverage: bigint; openFeeP: bigint }): bigint {
  return p.collateral - openFee(p);
}

/** The notional booked at open (`TradeInfo.openInterestUSDC`): stored collateral × leverage. */
export function openInterest(p: { collateral: bigint; leverage: bigint; openFeeP: bigint }): bigint {
  return notional(storedCollateral(p), p.leverage);
}

/**
 * Profit in percent × 1e10 (PairStorage.currentPercentProfit):
 * `(move × 100 × leverage) / open`, clamped to [−100 %, +maxGainP].
 */
export function percentProfit(p: { openPrice: bigint; currentPrice: bigint; long: boolean; leverage: bigint; maxGainP: bigint }): bigint {
  positive('open price', p.openPrice);
  nonNegative('current price', p.currentPrice);
  const move = p.long ? p.currentPrice - p.openPrice : p.openPrice - p.currentPrice;
  const raw = (move * HUNDRED * p.leverage) / p.openPrice;
  if (raw > p.maxGainP) return p.maxGainP;
  return raw < MAX_LOSS_P ? MAX_LOSS_P : raw;
}

/** Signed PnL in USDC 1e6: `collateral × percentProfit / 1e10 / 100`. */
export function pnl(collateral: bigint, percentProfitP: bigint): bigint {
  return (collateral * percentProfitP) / PRECISION / HUNDRED;
}

/**
 * Closing fee in USDC 1e6 (TradingCallbacks._closingFee): `(notional + pnl) × closeFeeP`,
 * 0 when the position is worth nothing, never more than the collateral being closed.
 */
export function closeFee(p: { collateral: bigint; leverage: bigint; percentProfit: bigint; closeFeeP: bigint }): bigint {
  const base = notional(p.collateral, p.leverage) + pnl(p.collateral, p.percentProfit);
  if (base <= 0n) return 0n;
  const fee = (base * p.closeFeeP) / PRECISION / HUNDRED;
  return fee < p.collateral ? fee : p.collateral;
}

export interface TradeValue {
  /** USDC 1e6 owed to the trader; 0 at or below the liquidation floor. */
  readonly value: bigint;
  readonly pnl: bigint;
  /** Rollover + closing fee. */
  readonly fees: bigint;
}

/**
 * PairInfos.getTradeValuePure: `collateral + pnl − (rollover + closingFee)`, and 0 when that
 * is at or below `collateral × (100 − liqThreshold) / 100`. Loss protection is not applied
 * (the simulator has none; mainnet's multiplier would scale a negative PnL first).
 */
export function tradeValue(p: {
  collateral: bigint;
  percentProfit: bigint;
  rolloverFee?: bigint;
  closingFee: bigint;
  liqThreshold?: bigint;
}): TradeValue {
  const gain = pnl(p.collateral, p.percentProfit);
  const fees = (p.rolloverFee ?? 0n) + p.closingFee;
  const raw = p.collateral + gain - fees;
  const floor = (p.collateral * (HUNDRED - (p.liqThreshold ?? DEFAULT_LIQ_THRESHOLD))) / HUNDRED;
  return { value: raw > floor ? raw : 0n, pnl: gain, fees };
}

export interface CloseQuote extends TradeValue {
  readonly percentProfit: bigint;
  readonly closingFee: bigint;
}

/** What closing `collateral` of a trade at `closePrice` pays: the callback's steps in order. */
export function closeQuote(p: {
  openPrice: bigint;
  closePrice: bigint;
  long: boolean;
  leverage: bigint;
  collateral: bigint;
  closeFeeP: bigint;
  maxGainP: bigint;
  rolloverFee?: bigint;
  liqThreshold?: bigint;
}): CloseQuote {
  const pp = percentProfit({ openPrice: p.openPrice, currentPrice: p.closePrice, long: p.long, leverage: p.leverage, maxGainP: p.maxGainP });
  const closingFee = closeFee({ collateral: p.collateral, leverage: p.leverage, percentProfit: pp, closeFeeP: p.closeFeeP });
  const value = tradeValue({ collateral: p.collateral, percentProfit: pp, closingFee, ...optional('rolloverFee', p.rolloverFee), ...optional('liqThreshold', p.liqThreshold) });
  return { ...value, percentProfit: pp, closingFee };
}

/**
 * Liquidation price (PairInfos.getTradeLiquidationPricePure):
 * `dist = open × (collateral × liqThreshold / 100 − rollover) / (collateral × lev / 1e10)`;
 * long `open − dist` (floored at 0), short `open + dist`.
 */
export function liquidationPrice(p: {
  openPrice: bigint;
  long: boolean;
  collateral: bigint;
  leverage: bigint;
  rolloverFee?: bigint;
  liqThreshold?: bigint;
}): bigint {
  positive('collateral', p.collateral);
  const threshold = p.liqThreshold ?? DEFAULT_LIQ_THRESHOLD;
  const rollover = p.rolloverFee ?? 0n;
  const cushionGross = (p.collateral * threshold) / HUNDRED;
  const cushion = cushionGross > rollover ? cushionGross - rollover : 0n;
  const dist = (p.openPrice * cushion) / notional(p.collateral, p.leverage);
  if (p.long) return dist >= p.openPrice ? 0n : p.openPrice - dist;
  return p.openPrice + dist;
}

/** Price distance of the max-gain TP: `open × maxGainP / 100 / leverage` (the 1e10 scales cancel). */
export function maxGainDistance(p: { openPrice: bigint; leverage: bigint; maxGainP: bigint }): bigint {
  positive('leverage', p.leverage);
  return (p.openPrice * p.maxGainP) / HUNDRED / p.leverage;
}

/** PairStorage.correctTp: a TP of 0 or beyond the max-gain cap becomes the cap (the TP default). */
export function correctTp(p: { openPrice: bigint; leverage: bigint; tp: bigint; long: boolean; maxGainP: bigint }): bigint {
  const dist = maxGainDistance(p);
  if (p.long) {
    const cap = p.openPrice + dist;
    return p.tp === 0n || p.tp > cap ? cap : p.tp;
  }
  const cap = dist >= p.openPrice ? 0n : p.openPrice - dist;
  return p.tp === 0n || p.tp < cap ? cap : p.tp;
}

/** The TP the contract stores when none is given. */
export function defaultTp(p: { openPrice: bigint; leverage: bigint; long: boolean; maxGainP: bigint }): bigint {
  return correctTp({ ...p, tp: 0n });
}

/** Price distance at which the loss reaches `maxSlP` (80 %) of collateral: `open × maxSlP / 100 / leverage`. */
export function maxSlDistance(p: { openPrice: bigint; leverage: bigint; maxSlP: bigint }): bigint {
  positive('leverage', p.leverage);
  return (p.openPrice * p.maxSlP) / HUNDRED / p.leverage;
}

/** The furthest SL allowed (the SL bound): long `open − dist` (floored at 0), short `open + dist`. */
export function slBound(p: { openPrice: bigint; leverage: bigint; long: boolean; maxSlP: bigint }): bigint {
  const dist = maxSlDistance(p);
  if (p.long) return dist >= p.openPrice ? 0n : p.openPrice - dist;
  return p.openPrice + dist;
}

/** Trading._checkSl's bound: an SL (≠ 0) at most `maxSlP` of loss away from the open. */
export function isSlWithinBound(p: { sl: bigint; openPrice: bigint; leverage: bigint; long: boolean; maxSlP: bigint }): boolean {
  if (p.sl === 0n) return true;
  const dist = maxSlDistance(p);
  return p.long ? p.sl + dist >= p.openPrice : p.sl <= p.openPrice + dist;
}

/** PairStorage.correctSl: an SL beyond the bound is pulled back to it (applied at open). */
export function correctSl(p: { openPrice: bigint; leverage: bigint; sl: bigint; long: boolean; maxSlP: bigint }): bigint {
  if (p.sl === 0n) return 0n;
  const bound = slBound(p);
  if (p.long) return p.sl < bound ? bound : p.sl;
  return p.sl > bound ? bound : p.sl;
}

/** Collateral and leverage after a margin deposit or withdrawal; the notional stays (Trading._updateMargin). */
export function marginUpdate(p: { notional: bigint; collateral: bigint; amount: bigint; kind: 'deposit' | 'withdraw' }): {
  collateral: bigint;
  leverage: bigint;
} {
  positive('amount', p.amount);
  const collateral = p.kind === 'deposit' ? p.collateral + p.amount : p.collateral - p.amount;
  if (collateral <= 0n) throw new BadInputError('A withdrawal cannot take all of the collateral; close the position instead.');
  return { collateral, leverage: (p.notional * PRECISION) / collateral };
}

/**
 * Trading._checkWithdrawable: after a withdrawal, collateral + PnL at `price` must stay above
 * 20 % of the new collateral.
 */
export function isWithdrawable(p: { long: boolean; openPrice: bigint; price: bigint; notional: bigint; collateralAfter: bigint }): boolean {
  const move = p.long ? p.price - p.openPrice : p.openPrice - p.price;
  const gain = (p.notional * move) / p.openPrice;
  return p.collateralAfter + gain > (p.collateralAfter * WITHDRAW_MIN_VALUE_P) / HUNDRED;
}

/** SDK-v1 `get_trade_execution_fee`: `floor(850_000 × 1.1) × gasPrice + 5 gwei` (AVANTIS.md §3.4). */
export const EXECUTION_FEE_GAS = 935_000n;
export const EXECUTION_FEE_FLAT_WEI = 5_000_000_000n;
/** The SDK's fallback when the gas price cannot be read: 0.00035 ETH. */
export const EXECUTION_FEE_FALLBACK_WEI = 350_000_000_000_000n;

/** The ETH execution fee (wei) for an open, limit open or close, given the gas price in wei. */
export function executionFee(gasPriceWei: bigint): bigint {
  nonNegative('gas price', gasPriceWei);
  return EXECUTION_FEE_GAS * gasPriceWei + EXECUTION_FEE_FLAT_WEI;
}

function positive(name: string, value: bigint): void {
  if (typeof value !== 'bigint' || value <= 0n) throw new BadInputError(`${name} must be a positive integer, got ${String(value)}.`);
}

function nonNegative(name: string, value: bigint): void {
  if (typeof value !== 'bigint' || value < 0n) throw new BadInputError(`${name} must be zero or more, got ${String(value)}.`);
}

function optional<K extends string>(key: K, value: bigint | undefined): { [P in K]?: bigint } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: bigint };
}
