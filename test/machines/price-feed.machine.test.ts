import assert from 'node:assert/strict';
import { createActor } from 'xstate';
import { createDeadlineLogic } from '../../src/actors/deadline.ts';
import { priceFeedMachine } from '../../src/machines/price-feed.machine.ts';
import { manualClock } from '../helpers/manual-clock.ts';

function feed(clock = manualClock(1_000), snapshot?: object) {
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
    { input: { pair: 'ETH/USD', pairIndex: 0, heartbeatMs: 5_000 }, ...(snapshot ? { snapshot: snapshot as never } : {}) },
  ).start();
  return { actor, clock, published, halts };
}

/** A feed that was live when the engine stopped, restarted `downMs` later from its stored snapshot. */
function restartedAfter(downMs: number) {
  const before = feed();
  before.actor.send(observed('3150.25', 10));
  const saved = JSON.parse(JSON.stringify(before.actor.getPersistedSnapshot())) as object;
  before.actor.stop();
  before.clock.advance(downMs);
  const after = feed(before.clock, saved);
  after.clock.advance(0);
  return after;
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

  describe('after a restart', () => {
    it('does not halt a feed whose heartbeat ran out while the engine was down: it waits for a fresh price, not trading on the old one', () => {
      const { actor, published, halts } = restartedAfter(60_000);
      assert.equal(actor.getSnapshot().value, 'resuming', 'the old price is not live');
      assert.equal(actor.getSnapshot().context.price, '3150.25', 'the last price is kept for display');
      assert.deepEqual(halts, [], 'a restart is not a halted feed');
      actor.send(observed('3151', 11));
      assert.equal(actor.getSnapshot().value, 'live');
      assert.deepEqual(published, ['3151']);
      assert.deepEqual(halts, [], 'nor is its first fresh price a resume');
    });

    it('still halts, one heartbeat after the restart, when no fresh price comes', () => {
      const { actor, clock, halts } = restartedAfter(60_000);
      clock.advance(4_999);
      assert.equal(actor.getSnapshot().value, 'resuming');
      assert.deepEqual(halts, []);
      clock.advance(1);
      assert.equal(actor.getSnapshot().value, 'stale');
      assert.deepEqual(halts, ['halt:stale']);
      actor.send(observed('3151', 11));
      assert.equal(actor.getSnapshot().value, 'live');
      assert.deepEqual(halts, ['halt:stale', 'resume:']);
    });

    it('refuses an old or malformed price while resuming', () => {
      const { actor } = restartedAfter(60_000);
      actor.send(observed('3150.25', 10));
      actor.send(observed('-1', 11));
      assert.equal(actor.getSnapshot().value, 'resuming');
      assert.equal(actor.getSnapshot().context.rejected, 2);
    });

    it('keeps trading on a price still within its heartbeat after a quick restart, and gives the source a heartbeat from the restart before halting', () => {
      const { actor, clock, halts } = restartedAfter(3_000);
      assert.equal(actor.getSnapshot().value, 'live', 'the price is 3 s old: still good');
      clock.advance(2_000);
      assert.equal(actor.getSnapshot().value, 'resuming', 'the heartbeat set before the restart ran out before a fresh price came');
      assert.deepEqual(halts, []);
      clock.advance(5_000);
      assert.equal(actor.getSnapshot().value, 'stale');
      assert.deepEqual(halts, ['halt:stale']);
    });

    it('a heartbeat set in this run still halts at once, as before', () => {
      const { actor, clock, halts } = restartedAfter(60_000);
      actor.send(observed('3151', 11));
      clock.advance(5_000);
      assert.equal(actor.getSnapshot().value, 'stale');
      assert.deepEqual(halts, ['halt:stale']);
    });

    it('keeps an admin halt across a restart', () => {
      const before = feed();
      before.actor.send(observed('3150', 10));
      before.actor.send({ type: 'feed.halt', reason: 'disputed' });
      const saved = JSON.parse(JSON.stringify(before.actor.getPersistedSnapshot())) as object;
      before.actor.stop();
      before.clock.advance(60_000);
      const after = feed(before.clock, saved);
      after.clock.advance(0);
      assert.equal(after.actor.getSnapshot().value, 'halted');
      assert.deepEqual(after.halts, []);
    });
  });
});
