import assert from 'node:assert/strict';
import { createActor } from 'xstate';
import { createDeadlineLogic } from '../../src/actors/deadline.ts';
import { priceFeedMachine } from '../../src/machines/price-feed.machine.ts';
import { manualClock } from '../helpers/manual-clock.ts';

function feed() {
  const clock = manualClock(1_000);
  const published: string[] = [];
  const halts: string[] = [];
  const actor = createActor(
    priceFeedMachine.provide({
      actors: { deadline: createDeadlineLogic(clock) },
      actions: {
        publishPrice: (_, p) => void published.push(p.price),
        publishHalt: (_, p) => void halts.push(`${p.halted ? 'halt' : 'resume'}:${p.reason ?? ''}`),
      },
    }),
    { input: { pair: 'ETH/USD', pairIndex: 0, heartbeatMs: 5_000 } },
  ).start();
  return { actor, clock, published, halts };
}

const observed = (price: string, publishTime: number) => ({ type: 'price.observed' as const, price, publishTime, source: 'chainlink' as const });

describe('price-feed machine', () => {
  it('goes live on the first good price and publishes it', () => {
    const { actor, published } = feed();
    actor.send(observed('3150.25', 10));
    assert.equal(actor.getSnapshot().value, 'live');
    assert.deepEqual(published, ['3150.25']);
  });

  it('rejects malformed, non-positive and out-of-order prices without changing state', () => {
    const { actor, published } = feed();
    actor.send(observed('3150.25', 10));
    const before = actor.getSnapshot().context;
    for (const bad of [observed('-1', 11), observed('0', 12), observed('NaN', 13), observed('1e9', 14), observed('3151', 9), observed('3151', 10), { ...observed('3151', 15), price: 3151 as unknown as string }]) {
      actor.send(bad);
    }
    const after = actor.getSnapshot().context;
    assert.equal(after.price, before.price);
    assert.equal(after.publishTime, before.publishTime);
    assert.equal(after.rejected, 7);
    assert.deepEqual(published, ['3150.25']);
  });

  it('halts the pair when the heartbeat passes without a fresh price, and resumes on the next one', () => {
    const { actor, clock, halts } = feed();
    actor.send(observed('3150.25', 10));
    clock.advance(4_999);
    assert.equal(actor.getSnapshot().value, 'live');
    actor.send(observed('3151', 11));
    clock.advance(4_999);
    assert.equal(actor.getSnapshot().value, 'live', 'a fresh price restarts the heartbeat');
    clock.advance(1);
    assert.equal(actor.getSnapshot().value, 'stale');
    actor.send(observed('3152', 12));
    assert.equal(actor.getSnapshot().value, 'live');
    assert.deepEqual(halts, ['halt:stale', 'resume:']);
  });

  it('stays halted by an admin until resumed, still recording prices', () => {
    const { actor } = feed();
    actor.send(observed('3150', 10));
    actor.send({ type: 'feed.halt', reason: 'disputed' });
    actor.send(observed('3155', 11));
    assert.equal(actor.getSnapshot().value, 'halted');
    assert.equal(actor.getSnapshot().context.price, '3155');
    actor.send({ type: 'feed.resume' });
    assert.equal(actor.getSnapshot().value, 'waiting');
  });
});
