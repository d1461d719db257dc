import { assign, createActor, createMachine, fromCallback, sendTo, setup, stopChild, type AnyActor, type AnyActorRef, type InspectionEvent } from 'xstate';
import type { ActorDescription } from '../../src/actors/inspection-hub.ts';

/**
 * A small real actor system shaped like the engine's: a root that spawns
 * every domain actor itself (so XState's parent is always the root), with
 * the logical parent (user → position) kept in a side table, as the runtime
 * does. Used by the hub and inspector page tests.
 */

export const positionMachine = setup({
  types: { context: {} as { pair: string; size: string; privateKey: string }, input: {} as { pair: string; size: string }, events: {} as { type: 'position.fill' } | { type: 'position.close' } },
  actors: {
    // A hidden helper child, like the runtime's deadline timers.
    ticker: fromCallback(() => () => {}),
  },
}).createMachine({
  id: 'position',
  context: ({ input }) => ({ pair: input.pair, size: input.size, privateKey: `0x${'ab'.repeat(32)}` }),
  initial: 'pending',
  invoke: { id: 'ticker', src: 'ticker' },
  states: {
    pending: { on: { 'position.fill': 'open' } },
    open: { on: { 'position.close': 'closed' } },
    closed: { type: 'final' },
  },
});

export const userMachine = createMachine({
  id: 'user',
  types: {} as { context: { telegramId: number; apiToken: string; orders: number }; input: { telegramId: number }; events: { type: 'user.order' } | { type: 'user.pause' } },
  context: ({ input }) => ({ telegramId: input.telegramId, apiToken: '123456789:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', orders: 0 }),
  initial: 'idle',
  states: {
    idle: { on: { 'user.order': { actions: assign({ orders: ({ context }) => context.orders + 1 }) }, 'user.pause': 'paused' } },
    paused: {},
  },
});

type RootEvent =
  | { type: 'spawn.user'; id: string; telegramId: number }
  | { type: 'spawn.position'; id: string; user: string; pair: string }
  | { type: 'forward'; to: string; event: { type: string } }
  | { type: 'stop.child'; id: string };

export const rootMachine = setup({
  types: { events: {} as RootEvent },
  actors: { user: userMachine, position: positionMachine },
}).createMachine({
  id: 'root',
  on: {
    'spawn.user': {
      actions: assign(({ event, spawn }) => {
        spawn('user', { id: event.id, systemId: event.id, input: { telegramId: event.telegramId } });
        return {};
      }),
    },
    'spawn.position': {
      actions: assign(({ event, spawn }) => {
        spawn('position', { id: event.id, systemId: event.id, input: { pair: event.pair, size: '100.5' } });
        return {};
      }),
    },
    forward: {
      // Sent by the root, so the inspection event names it as the sender.
      actions: sendTo(({ event, system }) => system.get(event.to) as AnyActorRef, ({ event }) => event.event),
    },
    'stop.child': { actions: stopChild(({ event }) => event.id) },
  },
});

/** The runtime's side table: logical parents by systemId, and describe() on top of it. */
export function createDescriber(): { describe: (ref: AnyActor) => ActorDescription | undefined; setParent: (id: string, parent: string) => void } {
  const parents = new Map<string, string>();
  return {
    setParent: (id, parent) => parents.set(id, parent),
    describe(ref) {
      if (!ref._parent) return { id: 'root', kind: 'root', parent: null };
      const id = ref.systemId;
      if (!id) return undefined;
      return { id, kind: id.split(':')[0] ?? 'unknown', parent: parents.get(id) ?? 'root' };
    },
  };
}

/** Starts the root with the hub's inspect, three users and two positions (one under user:1). */
export function startSampleSystem(inspect: (event: InspectionEvent) => void, describer = createDescriber()) {
  const root = createActor(rootMachine, { inspect });
  root.subscribe({ error: () => {} });
  root.start();
  describer.setParent('position:7', 'user:1');
  describer.setParent('position:8', 'user:2');
  root.send({ type: 'spawn.user', id: 'user:1', telegramId: 1 });
  root.send({ type: 'spawn.user', id: 'user:2', telegramId: 2 });
  root.send({ type: 'spawn.position', id: 'position:7', user: 'user:1', pair: 'ETH/USD' });
  root.send({ type: 'spawn.position', id: 'position:8', user: 'user:2', pair: 'BTC/USD' });
  return { root, describer };
}
