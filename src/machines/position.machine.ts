import { assign, enqueueActions, fromCallback, fromPromise, setup, type EventObject } from 'xstate';
import { deadlinePlaceholder } from './deadline.ts';

/**
 * One actor per order/position, from request to final state, following Avantis's two-step
 * execution (AVANTIS.md §6) and the trade's life on chain after that:
 *
 *   submitting ──(request mined, orderId)──▶ awaitingFill ──(keeper filled)──▶ open
 *        │                                        │ └─(fill timeout: tell the owner, keep waiting)
 *        └─(refused: reason)──▶ rejected          └─(declined or operator cancel: refunded)──▶ canceled
 *   open ──close.requested──▶ closing ──(mined)──▶ awaitingClose ──(keeper filled)──▶ closed
 *    │  ▲                      │                    │
 *    │  └──(refused; or the ───┘                    └─(request canceled, trade still ours)──▶ open
 *    │      slot no longer holds this trade: the watch says how it closed)
 *    └─(the chain closed it: TP, SL, liquidation, a close sent elsewhere)──▶ closed
 *
 * The chain is the truth: every waiting state follows the chain through an invoked effect that
 * reads state first and logs second (src/infra/chain/avantis/follow.ts), and reports a cursor
 * the machine keeps, so a restored position resumes reading where it stopped. Every step that
 * writes to the chain is idempotent by intent id (the transaction outbox): a retry of the same
 * try keeps its id, a new try (the trader asks to close again) gets a new one. Amounts are
 * decimal strings, never floats.
 */
export const positionMachineVersion = 3;

export interface PositionInput {
  readonly positionId: string;
  /** Owner's systemId, e.g. `user:42`; also the owner's wallet id in the keystore. */
  readonly owner: string;
  readonly pair: string;
  readonly pairIndex: number;
  readonly side: 'long' | 'short';
  /** USDC, decimal string. */
  readonly collateral: string;
  readonly leverage: number;
  readonly slippageBps: number;
  /** After this long without a fill, the owner is told the order is delayed (it stays tracked). */
  readonly fillTimeoutMs: number;
}

/** What submitting a request to the chain returns. */
export interface SubmittedOrder {
  readonly orderId: string;
  readonly txHash: string;
  /** Block of the request, where following it starts. */
  readonly block: string;
}

/** The trade a keeper opened, as the position keeps it. */
export interface OpenedTrade {
  readonly tradeIndex: number;
  /** Decimal price. */
  readonly openPrice: string;
  /** Collateral after the opening fee (Avantis `initialPosToken`), decimal USDC. */
  readonly collateral: string;
  /** `Trade.timestamp` (unix seconds, decimal): with the slot, what tells this trade from the next one there. */
  readonly openedAt: string;
  /** Block of the fill. */
  readonly block: string;
}

export type ClosedBy = 'trader' | 'tp' | 'sl' | 'liquidation' | 'unknown';

export interface ClosedTrade {
  readonly by: ClosedBy;
  /** Decimal price; null when the chain's logs did not say. */
  readonly closePrice: string | null;
  /** Decimal USDC sent to the trader; null when the chain's logs did not say. */
  readonly payout: string | null;
}

/** Everything an effect needs to check that a slot still holds this trade before acting on it. */
export interface TradeRef {
  readonly owner: string;
  readonly pairIndex: number;
  readonly tradeIndex: number;
  readonly side: 'long' | 'short';
  readonly leverage: number;
  readonly openPrice: string;
  readonly collateral: string;
  /** Null only for positions opened before version 3, which did not record it. */
  readonly openedAt: string | null;
}

export interface CloseRequest {
  readonly positionId: string;
  readonly owner: string;
  /** Which try this is: each new close.requested is a new try (and a new transaction intent). */
  readonly attempt: number;
  readonly trade: TradeRef;
}

export interface FollowOpenInput {
  readonly owner: string;
  readonly orderId: string;
  readonly fromBlock: string;
}
export interface FollowCloseInput {
  readonly trade: TradeRef;
  readonly orderId: string;
  readonly fromBlock: string;
}
export interface WatchTradeInput {
  readonly trade: TradeRef;
  readonly fromBlock: string;
}

/** What the chain-following effects tell the position (sent back from the invoked callbacks). */
export type ChainEvent =
  | { type: 'chain.progress'; cursor: string }
  | { type: 'chain.opened'; trade: OpenedTrade }
  | { type: 'chain.canceled'; by: 'protocol' | 'operator' }
  | { type: 'chain.closed'; closure: ClosedTrade }
  | { type: 'chain.closeCanceled' }
  /** A pre-version-3 position learned its trade's opening time from the chain. */
  | { type: 'chain.identified'; openedAt: string };

export type PositionEvent = { type: 'close.requested' } | ChainEvent;

export interface PositionContext extends PositionInput {
  readonly orderId: string | null;
  readonly openTx: string | null;
  readonly requestBlock: string | null;
  readonly tradeIndex: number | null;
  readonly openPrice: string | null;
  /** Collateral after the opening fee (Avantis `initialPosToken`), decimal USDC. */
  readonly positionCollateral: string | null;
  readonly openedAt: string | null;
  readonly openBlock: string | null;
  readonly fillDelayed: boolean;
  readonly canceledBy: 'protocol' | 'operator' | null;
  /** The current (or last) close try, 0 before any; names the close's transaction intent. */
  readonly closeAttempt: number;
  readonly closeOrderId: string | null;
  readonly closeTx: string | null;
  readonly closeBlock: string | null;
  readonly closePrice: string | null;
  readonly payout: string | null;
  readonly closedBy: ClosedBy | null;
  /** The first block the current chain follow has not read yet: where it resumes after a restart. */
  readonly cursor: string | null;
  readonly outcome: 'closed' | 'canceled' | 'rejected' | null;
  readonly error: { readonly code: string; readonly message: string; readonly retryable: boolean } | null;
  /** Consecutive retryable failures of the current submission (RPC down, Vault sealed…). */
  readonly attempts: number;
}

/** What the owning user actor is told; final notices end the position. */
export interface OwnerNotice {
  readonly owner: string;
  readonly positionId: string;
  readonly outcome: string;
  readonly final: boolean;
  readonly detail: string | null;
  readonly closedBy: ClosedBy | null;
  readonly closePrice: string | null;
  readonly payout: string | null;
  readonly canceledBy: 'protocol' | 'operator' | null;
  /** What the order is, so the trader's notice can say it. */
  readonly pair: string;
  readonly side: 'long' | 'short';
  /** The collateral asked for, decimal USDC. */
  readonly collateral: string;
  readonly leverage: number;
  readonly openPrice: string | null;
  /** The request's transaction, for `sent` (the open) and `close-sent` (the close). */
  readonly txHash: string | null;
}

/** Errors thrown by effects become plain data in context (snapshots hold JSON only). */
function errorData(error: unknown): { code: string; message: string; retryable: boolean } {
  if (error && typeof error === 'object') {
    const e = error as { code?: unknown; message?: unknown; retryable?: unknown };
    return { code: typeof e.code === 'string' ? e.code : 'INTERNAL', message: typeof e.message === 'string' ? e.message : 'Unexpected error', retryable: e.retryable === true };
  }
  return { code: 'INTERNAL', message: String(error), retryable: false };
}

/**
 * A retryable failure (the node or Vault is unreachable, fees above the cap, a receipt not yet
 * in) may leave a signed transaction in flight, so the order is never given up: it is retried
 * with backoff under the same intent id, which resumes rather than re-sends.
 */
const isRetryableFailure = ({ event }: { event: { error?: unknown } }) => errorData(event.error).retryable;
/** The slot no longer holds this trade: nothing was sent; the watch will say how it closed. */
const isTradeGone = ({ event }: { event: { error?: unknown } }) => errorData(event.error).code === 'TRADE_GONE';
const RETRY_BASE_MS = 1_000;
const RETRY_MAX_MS = 30_000;
const retryDelay = (attempts: number) => Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.max(0, attempts - 1));

/** A position's chain facts before anything has happened. */
const NOTHING_YET = {
  orderId: null,
  openTx: null,
  requestBlock: null,
  tradeIndex: null,
  openPrice: null,
  positionCollateral: null,
  openedAt: null,
  openBlock: null,
  fillDelayed: false,
  canceledBy: null,
  closeAttempt: 0,
  closeOrderId: null,
  closeTx: null,
  closeBlock: null,
  closePrice: null,
  payout: null,
  closedBy: null,
  cursor: null,
  outcome: null,
  error: null,
  attempts: 0,
} as const satisfies Omit<PositionContext, keyof PositionInput>;

// ---- effect inputs (shared with the snapshot migration, which must rebuild invoked children) ----

export const submitOpenInput = (c: PositionContext): PositionInput => ({
  positionId: c.positionId,
  owner: c.owner,
  pair: c.pair,
  pairIndex: c.pairIndex,
  side: c.side,
  collateral: c.collateral,
  leverage: c.leverage,
  slippageBps: c.slippageBps,
  fillTimeoutMs: c.fillTimeoutMs,
});
export const tradeRefOf = (c: PositionContext): TradeRef => ({
  owner: c.owner,
  pairIndex: c.pairIndex,
  tradeIndex: c.tradeIndex ?? 0,
  side: c.side,
  leverage: c.leverage,
  openPrice: c.openPrice ?? '0',
  collateral: c.positionCollateral ?? '0',
  openedAt: c.openedAt,
});
export const followOpenInput = (c: PositionContext): FollowOpenInput => ({ owner: c.owner, orderId: c.orderId ?? '', fromBlock: c.cursor ?? c.requestBlock ?? '0' });
export const watchTradeInput = (c: PositionContext): WatchTradeInput => ({ trade: tradeRefOf(c), fromBlock: c.cursor ?? c.openBlock ?? c.requestBlock ?? '0' });
export const submitCloseInput = (c: PositionContext): CloseRequest => ({ positionId: c.positionId, owner: c.owner, attempt: c.closeAttempt, trade: tradeRefOf(c) });
export const followCloseInput = (c: PositionContext): FollowCloseInput => ({ trade: tradeRefOf(c), orderId: c.closeOrderId ?? '', fromBlock: c.cursor ?? c.closeBlock ?? '0' });

/** The intent id of a close try: each try its own, so a refused close can always be tried again. */
export function closeIntentId(positionId: string, attempt: number): string {
  // Try 0 is how positions before version 3 named their only close.
  return attempt === 0 ? `position:${positionId}:close` : `position:${positionId}:close:${attempt}`;
}

const notice = (outcome: string, final: boolean) =>
  ({
    type: 'notifyOwner',
    params: ({ context }: { context: PositionContext }): OwnerNotice => ({
      owner: context.owner,
      positionId: context.positionId,
      outcome,
      final,
      detail: outcome === 'close-refused' || outcome === 'retrying' || outcome === 'rejected' ? (context.error?.message ?? null) : null,
      closedBy: context.closedBy,
      closePrice: context.closePrice,
      payout: context.payout,
      canceledBy: context.canceledBy,
      pair: context.pair,
      side: context.side,
      collateral: context.collateral,
      leverage: context.leverage,
      openPrice: context.openPrice,
      txHash: outcome === 'sent' ? context.openTx : outcome === 'close-sent' ? context.closeTx : null,
    }),
  }) as const;
const progress = (outcome: 'sent' | 'opened' | 'delayed' | 'retrying' | 'close-sent' | 'close-refused' | 'close-canceled') => notice(outcome, false);
const finished = ({ context }: { context: PositionContext }) => notice(context.outcome ?? 'unknown', true).params({ context });

// Placeholders keep the machine pure; src/actors provides the chain-backed effects.
const unprovided = (name: string) =>
  fromPromise<never, unknown>(() => Promise.reject(new Error(`The '${name}' effect was not provided: create positions through src/actors.`)));
const unprovidedFollow = <I>(name: string) =>
  fromCallback<EventObject, I>(() => {
    throw new Error(`The '${name}' effect was not provided: create positions through src/actors.`);
  });

export const positionMachine = setup({
  types: {
    context: {} as PositionContext,
    events: {} as PositionEvent,
    input: {} as PositionInput,
  },
  actors: {
    deadline: deadlinePlaceholder,
    submitOpen: unprovided('submitOpen') as unknown as ReturnType<typeof fromPromise<SubmittedOrder, PositionInput>>,
    /** Sends chain.progress, then chain.opened or chain.canceled. */
    followOpen: unprovidedFollow<FollowOpenInput>('followOpen'),
    /** Rejects with code TRADE_GONE, sending nothing, when the slot no longer holds this trade. */
    submitClose: unprovided('submitClose') as unknown as ReturnType<typeof fromPromise<SubmittedOrder, CloseRequest>>,
    /** Sends chain.progress, then chain.closed or chain.closeCanceled. */
    followClose: unprovidedFollow<FollowCloseInput>('followClose'),
    /** Sends chain.progress (and chain.identified), then chain.closed when the chain closed the trade on its own. */
    watchTrade: unprovidedFollow<WatchTradeInput>('watchTrade'),
  },
  actions: {
    /** Provided by the actors layer: tell the owning user actor (and through it the trader). */
    notifyOwner: (_, _params: OwnerNotice) => {},
    /** Remember how far the current follow has read the chain (restores resume from here). */
    keepCursor: assign(({ event }) => (event.type === 'chain.progress' ? { cursor: event.cursor } : {})),
  },
}).createMachine({
  id: 'position',
  context: ({ input }) => ({ ...input, ...NOTHING_YET }),
  initial: 'submitting',
  states: {
    submitting: {
      invoke: {
        id: 'submitOpen',
        src: 'submitOpen',
        input: ({ context }) => submitOpenInput(context),
        onDone: {
          target: 'awaitingFill',
          actions: [
            assign(({ event }) => ({ orderId: event.output.orderId, openTx: event.output.txHash, requestBlock: event.output.block, cursor: event.output.block, attempts: 0, error: null })),
            // The request is on chain: the trader hears it was sent (with its transaction) at once.
            progress('sent'),
          ],
        },
        onError: [
          {
            guard: isRetryableFailure,
            target: 'retryingSubmit',
            actions: assign(({ context, event }) => ({ error: errorData(event.error), attempts: context.attempts + 1 })),
          },
          { target: 'rejected', actions: assign({ error: ({ event }) => errorData(event.error) }) },
        ],
      },
    },
    retryingSubmit: {
      // Tell the trader once, on the first failure, not on every retry.
      entry: enqueueActions(({ context, enqueue }) => {
        if (context.attempts === 1) enqueue(progress('retrying'));
      }),
      invoke: { id: 'retrySubmit', src: 'deadline', input: ({ context }) => ({ delayMs: retryDelay(context.attempts) }), onDone: 'submitting' },
    },
    awaitingFill: {
      invoke: {
        id: 'fillTimeout',
        src: 'deadline',
        input: ({ context }) => ({ delayMs: context.fillTimeoutMs }),
        onDone: { actions: [assign({ fillDelayed: true }), progress('delayed')] },
      },
      initial: 'following',
      states: {
        following: {
          invoke: { id: 'followOpen', src: 'followOpen', input: ({ context }) => followOpenInput(context) },
          // Re-entering restarts the follow with the new cursor in its input, which is what a restore resumes from.
          on: { 'chain.progress': { target: 'following', reenter: true, actions: 'keepCursor' } },
        },
      },
      on: {
        'chain.opened': {
          target: 'open',
          actions: [
            assign(({ event }) => ({
              tradeIndex: event.trade.tradeIndex,
              openPrice: event.trade.openPrice,
              positionCollateral: event.trade.collateral,
              openedAt: event.trade.openedAt,
              openBlock: event.trade.block,
              cursor: event.trade.block,
            })),
            // Said on the fill, not on entering `open`: a refused close returns here silently.
            progress('opened'),
          ],
        },
        'chain.canceled': { target: 'canceled', actions: assign({ canceledBy: ({ event }) => event.by }) },
      },
    },
    open: {
      initial: 'watching',
      states: {
        watching: {
          invoke: { id: 'watchTrade', src: 'watchTrade', input: ({ context }) => watchTradeInput(context) },
          on: {
            'chain.progress': { target: 'watching', reenter: true, actions: 'keepCursor' },
            'chain.identified': { target: 'watching', reenter: true, actions: assign({ openedAt: ({ event }) => event.openedAt }) },
          },
        },
      },
      on: {
        'close.requested': { target: 'closing', actions: assign(({ context }) => ({ closeAttempt: context.closeAttempt + 1, attempts: 0, error: null })) },
        'chain.closed': { target: 'closed', actions: assign(({ event }) => ({ closedBy: event.closure.by, closePrice: event.closure.closePrice, payout: event.closure.payout })) },
      },
    },
    closing: {
      invoke: {
        id: 'submitClose',
        src: 'submitClose',
        input: ({ context }) => submitCloseInput(context),
        onDone: {
          target: 'awaitingClose',
          actions: [
            assign(({ event }) => ({ closeOrderId: event.output.orderId, closeTx: event.output.txHash, closeBlock: event.output.block, cursor: event.output.block, error: null, attempts: 0 })),
            progress('close-sent'),
          ],
        },
        onError: [
          {
            guard: isRetryableFailure,
            target: 'retryingClose',
            actions: assign(({ context, event }) => ({ error: errorData(event.error), attempts: context.attempts + 1 })),
          },
          // Nothing was sent: the trade this position knew is not in its slot any more, and the
          // watch in `open` finds out how it closed (and never touches the slot's new trade).
          { guard: isTradeGone, target: 'open', actions: assign({ error: ({ event }) => errorData(event.error) }) },
          // The close was refused: the position is still open; say why. A new request is a new try.
          { target: 'open', actions: [assign({ error: ({ event }) => errorData(event.error) }), progress('close-refused')] },
        ],
      },
    },
    retryingClose: {
      invoke: { id: 'retryClose', src: 'deadline', input: ({ context }) => ({ delayMs: retryDelay(context.attempts) }), onDone: 'closing' },
    },
    awaitingClose: {
      initial: 'following',
      states: {
        following: {
          invoke: { id: 'followClose', src: 'followClose', input: ({ context }) => followCloseInput(context) },
          on: { 'chain.progress': { target: 'following', reenter: true, actions: 'keepCursor' } },
        },
      },
      on: {
        'chain.closed': { target: 'closed', actions: assign(({ event }) => ({ closedBy: event.closure.by, closePrice: event.closure.closePrice, payout: event.closure.payout })) },
        // The request left the book without closing anything: the trade is still ours and open.
        'chain.closeCanceled': { target: 'open', actions: progress('close-canceled') },
      },
    },
    closed: { type: 'final', entry: [assign({ outcome: 'closed' as const }), { type: 'notifyOwner', params: finished }] },
    canceled: { type: 'final', entry: [assign({ outcome: 'canceled' as const }), { type: 'notifyOwner', params: finished }] },
    rejected: { type: 'final', entry: [assign({ outcome: 'rejected' as const }), { type: 'notifyOwner', params: finished }] },
  },
});
