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
      spawnPosition: safeEffect(deps.logger, 'spawnPosition', (_, { owner, order, slippageBps }) => {
        try {
          deps.runtime.spawn(`position:${order.positionId}`, {
            parent: userSystemId(owner),
            input: { ...order, owner: userSystemId(owner), slippageBps, fillTimeoutMs: deps.fillTimeoutMs },
          });
        } catch (err) {
          deps.logger.warn({ err, position_id: order.positionId }, 'Could not create position actor');
          deps.notifyUser(owner, 'Your order could not be accepted right now. Nothing was sent; please try again.');
          deps.runtime.send(userSystemId(owner), { type: 'position.finished', positionId: order.positionId, outcome: 'rejected' });
        }
      }),
      refuse: safeEffect(deps.logger, 'refuse', (_, { telegramId, reason }) => deps.notifyUser(telegramId, reason)),
      inform: safeEffect(deps.logger, 'inform', (_, { telegramId, positionId, outcome, detail }) => deps.notifyUser(telegramId, describeOutcome(positionId, outcome, detail))),
    },
  });
  return { kind: 'user', logic, version: userMachineVersion };
}

const OUTCOMES: Readonly<Record<string, string>> = {
  opened: 'is open',
  delayed: 'is still waiting for the keeper to fill it; it stays tracked and nothing is sent twice',
  retrying: 'could not be sent yet and is retried automatically (nothing is sent twice)',
  'close-refused': 'could not be closed; it is still open',
  closed: 'is closed',
  canceled: 'was canceled by Avantis (the price moved beyond your slippage); your collateral was refunded',
  rejected: 'was refused before anything was executed',
};

/** A short sentence for the trader; the chat front end will replace these with richer cards. */
function describeOutcome(positionId: string, outcome: string, detail: string | null): string {
  return `Order ${positionId} ${OUTCOMES[outcome] ?? outcome}.${detail ? ` ${detail}` : ''}`;
}
