import type { Address, PublicClient } from 'viem';
import type { Logger } from 'pino';
import { VantaError, isRetryable } from '../errors.ts';
import { createChainFollower, type ChainFollower, type Closure, type TradeIdentity } from '../infra/chain/avantis/follow.ts';
import type { AvantisProtocol } from '../infra/chain/avantis/protocol.ts';
import type { Trade } from '../infra/chain/avantis/types.ts';
import { formatUnit, leverage as leverage1e10, parseUnit, percent, usdc } from '../infra/chain/avantis/units.ts';
import { createLogScanner } from '../infra/chain/logs.ts';
import { ensureUsdcAllowance } from '../infra/chain/tx/allowance.ts';
import type { TxOutcome, TxPipeline } from '../infra/chain/tx/pipeline.ts';
import type { Clock } from '../infra/clock.ts';
import { createKeyedLock } from '../infra/keyed-lock.ts';
import { withCorrelation } from '../infra/logger.ts';
import type { Wallets } from '../infra/keys/wallets.ts';
import { checkOrderRisk, type RiskLimits } from '../machines/risk.ts';
import {
  closeIntentId,
  type ClosedTrade,
  type CloseRequest,
  type FollowCloseInput,
  type FollowOpenInput,
  type OpenedTrade,
  type PositionInput,
  type SubmittedOrder,
  type TradeRef,
  type WatchTradeInput,
} from '../machines/position.machine.ts';

/**
 * The chain side of a position's lifecycle, as the position actor's effects see it.
 *
 * Writes are idempotent by intent id: submitting again after a crash resumes the same outbox
 * intent, and resumes it *first*, before reading anything that could fail (a price feed, the
 * fee, the allowance): bytes already signed are never held back by a read, and never re-decided.
 * Follows only read the chain (src/infra/chain/avantis/follow.ts) and report a cursor to persist.
 */
export interface OrderGateway {
  /**
   * `gate` is asked before a *new* open is signed (and again right before signing it, after the
   * allowance): it throws (TradingPausedError) to refuse. An open already signed resumes as it
   * was, without asking: bytes that may be on chain are never held back.
   */
  submitOpen(order: PositionInput, gate: OpenGate): Promise<SubmittedOrder>;
  followOpen(p: FollowOpenInput, hooks: FollowHooks): Promise<{ kind: 'filled'; trade: OpenedTrade } | { kind: 'canceled'; by: 'protocol' | 'operator' }>;
  /** Refuses with code TRADE_GONE, sending nothing, when the slot no longer holds this trade. */
  submitClose(p: CloseRequest): Promise<SubmittedOrder>;
  followClose(p: FollowCloseInput, hooks: FollowHooks): Promise<{ kind: 'closed'; closure: ClosedTrade } | { kind: 'close-canceled' }>;
  /** Resolves when the chain closed the trade by itself (TP, SL, liquidation, a close sent elsewhere). */
  watchTrade(p: WatchTradeInput, hooks: FollowHooks & { onIdentified(openedAt: string): void }): Promise<ClosedTrade>;
}

/** Throws when a new open must not be signed now (the operator paused trading or this pair). */
export type OpenGate = (order: PositionInput) => void;

export interface FollowHooks {
  onProgress(cursor: string): void;
  readonly signal: AbortSignal;
}

export interface ChainOrderGatewayDeps {
  readonly protocol: AvantisProtocol;
  readonly pipeline: TxPipeline;
  readonly client: PublicClient;
  readonly wallets: Wallets;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The oracle price of a pair (1e10), the reference for the slippage check. */
  readonly priceOf: (pairIndex: number) => Promise<bigint>;
  /**
   * Sandbox only: gives a new wallet test USDC, then test ETH. ETH must come last: a wallet with
   * no ETH is taken as not funded yet, so a crash between the two funds it again at its next order.
   */
  readonly faucet?: (address: Address) => Promise<void>;
  /**
   * The per-order limits, checked again right before an open is signed: whatever asked for the
   * order (the user actor checks first), nothing beyond them reaches the chain.
   */
  readonly limits: RiskLimits;
  /** Between chain reads while an order is pending (default 1 s). */
  readonly pollMs?: number;
  /** Between reads of an open trade (default 5 s). */
  readonly watchPollMs?: number;
  /** Blocks per eth_getLogs request at first (default 2,000; halved when the RPC refuses). */
  readonly logRange?: bigint;
  /** Empty log scans after the state moved on before concluding from state alone (default 30). */
  readonly settleScans?: number;
  /** Resolves once the chain up to `block` is durable (the sandbox devnet). */
  readonly durable?: (block: bigint) => Promise<void>;
}

export function createChainOrderGateway(deps: ChainOrderGatewayDeps): OrderGateway {
  const { protocol, pipeline, client } = deps;
  const follower: ChainFollower = createChainFollower({
    client,
    addresses: protocol.addresses,
    scanner: createLogScanner(client, deps.logRange === undefined ? {} : { initialRange: deps.logRange }),
    clock: deps.clock,
    logger: deps.logger,
    ...(deps.pollMs === undefined ? {} : { pollMs: deps.pollMs }),
    ...(deps.watchPollMs === undefined ? {} : { watchPollMs: deps.watchPollMs }),
    ...(deps.settleScans === undefined ? {} : { settleScans: deps.settleScans }),
    ...(deps.durable ? { durable: deps.durable } : {}),
  });
  // An open spends the allowance it was approved for in the same transaction, so one wallet's
  // opens go one at a time inside this process (and, across restarts and timeouts, see
  // awaitOtherOrders): otherwise two orders could both count on one approval.
  const openLocks = createKeyedLock();

  async function walletOf(owner: string): Promise<Address> {
    const existing = await deps.wallets.find(owner);
    const address = existing?.address ?? (await deps.wallets.create(owner)).address;
    // Sandbox: a wallet is funded at its first order, and again if a crash came between creating
    // it and funding it (an empty wallet could never pay for gas).
    if (deps.faucet && (!existing || (await client.getBalance({ address })) === 0n)) {
      try {
        await deps.faucet(address);
      } catch (cause) {
        // Retried with the order; the next try funds the wallet again if it is still empty.
        throw new VantaError('RPC_UNAVAILABLE', 'The sandbox faucet could not fund the new wallet yet; the order is retried.', { cause, retryable: true });
      }
    }
    return address;
  }

  async function existingWallet(owner: string): Promise<Address> {
    const wallet = await deps.wallets.find(owner);
    if (!wallet) throw new VantaError('WALLET_NOT_FOUND', `No wallet is stored for ${owner}; its orders cannot be followed.`);
    return wallet.address;
  }

  /** The request's order id, from the mined receipt's MarketOrderInitiated. */
  function submitted(outcome: TxOutcome): SubmittedOrder {
    if (outcome.status !== 'mined') throw outcome.error;
    const initiated = protocol.decodeLogs(outcome.receipt.logs).events.find((e) => e.type === 'trading.MarketOrderInitiated');
    if (!initiated || initiated.type !== 'trading.MarketOrderInitiated') {
      throw new VantaError('TX_REVERTED', 'The request was mined but Avantis did not register an order. Nothing is pending; please try again.');
    }
    return { orderId: initiated.args.orderId.toString(), txHash: outcome.hash, block: outcome.receipt.blockNumber.toString() };
  }

  /**
   * Waits until no other order of this wallet has an approval or an open in flight. The in-process
   * lock alone is not enough: a wait that timed out (TX_TIMEOUT) releases it while that approval
   * is still pending, and after a restart there is no lock at all. The outbox is the durable
   * record of what is in flight, so the next order never mistakes a pending allowance for one it
   * can spend. A still-pending transaction of another order makes this one retry later.
   */
  async function awaitOtherOrders(wallet: Address, positionId: string): Promise<void> {
    const mine = `position:${positionId}:`;
    for (const intent of await pipeline.inFlight(wallet)) {
      if (intent.id.startsWith(mine) || (intent.kind !== 'approve' && intent.kind !== 'open')) continue;
      try {
        const outcome = await pipeline.waitForOutcome(intent.id);
        deps.logger.debug({ waited_for: intent.id, status: outcome.status }, 'Another order of this wallet settled first');
      } catch (err) {
        // Still pending (TX_TIMEOUT) or the lease is gone: this order waits too. Anything else
        // (the other step was rejected) means it is final, which is all this order waited for.
        if (isRetryable(err) || (err instanceof VantaError && err.code === 'LEASE_LOST')) throw err;
      }
    }
  }

  async function submitOpenNow(order: PositionInput, gate: OpenGate): Promise<SubmittedOrder> {
    const intentId = `position:${order.positionId}:open`;
    // Resuming never re-decides: a signed open goes out as it was signed, before anything is read.
    const resumed = await pipeline.resume(intentId);
    if (resumed) return submitted(resumed);
    // The operator's pause, before anything is done for this order.
    gate(order);
    // The trader's count of positions is the user actor's to check; per-order limits are checked here too.
    const refusal = checkOrderRisk(order, 0, deps.limits);
    if (refusal) throw new VantaError('RISK_LIMIT', `Order refused, nothing was sent: ${refusal.message}`, { details: { limit: refusal.limit } });
    const from = await walletOf(order.owner);
    await awaitOtherOrders(from, order.positionId);
    const collateral = usdc(order.collateral);
    await ensureUsdcAllowance({ client, pipeline }, { orderId: `position:${order.positionId}`, userId: order.owner, owner: from, usdc: protocol.addresses.usdc, spender: protocol.addresses.tradingStorage, amount: collateral });
    const request = protocol.openTrade({
      trader: from,
      pairIndex: BigInt(order.pairIndex),
      long: order.side === 'long',
      collateral,
      leverage: leverage1e10(String(order.leverage)),
      price: await deps.priceOf(order.pairIndex),
      kind: 'market',
      slippageP: percent((order.slippageBps / 100).toString()),
      executionFeeWei: await protocol.reads.executionFee(),
    });
    // And again at the last moment: waiting for other orders and the approval can take a while.
    gate(order);
    return submitted(await pipeline.execute({ id: intentId, userId: order.owner, from, kind: 'open', request }));
  }

  async function identityOf(trade: TradeRef): Promise<TradeIdentity> {
    return {
      trader: await existingWallet(trade.owner),
      pairIndex: BigInt(trade.pairIndex),
      index: BigInt(trade.tradeIndex),
      buy: trade.side === 'long',
      openPrice: parseUnit('price', trade.openPrice),
      leverage: leverage1e10(String(trade.leverage)),
      collateral: usdc(trade.collateral),
      openedAt: trade.openedAt === null ? null : BigInt(trade.openedAt),
    };
  }

  const gateway: OrderGateway = {
    submitOpen: (order, gate) => openLocks.run(order.owner, () => submitOpenNow(order, gate)),

    async followOpen(p, hooks) {
      const settled = await follower.followOpen(
        { trader: await existingWallet(p.owner), orderId: BigInt(p.orderId), fromBlock: BigInt(p.fromBlock) },
        { signal: hooks.signal, onProgress: (cursor) => hooks.onProgress(cursor.toString()) },
      );
      return settled.kind === 'filled' ? { kind: 'filled', trade: openedTrade(settled.trade, settled.block) } : { kind: 'canceled', by: settled.by };
    },

    async submitClose(p) {
      const intentId = closeIntentId(p.positionId, p.attempt);
      // This try was already signed (a crash, a retry): it goes out as it was, reading nothing first.
      const resumed = await pipeline.resume(intentId);
      if (resumed) return submitted(resumed);
      const trade = await identityOf(p.trade);
      // Avantis gives a new trade the lowest free slot: a stale index may hold someone else's
      // trade by now (ours liquidated, the next one opened there). Never close what is not ours.
      if (!(await follower.stillOpen(trade))) {
        throw new VantaError('TRADE_GONE', `Trade ${p.trade.pairIndex}/${p.trade.tradeIndex} is no longer the one this position opened; nothing was sent. Its closing is being looked up on chain.`);
      }
      const request = protocol.closeTrade({
        pairIndex: trade.pairIndex,
        index: trade.index,
        collateralToClose: trade.collateral,
        wantedPrice: await deps.priceOf(p.trade.pairIndex),
        executionFeeWei: await protocol.reads.executionFee(),
      });
      return submitted(await pipeline.execute({ id: intentId, userId: p.owner, from: trade.trader, kind: 'close', request }));
    },

    async followClose(p, hooks) {
      const settled = await follower.followClose(
        { trade: await identityOf(p.trade), orderId: BigInt(p.orderId), fromBlock: BigInt(p.fromBlock) },
        { signal: hooks.signal, onProgress: (cursor) => hooks.onProgress(cursor.toString()) },
      );
      return settled.kind === 'closed' ? { kind: 'closed', closure: closedTrade(settled) } : { kind: 'close-canceled' };
    },

    async watchTrade(p, hooks) {
      const trade = await identityOf(p.trade);
      if (trade.openedAt === null) {
        // A position from before openedAt was kept: learn it from the slot if all else matches.
        const openedAt = await follower.identify(trade);
        if (openedAt !== null) {
          // The position re-enters its watch with the opening time, which stops this one.
          hooks.onIdentified(openedAt.toString());
          return new Promise<never>((_, reject) => hooks.signal.addEventListener('abort', () => reject(new Error('superseded by the identified watch')), { once: true }));
        }
      }
      const closure = await follower.watchTrade({ trade, fromBlock: BigInt(p.fromBlock) }, { signal: hooks.signal, onProgress: (cursor) => hooks.onProgress(cursor.toString()) });
      return closedTrade(closure);
    },
  };
  // Every log line of one order's chain work (pipeline, allowance, fills) carries the same corr_id.
  return {
    submitOpen: (order, gate) => withCorrelation(() => gateway.submitOpen(order, gate), `position:${order.positionId}`),
    followOpen: (p, hooks) => withCorrelation(() => gateway.followOpen(p, hooks), `order:${p.orderId}`),
    submitClose: (p) => withCorrelation(() => gateway.submitClose(p), `position:${p.positionId}`),
    followClose: (p, hooks) => withCorrelation(() => gateway.followClose(p, hooks), `order:${p.orderId}`),
    watchTrade: (p, hooks) => withCorrelation(() => gateway.watchTrade(p, hooks), `trade:${p.trade.owner}:${p.trade.pairIndex}:${p.trade.tradeIndex}`),
  };
}

function openedTrade(t: Trade, block: bigint): OpenedTrade {
  return { tradeIndex: Number(t.index), openPrice: formatUnit('price', t.openPrice), collateral: formatUnit('usdc', t.initialPosToken), openedAt: t.timestamp.toString(), block: block.toString() };
}

function closedTrade(c: Closure): ClosedTrade {
  return { by: c.by, closePrice: c.price === null ? null : formatUnit('price', c.price), payout: c.payout === null ? null : formatUnit('usdc', c.payout) };
}

/**
 * The gateway of an engine that must not trade (live on a deployment its adapter is not verified
 * against): opens and closes are refused with the reason, before anything is signed; following
 * what is already on chain goes on, since it only reads.
 */
export function refusingWrites(gateway: OrderGateway, reason: string): OrderGateway {
  const refuse = () => Promise.reject(new VantaError('PROTOCOL_UNVERIFIED', `Nothing was sent: ${reason}`));
  return { ...gateway, submitOpen: refuse, submitClose: refuse };
}
