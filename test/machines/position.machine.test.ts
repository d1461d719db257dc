import assert from 'node:assert/strict';
import { createActor } from 'xstate';
import { createDeadlineLogic } from '../../src/actors/deadline.ts';
import { positionMachine } from '../../src/machines/position.machine.ts';
import { manualClock } from '../helpers/manual-clock.ts';

function position() {
  const clock = manualClock(0);
  const told: string[] = [];
  const actor = createActor(
    positionMachine.provide({
      actors: { deadline: createDeadlineLogic(clock) },
      actions: { notifyOwner: (_, p) => void told.push(`${p.owner}:${p.positionId}:${p.outcome}`) },
    }),
    { input: { positionId: 'p1', owner: 'user:1', pair: 'ETH/USD', side: 'long', collateral: '50', leverage: 5, fillTimeoutMs: 30_000 } },
  ).start();
  return { actor, clock, told };
}

describe('position machine', () => {
  it('goes pending → open → closing → closed and tells its owner once', () => {
    const { actor, clock, told } = position();
    actor.send({ type: 'order.filled', price: '3000' });
    clock.advance(60_000);
    assert.equal(actor.getSnapshot().value, 'open', 'the fill timeout no longer applies once filled');
    actor.send({ type: 'close.requested' });
    actor.send({ type: 'order.closed', price: '3100' });
    assert.equal(actor.getSnapshot().status, 'done');
    assert.deepEqual(actor.getSnapshot().context.openPrice, '3000');
    assert.deepEqual(told, ['user:1:p1:closed']);
  });

  it('expires a pending order at its deadline', () => {
    const { actor, clock, told } = position();
    clock.advance(29_999);
    assert.equal(actor.getSnapshot().value, 'pending');
    clock.advance(1);
    assert.equal(actor.getSnapshot().value, 'expired');
    assert.deepEqual(told, ['user:1:p1:expired']);
  });

  it('ignores events that make no sense in the current state', () => {
    const { actor } = position();
    actor.send({ type: 'order.closed', price: '1' });
    actor.send({ type: 'close.requested' });
    assert.equal(actor.getSnapshot().value, 'pending');
  });
});
