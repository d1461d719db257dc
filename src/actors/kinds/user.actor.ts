import type { Logger } from 'pino';
import { userMachine, userMachineVersion } from '../../machines/user.machine.ts';
import { safeEffect } from '../effects.ts';
import type { ActorKind } from '../kind.ts';
import type { RuntimeHandle } from '../runtime.ts';

export interface UserKindDeps {
  readonly runtime: RuntimeHandle;
  readonly logger: Logger;
  /** Tells a user something (the Telegram front end provides it). */
  readonly notifyUser: (telegramId: number, text: string) => void;
  /** How long a submitted order may wait for its keeper fill. */
  readonly fillTimeoutMs: number;
}

export const userSystemId = (telegramId: number) => `user:${telegramId}`;

export function createUserKind(deps: UserKindDeps): ActorKind {
  const logic = userMachine.provide({
    actions: {
      spawnPosition: safeEffect(deps.logger, 'spawnPosition', (_, { owner, order }) => {
        try {
          deps.runtime.spawn(`position:${order.positionId}`, {
            parent: userSystemId(owner),
            input: { ...order, owner: userSystemId(owner), fillTimeoutMs: deps.fillTimeoutMs },
          });
        } catch (err) {
          deps.logger.warn({ err, position_id: order.positionId }, 'Could not create position actor');
          deps.notifyUser(owner, 'Your order could not be accepted right now. Nothing was sent; please try again.');
          deps.runtime.send(userSystemId(owner), { type: 'position.finished', positionId: order.positionId, outcome: 'rejected' });
        }
      }),
      refuse: safeEffect(deps.logger, 'refuse', (_, { telegramId, reason }) => deps.notifyUser(telegramId, reason)),
    },
  });
  return { kind: 'user', logic, version: userMachineVersion };
}
