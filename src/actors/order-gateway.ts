import type { Address, PublicClient } from 'viem';
import type { Logger } from 'pino';
import { VantaError, isRetryable } from '../errors.ts';
import type { AvantisProtocol } from '../infra/chain/avantis/protocol.ts';
import { formatUnit, leverage as leverage1e10, percent, usdc } from '../infra/chain/avantis/units.ts';
import { ensureUsdcAllowance } from '../infra/chain/tx/allowance.ts';
import type { TxPipeline } from '../infra/chain/tx/pipeline.ts';
import type { Clock } from '../infra/clock.ts';
import { createKeyedLock } from '../infra/keyed-lock.ts';
import { withCorrelation } from '../infra/logger.ts';
import type { Wallets } from '../infra/keys/wallets.ts';
import type { CloseFill, OpenFill, PositionInput, SubmittedOrder } from '../machines/position.machine.ts';

/**
 * The chain side of a position's lifecycle, as the position actor's effects
 * see it. Each call is idempotent by position id: submitting again after a
 * crash resumes the same outbox intent (never a second transaction), and
 * waiting again re-reads the same logs.
 */
export interface OrderGateway {
  submitOpen(order: PositionInput): Promise<SubmittedOrder>;
  awaitOpenFill(p: { owner: string; orderId: string; fromBlock: string }, signal: AbortSignal): Promise<OpenFill>;
  submitClose(p: { positionId: string; owner: string; pairIndex: number; tradeIndex: number; collateral: string }): Promise<SubmittedOrder>;
  awaitCloseFill(p: { owner: string; orderId: string; fromBlock: string }, signal: AbortSignal): Promise<CloseFill>;
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
  /** Sandbox only: gives a new wallet test ETH and USDC. */
  readonly faucet?: (address: Address) => Promise<void>;
  readonly pollMs?: number;
}

export function createChainOrderGateway(deps: ChainOrderGatewayDeps): OrderGateway {
  const { protocol, pipeline, client } = deps;
  const pollMs = deps.pollMs ?? 1_000;
  // An open spends the allowance it was approved for in the same transaction, so one wallet's
  // opens go one at a time: otherwise two orders could both see one approval as enough.
  const openLocks = createKeyedLock();


  async function walletOf(owner: string): Promise<Address> {
    const existing = await deps.wallets.find(owner);
    if (existing) return existing.address;
    const created = await deps.wallets.create(owner);
    await deps.faucet?.(created.address);
    return created.address;
  }

  async function submit(intentId: string, owner: string, from: Address, kind: string, request: { to: Address; data: `0x${string}`; value: bigint }): Promise<SubmittedOrder> {
    const outcome = await pipeline.execute({ id: intentId, userId: owner, from, kind, request });
    if (outcome.status !== 'mined') throw outcome.error;
    const initiated = protocol.decodeLogs(outcome.receipt.logs).events.find((e) => e.type === 'trading.MarketOrderInitiated');
    if (!initiated || initiated.type !== 'trading.MarketOrderInitiated') {
      throw new VantaError('TX_REVERTED', 'The request was mined but Avantis did not register an order. Nothing is pending; please try again.');
    }
    return { orderId: initiated.args.orderId.toString(), txHash: outcome.hash, block: outcome.receipt.blockNumber.toString() };
  }

  /** Polls the callbacks contract's logs from `fromBlock` until `match` finds the outcome. */
  async function awaitLog<T>(fromBlock: string, signal: AbortSignal, match: (events: ReturnType<AvantisProtocol['decodeLogs']>['events']) => T | undefined): Promise<T> {
    for (;;) {
      if (signal.aborted) throw new VantaError('SHUTTING_DOWN', 'Stopped waiting for the fill; it resumes at the next start.', { retryable: true });
      try {
        const logs = await client.getLogs({ address: protocol.addresses.tradingCallbacks, fromBlock: BigInt(fromBlock), toBlock: 'latest' });
        const found = match(protocol.decodeLogs(logs).events);
        if (found !== undefined) return found;
      } catch (err) {
        if (!isRetryable(err) && err instanceof VantaError) throw err;
        deps.logger.warn({ err }, 'Reading fills failed; retrying');
      }
      await new Promise<void>((resolve) => deps.clock.setTimeout(resolve, pollMs));
    }
  }

  async function submitOpenNow(order: PositionInput): Promise<SubmittedOrder> {
    const from = await walletOf(order.owner);
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
    return submit(`position:${order.positionId}:open`, order.owner, from, 'open', request);
  }

  const gateway: OrderGateway = {
    submitOpen: (order) => openLocks.run(order.owner, () => submitOpenNow(order)),

    async awaitOpenFill(p, signal) {
      const orderId = BigInt(p.orderId);
      return awaitLog<OpenFill>(p.fromBlock, signal, (events) => {
        for (const e of events) {
          if (e.type === 'callbacks.MarketExecuted' && e.args.orderId === orderId && e.args.open) {
            return { kind: 'filled', tradeIndex: Number(e.args.t.index), openPrice: formatUnit('price', e.args.t.openPrice), collateral: formatUnit('usdc', e.args.t.initialPosToken) };
          }
          if (e.type === 'callbacks.MarketOpenCanceled' && e.args.orderId === orderId) return { kind: 'canceled' };
        }
        return undefined;
      });
    },

    async submitClose(p) {
      const from = await walletOf(p.owner);
      const request = protocol.closeTrade({
        pairIndex: BigInt(p.pairIndex),
        index: BigInt(p.tradeIndex),
        collateralToClose: usdc(p.collateral),
        wantedPrice: await deps.priceOf(p.pairIndex),
        executionFeeWei: await protocol.reads.executionFee(),
      });
      return submit(`position:${p.positionId}:close`, p.owner, from, 'close', request);
    },

    async awaitCloseFill(p, signal) {
      const orderId = BigInt(p.orderId);
      return awaitLog<CloseFill>(p.fromBlock, signal, (events) => {
        for (const e of events) {
          if (e.type === 'callbacks.MarketExecuted' && e.args.orderId === orderId && !e.args.open) {
            return { closePrice: formatUnit('price', e.args.price), payout: formatUnit('usdc', e.args.usdcSentToTrader) };
          }
        }
        return undefined;
      });
    },
  };
  // Every log line of one order's chain work (pipeline, allowance, fills) carries the same corr_id.
  return {
    submitOpen: (order) => withCorrelation(() => gateway.submitOpen(order), `position:${order.positionId}`),
    awaitOpenFill: (p, signal) => withCorrelation(() => gateway.awaitOpenFill(p, signal), `order:${p.orderId}`),
    submitClose: (p) => withCorrelation(() => gateway.submitClose(p), `position:${p.positionId}`),
    awaitCloseFill: (p, signal) => withCorrelation(() => gateway.awaitCloseFill(p, signal), `order:${p.orderId}`),
  };
}
