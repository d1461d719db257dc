import assert from 'node:assert/strict';
import { createActor } from 'xstate';
import { userMachine } from '../../src/machines/user.machine.ts';

function user(maxOpenPositions = 2) {
  const spawned: string[] = [];
  const refused: string[] = [];
  const actor = createActor(
    userMachine.provide({
      actions: {
        spawnPosition: (_, { order }) => void spawned.push(order.positionId),
        refuse: (_, { reason }) => void refused.push(reason),
        inform: () => {},
      },
    }),
    { input: { telegramId: 42, maxOpenPositions } },
  ).start();
  return { actor, spawned, refused };
}

const order = (positionId: string) => ({ type: 'order.requested' as const, positionId, pair: 'ETH/USD', pairIndex: 0, side: 'long' as const, collateral: '100', leverage: 10 });

describe('user machine', () => {
  it('applies valid settings and bumps the revision; refuses out-of-range ones without changing anything', () => {
    const { actor, refused } = user();
    actor.send({ type: 'settings.update', slippageBps: 80 });
    actor.send({ type: 'settings.update', slippageBps: 0 });
    actor.send({ type: 'settings.update', defaultLeverage: 501 });
    actor.send({ type: 'settings.update' });
    const { settings, revision } = actor.getSnapshot().context;
    assert.deepEqual({ settings, revision }, { settings: { slippageBps: 80, defaultLeverage: 5 }, revision: 1 });
    assert.equal(refused.length, 3);
  });

  it('spawns a position per order up to the limit, then refuses with the limit named', () => {
    const { actor, spawned, refused } = user(2);
    actor.send(order('a'));
    actor.send(order('b'));
    actor.send(order('c'));
    assert.deepEqual(spawned, ['a', 'b']);
    assert.deepEqual(actor.getSnapshot().context.positions, ['position:a', 'position:b']);
    assert.match(refused[0]!, /already have 2 open positions/);
    actor.send({ type: 'position.finished', positionId: 'a', outcome: 'closed' });
    actor.send(order('c'));
    assert.deepEqual(actor.getSnapshot().context.positions, ['position:b', 'position:c']);
  });

  it('refuses orders while trading is paused and accepts them after resume', () => {
    const { actor, spawned, refused } = user();
    actor.send({ type: 'trading.pause' });
    actor.send(order('a'));
    assert.deepEqual(spawned, []);
    assert.match(refused[0]!, /paused/);
    actor.send({ type: 'trading.resume' });
    actor.send(order('a'));
    assert.deepEqual(spawned, ['a']);
  });
});
