import type { Logger } from 'pino';
import type { Clock } from '../../infra/clock.ts';
import { positionMachine, positionMachineVersion } from '../../machines/position.machine.ts';
import { createDeadlineLogic } from '../deadline.ts';
import { safeEffect } from '../effects.ts';
import type { ActorKind } from '../kind.ts';
import type { RuntimeHandle } from '../runtime.ts';

export interface PositionKindDeps {
  readonly runtime: RuntimeHandle;
  readonly logger: Logger;
  readonly clock: Clock;
}

export function createPositionKind(deps: PositionKindDeps): ActorKind {
  const logic = positionMachine.provide({
    actors: { deadline: createDeadlineLogic(deps.clock) },
    actions: {
      notifyOwner: safeEffect(deps.logger, 'notifyOwner', (_, { owner, positionId, outcome }) => {
        if (!deps.runtime.send(owner, { type: 'position.finished', positionId, outcome })) {
          deps.logger.warn({ owner, position_id: positionId }, 'Owner is not running; it will see the outcome when restored');
        }
      }),
    },
  });
  return { kind: 'position', logic, version: positionMachineVersion };
}
