import assert from 'node:assert/strict';
import { createActor } from 'xstate';
import { checkOrderRisk, type RiskLimits } from '../../src/machines/risk.ts';
import { migrateUserV1, userMachine } from '../../src/machines/user.machine.ts';

const WIDE: RiskLimits = { maxLeverage: 100, maxCollateralUsdc: '10000', maxNotionalUsdc: '1000000', maxOpenPositions: 100 };

function user(maxOpenPositions = 2, limits: RiskLimits = WIDE) {
  const spawned: string[] = [];
  const refused: string[] = [];
  const actor = createActor(
    userMachine.provide({
      guards: { breaksRiskLimits: (_, o) => checkOrderRisk(o, o.openPositions, limits) !== null },
      actions: {
        spawnPosition: (_, { order }) => void spawned.push(order.positionId),
        refuse: (_, { reason }) => void refused.push(reason),
        refuseRisk: (_, o) => void refused.push(checkOrderRisk(o, o.openPositions, limits)!.message),
        inform: () => {},
      },
    }),
    { input: { telegramId: 42, maxOpenPositions } },
  ).start();
  return { actor, spawned, refused };
}

const order = (positionId: string, collateral = '100', leverage = 10) => ({ type: 'order.requested' as const, positionId, pair: 'ETH/USD', pairIndex: 0, side: 'long' as const, collateral, leverage });

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

  it('recognises a repeated order id (double click, replayed button, duplicate update): one order, the live one kept, no limit bypassed', () => {
    const { actor, spawned, refused } = user(2);
    actor.send(order('a'));
    actor.send(order('a'));
    actor.send(order('a'));
    // Regression: each duplicate was tracked again, and the failed spawn's "rejected" then dropped
    // the live position from the list (and freed room beyond the limit).
    assert.deepEqual(spawned, ['a']);
    assert.deepEqual(actor.getSnapshot().context.positions, ['position:a']);
    assert.equal(refused.length, 2);
    assert.match(refused[0]!, /Order a was already received; it is never sent twice/);
    actor.send(order('b'));
    actor.send(order('c'));
    assert.match(refused.at(-1)!, /already have 2 open positions/);
    // A finished order's id cannot be used again either (an old button pressed later).
    actor.send({ type: 'position.finished', positionId: 'a', outcome: 'closed' });
    actor.send(order('a'));
    assert.deepEqual(spawned, ['a', 'b']);
    assert.match(refused.at(-1)!, /Order a was already received/);
    assert.deepEqual(actor.getSnapshot().context.positions, ['position:b']);
    // A stray "finished" for an order it never had changes nothing.
    actor.send({ type: 'position.finished', positionId: 'zzz', outcome: 'rejected' });
    assert.deepEqual(actor.getSnapshot().context.positions, ['position:b']);
  });

  it('refuses an order beyond a risk limit before anything is created, naming the limit and the numbers', () => {
    const limits: RiskLimits = { maxLeverage: 20, maxCollateralUsdc: '500', maxNotionalUsdc: '2000', maxOpenPositions: 2 };
    const { actor, spawned, refused } = user(10, limits);
    actor.send(order('lev', '100', 25));
    actor.send(order('col', '600', 2));
    actor.send(order('not', '300', 10));
    actor.send(order('ok1', '100', 10));
    actor.send(order('ok2', '150.5', 2.5));
    actor.send(order('many', '10', 2));
    assert.deepEqual(spawned, ['ok1', 'ok2']);
    assert.deepEqual(refused, [
      'Leverage 25x is above the limit of 20x.',
      'Collateral 600 USDC is above the limit of 500 USDC per order.',
      'Position size 3000 USDC (300 USDC × 10x) is above the limit of 2000 USDC per order.',
      'You already hold 2 positions; the limit is 2. Close one to open another.',
    ]);
    assert.deepEqual(actor.getSnapshot().context.positions, ['position:ok1', 'position:ok2']);
  });

  it('migrates a version-1 user, who remembered no finished orders', () => {
    const v1 = { status: 'active', value: 'active', historyValue: {}, children: {}, context: { telegramId: 7, maxOpenPositions: 3, settings: { slippageBps: 50, defaultLeverage: 5 }, revision: 2, positions: ['position:x'] } };
    const v2 = migrateUserV1(v1);
    assert.deepEqual((v2['context'] as { recentOrders: string[] }).recentOrders, []);
    const { actor, spawned } = { ...user(), actor: createActor(userMachine.provide({ guards: { breaksRiskLimits: () => false }, actions: { spawnPosition: () => {}, refuse: () => {}, refuseRisk: () => {}, inform: () => {} } }), { snapshot: v2 } as never).start() };
    actor.send({ type: 'position.finished', positionId: 'x', outcome: 'closed' });
    assert.deepEqual(actor.getSnapshot().context.recentOrders, ['x']);
    assert.deepEqual(spawned, []);
  });
});
