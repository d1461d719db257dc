import { assign, enqueueActions, fromPromise, setup } from 'xstate';
import { deadlinePlaceholder } from './deadline.ts';

/**
 * One actor per order/position, from request to final state, following
 * Avantis's two-step execution (AVANTIS.md §6):
 *
 *   submitting ──(request mined, orderId)──▶ awaitingFill ──(keeper filled)──▶ open
 *        │                                        │ └─(fill timeout: tell the owner, keep waiting)
 *        └─(refused: reason)──▶ rejected          └─(slippage: refunded)──▶ canceled
 *   open ──close.requested──▶ closing ──(mined)──▶ awaitingClose ──(keeper filled)──▶ closed
 *
 * Every step that talks to the chain is an invoked effect named here and
 * provided by the actors layer. Invokes restart after a crash with their
 * persisted input, and the effects are idempotent by position id (the
 * transaction outbox), so a restored position resumes exactly where it was
 * without sending anything twice. Amounts are decimal strings, never floats.
 */
export const positionMachineVersion = 2;

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
  /** Block of the request, where the search for its fill starts. */
  readonly block: string;
}

export type OpenFill = { readonly kind: 'filled'; readonly tradeIndex: number; readonly openPrice: string; readonly collateral: string } | { readonly kind: 'canceled' };
export interface CloseFill {
  readonly closePrice: string;
  readonly payout: string;
}

export interface PositionContext extends PositionInput {
  readonly orderId: string | null;
  readonly openTx: string | null;
  readonly requestBlock: string | null;
  readonly tradeIndex: number | null;
  readonly openPrice: string | null;
  /** Collateral after the opening fee (Avantis `initialPosToken`), decimal USDC. */
  readonly positionCollateral: string | null;
  readonly fillDelayed: boolean;
  readonly closeOrderId: string | null;
  readonly closeTx: string | null;
  readonly closeBlock: string | null;
  readonly closePrice: string | null;
  readonly payout: string | null;
  readonly outcome: 'closed' | 'canceled' | 'rejected' | null;
  readonly error: { readonly code: string; readonly message: string; readonly retryable: boolean } | null;
  /** Consecutive retryable failures of the current submission (RPC down, Vault sealed…). */
  readonly attempts: number;
}

export type PositionEvent = { type: 'close.requested' };

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
const RETRY_BASE_MS = 1_000;
const RETRY_MAX_MS = 30_000;
const retryDelay = (attempts: number) => Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.max(0, attempts - 1));

/** A position's chain facts before anything has happened (also what a migrated v1 order starts from). */
const NOTHING_YET = {
  orderId: null,
  openTx: null,
  requestBlock: null,
  tradeIndex: null,
  openPrice: null,
  positionCollateral: null,
  fillDelayed: false,
  closeOrderId: null,
  closeTx: null,
  closeBlock: null,
  closePrice: null,
  payout: null,
  outcome: null,
  error: null,
  attempts: 0,
} as const satisfies Omit<PositionContext, keyof PositionInput>;

/** Final outcomes end the position for its owner; the others are progress the trader should see. */
const notify = {
  type: 'notifyOwner',
  params: ({ context }: { context: PositionContext }) => ({ owner: context.owner, positionId: context.positionId, outcome: context.outcome ?? 'unknown', final: true, detail: context.error?.message ?? null }),
} as const;
const progress = (outcome: 'opened' | 'delayed' | 'retrying' | 'close-refused') =>
  ({
    type: 'notifyOwner',
    params: ({ context }: { context: PositionContext }) => ({
      owner: context.owner,
      positionId: context.positionId,
      outcome,
      final: false,
      detail: outcome === 'close-refused' || outcome === 'retrying' ? (context.error?.message ?? null) : null,
    }),
  }) as const;

// Placeholders keep the machine pure; src/actors provides the chain-backed effects.
const unprovided = (name: string) =>
  fromPromise<never, unknown>(() => Promise.reject(new Error(`The '${name}' effect was not provided: create positions through src/actors.`)));

export const positionMachine = setup({
  types: {
    context: {} as PositionContext,
    events: {} as PositionEvent,
    input: {} as PositionInput,
  },
  actors: {
    deadline: deadlinePlaceholder,
    submitOpen: unprovided('submitOpen') as unknown as ReturnType<typeof fromPromise<SubmittedOrder, PositionInput>>,
    awaitOpenFill: unprovided('awaitOpenFill') as unknown as ReturnType<typeof fromPromise<OpenFill, { owner: string; orderId: string; fromBlock: string }>>,
    submitClose: unprovided('submitClose') as unknown as ReturnType<
      typeof fromPromise<SubmittedOrder, { positionId: string; owner: string; pairIndex: number; tradeIndex: number; collateral: string }>
    >,
    awaitCloseFill: unprovided('awaitCloseFill') as unknown as ReturnType<typeof fromPromise<CloseFill, { owner: string; orderId: string; fromBlock: string }>>,
  },
  actions: {
    /** Provided by the actors layer: tell the owning user actor (and through it the trader). */
    notifyOwner: (_, _params: { owner: string; positionId: string; outcome: string; final: boolean; detail: string | null }) => {},
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
        input: ({ context }) => ({
          positionId: context.positionId,
          owner: context.owner,
          pair: context.pair,
          pairIndex: context.pairIndex,
          side: context.side,
          collateral: context.collateral,
          leverage: context.leverage,
          slippageBps: context.slippageBps,
          fillTimeoutMs: context.fillTimeoutMs,
        }),
        onDone: { target: 'awaitingFill', actions: assign(({ event }) => ({ orderId: event.output.orderId, openTx: event.output.txHash, requestBlock: event.output.block, attempts: 0, error: null })) },
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
      invoke: [
        {
          id: 'awaitOpenFill',
          src: 'awaitOpenFill',
          input: ({ context }) => ({ owner: context.owner, orderId: context.orderId ?? '', fromBlock: context.requestBlock ?? '0' }),
          onDone: [
            {
              guard: ({ event }) => event.output.kind === 'filled',
              target: 'open',
              actions: assign(({ event }) => {
                const fill = event.output as Extract<OpenFill, { kind: 'filled' }>;
                return { tradeIndex: fill.tradeIndex, openPrice: fill.openPrice, positionCollateral: fill.collateral };
              }),
            },
            { target: 'canceled' },
          ],
        },
        {
          id: 'fillTimeout',
          src: 'deadline',
          input: ({ context }) => ({ delayMs: context.fillTimeoutMs }),
          onDone: { actions: [assign({ fillDelayed: true }), progress('delayed')] },
        },
      ],
    },
    open: {
      entry: progress('opened'),
      on: { 'close.requested': 'closing' },
    },
    closing: {
      invoke: {
        id: 'submitClose',
        src: 'submitClose',
        input: ({ context }) => ({
          positionId: context.positionId,
          owner: context.owner,
          pairIndex: context.pairIndex,
          tradeIndex: context.tradeIndex ?? 0,
          collateral: context.positionCollateral ?? '0',
        }),
        onDone: { target: 'awaitingClose', actions: assign(({ event }) => ({ closeOrderId: event.output.orderId, closeTx: event.output.txHash, closeBlock: event.output.block, error: null, attempts: 0 })) },
        onError: [
          {
            guard: isRetryableFailure,
            target: 'retryingClose',
            actions: assign(({ context, event }) => ({ error: errorData(event.error), attempts: context.attempts + 1 })),
          },
          // The close was refused: the position is still open; say why.
          { target: 'open', actions: [assign({ error: ({ event }) => errorData(event.error) }), progress('close-refused')] },
        ],
      },
    },
    retryingClose: {
      invoke: { id: 'retryClose', src: 'deadline', input: ({ context }) => ({ delayMs: retryDelay(context.attempts) }), onDone: 'closing' },
    },
    awaitingClose: {
      invoke: {
        id: 'awaitCloseFill',
        src: 'awaitCloseFill',
        input: ({ context }) => ({ owner: context.owner, orderId: context.closeOrderId ?? '', fromBlock: context.closeBlock ?? '0' }),
        onDone: { target: 'closed', actions: assign(({ event }) => ({ closePrice: event.output.closePrice, payout: event.output.payout })) },
      },
    },
    closed: { type: 'final', entry: [assign({ outcome: 'closed' as const }), notify] },
    canceled: { type: 'final', entry: [assign({ outcome: 'canceled' as const }), notify] },
    rejected: { type: 'final', entry: [assign({ outcome: 'rejected' as const }), notify] },
  },
});

/** The pairs a version 1 order could name (AVANTIS.md §7.1), for migrating them to indexes. */
const V1_PAIR_INDEXES: Readonly<Record<string, number>> = { 'ETH/USD': 0, 'BTC/USD': 1, 'SOL/USD': 2, 'BNB/USD': 3, 'ARB/USD': 4, 'DOGE/USD': 5, 'AVAX/USD': 6, 'OP/USD': 7 };

/**
 * Version 1 was a lifecycle skeleton driven by events (pending → open → closing → closed). A
 * pending v1 order never reached the chain, so it resumes by submitting. A v1 position past
 * pending had no on-chain trade behind it; rather than invent one, the migration refuses it and
 * the runtime quarantines that actor for an operator to look at.
 */
export function migratePositionV1(snapshot: Record<string, unknown>): Record<string, unknown> {
  const context = (snapshot['context'] ?? {}) as Record<string, unknown>;
  if (snapshot['value'] !== 'pending') {
    throw new Error(`a version 1 position in state ${JSON.stringify(snapshot['value'])} has no on-chain trade to resume`);
  }
  // v1 stored only the pair's name; trading the wrong pair would be worse than not trading.
  const pairIndex = V1_PAIR_INDEXES[String(context['pair'])];
  if (pairIndex === undefined) throw new Error(`a version 1 order on ${JSON.stringify(context['pair'])} has no known Avantis pair index`);
  return {
    ...snapshot,
    value: 'submitting',
    children: {},
    context: {
      positionId: context['positionId'],
      owner: context['owner'],
      pair: context['pair'],
      pairIndex,
      side: context['side'],
      collateral: context['collateral'],
      leverage: context['leverage'],
      slippageBps: 50,
      fillTimeoutMs: context['fillTimeoutMs'],
      ...NOTHING_YET,
    },
  };
}
