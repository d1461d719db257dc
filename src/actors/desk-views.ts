/**
 * Position snapshots as a trader reads them: the machine's states as stages with what each
 * waits for, in plain words, and the open trade's numbers by the protocol's own arithmetic
 * (math.ts: PairStorage.currentPercentProfit for PnL, PairInfos.getTradeLiquidationPricePure
 * for the liquidation price). Pure.
 */
import { liquidationPrice, percentProfit, pnl } from '../infra/chain/avantis/math.ts';
import { PRECISION, formatUnit, parseUnit } from '../infra/chain/avantis/units.ts';
import type { HistoryEntry, PositionStage, PositionView, Side } from './desk.ts';

/** The fields of a position actor's context this module reads (src/machines/position.machine.ts). */
export interface PositionFacts {
  readonly positionId: string;
  readonly pair: string;
  readonly pairIndex: number;
  readonly side: Side;
  readonly collateral: string;
  readonly leverage: number;
  readonly openPrice?: string | null;
  readonly positionCollateral?: string | null;
  readonly fillDelayed?: boolean;
  readonly error?: { readonly message?: string } | null;
  readonly outcome?: 'closed' | 'canceled' | 'rejected' | null;
  readonly closedBy?: string | null;
  readonly closePrice?: string | null;
  readonly payout?: string | null;
}

/** The top-level state of a snapshot value (`{ open: 'watching' }` → `open`). */
export function topState(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') return Object.keys(value)[0] ?? null;
  return null;
}

const STAGES: Readonly<Record<string, { stage: PositionStage; waitingFor: (c: PositionFacts) => string | null }>> = {
  submitting: { stage: 'sending', waitingFor: () => 'the order to be signed and sent' },
  retryingSubmit: { stage: 'sending', waitingFor: (c) => `another try at sending the order${reason(c)}` },
  awaitingFill: {
    stage: 'pending',
    waitingFor: (c) => (c.fillDelayed ? "the keeper's fill, which is taking longer than usual (it stays tracked)" : "the keeper's fill"),
  },
  open: { stage: 'open', waitingFor: () => null },
  closing: { stage: 'closing', waitingFor: () => 'the close request to be signed and sent' },
  retryingClose: { stage: 'closing', waitingFor: (c) => `another try at sending the close${reason(c)}` },
  awaitingClose: { stage: 'closing', waitingFor: () => "the keeper to fill the close" },
  closed: { stage: 'closed', waitingFor: () => null },
  canceled: { stage: 'canceled', waitingFor: () => null },
  rejected: { stage: 'rejected', waitingFor: () => null },
};

function reason(c: PositionFacts): string {
  const message = c.error?.message;
  return message ? ` (the last one failed: ${message})` : '';
}

export interface MarketContext {
  /** The pair's latest accepted oracle price, decimal; null when none. */
  readonly markPrice: string | null;
  /** PairStorage maxGainP (percent × 1e10): the profit cap PnL is clamped to. */
  readonly maxGainP: bigint | null;
  /** PairInfos.liqThreshold(). */
  readonly liqThreshold: bigint;
}

/**
 * One live position. `state` is the machine's top state; null when the actor is not running
 * (restarting): the last persisted facts are shown, waiting for the engine.
 */
export function positionView(c: PositionFacts, state: string | null, market: MarketContext): PositionView {
  const known = state === null ? undefined : STAGES[state];
  const stage: PositionStage = known?.stage ?? 'pending';
  const waitingFor = known ? known.waitingFor(c) : 'the engine to resume following this order (it is restarting)';
  const open = stage === 'open' || stage === 'closing';
  const base = {
    positionId: c.positionId,
    pair: c.pair,
    side: c.side,
    collateral: (open ? c.positionCollateral : null) ?? c.collateral,
    leverage: c.leverage,
    stage,
    waitingFor,
    openPrice: c.openPrice ?? null,
    markPrice: market.markPrice,
  };
  const numbers = open ? tradeNumbers(c, market) : null;
  return {
    ...base,
    pnl: numbers?.pnl ?? null,
    pnlPercent: numbers?.pnlPercent ?? null,
    liquidationPrice: numbers?.liquidationPrice ?? null,
    liquidationDistancePercent: numbers?.distance ?? null,
  };
}

function tradeNumbers(c: PositionFacts, market: MarketContext): { pnl: string | null; pnlPercent: string | null; liquidationPrice: string; distance: string | null } | null {
  const openPrice = decimalPrice(c.openPrice);
  const collateral = c.positionCollateral ? parseUnit('usdc', c.positionCollateral) : null;
  if (openPrice === null || openPrice === 0n || collateral === null || collateral === 0n) return null;
  const leverage = parseUnit('leverage', String(c.leverage));
  const long = c.side === 'long';
  const liq = liquidationPrice({ openPrice, long, collateral, leverage, liqThreshold: market.liqThreshold });
  const mark = decimalPrice(market.markPrice);
  if (mark === null || mark === 0n || market.maxGainP === null) return { pnl: null, pnlPercent: null, liquidationPrice: formatUnit('price', liq), distance: null };
  const pp = percentProfit({ openPrice, currentPrice: mark, long, leverage, maxGainP: market.maxGainP });
  const room = long ? mark - liq : liq - mark;
  return {
    pnl: formatUnit('usdc', pnl(collateral, pp)),
    pnlPercent: percent2(pp),
    liquidationPrice: formatUnit('price', liq),
    distance: percent2(room > 0n ? (room * 100n * PRECISION) / mark : 0n),
  };
}

/** A finished position's final snapshot as a history line. */
export function historyEntry(c: PositionFacts, at: Date | string): HistoryEntry {
  return {
    positionId: c.positionId,
    pair: c.pair,
    side: c.side,
    collateral: c.positionCollateral ?? c.collateral,
    leverage: c.leverage,
    outcome: c.outcome ?? 'rejected',
    closedBy: c.outcome === 'closed' ? (c.closedBy ?? 'unknown') : null,
    openPrice: c.openPrice ?? null,
    closePrice: c.closePrice ?? null,
    payout: c.payout ?? null,
    at: new Date(at).toISOString(),
  };
}

/** A decimal price (any number of decimals) in the protocol's 1e10, truncated; null when absent or unreadable. */
export function decimalPrice(text: string | null | undefined): bigint | null {
  if (typeof text !== 'string') return null;
  const match = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (!match) return null;
  return parseUnit('price', match[2] ? `${match[1]}.${match[2].slice(0, 10)}` : match[1]!);
}

/** Percent × 1e10 as a percentage with two decimals, rounded half away from zero. */
export function percent2(p: bigint): string {
  const step = PRECISION / 100n;
  const negative = p < 0n;
  const hundredths = ((negative ? -p : p) + step / 2n) / step;
  const text = `${hundredths / 100n}.${(hundredths % 100n).toString().padStart(2, '0')}`;
  return negative && hundredths !== 0n ? `-${text}` : text;
}
