import assert from 'node:assert/strict';
import { createActor, setup } from 'xstate';
import { createDeadlineLogic } from '../../src/actors/deadline.ts';
import { stopDetached } from '../../src/actors/xstate-internals.ts';
import { deadlinePlaceholder } from '../../src/machines/deadline.ts';
import { manualClock } from '../helpers/manual-clock.ts';

const waiter = setup({ actors: { deadline: deadlinePlaceholder } }).createMachine({
  initial: 'waiting',
  states: { waiting: { invoke: { id: 'timer', src: 'deadline', input: { delayMs: 1_000 }, onDone: 'due' } }, due: {} },
});

describe('deadline timer', () => {
  it('survives a restore with the time that was left, and fires at once when it passed while down', () => {
    const clock = manualClock(10_000);
    const logic = waiter.provide({ actors: { deadline: createDeadlineLogic(clock) } });
    const first = createActor(logic).start();
    clock.advance(600);
    const saved = JSON.parse(JSON.stringify(first.getPersistedSnapshot())) as object;
    first.stop();

    const resumed = createActor(logic, { snapshot: saved as never }).start();
    clock.advance(399);
    assert.equal(resumed.getSnapshot().value, 'waiting');
    clock.advance(1);
    assert.equal(resumed.getSnapshot().value, 'due');

    clock.advance(5_000);
    const late = createActor(logic, { snapshot: saved as never }).start();
    clock.advance(0);
    assert.equal(late.getSnapshot().value, 'due');
  });

  it('tells the machine whether the wait spanned a restart, and never stores that it did', () => {
    const clock = manualClock(10_000);
    const outputs: unknown[] = [];
    const recording = setup({ actors: { deadline: deadlinePlaceholder } }).createMachine({
      initial: 'waiting',
      states: {
        waiting: { invoke: { id: 'timer', src: 'deadline', input: { delayMs: 1_000 }, onDone: { target: 'due', actions: ({ event }) => void outputs.push(event.output) } } },
        due: {},
      },
    });
    const logic = recording.provide({ actors: { deadline: createDeadlineLogic(clock) } });
    const first = createActor(logic).start();
    const saved = JSON.parse(JSON.stringify(first.getPersistedSnapshot())) as object;
    clock.advance(1_000);
    first.stop();
    const restored = createActor(logic, { snapshot: saved as never }).start();
    const savedAgain = JSON.stringify(restored.getPersistedSnapshot());
    assert.ok(!savedAgain.includes('restored'), `a restored timer stored its restore: ${savedAgain}`);
    clock.advance(5_000);
    assert.deepEqual(outputs, [
      { deadline: 11_000, restored: false },
      { deadline: 11_000, restored: true },
    ]);
  });

  it('refuses to run when the machine was created without the real logic', () => {
    const actor = createActor(waiter);
    let failed: unknown;
    actor.subscribe({ error: (err) => (failed = err) });
    actor.start();
    assert.match(String(failed), /was not provided/);
  });

  it('can stop an actor created under a parent (guards the xstate internals we rely on)', () => {
    const parent = createActor(setup({}).createMachine({})).start();
    const child = createActor(waiter.provide({ actors: { deadline: createDeadlineLogic(manualClock()) } }), { parent, systemId: 'child:1' }).start();
    assert.throws(() => child.stop(), /non-root actor cannot be stopped directly/);
    stopDetached(child);
    assert.equal(child.getSnapshot().status, 'stopped');
    assert.equal(parent.system.get('child:1'), undefined);
  });
});
