import { fromPromise } from 'xstate';
import type { Logger } from 'pino';
import { PersistConflictError, VantaError } from '../../errors.ts';
import type { Clock } from '../../infra/clock.ts';
import type { Database } from '../../infra/db/database.ts';
import { withdrawalMachine, withdrawalMachineVersion, type TransferReceipt, type TransferRequest, type WithdrawalContext } from '../../machines/withdrawal.machine.ts';
import { createDeadlineLogic } from '../deadline.ts';
import { safeEffect } from '../effects.ts';
import type { ActorKind } from '../kind.ts';
import type { RuntimeHandle } from '../runtime.ts';
import type { WithdrawalGateway } from '../withdrawal-gateway.ts';

export interface WithdrawalKindDeps {
  readonly runtime: RuntimeHandle;
  readonly logger: Logger;
  readonly clock: Clock;
  /** The chain side; null where the engine sends nothing (paper): every withdrawal then fails, saying so. */
  readonly withdrawals: WithdrawalGateway | null;
}

export const withdrawalSystemId = (withdrawalId: string): string => `withdrawal:${withdrawalId}`;

/** A rejected promise, never a synchronous throw: effects must fail through their promise. */
const noChain = (): Promise<never> => Promise.reject(new VantaError('CHAIN_UNAVAILABLE', 'This engine sends no transactions now (paper mode, or a deployment it cannot verify), so nothing was sent.'));

export function createWithdrawalKind(deps: WithdrawalKindDeps): ActorKind {
  const { withdrawals } = deps;

  /**
   * A withdrawal whose very first write met a row it did not write: its id was used before (a
   * forged or replayed request). The runtime stopped this copy and nothing is sent; the owner,
   * who listed it, is told so it does not wait for it forever.
   */
  const forgetReusedId = (input: TransferRequest) => {
    deps.logger.warn({ withdrawal_id: input.withdrawalId, owner: input.owner }, 'A withdrawal reused the id of an earlier one; nothing was sent');
    deps.runtime.send(input.owner, {
      type: 'withdrawal.finished',
      withdrawalId: input.withdrawalId,
      outcome: 'failed',
      to: input.to,
      amount: input.amount,
      detail: 'This withdrawal reference was already used, so nothing was sent. Start the withdrawal again.',
    });
  };

  const logic = withdrawalMachine.provide({
    actors: {
      deadline: createDeadlineLogic(deps.clock),
      persisted: fromPromise<void, TransferRequest>(async ({ input }) => {
        try {
          // The owner lists this withdrawal and this actor holds it: both on disk before anything is signed.
          await deps.runtime.flushed([withdrawalSystemId(input.withdrawalId), input.owner]);
        } catch (err) {
          if (err instanceof PersistConflictError && err.details['actorId'] === withdrawalSystemId(input.withdrawalId)) forgetReusedId(input);
          throw err;
        }
      }),
      sendTransfer: fromPromise<void, TransferRequest>(async ({ input, signal }) => {
        // A copy the runtime stopped (its write refused, the lease lost) must send nothing.
        signal.throwIfAborted();
        return withdrawals ? withdrawals.send(input) : noChain();
      }),
      confirmTransfer: fromPromise<TransferReceipt, TransferRequest>(({ input }) => (withdrawals ? withdrawals.confirm(input) : noChain())),
    },
    actions: {
      notifyOwner: safeEffect(deps.logger, 'notifyOwner', (_, notice) => {
        const { owner, final, ...news } = notice;
        if (!deps.runtime.send(owner, { type: final ? 'withdrawal.finished' : 'withdrawal.updated', ...news })) {
          deps.logger.warn({ owner, withdrawal_id: notice.withdrawalId }, 'Owner is not running; it will see the outcome when restored');
        }
      }),
    },
  });
  return { kind: 'withdrawal', logic, version: withdrawalMachineVersion };
}

export interface WithdrawalReconcilerDeps {
  readonly db: Pick<Database, 'sql'>;
  readonly runtime: Pick<RuntimeHandle, 'get' | 'send'>;
  /** True while the actor runs or restarts in this engine. */
  readonly isLive: (id: string) => boolean;
  readonly logger: Logger;
}

interface WithdrawalRow {
  readonly status: string;
  readonly snapshot: { readonly context?: Partial<WithdrawalContext> };
}

/**
 * Makes sure a trader hears how every withdrawal ended, whatever a crash cut short. A finished
 * withdrawal tells its owner in the same moment it ends, but the two actors' rows may be written
 * in different batches: a crash between them leaves the owner listing a withdrawal whose row is
 * already final, and nothing would ever tell it. Run whenever a user actor (re)starts (restore,
 * supervised restart, release): for each withdrawal it lists that is not live here, the final
 * row's outcome is told again; a listed withdrawal with no row at all was never recorded, so
 * nothing was signed for it (signing waits for that write) and it is told as failed. An active or
 * quarantined row is left alone (it is being restored, or held for an operator).
 */
export function createWithdrawalReconciler(deps: WithdrawalReconcilerDeps): { reconcile(userId: string): Promise<void> } {
  return {
    async reconcile(userId) {
      const user = deps.runtime.get(userId)?.getSnapshot() as { context?: { withdrawals?: readonly string[] } } | undefined;
      for (const id of user?.context?.withdrawals ?? []) {
        if (deps.isLive(id)) continue;
        const [row] = await deps.db.sql<WithdrawalRow>('select status, snapshot from actor_snapshots where id = ?', [id]);
        const withdrawalId = id.slice('withdrawal:'.length);
        if (row && row.status !== 'done') continue;
        // Checked again after the read: it may have been restored meanwhile.
        if (deps.isLive(id)) continue;
        const c = row?.snapshot.context ?? {};
        const done = c.outcome === 'done';
        deps.logger.warn({ actor_id: userId, withdrawal_id: withdrawalId, row: row ? row.status : 'none' }, 'A trader listed a withdrawal that had ended without telling it; telling it now');
        deps.runtime.send(userId, {
          type: 'withdrawal.finished',
          withdrawalId,
          outcome: done ? 'done' : 'failed',
          to: c.to ?? null,
          amount: c.amount ?? null,
          txHash: done ? (c.txHash ?? null) : null,
          detail: done ? null : row ? (c.error?.message ?? null) : 'It was not recorded before the engine stopped, so nothing was sent. Start it again.',
        });
      }
    },
  };
}
