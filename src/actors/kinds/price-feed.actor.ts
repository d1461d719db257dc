import type { Logger } from 'pino';
import type { Clock } from '../../infra/clock.ts';
import { priceFeedMachine, priceFeedMachineVersion } from '../../machines/price-feed.machine.ts';
import { createDeadlineLogic } from '../deadline.ts';
import { safeEffect } from '../effects.ts';
import type { ActorKind } from '../kind.ts';

export interface PriceUpdate {
  readonly pair: string;
  readonly price: string;
  readonly publishTime: number;
}

export interface PriceFeedKindDeps {
  readonly logger: Logger;
  readonly clock: Clock;
  /** Receives every accepted price (cache + fan-out to positions and alerts). */
  readonly onPrice: (update: PriceUpdate) => void;
  /** Receives halts and resumes of a pair. */
  readonly onHalt: (pair: string, halted: boolean, reason: string | null) => void;
}

export const priceFeedSystemId = (pair: string) => `price-feed:${pair}`;

export function createPriceFeedKind(deps: PriceFeedKindDeps): ActorKind {
  const logic = priceFeedMachine.provide({
    actors: { deadline: createDeadlineLogic(deps.clock) },
    actions: {
      publishPrice: safeEffect(deps.logger, 'publishPrice', (_, update) => deps.onPrice(update)),
      publishHalt: safeEffect(deps.logger, 'publishHalt', (_, { pair, halted, reason }) => {
        if (halted) deps.logger.warn({ pair, reason }, 'Trading halted on pair');
        else deps.logger.info({ pair }, 'Trading resumed on pair');
        deps.onHalt(pair, halted, reason);
      }),
    },
  });
  return { kind: 'price-feed', logic, version: priceFeedMachineVersion };
}
