/**
 * The in-memory state the Avantis v2 doubles share (AVANTIS-V2.md §4, §8.3, §12.1): delegations
 * per trader, the per-SIGNER nonce bitmap of the TradingRouter, open positions and global TP/SL
 * triggers. It stands in for the chain; nothing here touches one.
 *
 * Time is read from an injected clock so tests can move it (delegate expiry, deadlines).
 */
import { getAddress, type Address } from 'viem';

export interface LedgerDelegation {
  readonly isEnabled: boolean;
  /** Unix seconds. */
  readonly expiry: bigint;
}

export interface LedgerPosition {
  readonly trader: Address;
  readonly pairIndex: bigint;
  readonly index: bigint;
  readonly buy: boolean;
  /** USDC ×1e6. */
  collateral: bigint;
  /** ×1e10. */
  leverage: bigint;
  /** ×1e10. */
  openPrice: bigint;
  tp: bigint;
  sl: bigint;
  /** Unix seconds. */
  openedAt: bigint;
}

export class Ledger {
  readonly #now: () => number;
  readonly #delegations = new Map<string, Map<string, LedgerDelegation>>();
  /** signer (lowercase) → used nonces: an unordered bitmap, as on-chain (§8.3). */
  readonly #nonces = new Map<string, Set<bigint>>();
  readonly #positions = new Map<string, LedgerPosition[]>();

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Milliseconds. */
  now(): number {
    return this.#now();
  }

  nowSeconds(): bigint {
    return BigInt(Math.floor(this.#now() / 1000));
  }

  setDelegate(trader: Address, delegate: Address, expirySeconds: bigint): void {
    const map = this.#delegations.get(trader.toLowerCase()) ?? new Map<string, LedgerDelegation>();
    map.set(delegate.toLowerCase(), { isEnabled: true, expiry: expirySeconds });
    this.#delegations.set(trader.toLowerCase(), map);
  }

  removeDelegate(trader: Address, delegate: Address): void {
    this.#delegations.get(trader.toLowerCase())?.delete(delegate.toLowerCase());
  }

  delegation(trader: Address, delegate: Address): LedgerDelegation {
    return this.#delegations.get(trader.toLowerCase())?.get(delegate.toLowerCase()) ?? { isEnabled: false, expiry: 0n };
  }

  /** §4: the signer is the trader, or an enabled delegate whose expiry is still ahead. */
  maySignFor(trader: Address, signer: Address): boolean {
    if (trader.toLowerCase() === signer.toLowerCase()) return true;
    const d = this.delegation(trader, signer);
    return d.isEnabled && d.expiry > this.nowSeconds();
  }

  isNonceUsed(signer: Address, nonce: bigint): boolean {
    return this.#nonces.get(signer.toLowerCase())?.has(nonce) ?? false;
  }

  /** Marks a nonce used; false when it already was (InvalidNonce). */
  useNonce(signer: Address, nonce: bigint): boolean {
    const set = this.#nonces.get(signer.toLowerCase()) ?? new Set<bigint>();
    if (set.has(nonce)) return false;
    set.add(nonce);
    this.#nonces.set(signer.toLowerCase(), set);
    return true;
  }

  positions(trader: Address): readonly LedgerPosition[] {
    return this.#positions.get(trader.toLowerCase()) ?? [];
  }

  position(trader: Address, pairIndex: bigint, index: bigint): LedgerPosition | undefined {
    return this.positions(trader).find((p) => p.pairIndex === pairIndex && p.index === index);
  }

  /** Opens a position at the lowest free index of the pair. */
  openPosition(p: Omit<LedgerPosition, 'index' | 'trader'> & { readonly trader: Address }): LedgerPosition {
    const list = this.#positions.get(p.trader.toLowerCase()) ?? [];
    let index = 0n;
    while (list.some((x) => x.pairIndex === p.pairIndex && x.index === index)) index++;
    const position: LedgerPosition = { ...p, trader: getAddress(p.trader), index };
    list.push(position);
    this.#positions.set(p.trader.toLowerCase(), list);
    return position;
  }

  closePosition(trader: Address, pairIndex: bigint, index: bigint): void {
    const list = this.#positions.get(trader.toLowerCase()) ?? [];
    this.#positions.set(trader.toLowerCase(), list.filter((x) => !(x.pairIndex === pairIndex && x.index === index)));
  }
}
