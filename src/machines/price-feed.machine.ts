import { assign, setup } from 'xstate';
import { deadlinePlaceholder } from './deadline.ts';

/**
 * One actor per traded pair. It accepts price observations from its sources,
 * rejects malformed or out-of-order ones without changing state, and goes
 * `stale` when no fresh price arrives within the heartbeat, which halts trading
 * on the pair until prices flow again. Admins can halt a pair explicitly.
 *
 * Only `live` trades. A feed restored after a restart whose heartbeat ran out
 * before a fresh price came (usually: while the engine was down) goes to
 * `resuming`, not `stale`: its price is too old to trade on, but a stopped
 * engine is not a failing source, so nothing is halted or announced. It gets one
 * heartbeat, counted from then, to deliver a fresh price (→ `live`); without one
 * it goes `stale` and halts the pair as usual.
 *
 * Prices are decimal strings (never floats in persisted state); times are
 * epoch ms taken from the observation, not from a clock, so the machine is pure.
 */
export const priceFeedMachineVersion = 1;

export type PriceSource = 'chainlink' | 'pyth' | 'simulator';

export interface PriceFeedInput {
  readonly pair: string;
  readonly pairIndex: number;
  readonly heartbeatMs: number;
}

export interface PriceFeedContext extends PriceFeedInput {
  readonly price: string | null;
  readonly publishTime: number | null;
  readonly source: PriceSource | null;
  readonly updates: number;
  readonly rejected: number;
  readonly haltReason: string | null;
}

export type PriceFeedEvent =
  | { type: 'price.observed'; price: string; publishTime: number; source: PriceSource }
  | { type: 'feed.halt'; reason: string }
  | { type: 'feed.resume' };

type Observed = Extract<PriceFeedEvent, { type: 'price.observed' }>;

const DECIMAL = /^(0|[1-9]\d{0,17})(\.\d{1,18})?$/;

/** A usable observation: a positive decimal string and a publish time newer than the last one. */
export function isAcceptable(context: PriceFeedContext, event: Observed): boolean {
  return (
    typeof event.price === 'string' &&
    DECIMAL.test(event.price) &&
    Number(event.price) > 0 &&
    Number.isSafeInteger(event.publishTime) &&
    event.publishTime > 0 &&
    (context.publishTime === null || event.publishTime > context.publishTime)
  );
}

export const priceFeedMachine = setup({
  types: {
    context: {} as PriceFeedContext,
    events: {} as PriceFeedEvent,
    input: {} as PriceFeedInput,
  },
  actors: { deadline: deadlinePlaceholder },
  guards: {
    acceptable: ({ context, event }) => event.type === 'price.observed' && isAcceptable(context, event),
  },
  actions: {
    record: assign(({ context, event }) => {
      const e = event as Observed;
      return { price: e.price, publishTime: e.publishTime, source: e.source, updates: context.updates + 1 };
    }),
    countRejected: assign({ rejected: ({ context }) => context.rejected + 1 }),
    /** Provided by the actors layer: cache the price and fan it out to subscribers. */
    publishPrice: (_, _params: { pair: string; price: string; publishTime: number }) => {},
    /** Provided by the actors layer: tell subscribers trading on this pair is halted or resumed. */
    publishHalt: (_, _params: { pair: string; halted: boolean; reason: string | null }) => {},
  },
}).createMachine({
  id: 'price-feed',
  context: ({ input }) => ({ ...input, price: null, publishTime: null, source: null, updates: 0, rejected: 0, haltReason: null }),
  initial: 'waiting',
  on: {
    'feed.halt': {
      target: '.halted',
      actions: [assign({ haltReason: ({ event }) => event.reason }), { type: 'publishHalt', params: ({ context, event }) => ({ pair: context.pair, halted: true, reason: event.reason }) }],
    },
  },
  states: {
    waiting: {
      on: {
        'price.observed': [{ guard: 'acceptable', target: 'live', actions: 'record' }, { actions: 'countRejected' }],
      },
    },
    live: {
      entry: [{ type: 'publishPrice', params: ({ context }) => ({ pair: context.pair, price: context.price ?? '0', publishTime: context.publishTime ?? 0 }) }],
      invoke: {
        id: 'heartbeat',
        src: 'deadline',
        input: ({ context }) => ({ delayMs: context.heartbeatMs }),
        // A heartbeat set before a restart measured the restart, not the source.
        onDone: [{ guard: ({ event }) => event.output.restored, target: 'resuming' }, { target: 'stale' }],
      },
      on: {
        // Re-entering restarts the heartbeat timer and re-publishes the price.
        'price.observed': [{ guard: 'acceptable', target: 'live', reenter: true, actions: 'record' }, { actions: 'countRejected' }],
      },
    },
    resuming: {
      invoke: {
        id: 'heartbeat',
        src: 'deadline',
        input: ({ context }) => ({ delayMs: context.heartbeatMs }),
        // Restarted again before a fresh price came: the new run gets its own heartbeat.
        onDone: [{ guard: ({ event }) => event.output.restored, target: 'resuming', reenter: true }, { target: 'stale' }],
      },
      on: {
        'price.observed': [{ guard: 'acceptable', target: 'live', actions: 'record' }, { actions: 'countRejected' }],
      },
    },
    stale: {
      entry: { type: 'publishHalt', params: ({ context }) => ({ pair: context.pair, halted: true, reason: 'stale' }) },
      on: {
        'price.observed': [
          {
            guard: 'acceptable',
            target: 'live',
            actions: ['record', { type: 'publishHalt', params: ({ context }) => ({ pair: context.pair, halted: false, reason: null }) }],
          },
          { actions: 'countRejected' },
        ],
      },
    },
    halted: {
      on: {
        'feed.resume': {
          target: 'waiting',
          actions: [assign({ haltReason: null }), { type: 'publishHalt', params: ({ context }) => ({ pair: context.pair, halted: false, reason: null }) }],
        },
        'price.observed': [{ guard: 'acceptable', actions: 'record' }, { actions: 'countRejected' }],
      },
    },
  },
});
