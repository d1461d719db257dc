import { assign, setup } from 'xstate';
import { deadlinePlaceholder } from './deadline.ts';

/**
 * One actor per order/position, from request to final state. This is the
 * lifecycle skeleton the transaction pipeline plugs into: a pending order
 * expires if it is not filled before its deadline (a deadline timer, so the
 * expiry survives a crash and restart), a filled order is open until closed.
 * Every final state tells the owner, which forgets the position.
 */
export const positionMachineVersion = 1;

export interface PositionInput {
  readonly positionId: string;
  /** Owner's systemId, e.g. `user:42`. */
  readonly owner: string;
  readonly pair: string;
  readonly side: 'long' | 'short';
  readonly collateral: string;
  readonly leverage: number;
  /** How long a pending order may wait for its fill. */
  readonly fillTimeoutMs: number;
}

export interface PositionContext extends PositionInput {
  readonly openPrice: string | null;
  readonly closePrice: string | null;
  readonly outcome: 'closed' | 'expired' | 'canceled' | null;
}

export type PositionEvent =
  | { type: 'order.filled'; price: string }
  | { type: 'order.canceled'; reason: string }
  | { type: 'close.requested' }
  | { type: 'order.closed'; price: string };

const notify = {
  type: 'notifyOwner',
  params: ({ context }: { context: PositionContext }) => ({ owner: context.owner, positionId: context.positionId, outcome: context.outcome ?? 'unknown' }),
} as const;

export const positionMachine = setup({
  types: {
    context: {} as PositionContext,
    events: {} as PositionEvent,
    input: {} as PositionInput,
  },
  actors: { deadline: deadlinePlaceholder },
  actions: {
    /** Provided by the actors layer: send an event to the owning user actor. */
    notifyOwner: (_, _params: { owner: string; positionId: string; outcome: string }) => {},
  },
}).createMachine({
  id: 'position',
  context: ({ input }) => ({ ...input, openPrice: null, closePrice: null, outcome: null }),
  initial: 'pending',
  states: {
    pending: {
      invoke: { id: 'fillTimeout', src: 'deadline', input: ({ context }) => ({ delayMs: context.fillTimeoutMs }), onDone: 'expired' },
      on: {
        'order.filled': { target: 'open', actions: assign({ openPrice: ({ event }) => event.price }) },
        'order.canceled': 'canceled',
      },
    },
    open: { on: { 'close.requested': 'closing' } },
    closing: { on: { 'order.closed': { target: 'closed', actions: assign({ closePrice: ({ event }) => event.price }) } } },
    expired: { type: 'final', entry: [assign({ outcome: 'expired' as const }), notify] },
    canceled: { type: 'final', entry: [assign({ outcome: 'canceled' as const }), notify] },
    closed: { type: 'final', entry: [assign({ outcome: 'closed' as const }), notify] },
  },
});
