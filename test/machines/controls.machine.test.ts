import assert from 'node:assert/strict';
import { createActor } from 'xstate';
import { controlsMachine } from '../../src/machines/controls.machine.ts';

describe('trading controls machine', () => {
  const controls = () => createActor(controlsMachine).start();

  it('records a global pause and pair pauses independently, with who and when', () => {
    const actor = controls();
    actor.send({ type: 'trading.pausePair', pair: 'ETH/USD', by: 'admin:1', at: '2026-12-03T10:00:00.000Z' });
    actor.send({ type: 'trading.pausePair', pair: 'BTC/USD', by: 'admin:1' });
    actor.send({ type: 'trading.pauseAll', by: 'admin:2', at: '2026-12-03T11:00:00.000Z' });
    assert.equal(actor.getSnapshot().value, 'paused');
    assert.deepEqual(actor.getSnapshot().context, { paused: true, pausedPairs: ['BTC/USD', 'ETH/USD'], by: 'admin:2', since: '2026-12-03T11:00:00.000Z' });
    // Ending the emergency stop leaves the pairs an operator paused one by one.
    actor.send({ type: 'trading.resumeAll', by: 'admin:2' });
    assert.equal(actor.getSnapshot().value, 'trading');
    assert.deepEqual(actor.getSnapshot().context.pausedPairs, ['BTC/USD', 'ETH/USD']);
    actor.send({ type: 'trading.resumePair', pair: 'ETH/USD', by: 'admin:1' });
    assert.deepEqual(actor.getSnapshot().context, { paused: false, pausedPairs: ['BTC/USD'], by: 'admin:1', since: null });
  });

  it('ignores what changes nothing: no operator, a malformed pair, pausing a paused pair, resuming what is not paused', () => {
    const actor = controls();
    const initial = actor.getSnapshot();
    actor.send({ type: 'trading.pauseAll', by: '' });
    actor.send({ type: 'trading.pauseAll' } as never);
    actor.send({ type: 'trading.pausePair', pair: 'eth', by: 'admin:1' });
    actor.send({ type: 'trading.pausePair', pair: 'ETH/USD; --', by: 'admin:1' });
    actor.send({ type: 'trading.resumePair', pair: 'ETH/USD', by: 'admin:1' });
    actor.send({ type: 'trading.resumeAll', by: 'admin:1' });
    assert.equal(actor.getSnapshot(), initial);
    actor.send({ type: 'trading.pausePair', pair: 'ETH/USD', by: 'admin:1' });
    const once = actor.getSnapshot();
    actor.send({ type: 'trading.pausePair', pair: 'ETH/USD', by: 'admin:3' });
    assert.equal(actor.getSnapshot(), once);
  });
});
