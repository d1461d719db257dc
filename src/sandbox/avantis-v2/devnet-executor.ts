/**
 * A `MarketExecutor` that executes batched-market orders on the devnet simulator's v2 entry points
 * (contracts/TradingV2.sol, docs/adr/0017-v2-simulator.md), the way Avantis's operator service
 * does on mainnet (AVANTIS-V2.md §5, §9.1):
 *
 *   1. initiation: the operator account sends `executeOpenTradeIntent` / `executeCloseTradeIntent
 *      (encodedIntent, signature)` to the TradingRouter (Trading's fallback → the v2 facet). The
 *      CONTRACT checks the deadline, recovers the signer, requires the trader or its enabled,
 *      unexpired delegate, spends the nonce in the signer's bitmap and takes the collateral. A
 *      revert is a `failed` result whose code is the contract's error name (`InvalidSigner`,
 *      `InvalidNonce`, `PositionMismatch`, or a v1 string such as `BELOW_MIN_POS`), as §9.1's
 *      "failure codes: contract error names" says. The order id and `isBuy` come from the mined
 *      v2 `MarketOrderInitiated`; its hash is the initiation's real hash.
 *   2. fill: the same account (it must be an operator of Trading) sends `executeMarketOrders
 *      ([orderId], …)` with a Pyth update of the pair's oracle price, exactly as the devnet keeper
 *      (src/infra/devnet/keeper.ts) does. The outcome is read from TradingCallbacks' events for
 *      that order id: `MarketExecuted` → `executed` (fill price, the trade as stored, USDC sent to
 *      the trader on a close, the fill's real hash), `MarketOpenCanceled` (slippage, TP/SL already
 *      reached, no free slot; the collateral is refunded) → `canceled`. If the devnet keeper's loop
 *      filled the order first, its events are found in the logs and reported the same way.
 *
 * Reads — decision: the chain is the truth and the shared Ledger is a MIRROR of it, written after
 * every order this executor runs (the position at its on-chain index, the spent nonce, the
 * delegation of the signing delegate) and refreshed for a whole trader by `syncTrader` (positions
 * on every pair, delegations from `DelegateSet` / `DelegateRemoved` logs). The gateway's
 * `/core/user-data` calls `syncTrader` before it answers, so that read is the chain's even after
 * keeper fills (TP, SL, liquidation). The tx-builder double's `/v2/delegation` and
 * `/v2/nonce?check=` call `syncDelegation` / `syncNonce` first (wired by startAvantisV2DevnetSandbox),
 * so they answer the chain's state; its `/v2/positions` and close builder read the Ledger as of
 * the last order or `syncTrader`.
 *
 * `exclusive(work)` runs `work` in this executor's queue: the chain-backed blitz double
 * (./chain-relays.ts) sends from the operator account through it when no other relayer is given.
 *
 * A mirrored position's `openedAt` is the value the contract compares with a CloseTradeReq's
 * `_openTimestamp`: the stored `positionSizeUSDC` (the simulator keeps v1's quirk: the time of
 * the last open, margin update or partial close). So a close built from the Ledger passes
 * `PositionMismatch`. TP/SL of a position the Ledger already held at the same `openedAt` are kept:
 * the core API's price triggers are off-chain (ADR 0017 "Not modelled") and live only there.
 *
 * `price(pairIndex)` must answer synchronously (the tx-builder calls it while building), so it
 * answers the oracle price (each pair's Chainlink-style feed, which the price simulator moves and
 * the keeper fills at) as last read: at `create`, after every order, and every `pricePollMs`.
 *
 * Not modelled on the devnet: IncreasePositionSizeReq (the facet has no increase entry point) →
 * `failed` `OrderTypeNotSimulated` before anything is sent. Orders run one at a time: one account
 * sends everything, and parallel sends from one anvil account clash on the nonce.
 */
import { BaseError, ContractFunctionRevertedError, parseEventLogs, type Address, type Hex, type Log, type PublicClient, type TransactionReceipt } from 'viem';
import type { Logger } from 'pino';
import { VantaError } from '../../errors.ts';
import { findRevert } from '../../infra/chain/avantis/revert.ts';
import { abiOf } from '../../infra/devnet/artifacts.ts';
import { sendCall, type DevnetWallet } from '../../infra/devnet/clients.ts';
import type { AvantisDeployment, DeployedPair } from '../../infra/devnet/deploy.ts';
import { DevnetError } from '../../infra/devnet/errors.ts';
import { currentPriceUpdate } from '../../infra/devnet/price-updates.ts';
import { createSimReads, type SimReads, type Trade } from '../../infra/devnet/sim-reads.ts';
import type { ExecutionHooks, MarketExecutor, MarketOrder, MarketResult, SignedIntent } from './executor.ts';
import type { Ledger, LedgerPosition } from './ledger.ts';

export interface DevnetExecutorOptions {
  readonly publicClient: PublicClient;
  /**
   * Sends the initiation and the fill. It must be an operator of Trading (`isOperator`, set by gov
   * with `updateOperator`) and send nothing else meanwhile (anvil nonces). The devnet keeper's
   * account qualifies when its loop is not running; otherwise promote another account.
   */
  readonly operator: DevnetWallet;
  readonly deployment: AvantisDeployment;
  readonly ledger: Ledger;
  readonly logger?: Logger;
  /** How often `price()`'s cache is re-read from the oracle. Default 1000 ms; 0 = only at create and after each order. */
  readonly pricePollMs?: number;
}

/** `executeMarketOrders`' price sourcing: 0 = Pyth core (AVANTIS-V2.md §13). */
const PYTH_SOURCING_CORE = 0;

interface InitiatedArgs {
  readonly orderId: bigint;
  readonly isBuy: boolean;
}

interface MarketExecutedArgs {
  readonly orderId: bigint;
  readonly t: Trade;
  readonly open: boolean;
  readonly price: bigint;
  readonly positionSizeUSDC: bigint;
  readonly percentProfit: bigint;
  readonly usdcSentToTrader: bigint;
}

type FillOutcome = { readonly kind: 'executed'; readonly args: MarketExecutedArgs; readonly hash: Hex } | { readonly kind: 'canceled'; readonly hash: Hex };

export class DevnetExecutor implements MarketExecutor {
  readonly #o: DevnetExecutorOptions;
  readonly #reads: SimReads;
  readonly #pairs: ReadonlyMap<bigint, DeployedPair>;
  readonly #prices = new Map<bigint, bigint>();
  #queue: Promise<unknown> = Promise.resolve();
  #poll: NodeJS.Timeout | null = null;

  private constructor(options: DevnetExecutorOptions) {
    this.#o = options;
    this.#reads = createSimReads(options.publicClient, options.deployment);
    this.#pairs = new Map(options.deployment.pairs.map((p) => [BigInt(p.index), p]));
  }

  /** Reads every pair's oracle price once (so `price()` can answer) and starts the price poll. */
  static async create(options: DevnetExecutorOptions): Promise<DevnetExecutor> {
    const executor = new DevnetExecutor(options);
    await executor.refreshPrices();
    const every = options.pricePollMs ?? 1_000;
    if (every > 0) {
      executor.#poll = setInterval(() => {
        executor.refreshPrices().catch((err: unknown) => options.logger?.warn({ err }, 'devnet executor: oracle price refresh failed'));
      }, every);
      executor.#poll.unref();
    }
    return executor;
  }

  /** The pair's oracle price ×1e10 as last read. Throws for a pair the devnet does not list. */
  price(pairIndex: bigint): bigint {
    const price = this.#prices.get(pairIndex);
    if (price === undefined) throw new VantaError('BAD_INPUT', `pair ${pairIndex} is not listed on the devnet (listed: ${[...this.#pairs.keys()].join(', ')})`);
    return price;
  }

  async refreshPrices(): Promise<void> {
    const read = await Promise.all([...this.#pairs.values()].map(async (p) => [BigInt(p.index), (await this.#reads.chainlinkPrice(p)).price] as const));
    for (const [index, price] of read) this.#prices.set(index, price);
  }

  execute(order: MarketOrder, trader: Address, intent: SignedIntent, hooks: ExecutionHooks): Promise<MarketResult> {
    return this.#serial(async () => {
      try {
        return await this.#execute(order, trader, intent, hooks);
      } finally {
        await this.refreshPrices().catch(() => undefined);
      }
    });
  }

  /** Mirrors the trader's positions on every pair and its delegations from the chain into the Ledger. */
  async syncTrader(trader: Address): Promise<void> {
    for (const pairIndex of this.#pairs.keys()) {
      let left = await this.#storage<bigint>('openTradesCount', [trader, pairIndex]);
      const onChain = new Set<bigint>();
      for (let index = 0n; left > 0n; index++) {
        const trade = await this.#reads.openTrade(trader, pairIndex, index);
        if (trade.leverage === 0n) continue;
        this.#mirrorPosition(trader, pairIndex, index, trade);
        onChain.add(index);
        left--;
      }
      for (const p of this.#o.ledger.positions(trader).filter((x) => x.pairIndex === pairIndex && !onChain.has(x.index))) {
        this.#o.ledger.closePosition(trader, pairIndex, p.index);
      }
    }
    const range = { fromBlock: 0n, toBlock: 'latest' } as const;
    const v2 = abiOf('TradingV2');
    const [set, removed] = await Promise.all([
      this.#o.publicClient.getContractEvents({ address: this.#o.deployment.trading, abi: v2, eventName: 'DelegateSet', args: { trader }, ...range }),
      this.#o.publicClient.getContractEvents({ address: this.#o.deployment.trading, abi: v2, eventName: 'DelegateRemoved', args: { trader }, ...range }),
    ]);
    const delegates = new Set([...set, ...removed].map((l) => (l.args as { delegate: Address }).delegate));
    for (const delegate of delegates) await this.#mirrorDelegation(trader, delegate);
  }

  /** Mirrors one delegation (`multipleDelegations`) from the chain into the Ledger. */
  syncDelegation(trader: Address, delegate: Address): Promise<void> {
    return this.#mirrorDelegation(trader, delegate);
  }

  /** Marks the nonce used in the Ledger when the chain's bitmap (per signer, §8.3) has it used. */
  async syncNonce(signer: Address, nonce: bigint): Promise<void> {
    const word = (await this.#o.publicClient.readContract({ address: this.#o.deployment.trading, abi: abiOf('TradingV2'), functionName: 'nonceBitmap', args: [signer, nonce >> 8n] })) as bigint;
    if (((word >> (nonce & 255n)) & 1n) === 1n) this.#o.ledger.useNonce(signer, nonce);
  }

  /** Runs `work` after every order (and other exclusive work) queued before it: one sender, no nonce clashes. */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    return this.#serial(work);
  }

  async close(): Promise<void> {
    if (this.#poll !== null) clearInterval(this.#poll);
    this.#poll = null;
    await this.#queue.catch(() => undefined);
  }

  async #execute(order: MarketOrder, trader: Address, intent: SignedIntent, hooks: ExecutionHooks): Promise<MarketResult> {
    if (order.kind === 'increase') return { outcome: 'failed', code: 'OrderTypeNotSimulated', message: 'the devnet simulator has no increase entry point (docs/adr/0017-v2-simulator.md)' };
    const pairIndex = order.kind === 'open' ? order.message._t.pairIndex : order.message._pairIndex;
    const pair = this.#pairs.get(pairIndex);
    if (pair === undefined) return { outcome: 'failed', code: 'PAIR_NOT_LISTED', message: `pair ${pairIndex} is not listed on the devnet` };

    // 1. Initiation: the contract authorises and spends the nonce.
    let initiation: TransactionReceipt;
    try {
      initiation = await this.#send('TradingV2', order.kind === 'open' ? 'executeOpenTradeIntent' : 'executeCloseTradeIntent', [intent.encodedIntent, intent.signature]);
    } catch (error) {
      const failed = revertOf(error);
      // The bit is set on chain already: the Ledger's /v2/nonce must say so too.
      if (failed.code === 'InvalidNonce' && intent.signer !== null) this.#o.ledger.useNonce(intent.signer, order.message._nonce);
      return { outcome: 'failed', ...failed };
    }
    const [initiated] = parseEventLogs({ abi: abiOf('TradingV2'), logs: initiation.logs, eventName: 'MarketOrderInitiated' }).map((l) => (l as unknown as { args: InitiatedArgs }).args);
    if (initiated === undefined) throw new DevnetError('DEVNET_TX_FAILED', `the intent was mined (tx ${initiation.transactionHash}) without a v2 MarketOrderInitiated`);
    if (intent.signer !== null) {
      this.#o.ledger.useNonce(intent.signer, order.message._nonce);
      if (intent.signer.toLowerCase() !== trader.toLowerCase()) await this.#mirrorDelegation(trader, intent.signer);
    }
    await hooks.initiated({ orderId: initiated.orderId, isBuy: initiated.isBuy, transactionHash: initiation.transactionHash });

    // 2. Fill, as the keeper does; a keeper loop may have filled it first (then its logs tell).
    let fill: TransactionReceipt | null = null;
    let fillError: unknown = null;
    try {
      const { priceUpdateData } = await currentPriceUpdate(this.#o.publicClient, this.#reads, pair);
      const spreadP = await this.#reads.pairSpreadP(pairIndex);
      fill = await this.#send('Trading', 'executeMarketOrders', [[initiated.orderId], priceUpdateData, PYTH_SOURCING_CORE, spreadP], BigInt(priceUpdateData.length));
    } catch (error) {
      fillError = error;
    }
    const outcome = (fill && fillOutcome(fill.logs, initiated.orderId)) ?? (await this.#fillFromLogs(initiated.orderId, initiation.blockNumber));
    if (outcome === null) {
      const why = fillError === null ? 'the fill found nothing to do (the trade was closed meanwhile by a TP, SL or liquidation?)' : revertOf(fillError).message;
      return { outcome: 'failed', code: 'TX_NOT_EXECUTED', message: `order ${initiated.orderId} was initiated (tx ${initiation.transactionHash}) but not filled: ${why}` };
    }
    if (outcome.kind === 'canceled') return { outcome: 'canceled', transactionHash: outcome.hash };

    const e = outcome.args;
    const stored = await this.#reads.openTrade(trader, pairIndex, e.t.index);
    this.#mirrorPosition(trader, pairIndex, e.t.index, stored.leverage === 0n ? null : stored);
    if (e.open) {
      // The trade as stored by the fill (the event carries the stored struct); a keeper trigger may close it right after.
      return { outcome: 'executed', price: e.price, position: positionOf(e.t), usdcSentToTrader: 0n, transactionHash: outcome.hash };
    }
    // A close: the event's `t` is the trade before it; report what is left, as the stream's `t` (§9.1).
    const left = stored.leverage === 0n ? { ...positionOf(e.t), collateral: 0n } : positionOf(stored);
    return { outcome: 'executed', price: e.price, position: left, usdcSentToTrader: e.usdcSentToTrader, percentProfit: e.percentProfit, transactionHash: outcome.hash };
  }

  async #fillFromLogs(orderId: bigint, fromBlock: bigint): Promise<FillOutcome | null> {
    const logs = await this.#o.publicClient.getLogs({ address: this.#o.deployment.tradingCallbacks, fromBlock, toBlock: 'latest' });
    return fillOutcome(logs, orderId);
  }

  async #mirrorDelegation(trader: Address, delegate: Address): Promise<void> {
    const [isEnabled, expiry] = (await this.#o.publicClient.readContract({ address: this.#o.deployment.trading, abi: abiOf('TradingV2'), functionName: 'multipleDelegations', args: [trader, delegate] })) as readonly [boolean, bigint];
    if (isEnabled) this.#o.ledger.setDelegate(trader, delegate, expiry);
    else this.#o.ledger.removeDelegate(trader, delegate);
  }

  /** Puts the chain's trade (null = none) at its on-chain index in the Ledger. */
  #mirrorPosition(trader: Address, pairIndex: bigint, index: bigint, trade: Trade | null): void {
    const ledger = this.#o.ledger;
    const existing = ledger.position(trader, pairIndex, index);
    if (trade === null) {
      if (existing !== undefined) ledger.closePosition(trader, pairIndex, index);
      return;
    }
    const chain = positionOf(trade);
    if (existing !== undefined && existing.buy === chain.buy) {
      const unchanged = existing.openedAt === chain.openedAt;
      existing.collateral = chain.collateral;
      existing.leverage = chain.leverage;
      existing.openPrice = chain.openPrice;
      existing.openedAt = chain.openedAt;
      // Off-chain triggers set through the core API live only in the Ledger: keep them while the position is the same.
      if (!unchanged) {
        existing.tp = chain.tp;
        existing.sl = chain.sl;
      }
      return;
    }
    if (existing !== undefined) ledger.closePosition(trader, pairIndex, index);
    placeAt(ledger, chain);
  }

  #storage<T>(functionName: string, args: readonly unknown[]): Promise<T> {
    return this.#o.publicClient.readContract({ address: this.#o.deployment.tradingStorage, abi: abiOf('TradingStorage'), functionName, args }) as Promise<T>;
  }

  #send(contract: 'Trading' | 'TradingV2', functionName: string, args: readonly unknown[], value?: bigint): Promise<TransactionReceipt> {
    return sendCall(this.#o.publicClient, this.#o.operator, { address: this.#o.deployment.trading, abi: abiOf(contract), functionName, args, ...(value === undefined ? {} : { value }) });
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(work, work);
    this.#queue = next.catch(() => undefined);
    return next;
  }
}

/** The outcome of `orderId` among TradingCallbacks' logs, or null when they hold none. */
function fillOutcome(logs: readonly Log[], orderId: bigint): FillOutcome | null {
  for (const log of parseEventLogs({ abi: abiOf('TradingCallbacks'), logs: [...logs] })) {
    const { eventName, args } = log as unknown as { eventName: string; args: { orderId?: bigint } };
    if (args.orderId !== orderId) continue;
    if (eventName === 'MarketExecuted') return { kind: 'executed', args: args as MarketExecutedArgs, hash: log.transactionHash };
    if (eventName === 'MarketOpenCanceled') return { kind: 'canceled', hash: log.transactionHash };
  }
  return null;
}

/** The chain's Trade as a Ledger position; `openedAt` is what CloseTradeReq's `_openTimestamp` must equal. */
function positionOf(t: Trade): LedgerPosition {
  return { trader: t.trader, pairIndex: t.pairIndex, index: t.index, buy: t.buy, collateral: t.initialPosToken, leverage: t.leverage, openPrice: t.openPrice, tp: t.tp, sl: t.sl, openedAt: t.positionSizeUSDC };
}

/**
 * Ledger.openPosition takes the lowest free index; the chain may have used a higher one (lower
 * slots taken by trades the Ledger never saw, or freed since). Fill the gaps with copies, place
 * the position, then free the copies, so the Ledger's index is the chain's.
 */
function placeAt(ledger: Ledger, p: LedgerPosition): void {
  const fillers: bigint[] = [];
  for (;;) {
    const placed = ledger.openPosition({ trader: p.trader, pairIndex: p.pairIndex, buy: p.buy, collateral: p.collateral, leverage: p.leverage, openPrice: p.openPrice, tp: p.tp, sl: p.sl, openedAt: p.openedAt });
    if (placed.index === p.index) break;
    fillers.push(placed.index);
  }
  for (const index of fillers) ledger.closePosition(p.trader, p.pairIndex, index);
}

/**
 * The revert as §9.1's failure code: the contract's custom error name (decoded with the TradingV2
 * ABI, which declares the simulator's errors) or its require string; `TX_REVERTED` for a mined
 * revert (sendCall's DevnetError names the reason in its message); `SUBMISSION_FAILED` otherwise.
 */
export function revertOf(error: unknown): { code: string; message: string } {
  if (error instanceof BaseError) {
    const reverted = error.walk((e) => e instanceof ContractFunctionRevertedError);
    if (reverted instanceof ContractFunctionRevertedError) {
      const name = reverted.data?.errorName;
      if (name !== undefined && name !== 'Error') return { code: name, message: `the contract reverted with ${name}()` };
      if (reverted.reason !== undefined) return { code: reverted.reason, message: `the contract reverted: ${reverted.reason}` };
    }
    const found = findRevert(error);
    if (found?.kind === 'custom') return { code: found.name, message: `the contract reverted with ${found.name}()` };
    if (found?.kind === 'string') return { code: found.reason, message: `the contract reverted: ${found.reason}` };
  }
  if (error instanceof DevnetError && error.code === 'DEVNET_TX_FAILED') return { code: 'TX_REVERTED', message: error.message };
  return { code: 'SUBMISSION_FAILED', message: error instanceof Error ? error.message.split('\n')[0] ?? error.message : String(error) };
}
