import { enqueueActions } from 'xstate';
import type { Logger } from 'pino';
import { checkOrderRisk, type RiskLimits } from '../../machines/risk.ts';
import { allowlistProblem } from '../../machines/notices.ts';
import { migrateUserV1, migrateUserV2, migrateUserV3, userMachine, userMachineVersion, type NoticeDraft } from '../../machines/user.machine.ts';
import { safeEffect } from '../effects.ts';
import type { ActorKind } from '../kind.ts';
import type { NoticeCourier } from '../notice-courier.ts';
import type { RuntimeHandle } from '../runtime.ts';
import { withdrawalSystemId } from './withdrawal.actor.ts';

export { describeOutcome } from '../../machines/notices.ts';

export interface UserKindDeps {
  readonly runtime: RuntimeHandle;
  readonly logger: Logger;
  /** Delivers the notices the user machine keeps, once they are durable (src/actors/notice-courier.ts). */
  readonly courier: Pick<NoticeCourier, 'kick'>;
  /** How long a submitted order may wait for its keeper fill. */
  readonly fillTimeoutMs: number;
  /** The configured per-order and per-trader limits, checked before a position is even created. */
  readonly limits: RiskLimits;
  /** Live: a withdrawal's destination must be on the trader's allowlist, past its waiting period. */
  readonly requireWithdrawAllowlist: boolean;
}

export const userSystemId = (telegramId: number) => `user:${telegramId}`;

export function createUserKind(deps: UserKindDeps): ActorKind {
  const logic = userMachine.provide({
    guards: {
      breaksRiskLimits: (_, order) => checkOrderRisk(order, order.openPositions, deps.limits) !== null,
      breaksAllowlist: ({ context }, { to, at }) => deps.requireWithdrawAllowlist && allowlistProblem(context.allowlist, to, at) !== null,
    },
    actions: {
      spawnPosition: safeEffect(deps.logger, 'spawnPosition', (_, { owner, order, slippageBps }) => {
        try {
          deps.runtime.spawn(`position:${order.positionId}`, {
            parent: userSystemId(owner),
            input: { ...order, owner: userSystemId(owner), slippageBps, fillTimeoutMs: deps.fillTimeoutMs },
          });
        } catch (err) {
          deps.logger.warn({ err, position_id: order.positionId }, 'Could not create position actor');
          deps.runtime.send(userSystemId(owner), {
            type: 'position.finished',
            positionId: order.positionId,
            outcome: 'rejected',
            pair: order.pair,
            side: order.side,
            detail: 'Your order could not be accepted right now. Nothing was sent; please try again.',
          });
        }
      }),
      spawnWithdrawal: safeEffect(deps.logger, 'spawnWithdrawal', (_, { owner, request }) => {
        try {
          deps.runtime.spawn(withdrawalSystemId(request.withdrawalId), { parent: userSystemId(owner), input: { ...request, owner: userSystemId(owner) } });
        } catch (err) {
          deps.logger.warn({ err, withdrawal_id: request.withdrawalId }, 'Could not create withdrawal actor');
          deps.runtime.send(userSystemId(owner), {
            type: 'withdrawal.finished',
            withdrawalId: request.withdrawalId,
            outcome: 'failed',
            to: request.to,
            amount: request.amount,
            detail: 'Your withdrawal could not be accepted right now, so nothing was sent; please try again.',
          });
        }
      }),
      // The refusal is a notice of the same transition; only the wording needs the configured limits.
      refuseRisk: enqueueActions(({ enqueue }, order: { positionId: string; collateral: string; leverage: number; openPositions: number }) => {
        const refusal = checkOrderRisk(order, order.openPositions, deps.limits);
        const draft: NoticeDraft = { kind: 'order.refused', positionId: order.positionId, text: `Order refused, nothing was sent: ${refusal?.message ?? 'a risk limit applies.'}` };
        enqueue({ type: 'tell', params: draft });
      }) as never,
      deliverNotices: safeEffect(deps.logger, 'deliverNotices', (_, { telegramId }) => deps.courier.kick(userSystemId(telegramId))),
      noticesDropped: safeEffect(deps.logger, 'noticesDropped', (_, { telegramId, ids }) =>
        deps.logger.warn({ telegram_id: telegramId, dropped: ids }, 'Dropped the oldest undelivered notices of a trader: too many were waiting'),
      ),
    },
  });
  return { kind: 'user', logic, version: userMachineVersion, migrations: { 1: migrateUserV1, 2: migrateUserV2, 3: migrateUserV3 } };
}
