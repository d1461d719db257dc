import { assign, enqueueActions, fromPromise, setup } from 'xstate';
import { deadlinePlaceholder } from './deadline.ts';
import type { WithdrawalNews } from './notices.ts';

/**
 * One actor per USDC withdrawal (`withdrawal:<id>`, a child of its trader's `user:<telegramId>`),
 * from the confirmed request to the chain's verdict:
 *
 *   requested ──(this actor and its owner are durable)──▶ sending ──(signed, broadcast)──▶ confirming
 *        │                                                 │  ▲                              │
 *        │                                                 │  └──── retrying ◀──(retryable)──┤
 *        │                                                 │         ▲                       │
 *        │                                                 ├─────────┘(retryable)            ├─(mined)──▶ done
 *        └──(not recorded)──▶ failed ◀──(refused before anything was signed)                 └─(reverted, superseded, rejected)──▶ failed
 *
 * The transfer is one transaction-outbox intent, `withdrawal:<id>` (ADR 0008): every `sending`
 * (first, after a retry, after a restore) submits that same intent, which resumes whatever was
 * reserved, signed or broadcast before and never signs a second transaction. So a crash anywhere
 * sends the USDC at most once, and the actor only ends when the chain has said what happened:
 * `failed` is entered only when nothing was signed, or the chain's verdict is final (reverted:
 * gas spent, no USDC moved; superseded or rejected: nothing executed). Anything else, including
 * a receipt that is slow to come, is retried with backoff for as long as it takes.
 *
 * The owner hears every step (`notifyOwner`), which the user machine turns into durable notices.
 * Pure: the effects (`persisted`, `sendTransfer`, `confirmTransfer`, `deadline`, `notifyOwner`)
 * are provided by src/actors/kinds/withdrawal.actor.ts.
 */
export const withdrawalMachineVersion = 1;

export interface WithdrawalInput {
  readonly withdrawalId: string;
  /** Owner's systemId (`user:42`), also its wallet's id in the keystore. */
  readonly owner: string;
  /** Destination, checksummed (the desk checked it). */
  readonly to: string;
  /** USDC, decimal string (> 0, at most 6 decimals). */
  readonly amount: string;
}

/** What the transfer effects receive: the withdrawal itself. */
export type TransferRequest = WithdrawalInput;

export interface TransferReceipt {
  readonly txHash: string;
  /** Block of the mined transfer, decimal. */
  readonly block: string;
}

export interface ErrorData {
  readonly code: string;
  readonly message: string;
  readonly retryable: boolean;
}

export interface WithdrawalContext extends WithdrawalInput {
  /** The transfer was signed and broadcast at least once (the trader was told). */
  readonly broadcast: boolean;
  readonly txHash: string | null;
  readonly block: string | null;
  readonly error: ErrorData | null;
  /** Retries so far (each backs off longer, up to 30 s). */
  readonly attempts: number;
  readonly outcome: 'done' | 'failed' | null;
}

/** What the owning user actor is told; `final` notices end the withdrawal. */
export interface WithdrawalOwnerNotice extends WithdrawalNews {
  readonly owner: string;
  readonly final: boolean;
}

/**
 * The chain's final word that the transfer did not happen: a reverted receipt, another
 * transaction in its nonce, or no node ever holding it. Only these end a transfer that was
 * signed; every other failure may leave it in flight, so it is retried.
 */
export const FINAL_VERDICTS: ReadonlySet<string> = new Set(['TX_REVERTED', 'TX_SUPERSEDED', 'TX_REJECTED']);

export function errorData(error: unknown): ErrorData {
  if (error && typeof error === 'object') {
    const e = error as { code?: unknown; message?: unknown; retryable?: unknown };
    return { code: typeof e.code === 'string' ? e.code : 'INTERNAL', message: typeof e.message === 'string' ? e.message : 'Unexpected error', retryable: e.retryable === true };
  }
  return { code: 'INTERNAL', message: String(error), retryable: false };
}

const RETRY_BASE_MS = 1_000;
const RETRY_MAX_MS = 30_000;
export const retryDelay = (attempts: number): number => Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.max(0, Math.min(attempts, 16) - 1));

export const transferOf = (c: WithdrawalContext): TransferRequest => ({ withdrawalId: c.withdrawalId, owner: c.owner, to: c.to, amount: c.amount });

const news = (outcome: WithdrawalNews['outcome'], final: boolean) =>
  ({
    type: 'notifyOwner',
    params: ({ context }: { context: WithdrawalContext }): WithdrawalOwnerNotice => ({
      owner: context.owner,
      final,
      withdrawalId: context.withdrawalId,
      outcome,
      to: context.to,
      amount: context.amount,
      txHash: outcome === 'done' ? context.txHash : null,
      detail: outcome === 'failed' || outcome === 'retrying' ? (context.error?.message ?? null) : null,
    }),
  }) as const;

const unprovided = (name: string) =>
  fromPromise<never, unknown>(() => Promise.reject(new Error(`The '${name}' effect was not provided: create withdrawals through src/actors.`)));

export const withdrawalMachine = setup({
  types: {
    context: {} as WithdrawalContext,
    input: {} as WithdrawalInput,
  },
  actors: {
    deadline: deadlinePlaceholder,
    /** Resolves once this actor's and its owner's snapshots are durable; rejects if a write was refused. */
    persisted: unprovided('persisted') as unknown as ReturnType<typeof fromPromise<void, TransferRequest>>,
    /** Submits (or resumes) the intent `withdrawal:<id>`: resolves once it is signed and broadcast. */
    sendTransfer: unprovided('sendTransfer') as unknown as ReturnType<typeof fromPromise<void, TransferRequest>>,
    /** Waits for the chain's verdict; rejects with a FINAL_VERDICTS code when it did not happen. */
    confirmTransfer: unprovided('confirmTransfer') as unknown as ReturnType<typeof fromPromise<TransferReceipt, TransferRequest>>,
  },
  actions: {
    /** Provided by the actors layer: tell the owning user actor (and through it the trader). */
    notifyOwner: (_, _params: WithdrawalOwnerNotice) => {},
    failedWith: assign(({ event }) => ({ error: errorData((event as { error?: unknown }).error) })),
    retryWith: assign(({ context, event }) => ({ error: errorData((event as { error?: unknown }).error), attempts: context.attempts + 1 })),
  },
  guards: {
    retryable: ({ event }) => errorData((event as { error?: unknown }).error).retryable,
    finalVerdict: ({ event }) => FINAL_VERDICTS.has(errorData((event as { error?: unknown }).error).code),
  },
}).createMachine({
  id: 'withdrawal',
  context: ({ input }) => ({ ...input, broadcast: false, txHash: null, block: null, error: null, attempts: 0, outcome: null }),
  initial: 'requested',
  states: {
    requested: {
      // Nothing is signed before the request is on disk: a crash can never leave a transfer that
      // no persisted actor knows about.
      invoke: { id: 'persisted', src: 'persisted', input: ({ context }) => transferOf(context), onDone: 'sending', onError: { target: 'failed', actions: 'failedWith' } },
    },
    sending: {
      invoke: {
        id: 'sendTransfer',
        src: 'sendTransfer',
        input: ({ context }) => transferOf(context),
        onDone: {
          target: 'confirming',
          actions: enqueueActions(({ context, enqueue }) => {
            // Said once: a resumed or retried send re-broadcasts the same bytes, which is no news.
            if (!context.broadcast) enqueue(news('sent', false));
            enqueue.assign({ broadcast: true });
          }),
        },
        onError: [
          { guard: 'retryable', target: 'retrying', actions: 'retryWith' },
          { target: 'failed', actions: 'failedWith' },
        ],
      },
    },
    confirming: {
      invoke: {
        id: 'confirmTransfer',
        src: 'confirmTransfer',
        input: ({ context }) => transferOf(context),
        onDone: { target: 'done', actions: assign(({ event }) => ({ txHash: event.output.txHash, block: event.output.block, error: null })) },
        onError: [
          { guard: 'finalVerdict', target: 'failed', actions: 'failedWith' },
          // Not a verdict (the receipt is slow, the node is down): it may still be mined; keep at it.
          { target: 'retrying', actions: 'retryWith' },
        ],
      },
    },
    retrying: {
      // Tell the trader once, on the first failure, not on every retry.
      entry: enqueueActions(({ context, enqueue }) => {
        if (context.attempts === 1) enqueue(news('retrying', false));
      }),
      invoke: { id: 'retryTransfer', src: 'deadline', input: ({ context }) => ({ delayMs: retryDelay(context.attempts) }), onDone: 'sending' },
    },
    done: { type: 'final', entry: [assign({ outcome: 'done' as const }), news('done', true)] },
    failed: { type: 'final', entry: [assign({ outcome: 'failed' as const }), news('failed', true)] },
  },
});
