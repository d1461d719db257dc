import type { Logger } from 'pino';
import { checkOrderRisk, type RiskLimits } from '../../machines/risk.ts';
import { migrateUserV1, userMachine, userMachineVersion, type PositionNews } from '../../machines/user.machine.ts';
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
  /** The configured per-order and per-trader limits, checked before a position is even created. */
  readonly limits: RiskLimits;
}

export const userSystemId = (telegramId: number) => `user:${telegramId}`;

export function createUserKind(deps: UserKindDeps): ActorKind {
  /**
   * A trader hears about a change only once it is durable: a message sent for a state that was
   * then refused (another engine owns the actors now) would be a promise the owner never made.
   * Waiting on the barrier keeps the messages in order.
   */
  const tell = (telegramId: number, text: string) => {
    deps.runtime.flushed([userSystemId(telegramId)]).then(
      () => deps.notifyUser(telegramId, text),
      (err: unknown) => deps.logger.warn({ err, telegram_id: telegramId }, 'Not telling the trader about a change that was not persisted'),
    );
  };
  const logic = userMachine.provide({
    guards: {
      breaksRiskLimits: (_, order) => checkOrderRisk(order, order.openPositions, deps.limits) !== null,
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
          tell(owner, 'Your order could not be accepted right now. Nothing was sent; please try again.');
          deps.runtime.send(userSystemId(owner), { type: 'position.finished', positionId: order.positionId, outcome: 'rejected' });
        }
      }),
      refuse: safeEffect(deps.logger, 'refuse', (_, { telegramId, reason }) => tell(telegramId, reason)),
      refuseRisk: safeEffect(deps.logger, 'refuseRisk', (_, { telegramId, ...order }) => {
        const refusal = checkOrderRisk(order, order.openPositions, deps.limits);
        tell(telegramId, `Order refused, nothing was sent: ${refusal?.message ?? 'a risk limit applies.'}`);
      }),
      inform: safeEffect(deps.logger, 'inform', (_, { telegramId, news }) => tell(telegramId, describeOutcome(news))),
    },
  });
  return { kind: 'user', logic, version: userMachineVersion, migrations: { 1: migrateUserV1 } };
}

const OUTCOMES: Readonly<Record<string, string>> = {
  opened: 'is open',
  delayed: 'is still waiting for the keeper to fill it; it stays tracked and nothing is sent twice',
  retrying: 'could not be sent yet and is retried automatically (nothing is sent twice)',
  'close-refused': 'could not be closed; it is still open, and you can ask to close it again',
  'close-canceled': 'was not closed: Avantis canceled the close request. It is still open; you can ask to close it again',
  rejected: 'was refused before anything was executed',
};

const CLOSED_BY: Readonly<Record<string, string>> = {
  trader: 'is closed',
  tp: 'was closed by its take-profit',
  sl: 'was closed by its stop-loss',
  liquidation: 'was liquidated',
  unknown: 'was closed on chain (how, the chain logs did not say)',
};

/** A short sentence for the trader; the chat front end will replace these with richer cards. */
export function describeOutcome(news: PositionNews): string {
  const id = news.positionId;
  if (news.outcome === 'closed') {
    const how = CLOSED_BY[news.closedBy ?? 'trader'] ?? 'is closed';
    const at = news.closePrice ? ` at ${news.closePrice}` : '';
    const paid = news.payout !== null && news.payout !== undefined ? ` ${news.payout} USDC was paid out.` : news.closedBy === 'unknown' ? ' Check your wallet for the payout.' : '';
    return `Order ${id} ${how}${at}.${paid}`;
  }
  if (news.outcome === 'canceled') {
    return news.canceledBy === 'operator'
      ? `Order ${id} was canceled by the Avantis operator before it was filled; your collateral was refunded (the execution fee is not).`
      : `Order ${id} was canceled by Avantis (the price moved beyond your slippage, or the trade could not be placed); your collateral was refunded.`;
  }
  return `Order ${id} ${OUTCOMES[news.outcome] ?? news.outcome}.${news.detail ? ` ${news.detail}` : ''}`;
}
