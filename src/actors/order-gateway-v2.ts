import type { Address } from 'viem';
import type { Logger } from 'pino';
import { VantaError } from '../errors.ts';
import type { BatchedMarketEvent } from '../infra/chain/avantis-v2/batched-market-client.ts';
import type { GaslessMarketRoute, MarketAction, MarketOutcome } from '../infra/chain/avantis-v2/gasless-market.ts';
import { fromRaw } from '../infra/chain/avantis-v2/units.ts';
import { checkOrderRisk, type RiskLimits } from '../machines/risk.ts';
import type { CloseRequest, OpenedTrade, PositionInput, SubmittedOrder } from '../machines/position.machine.ts';
import type { OpenGate, OrderGateway } from './order-gateway.ts';

/**
 * The position actors' gateway on Avantis v2, gasless route (AVANTIS-V2.md §11): a market open or
 * close is a signed intent that batched-market executes; the trader's delegate key signs it, so
 * the trader pays no gas and the bot never holds a key that can withdraw (ADR 0019).
 *
 * Submitting starts the action (gasless-market.ts) and returns once batched-market has accepted
 * it (or refused it); following waits for its end. Both are keyed by the action id, which is the
 * position's `orderId`: after a restart, following an order resumes it from the intent store
 * (replay by tracking id, or the same bytes again), never a second order.
 *
 * What the chain does on its own later (TP, SL, liquidation) is watched as on v1, through
 * `watchTrade`: on the devnet the v2 facet keeps v1's storage and events. ASSUMED for mainnet.
 */
export interface GaslessOrderGatewayDeps {
  readonly route: GaslessMarketRoute;
  /** The trader's address (the wallet the bot created, or the trader's own, connected). */
  readonly traderOf: (owner: string) => Promise<Address>;
  /** The trader's delegate, ready to sign (registered and confirmed); throws a typed error telling the trader what to do otherwise. */
  readonly delegateOf: (owner: string) => Promise<{ readonly address: Address; readonly keyId: string }>;
  /** Whatever must hold before a first open (the trader's USDC allowance to TradingStorage). */
  readonly prepareOpen?: (order: PositionInput, trader: Address) => Promise<void>;
  /** The oracle price of a pair (1e10): the signed open and wanted-close price. */
  readonly priceOf: (pairIndex: number) => Promise<bigint>;
  readonly blockNumber: () => Promise<bigint>;
  readonly limits: RiskLimits;
  /** TP, SL, liquidation and closes sent elsewhere, read from the chain (the v1 follower). */
  readonly watchTrade: OrderGateway['watchTrade'];
  readonly logger: Logger;
}

export interface GaslessOrderGateway extends OrderGateway {
  /** For the route's `signDigest`: the keystore id of a delegate address this gateway resolved. */
  keyIdOf(signer: Address): string;
}

const openActionId = (positionId: string) => `position:${positionId}:open`;
const closeActionId = (p: CloseRequest) => `position:${p.positionId}:close:${p.attempt}`;

export function createGaslessOrderGateway(deps: GaslessOrderGatewayDeps): GaslessOrderGateway {
  const { route, logger } = deps;
  /** Actions this process runs, by id: following one waits for the run that submitting started. */
  const running = new Map<string, Promise<MarketOutcome>>();
  const keyIds = new Map<string, string>();

  async function signerFor(owner: string): Promise<Address> {
    const delegate = await deps.delegateOf(owner);
    keyIds.set(delegate.address.toLowerCase(), delegate.keyId);
    return delegate.address;
  }

  /** Runs the action in the background; resolves when it is accepted, or ends, whichever comes first. */
  async function start(action: MarketAction): Promise<SubmittedOrder> {
    let accepted: ((trackingId: string) => void) | null = null;
    const acceptance = new Promise<string>((resolve) => (accepted = resolve));
    const onEvent = (event: BatchedMarketEvent) => {
      if (event.type === 'MarketOrderAccepted' && typeof event.payload['trackingId'] === 'string') accepted?.(event.payload['trackingId']);
    };
    const run = route.execute(action, { onEvent });
    running.set(action.actionId, run);
    run.then(
      () => running.delete(action.actionId),
      () => running.delete(action.actionId),
    );
    const first = await Promise.race([acceptance.then((trackingId) => ({ trackingId })), run.then((outcome) => ({ outcome }))]);
    if ('outcome' in first && first.outcome.outcome !== 'executed' && first.outcome.outcome !== 'canceled') {
      // Refused before acceptance (a bad request, an expired deadline…): nothing ran, nothing will.
      throw new VantaError('TRADE_REJECTED', `Avantis did not take the order: ${first.outcome.detail}`, { details: { actionId: action.actionId, outcome: first.outcome.outcome } });
    }
    const trackingId = 'trackingId' in first ? first.trackingId : first.outcome.outcome === 'executed' ? first.outcome.trackingId : null;
    return { orderId: action.actionId, txHash: trackingId ?? '', block: (await deps.blockNumber()).toString() };
  }

  /** The end of an action: the run this process started, or the stored one continued. */
  async function outcomeOf(actionId: string, signal: AbortSignal): Promise<MarketOutcome> {
    const run = running.get(actionId);
    if (run) return abortable(run, signal);
    const resumed = await route.resume(actionId, { signal });
    if (!resumed) throw new VantaError('CHAIN_BAD_RESPONSE', `No v2 order ${actionId} is stored: it was never submitted.`, { details: { actionId } });
    return resumed;
  }

  return {
    keyIdOf(signer) {
      const keyId = keyIds.get(signer.toLowerCase());
      if (keyId === undefined) throw new VantaError('KEY_DECRYPT_FAILED', `No delegate key is known for ${signer}: nothing was signed.`, { retryable: true });
      return keyId;
    },

    async submitOpen(order: PositionInput, gate: OpenGate) {
      const actionId = openActionId(order.positionId);
      const signer = await signerFor(order.owner);
      const trader = await deps.traderOf(order.owner);
      // The checks guard a NEW decision; an action already stored goes on as it was decided.
      if (!(await route.started(actionId))) {
        gate(order);
        const refusal = checkOrderRisk(order, 0, deps.limits);
        if (refusal) throw new VantaError('RISK_LIMIT', `Order refused, nothing was sent: ${refusal.message}`, { details: { limit: refusal.limit } });
        await deps.prepareOpen?.(order, trader);
        gate(order);
      }
      const price = await deps.priceOf(order.pairIndex);
      return start({
        kind: 'open',
        actionId,
        signer,
        request: {
          trader,
          pairIndex: order.pairIndex,
          side: order.side,
          collateralUsdc: order.collateral,
          leverage: String(order.leverage),
          openPrice: fromRaw('price', price),
          slippagePercent: (order.slippageBps / 100).toString(),
        },
      });
    },

    async followOpen(p, hooks) {
      await signerFor(p.owner);
      const outcome = await outcomeOf(p.orderId, hooks.signal);
      if (outcome.outcome !== 'executed') {
        logger.info({ order_id: p.orderId, outcome: outcome.outcome, detail: 'detail' in outcome ? outcome.detail : null }, 'v2 market open did not execute');
        return { kind: 'canceled', by: 'protocol' };
      }
      return { kind: 'filled', trade: openedTrade(outcome, p.fromBlock) };
    },

    async submitClose(p: CloseRequest) {
      const signer = await signerFor(p.owner);
      if (p.trade.openedAt === null) throw new VantaError('TRADE_GONE', 'This position has no recorded opening time, which a v2 close must sign. Close it on Avantis directly.');
      const price = await deps.priceOf(p.trade.pairIndex);
      return start({
        kind: 'close',
        actionId: closeActionId(p),
        signer,
        request: {
          trader: await deps.traderOf(p.owner),
          pairIndex: p.trade.pairIndex,
          tradeIndex: p.trade.tradeIndex,
          collateralToCloseUsdc: p.trade.collateral,
          expectedPrice: fromRaw('price', price),
          openTimestamp: Number(p.trade.openedAt),
        },
      });
    },

    async followClose(p, hooks) {
      await signerFor(p.trade.owner);
      const outcome = await outcomeOf(p.orderId, hooks.signal);
      if (outcome.outcome !== 'executed') return { kind: 'close-canceled' };
      const fill = outcome.fill;
      return {
        kind: 'closed',
        closure: {
          by: 'trader',
          closePrice: typeof fill?.['price'] === 'string' ? fromRaw('price', BigInt(fill['price'])) : null,
          payout: typeof fill?.['usdcSentToTrader'] === 'string' ? fromRaw('usdc', BigInt(fill['usdcSentToTrader'])) : null,
        },
      };
    },

    watchTrade: (p, hooks) => deps.watchTrade(p, hooks),
  };
}

/** The fill as the position keeps it, from MarketOrderExecuted's `t` (§9.1: `t.initialPosToken` = final collateral). */
function openedTrade(outcome: Extract<MarketOutcome, { outcome: 'executed' }>, fromBlock: string): OpenedTrade {
  const t = outcome.fill?.['t'];
  if (t === null || typeof t !== 'object') {
    // Recovery proved the order ran (its nonce is spent) but holds no fill: refuse to guess.
    throw new VantaError('CHAIN_BAD_RESPONSE', `v2 order ${outcome.actionId} executed, but its fill details are not stored; read the trader's positions.`, { retryable: true });
  }
  const f = t as Record<string, unknown>;
  const raw = (name: string): bigint => {
    const v = f[name];
    if (typeof v !== 'string' && typeof v !== 'number') throw new VantaError('CHAIN_BAD_RESPONSE', `v2 fill of ${outcome.actionId} has no ${name}.`);
    return BigInt(v);
  };
  return { tradeIndex: Number(raw('index')), openPrice: fromRaw('price', raw('openPrice')), collateral: fromRaw('usdc', raw('initialPosToken')), openedAt: raw('timestamp').toString(), block: fromBlock };
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

