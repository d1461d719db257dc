/**
 * What executes a market order once batched-market has accepted it. The double calls an
 * injected `MarketExecutor`, so the same double can later be wired to the devnet v2 simulator.
 *
 * `InMemoryExecutor` DOES NOT TOUCH A CHAIN: it fills at a price you set, declines when the
 * slippage check says so (or when you inject that it does), and writes the result into the
 * shared in-memory Ledger. Transaction hashes it reports are random, not real.
 */
import { randomBytes } from 'node:crypto';
import type { Address, Hex } from 'viem';
import type { IntentMessage } from '../../infra/chain/avantis-v2/intents.ts';
import type { Ledger, LedgerPosition } from './ledger.ts';

export type MarketOrder =
  | { readonly kind: 'open'; readonly orderType: number; readonly message: IntentMessage<'OpenTradeReq'> }
  | { readonly kind: 'close'; readonly orderType: number; readonly message: IntentMessage<'CloseTradeReq'> }
  | { readonly kind: 'increase'; readonly orderType: number; readonly message: IntentMessage<'IncreasePositionSizeReq'> };

export type MarketResult =
  | { readonly outcome: 'executed'; readonly price: bigint; readonly position: LedgerPosition; readonly usdcSentToTrader: bigint; readonly transactionHash: Hex }
  | { readonly outcome: 'canceled'; readonly transactionHash: Hex }
  | { readonly outcome: 'failed'; readonly code: string; readonly message: string };

export interface MarketExecutor {
  /** The reference price ×1e10 of a pair (the double uses it to fill builder defaults). */
  price(pairIndex: bigint): bigint;
  execute(order: MarketOrder, trader: Address): Promise<MarketResult>;
}

export const txHash = (): Hex => `0x${randomBytes(32).toString('hex')}`;

/** Percent ×1e10 → is |price − wanted| / wanted above it? */
export function slippageExceeded(price: bigint, wanted: bigint, slippageP: bigint): boolean {
  if (wanted === 0n) return false;
  const diff = price > wanted ? price - wanted : wanted - price;
  return diff * 100n * 10n ** 10n > slippageP * wanted;
}

/** In-memory executor for tests and the sandbox. It does not touch a chain (see the file comment). */
export class InMemoryExecutor implements MarketExecutor {
  readonly #ledger: Ledger;
  readonly #prices = new Map<bigint, bigint>();
  #defaultPrice: bigint;
  /** Injected price check: when set, it decides whether slippage is exceeded. */
  slippageCheck: ((order: MarketOrder, price: bigint) => boolean) | null = null;

  constructor(ledger: Ledger, defaultPrice = 30_000n * 10n ** 10n) {
    this.#ledger = ledger;
    this.#defaultPrice = defaultPrice;
  }

  setPrice(pairIndex: bigint, price: bigint): void {
    this.#prices.set(pairIndex, price);
  }

  setDefaultPrice(price: bigint): void {
    this.#defaultPrice = price;
  }

  price(pairIndex: bigint): bigint {
    return this.#prices.get(pairIndex) ?? this.#defaultPrice;
  }

  execute(order: MarketOrder, trader: Address): Promise<MarketResult> {
    return Promise.resolve(this.#execute(order, trader));
  }

  #execute(order: MarketOrder, trader: Address): MarketResult {
    const now = this.#ledger.nowSeconds();
    if (order.kind === 'open') {
      const t = order.message._t;
      const price = this.price(t.pairIndex);
      if (this.#exceeded(order, price, t.openPrice, order.message._slippageP)) return { outcome: 'canceled', transactionHash: txHash() };
      const position = this.#ledger.openPosition({ trader, pairIndex: t.pairIndex, buy: t.buy, collateral: t.positionSizeUSDC, leverage: t.leverage, openPrice: price, tp: t.tp, sl: t.sl, openedAt: now });
      return { outcome: 'executed', price, position, usdcSentToTrader: 0n, transactionHash: txHash() };
    }
    if (order.kind === 'close') {
      const m = order.message;
      const position = this.#ledger.position(trader, m._pairIndex, m._index);
      if (position === undefined) return { outcome: 'failed', code: 'TX_REVERTED', message: 'no such position' };
      if (position.openedAt !== m._openTimestamp) return { outcome: 'failed', code: 'PositionMismatch', message: 'the position changed since the intent was built' };
      const price = this.price(m._pairIndex);
      // ASSUMED: a close tolerates 1 % around `_wantedPrice` (CloseTradeReq carries no slippage field).
      if (this.#exceeded(order, price, m._wantedPrice, 10n ** 10n)) return { outcome: 'canceled', transactionHash: txHash() };
      const closing = m._amount >= position.collateral ? position.collateral : m._amount;
      const move = position.buy ? price - position.openPrice : position.openPrice - price;
      const pnl = (closing * position.leverage * move) / (position.openPrice * 10n ** 10n);
      const sent = closing + pnl > 0n ? closing + pnl : 0n;
      const snapshot = { ...position, collateral: position.collateral - closing };
      if (closing === position.collateral) this.#ledger.closePosition(trader, m._pairIndex, m._index);
      else position.collateral -= closing;
      return { outcome: 'executed', price, position: snapshot, usdcSentToTrader: sent, transactionHash: txHash() };
    }
    const u = order.message._updateInfo;
    const position = this.#ledger.position(trader, u.pairIndex, u.index);
    if (position === undefined) return { outcome: 'failed', code: 'TX_REVERTED', message: 'no such position' };
    const price = this.price(u.pairIndex);
    if (this.#exceeded(order, price, u.openPrice, order.message._slippageP)) return { outcome: 'canceled', transactionHash: txHash() };
    const oldSize = position.collateral * position.leverage;
    const addedSize = u.initialPosToken * u.leverage;
    position.openPrice = (position.openPrice * oldSize + price * addedSize) / (oldSize + addedSize);
    position.collateral += u.initialPosToken;
    position.leverage = (oldSize + addedSize) / position.collateral;
    return { outcome: 'executed', price, position: { ...position }, usdcSentToTrader: 0n, transactionHash: txHash() };
  }

  #exceeded(order: MarketOrder, price: bigint, wanted: bigint, slippageP: bigint): boolean {
    return this.slippageCheck !== null ? this.slippageCheck(order, price) : slippageExceeded(price, wanted, slippageP);
  }
}
