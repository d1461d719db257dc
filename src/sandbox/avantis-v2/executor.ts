/**
 * What executes a market order once batched-market has accepted it. The double calls an
 * injected `MarketExecutor`: the in-memory one below, or `DevnetExecutor` (./devnet-executor.ts)
 * which executes on the devnet simulator's v2 entry points.
 *
 * The executor owns everything the CHAIN decides (AVANTIS-V2.md §9.1: "failure codes: contract
 * error names"): who may sign for the trader, whether the nonce is still free, the fill. That is
 * why it receives the signed intent (`SignedIntent`) and reports the initiation itself: on the
 * devnet the order id and the initiation hash only exist once the operator's transaction is mined.
 *
 * `InMemoryExecutor` DOES NOT TOUCH A CHAIN: it checks the signer and the nonce against the shared
 * in-memory Ledger, fills at a price you set, declines when the slippage check says so (or when
 * you inject that it does), and writes the result into the Ledger. Transaction hashes it reports
 * are random, not real.
 */
import { randomBytes } from 'node:crypto';
import type { Address, Hex } from 'viem';
import type { IntentMessage } from '../../infra/chain/avantis-v2/intents.ts';
import type { Ledger, LedgerPosition } from './ledger.ts';

export type MarketOrder =
  | { readonly kind: 'open'; readonly orderType: number; readonly message: IntentMessage<'OpenTradeReq'> }
  | { readonly kind: 'close'; readonly orderType: number; readonly message: IntentMessage<'CloseTradeReq'> }
  | { readonly kind: 'increase'; readonly orderType: number; readonly message: IntentMessage<'IncreasePositionSizeReq'> };

/** What the trader (or its delegate) signed, as submitted to batched-market (§9.1 `erc712`). */
export interface SignedIntent {
  /** 65 bytes r‖s‖v (`erc712.userSignature`). */
  readonly signature: Hex;
  /** The ABI-encoded intent (`erc712.userIntent`), byte for byte as submitted. */
  readonly encodedIntent: Hex;
  /**
   * The address the gateway recovered from the EIP-712 digest, null when recovery failed. The
   * in-memory executor authorises with it; the devnet executor lets the contract recover its own
   * and uses this only to mirror the spent nonce into the Ledger.
   */
  readonly signer: Address | null;
}

/** The on-chain initiation: the order is stored as pending, the nonce spent, collateral taken. */
export interface Initiation {
  readonly orderId: bigint;
  readonly isBuy: boolean;
  readonly transactionHash: Hex;
}

export interface ExecutionHooks {
  /** Called once, after the initiation and before the fill; the stream emits the initiation event. */
  initiated(initiation: Initiation): Promise<void>;
}

export type MarketResult =
  | {
      readonly outcome: 'executed';
      readonly price: bigint;
      readonly position: LedgerPosition;
      readonly usdcSentToTrader: bigint;
      readonly transactionHash: Hex;
      /** Percent ×1e10 realised by a close, when the executor knows it (default 0). */
      readonly percentProfit?: bigint;
    }
  | { readonly outcome: 'canceled'; readonly transactionHash: Hex }
  | { readonly outcome: 'failed'; readonly code: string; readonly message: string };

export interface MarketExecutor {
  /** The reference price ×1e10 of a pair (the doubles use it to fill builder defaults). */
  price(pairIndex: bigint): bigint;
  /**
   * Authorises, initiates (then `hooks.initiated`) and fills one order. A refusal before the
   * initiation (signer, nonce, revert) is a `failed` result with no `initiated` call.
   */
  execute(order: MarketOrder, trader: Address, intent: SignedIntent, hooks: ExecutionHooks): Promise<MarketResult>;
  /** Brings the Ledger's view of `trader` up to date before a read (a chain-backed executor reads the chain). */
  syncTrader?(trader: Address): Promise<void>;
  /** Stops background work (price polling); called by the sandbox's close(). */
  close?(): Promise<void>;
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
  #orderId = 1n;
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

  async execute(order: MarketOrder, trader: Address, intent: SignedIntent, hooks: ExecutionHooks): Promise<MarketResult> {
    // What the contract checks at initiation (§4, §8.3), here against the Ledger.
    if (intent.signer === null || !this.#ledger.maySignFor(trader, intent.signer)) {
      return { outcome: 'failed', code: 'InvalidSigner', message: 'the signer is neither the trader nor an enabled, unexpired delegate' };
    }
    if (!this.#ledger.useNonce(intent.signer, order.message._nonce)) return { outcome: 'failed', code: 'InvalidNonce', message: 'this nonce was already used by the signer' };
    const isBuy =
      order.kind === 'open'
        ? order.message._t.buy
        : order.kind === 'close'
          ? (this.#ledger.position(trader, order.message._pairIndex, order.message._index)?.buy ?? true)
          : (this.#ledger.position(trader, order.message._updateInfo.pairIndex, order.message._updateInfo.index)?.buy ?? true);
    await hooks.initiated({ orderId: this.#orderId++, isBuy, transactionHash: txHash() });
    return this.#execute(order, trader);
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
