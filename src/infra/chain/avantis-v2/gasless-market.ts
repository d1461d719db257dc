/**
 * The gasless route for market orders (AVANTIS-V2.md §9.1, §11): a market open or close, built by
 * the tx-builder, checked, signed by the signer's key (the trader's delegate) and executed by the
 * batched-market service, exactly once across crashes. The intent store is the record (ADR 0016);
 * every step is written before the next one acts:
 *
 *   reserve (nonce, deadline, the whole message) → the tx-builder builds the intent WITH them, and
 *   the answer is verified field by field and its digest recomputed from the stored message → sign
 *   → recordSigned → recordSubmitted → POST → MarketOrderAccepted (tracking id) → events → terminal.
 *
 * After a crash, `execute` with the same action id (or `recover`) continues from the stored step:
 * what was reserved is built from the STORED message (a fresh price after the restart changes
 * nothing that was decided), what was signed is submitted as the same bytes, what was submitted
 * without an answer is submitted again as the same bytes (one nonce: it executes at most once),
 * and what was accepted is replayed by tracking id, never resent.
 */
import type { Address, Hex } from 'viem';
import type { Logger } from 'pino';
import { BATCHED_ORDER_TYPES, isTerminalEvent, V2OrderOutcomeUnknownError, type BatchedMarketClient, type BatchedMarketEvent } from './batched-market-client.ts';
import { V2Error, V2IntentMismatchError } from './errors.ts';
import type { IntentPrimaryType } from './intent-types.ts';
import { localIntentOf, type IntentStore, type StoredV2Intent, type V2NextStep } from './intent-store.ts';
import type { IntentMessage } from './intents.ts';
import { domainFor, type OpenOrderTypeName, type V2Meta } from './meta.ts';
import { closeTradeFields, openTradeFields, type CloseIntentRequest, type OpenIntentRequest, type TxBuilderClient } from './tx-builder-client.ts';
import { fromRaw } from './units.ts';
import type { VerifiedIntent } from './verify-intent.ts';

export interface MarketOpen {
  readonly kind: 'open';
  /** Names the action for good: the same id after a crash continues it, never starts another. */
  readonly actionId: string;
  /** The address whose key signs: the trader's delegate (or the trader itself). */
  readonly signer: Address;
  readonly request: Omit<OpenIntentRequest, 'nonce' | 'deadlineMs' | 'orderType'>;
}

export interface MarketClose {
  readonly kind: 'close';
  readonly actionId: string;
  readonly signer: Address;
  /** The wanted price and the position's open time are required: both are signed (§8.3). */
  readonly request: Omit<CloseIntentRequest, 'nonce' | 'deadlineMs'> & { readonly expectedPrice: string; readonly openTimestamp: number };
}

export type MarketAction = MarketOpen | MarketClose;

export type MarketOutcome =
  /** `fill` is the MarketOrderExecuted payload (or, when recovery proved execution from the nonce, null). */
  | { readonly outcome: 'executed'; readonly actionId: string; readonly trackingId: string | null; readonly fill: Readonly<Record<string, unknown>> | null }
  /** Declined by the protocol (MarketOrderCanceled: slippage, a paused pair…): nothing was opened or closed. */
  | { readonly outcome: 'canceled'; readonly actionId: string; readonly detail: string }
  /** It did not run, and never will (a refusal, a failure event, an expired deadline): `detail` says why. */
  | { readonly outcome: 'failed' | 'rejected' | 'expired' | 'abandoned'; readonly actionId: string; readonly detail: string };

export interface GaslessMarketHooks {
  /** Each stream event once, after it is stored. */
  readonly onEvent?: (event: BatchedMarketEvent) => void;
  readonly signal?: AbortSignal;
}

export interface GaslessMarketDeps {
  readonly store: IntentStore;
  readonly txBuilder: TxBuilderClient;
  readonly market: BatchedMarketClient;
  /** Signs a 32-byte digest with the signer's sealed key: 65 bytes r‖s‖v. The key never leaves the keystore. */
  readonly signDigest: (signer: Address, digest: Hex) => Promise<Hex>;
  /**
   * Whether `nonce` is still unused in `signer`'s on-chain bitmap: the proof recovery needs before
   * it calls an overdue submitted action expired, or a failed resubmission failed.
   */
  readonly nonceUnused: (signer: Address, nonce: bigint) => Promise<boolean>;
  readonly logger: Logger;
  /** How long a new intent stays valid. Default 60 s: the service's intent-mode stream cap (§9.1). ASSUMED adequate. */
  readonly lifetimeMs?: number;
}

export interface GaslessMarketRoute {
  /** Runs the action to its end (or continues it, when this id was started before). */
  execute(action: MarketAction, hooks?: GaslessMarketHooks): Promise<MarketOutcome>;
  /** Whether this action id was ever reserved (then it is continued as stored, never re-decided). */
  started(actionId: string): Promise<boolean>;
  /** Continues a stored action from its recorded step; null when no such action was stored. */
  resume(actionId: string, hooks?: GaslessMarketHooks): Promise<MarketOutcome | null>;
}

/** Error events that mean the nonce was already spent: possibly by our own earlier submission. */
const NONCE_SPENT = /InvalidNonce/;

export function createGaslessMarketRoute(deps: GaslessMarketDeps): GaslessMarketRoute {
  const { store, txBuilder, market, logger } = deps;
  const lifetimeMs = deps.lifetimeMs ?? 60_000;

  async function reserve(action: MarketAction, meta: V2Meta): Promise<void> {
    if (action.kind === 'open') {
      const request = { ...action.request, orderType: 'market' as const };
      await store.reserve({ actionId: action.actionId, signer: action.signer, domain: domainFor(meta, 'OpenTradeReq'), primaryType: 'OpenTradeReq', fields: openTradeFields(meta, request), lifetimeMs });
      return;
    }
    await store.reserve({ actionId: action.actionId, signer: action.signer, domain: domainFor(meta, 'CloseTradeReq'), primaryType: 'CloseTradeReq', fields: closeTradeFields(action.request), lifetimeMs });
  }

  /** Has the tx-builder build the stored message, checks it, signs it, stores the signature. */
  async function sign(intent: StoredV2Intent, meta: V2Meta, signal?: AbortSignal): Promise<StoredV2Intent> {
    let built: { readonly digest: Hex; readonly encodedIntent: Hex };
    try {
      const answer = await buildStored(intent, meta, signal);
      const local = localIntentOf(intent);
      if (answer.digest !== local.digest) throw new V2IntentMismatchError('digest', `the service's digest ${answer.digest} is not ${local.digest}, computed from the stored message`);
      if (answer.encodedIntent === null || answer.encodedIntent !== local.encodedIntent) throw new V2IntentMismatchError('encodedIntent', 'the service encoded another message than the one stored');
      built = { digest: answer.digest, encodedIntent: answer.encodedIntent };
    } catch (error) {
      if (error instanceof V2IntentMismatchError) {
        logger.error({ admin_alert: true, action_id: intent.actionId, field: error.field, err: error }, 'The v2 tx-builder answered another intent than the one asked for; nothing was signed');
        await store.recordTerminal(intent.actionId, 'abandoned', error.message);
      }
      throw error;
    }
    const signature = await deps.signDigest(intent.signer, built.digest);
    return store.recordSigned(intent.actionId, { digest: built.digest, encodedIntent: built.encodedIntent, signature });
  }

  async function buildStored(intent: StoredV2Intent, meta: V2Meta, signal?: AbortSignal): Promise<Pick<VerifiedIntent<IntentPrimaryType>, 'digest' | 'encodedIntent'>> {
    const replay = { nonce: intent.nonce, ...(intent.deadlineMs === null ? {} : { deadlineMs: intent.deadlineMs }) };
    const open = messageOf(intent, 'OpenTradeReq');
    if (open) return txBuilder.openIntent({ ...openRequestOf(open, meta), ...replay }, signal);
    const close = messageOf(intent, 'CloseTradeReq');
    if (close) return txBuilder.closeIntent({ ...closeRequestOf(close), ...replay }, signal);
    throw new V2Error('BAD_INPUT', 'V2_BAD_REQUEST', `Action ${intent.actionId} is a ${intent.primaryType}, not a market order: it does not go through batched-market.`);
  }

  function orderTypeOf(intent: StoredV2Intent, meta: V2Meta): number {
    const open = messageOf(intent, 'OpenTradeReq');
    if (!open) return BATCHED_ORDER_TYPES.close;
    return open._type === BigInt(meta.openOrderType.market_pnl) ? BATCHED_ORDER_TYPES.openUpside : BATCHED_ORDER_TYPES.open;
  }

  /** Stores one event (ending the action on a terminal one) and tells the caller. */
  async function record(intent: StoredV2Intent, event: BatchedMarketEvent, hooks: GaslessMarketHooks): Promise<MarketOutcome | null> {
    if (event.type === 'MarketOrderAccepted' && typeof event.payload['trackingId'] === 'string') await store.recordAccepted(intent.actionId, event.payload['trackingId']);
    if (event.seq === null) return null; // a STREAM_TIMEOUT: only the connection ended
    const trackingId = typeof event.payload['trackingId'] === 'string' ? event.payload['trackingId'] : null;
    if (!isTerminalEvent(event)) {
      await store.recordEvent(intent.actionId, { seq: event.seq, type: event.type, payload: event.payload });
      hooks.onEvent?.(event);
      return null;
    }
    if (event.type === 'MarketOrderExecuted' || event.type === 'PositionSizeIncreased') {
      await store.recordEvent(intent.actionId, { seq: event.seq, type: event.type, payload: event.payload }, 'executed');
      hooks.onEvent?.(event);
      return { outcome: 'executed', actionId: intent.actionId, trackingId, fill: event.payload };
    }
    const detail = describeEvent(event);
    // A resubmission refused for its nonce proves nothing about the first copy: ask the chain.
    if (intent.submissions > 1 && NONCE_SPENT.test(detail) && !(await deps.nonceUnused(intent.signer, intent.nonce))) {
      await store.recordEvent(intent.actionId, { seq: event.seq, type: event.type, payload: event.payload });
      await store.recordTerminal(intent.actionId, 'executed', 'executed by an earlier submission of the same signed intent (its nonce is spent on chain)');
      hooks.onEvent?.(event);
      return { outcome: 'executed', actionId: intent.actionId, trackingId, fill: null };
    }
    const outcome = event.type === 'MarketOrderCanceled' ? 'canceled' : 'failed';
    await store.recordEvent(intent.actionId, { seq: event.seq, type: event.type, payload: event.payload }, outcome);
    hooks.onEvent?.(event);
    return { outcome, actionId: intent.actionId, detail };
  }

  async function follow(intent: StoredV2Intent, events: AsyncIterable<BatchedMarketEvent>, hooks: GaslessMarketHooks): Promise<MarketOutcome> {
    for await (const event of events) {
      const ended = await record(intent, event, hooks);
      if (ended) return ended;
    }
    throw new V2OrderOutcomeUnknownError(intent.trackingId, 'the order stream ended without a final event');
  }

  /** POSTs the stored bytes; a refusal that proves the order was not taken ends the action. */
  async function submit(intent: StoredV2Intent, meta: V2Meta, hooks: GaslessMarketHooks): Promise<MarketOutcome> {
    const sent = await store.recordSubmitted(intent.actionId);
    try {
      return await follow(sent, market.submit({ orderType: orderTypeOf(sent, meta), erc712: { userIntent: sent.encodedIntent!, userSignature: sent.signature! } }, hooks.signal), hooks);
    } catch (error) {
      // An HTTP refusal before the stream (400: expired, bad signature, simulation failed; 451…)
      // means the service did not take it. Retryable refusals (429, 503) leave it submitted: the
      // same bytes go again at the next attempt. An unknown outcome is never called anything.
      if (error instanceof V2Error && !error.retryable && !(error instanceof V2OrderOutcomeUnknownError)) {
        const after = await store.find(intent.actionId);
        if (after?.status === 'submitted') {
          await store.recordTerminal(intent.actionId, 'rejected', error.message);
          return { outcome: 'rejected', actionId: intent.actionId, detail: error.message };
        }
      }
      throw error;
    }
  }

  async function continueFrom(intent: StoredV2Intent, next: V2NextStep, meta: V2Meta, hooks: GaslessMarketHooks): Promise<MarketOutcome> {
    switch (next) {
      case 'sign':
        return submit(await sign(intent, meta, hooks.signal), meta, hooks);
      case 'submit':
      case 'resubmit':
        return submit(intent, meta, hooks);
      case 'replay':
        return follow(intent, market.replay(intent.trackingId!, intent.lastSeq ?? 0, hooks.signal), hooks);
      case 'expire': {
        const ended = await store.expire(intent.actionId);
        return { outcome: 'expired', actionId: ended.actionId, detail: 'the signed order expired before it was sent; nothing was executed' };
      }
      case 'reconcile': {
        if (await deps.nonceUnused(intent.signer, intent.nonce)) {
          await store.expire(intent.actionId, { nonceUnusedOnChain: true });
          return { outcome: 'expired', actionId: intent.actionId, detail: 'the signed order expired; its nonce is unused on chain, so it never ran' };
        }
        await store.recordTerminal(intent.actionId, 'executed', 'its nonce is spent on chain: the order ran');
        return { outcome: 'executed', actionId: intent.actionId, trackingId: intent.trackingId, fill: null };
      }
    }
  }

  async function resume(actionId: string, hooks: GaslessMarketHooks = {}): Promise<MarketOutcome | null> {
    const step = await store.step(actionId);
    if (!step) return null;
    if (step.next === null) return endedOutcome(step.intent, await store.events(actionId));
    return continueFrom(step.intent, step.next, await txBuilder.meta(hooks.signal), hooks);
  }

  return {
    async execute(action, hooks = {}) {
      // An action started before is continued as stored: the decision (price, size, nonce) was
      // made then, and the store refuses a second, different message under the same id.
      if ((await store.find(action.actionId)) === null) await reserve(action, await txBuilder.meta(hooks.signal));
      return (await resume(action.actionId, hooks))!;
    },
    resume,
    started: async (actionId) => (await store.find(actionId)) !== null,
  };
}

/** The stored message, when the action is of that kind (the store checked its shape when it was written). */
function messageOf<P extends 'OpenTradeReq' | 'CloseTradeReq'>(intent: StoredV2Intent, kind: P): IntentMessage<P> | null {
  return intent.primaryType === kind ? intent.message : null;
}

/** An OpenTradeReq as the tx-builder request that asks for exactly it (human units, exact). */
function openRequestOf(m: IntentMessage<'OpenTradeReq'>, meta: V2Meta): OpenIntentRequest {
  const orderType = (Object.entries(meta.openOrderType) as [OpenOrderTypeName, number][]).find(([, code]) => BigInt(code) === m._type)?.[0];
  if (orderType === undefined) throw new V2IntentMismatchError('_type', `the stored order type ${m._type} is not in /v2/meta's enum any more`);
  const t = m._t;
  return {
    trader: t.trader,
    pairIndex: Number(t.pairIndex),
    side: t.buy ? 'long' : 'short',
    orderType,
    collateralUsdc: fromRaw('usdc', t.positionSizeUSDC),
    leverage: fromRaw('leverage', t.leverage),
    openPrice: fromRaw('price', t.openPrice),
    slippagePercent: fromRaw('slippagePercent', m._slippageP),
    ...(t.tp === 0n ? {} : { takeProfit: fromRaw('price', t.tp) }),
    ...(t.sl === 0n ? {} : { stopLoss: fromRaw('price', t.sl) }),
  };
}

function closeRequestOf(m: IntentMessage<'CloseTradeReq'>): CloseIntentRequest {
  return {
    trader: m._trader,
    pairIndex: Number(m._pairIndex),
    tradeIndex: Number(m._index),
    collateralToCloseUsdc: fromRaw('usdc', m._amount),
    expectedPrice: fromRaw('price', m._wantedPrice),
    openTimestamp: Number(m._openTimestamp),
  };
}

/** A failure or decline event in words: the service's code and message, shortened. */
function describeEvent(event: BatchedMarketEvent): string {
  const p = event.payload;
  const parts = [p['code'], p['reason'], p['message'], p['error']].filter((v): v is string => typeof v === 'string' && v !== '');
  return `${event.type}${parts.length ? `: ${[...new Set(parts)].join(' — ')}` : ''}`.slice(0, 300);
}

/** The outcome of an action that had already ended (a second execute with the same id). */
function endedOutcome(intent: StoredV2Intent, events: readonly { type: string; payload: unknown }[]): MarketOutcome {
  const detail = intent.detail ?? '';
  switch (intent.status) {
    case 'executed': {
      const fill = [...events].reverse().find((e) => e.type === 'MarketOrderExecuted' || e.type === 'PositionSizeIncreased');
      return { outcome: 'executed', actionId: intent.actionId, trackingId: intent.trackingId, fill: (fill?.payload as Record<string, unknown> | undefined) ?? null };
    }
    case 'canceled':
    case 'failed':
    case 'rejected':
    case 'expired':
    case 'abandoned':
      return { outcome: intent.status, actionId: intent.actionId, detail };
    default:
      throw new Error(`unreachable: ${intent.status} is not an ended status`);
  }
}
