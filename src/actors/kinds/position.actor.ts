import { fromPromise } from 'xstate';
import type { Logger } from 'pino';
import type { Clock } from '../../infra/clock.ts';
import { migratePositionV1, positionMachine, positionMachineVersion, type CloseFill, type OpenFill, type PositionInput, type SubmittedOrder } from '../../machines/position.machine.ts';
import { createDeadlineLogic } from '../deadline.ts';
import { safeEffect } from '../effects.ts';
import type { ActorKind } from '../kind.ts';
import type { OrderGateway } from '../order-gateway.ts';
import type { RuntimeHandle } from '../runtime.ts';

export interface PositionKindDeps {
  readonly runtime: RuntimeHandle;
  readonly logger: Logger;
  readonly clock: Clock;
  /** The chain side; without one (no chain configured) every order is rejected with a clear reason. */
  readonly orders: OrderGateway | null;
}

/** A rejected promise, never a synchronous throw: effects must fail through their promise. */
const noChain = (): Promise<never> =>
  Promise.reject(Object.assign(new Error('This engine trades on no chain (paper mode sends nothing), so this order cannot go further.'), { code: 'CHAIN_UNAVAILABLE' }));

export function createPositionKind(deps: PositionKindDeps): ActorKind {
  const { orders } = deps;
  const logic = positionMachine.provide({
    actors: {
      deadline: createDeadlineLogic(deps.clock),
      // Submissions first make the position's own state (and its owner's) durable: see RuntimeHandle.flushed.
      // If that write was refused (lease lost, or another writer has the row) flushed() rejects, and
      // an actor stopped meanwhile has its signal aborted: either way nothing is sent.
      submitOpen: fromPromise<SubmittedOrder, PositionInput>(async ({ input, signal }) => {
        await deps.runtime.flushed([`position:${input.positionId}`, input.owner]);
        signal.throwIfAborted();
        return orders ? orders.submitOpen(input) : noChain();
      }),
      awaitOpenFill: fromPromise<OpenFill, { owner: string; orderId: string; fromBlock: string }>(({ input, signal }) => (orders ? orders.awaitOpenFill(input, signal) : noChain())),
      submitClose: fromPromise<SubmittedOrder, { positionId: string; owner: string; pairIndex: number; tradeIndex: number; collateral: string }>(async ({ input, signal }) => {
        await deps.runtime.flushed([`position:${input.positionId}`, input.owner]);
        signal.throwIfAborted();
        return orders ? orders.submitClose(input) : noChain();
      }),
      awaitCloseFill: fromPromise<CloseFill, { owner: string; orderId: string; fromBlock: string }>(({ input, signal }) => (orders ? orders.awaitCloseFill(input, signal) : noChain())),
    },
    actions: {
      notifyOwner: safeEffect(deps.logger, 'notifyOwner', (_, { owner, positionId, outcome, final, detail }) => {
        if (!deps.runtime.send(owner, { type: final ? 'position.finished' : 'position.updated', positionId, outcome, detail })) {
          deps.logger.warn({ owner, position_id: positionId }, 'Owner is not running; it will see the outcome when restored');
        }
      }),
    },
  });
  return { kind: 'position', logic, version: positionMachineVersion, migrations: { 1: migratePositionV1 } };
}
