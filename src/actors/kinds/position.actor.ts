import { fromCallback, fromPromise, type EventObject } from 'xstate';
import type { Logger } from 'pino';
import { PersistConflictError } from '../../errors.ts';
import { pause, type Clock } from '../../infra/clock.ts';
import {
  positionMachine,
  positionMachineVersion,
  type ChainEvent,
  type CloseRequest,
  type FollowCloseInput,
  type FollowOpenInput,
  type PositionInput,
  type SubmittedOrder,
  type WatchTradeInput,
} from '../../machines/position.machine.ts';
import { migratePositionV1, migratePositionV2 } from '../../machines/position.migrations.ts';
import { createDeadlineLogic } from '../deadline.ts';
import { safeEffect } from '../effects.ts';
import type { ActorKind } from '../kind.ts';
import type { FollowHooks, OpenGate, OrderGateway } from '../order-gateway.ts';
import type { RuntimeHandle } from '../runtime.ts';

export interface PositionKindDeps {
  readonly runtime: RuntimeHandle;
  readonly logger: Logger;
  readonly clock: Clock;
  /** The chain side; without one (no chain configured) every order is rejected with a clear reason. */
  readonly orders: OrderGateway | null;
  /** The operator's trading controls, asked before a new open is signed (src/actors/kinds/controls.actor.ts). */
  readonly openGate: OpenGate;
}

/** A rejected promise, never a synchronous throw: effects must fail through their promise. */
const noChain = (): Promise<never> =>
  Promise.reject(Object.assign(new Error('This engine trades on no chain (paper mode sends nothing), so this order cannot go further.'), { code: 'CHAIN_UNAVAILABLE' }));

const FOLLOW_RETRY_BASE_MS = 1_000;
const FOLLOW_RETRY_MAX_MS = 60_000;

export function createPositionKind(deps: PositionKindDeps): ActorKind {
  const { orders } = deps;

  /**
   * Submissions first make the position's own state (and its owner's) durable, so a crash can
   * never leave an on-chain request that no persisted actor knows about; and a position whose
   * write was refused (another engine owns it, or this one lost its lease) is stopped by the
   * runtime, which aborts `signal`: it must then send nothing.
   */
  const submission = <I extends { readonly positionId: string; readonly owner: string }, O>(submit: (gateway: OrderGateway, input: I) => Promise<O>, first = false) =>
    fromPromise<O, I>(async ({ input, signal }) => {
      // flushed() rejects when either write was refused (the lease lost, another writer of the row).
      try {
        await deps.runtime.flushed([`position:${input.positionId}`, input.owner]);
      } catch (err) {
        // Only a position's first write can meet a row it did not write itself.
        if (first && err instanceof PersistConflictError && err.details['actorId'] === `position:${input.positionId}`) forgetReusedId(input);
        throw err;
      }
      signal.throwIfAborted();
      return orders ? submit(orders, input) : noChain();
    });

  /**
   * A chain follow as an invoked callback: it reports its cursor (`chain.progress`, which the
   * machine persists) and finally what the chain did. A follow only reads, so a failure is
   * retried here with backoff instead of failing the position.
   */
  const follow = <I extends object>(name: string, run: (gateway: OrderGateway, input: I, hooks: FollowHooks, send: (event: ChainEvent) => void) => Promise<ChainEvent>) =>
    fromCallback<EventObject, I>(({ input, sendBack }) => {
      const controller = new AbortController();
      const send = (event: ChainEvent) => {
        if (!controller.signal.aborted) sendBack(event);
      };
      const hooks: FollowHooks = { signal: controller.signal, onProgress: (cursor) => send({ type: 'chain.progress', cursor }) };
      void (async () => {
        if (!orders) return; // no chain: nothing will ever settle; the trader was told at submission
        for (let failures = 0; !controller.signal.aborted; ) {
          try {
            send(await run(orders, input, hooks, send));
            return;
          } catch (err) {
            if (controller.signal.aborted) return;
            failures += 1;
            if (failures === 1 || failures % 10 === 0) deps.logger.warn({ err, effect: name, failures }, 'Following the chain failed; retrying');
            await pause(deps.clock, Math.min(FOLLOW_RETRY_MAX_MS, FOLLOW_RETRY_BASE_MS * 2 ** Math.min(failures - 1, 10)), controller.signal);
          }
        }
      })();
      return () => controller.abort();
    });

  /**
   * The position's very row was already there: its id belongs to an earlier order (a replayed or
   * forged button, another trader's id). The runtime stopped this copy and nothing is sent; the
   * owner, who listed it, is told so it does not wait (or count it) forever.
   */
  const forgetReusedId = (input: { positionId: string; owner: string }) => {
    deps.logger.warn({ position_id: input.positionId, owner: input.owner }, 'An order reused the id of an earlier order; nothing was sent');
    deps.runtime.send(input.owner, {
      type: 'position.finished',
      positionId: input.positionId,
      outcome: 'rejected',
      detail: 'This order id was already used by an earlier order, so nothing was sent. Place the order again.',
    });
  };

  const logic = positionMachine.provide({
    actors: {
      deadline: createDeadlineLogic(deps.clock),
      submitOpen: submission<PositionInput, SubmittedOrder>((gateway, input) => gateway.submitOpen(input, deps.openGate), true),
      submitClose: submission<CloseRequest, SubmittedOrder>((gateway, input) => gateway.submitClose(input)),
      followOpen: follow<FollowOpenInput>('followOpen', async (gateway, input, hooks) => {
        const settled = await gateway.followOpen(input, hooks);
        return settled.kind === 'filled' ? { type: 'chain.opened', trade: settled.trade } : { type: 'chain.canceled', by: settled.by };
      }),
      followClose: follow<FollowCloseInput>('followClose', async (gateway, input, hooks) => {
        const settled = await gateway.followClose(input, hooks);
        return settled.kind === 'closed' ? { type: 'chain.closed', closure: settled.closure } : { type: 'chain.closeCanceled' };
      }),
      watchTrade: follow<WatchTradeInput>('watchTrade', async (gateway, input, hooks, send) => ({
        type: 'chain.closed',
        closure: await gateway.watchTrade(input, { ...hooks, onIdentified: (openedAt) => send({ type: 'chain.identified', openedAt }) }),
      })),
    },
    actions: {
      notifyOwner: safeEffect(deps.logger, 'notifyOwner', (_, notice) => {
        const { owner, final, ...rest } = notice;
        if (!deps.runtime.send(owner, { type: final ? 'position.finished' : 'position.updated', ...rest })) {
          deps.logger.warn({ owner, position_id: notice.positionId }, 'Owner is not running; it will see the outcome when restored');
        }
      }),
    },
  });
  return { kind: 'position', logic, version: positionMachineVersion, migrations: { 1: migratePositionV1, 2: migratePositionV2 } };
}

