import { assign, fromPromise, setup } from 'xstate';
import type { ActorKind } from '../../src/actors/kind.ts';

/** A counter that throws from an action on `boom`: a bug that fails the actor on one event. */
export const flakyKind: ActorKind = {
  kind: 'flaky',
  version: 1,
  logic: setup({ types: { context: {} as { n: number }, events: {} as { type: 'bump' } | { type: 'boom' } } }).createMachine({
    id: 'flaky',
    context: { n: 0 },
    on: {
      bump: { actions: assign({ n: ({ context }) => context.n + 1 }) },
      boom: {
        actions: () => {
          throw new Error('boom: a bug in an action');
        },
      },
    },
  }),
};

/** Fails in a state it is restored into: an invoked effect rejects with no onError, every time. */
export const poisonKind: ActorKind = {
  kind: 'poison',
  version: 1,
  logic: setup({
    actors: { explode: fromPromise(() => Promise.reject(new Error('dependency is broken'))) },
  }).createMachine({
    id: 'poison',
    initial: 'idle',
    states: {
      idle: { on: { arm: 'armed' } },
      armed: { invoke: { id: 'explode', src: 'explode' } },
    },
  }),
};

/** Version 2 of a counter whose version 1 called the count `n`. */
export const counterV2Kind: ActorKind = {
  kind: 'counter',
  version: 2,
  migrations: {
    1: (snapshot) => {
      const { n, ...rest } = snapshot['context'] as { n: number };
      return { ...snapshot, context: { ...rest, count: n } };
    },
  },
  logic: setup({ types: { context: {} as { count: number } } }).createMachine({
    id: 'counter',
    context: { count: 0 },
    on: { inc: { actions: assign({ count: ({ context }) => context.count + 1 }) } },
  }),
};
