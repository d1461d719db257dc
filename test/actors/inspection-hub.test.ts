import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createActor, createMachine, type AnyActor, type InspectionEvent } from 'xstate';
import { createInspectionHub, type JournalStep, type ObservedStep } from '../../src/actors/inspection-hub.ts';
import { scrubSecrets } from '../../src/infra/logger.ts';
import type { ActorView, InspectorEvent } from '../../src/infra/http/inspector-source.ts';
import { createDescriber, startSampleSystem } from '../helpers/inspected-system.ts';

const byId = (actors: ActorView[]) => new Map(actors.map((a) => [a.id, a]));

function sampleHub(options: Partial<Parameters<typeof createInspectionHub>[0]> = {}) {
  const describer = createDescriber();
  const hub = createInspectionHub({ describe: describer.describe, flushIntervalMs: 5, ...options });
  const system = startSampleSystem(hub.inspect, describer);
  return { hub, ...system };
}

/** Collects a subscriber's feed until `until` holds. */
async function waitFor(received: InspectorEvent[], until: (events: InspectorEvent[]) => boolean, ms = 2_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!until(received)) {
    if (Date.now() > deadline) throw new Error(`feed did not reach the expected state; got ${JSON.stringify(received.map((e) => e.type))}`);
    await sleep(5);
  }
}

describe('inspection hub', () => {
  const roots: AnyActor[] = [];
  afterEach(() => roots.splice(0).forEach((r) => r.stop()));
  const sample = (options: Partial<Parameters<typeof createInspectionHub>[0]> = {}) => {
    const s = sampleHub(options);
    roots.push(s.root);
    return s;
  };

  it('builds the logical tree, parents before children, hiding undescribed actors', () => {
    const { hub } = sample();
    const actors = hub.source.actors();
    assert.deepEqual(
      actors.map((a) => [a.id, a.parent]),
      [
        ['root', null],
        ['user:1', 'root'],
        ['position:7', 'user:1'],
        ['user:2', 'root'],
        ['position:8', 'user:2'],
      ],
    );
    // The positions' invoked ticker children have no systemId, so describe() hid them.
    assert.ok(actors.every((a) => a.kind !== 'unknown'));
    assert.deepEqual([...new Set(actors.map((a) => a.kind))], ['root', 'user', 'position']);
  });

  it('reads the top of the tree on its own (a page\'s first rows), right as actors come, restart and go', () => {
    const { hub, root } = sample();
    const ids = (limit?: number) => hub.source.tree!(limit).map((a) => a.id);
    assert.deepEqual(ids(3), ['root', 'user:1', 'position:7'], 'roots first, then down, depth first');
    assert.deepEqual(ids(100), ids(), 'with room for all, the same actors as the whole tree');
    assert.ok(hub.source.tree!(100).every((a) => a.context === null), 'no context is read for the tree');
    root.send({ type: 'stop.child', id: 'position:7' });
    assert.deepEqual(ids(100), ['root', 'user:1', 'user:2', 'position:8'], 'a stopped actor leaves the top too');
    assert.ok(hub.setStatus('position:9', 'quarantined', { kind: 'position', parent: 'user:1' }));
    assert.deepEqual(ids(3), ['root', 'user:1', 'position:9'], 'a quarantined placeholder is placed under its parent');
    hub.remove('position:9');
    assert.deepEqual(ids(100), ['root', 'user:1', 'user:2', 'position:8']);
  });

  it('shows the current state value, running status and sanitised context', () => {
    const { hub, root } = sample();
    root.send({ type: 'forward', to: 'position:7', event: { type: 'position.fill' } });
    const actors = byId(hub.source.actors());
    const position = actors.get('position:7');
    assert.equal(position?.state, 'open');
    assert.equal(position?.status, 'running');
    assert.deepEqual(position?.context, { pair: 'ETH/USD', size: '100.5', privateKey: '[REDACTED]' });
    assert.equal((actors.get('user:1')?.context as { apiToken: string }).apiToken, '[REDACTED]');
    assert.equal(actors.get('position:8')?.state, 'pending');
  });

  it('logs events with source and target systemIds, sanitised, oldest first', () => {
    const { hub, root } = sample();
    root.send({ type: 'forward', to: 'user:1', event: { type: 'user.order' } });
    root.send({ type: 'forward', to: 'position:7', event: { type: 'position.fill' } });
    const events = hub.source.recentEvents().filter((e) => e.type === 'event');
    const fill = events.find((e) => e.event.type === 'position.fill');
    assert.deepEqual(fill && { source: fill.source, target: fill.target }, { source: 'root', target: 'position:7' });
    const forward = events.filter((e) => e.event.type === 'forward');
    assert.equal(forward.length, 2);
    assert.equal(forward[0]?.source, null, 'sent from outside the system');
    assert.equal(forward[0]?.target, 'root');
    assert.ok(events.every((e, i) => i === 0 || e.at >= (events[i - 1]?.at ?? 0)));
    // The spawn event carried the apiToken-free input, but a token in an event payload is scrubbed too.
    root.send({ type: 'forward', to: 'user:2', event: { type: 'user.order', token: 'hvs.AAAAAAAAAAAAAAAAAAAAAAAAAAAA' } as { type: string } });
    assert.doesNotMatch(JSON.stringify(hub.source.recentEvents()), /hvs\.A/);
  });

  it('keeps only the newest maxEvents events', () => {
    const { hub, root } = sample({ maxEvents: 5 });
    for (let i = 0; i < 20; i += 1) root.send({ type: 'forward', to: 'user:1', event: { type: 'user.order' } });
    const events = hub.source.recentEvents();
    assert.equal(events.length, 5);
    assert.ok(events.every((e) => e.type === 'event' && (e.event.type === 'user.order' || e.event.type === 'forward')));
  });

  it('removes actors that stop or finish, and keeps quarantined ones with their badge', () => {
    const { hub, root } = sample();
    root.send({ type: 'forward', to: 'position:7', event: { type: 'position.fill' } });
    root.send({ type: 'forward', to: 'position:7', event: { type: 'position.close' } });
    assert.equal(byId(hub.source.actors()).has('position:7'), false, 'a position in its final state is gone');

    assert.equal(hub.setStatus('position:8', 'quarantined'), true);
    root.send({ type: 'stop.child', id: 'position:8' });
    const quarantined = byId(hub.source.actors()).get('position:8');
    assert.equal(quarantined?.status, 'quarantined');
    assert.equal(quarantined?.state, 'pending');
    hub.remove('position:8');
    assert.equal(byId(hub.source.actors()).has('position:8'), false);
  });

  it('shows a placeholder for an actor the supervisor quarantined before it ever ran', () => {
    const { hub } = sample();
    assert.equal(hub.setStatus('user:9', 'quarantined'), false, 'unknown id without a placeholder');
    assert.equal(hub.setStatus('user:9', 'quarantined', { kind: 'user', parent: 'root' }), true);
    const placeholder = byId(hub.source.actors()).get('user:9');
    assert.deepEqual(placeholder && { status: placeholder.status, state: placeholder.state, context: placeholder.context }, { status: 'quarantined', state: null, context: null });
  });

  it('replaces a restarted actor under the same systemId and clears its restarting badge', () => {
    const describe = (ref: AnyActor) => (ref.systemId ? { id: ref.systemId, kind: 'worker', parent: null } : undefined);
    const hub = createInspectionHub({ describe });
    const worker = createMachine({ initial: 'a', states: { a: { on: { next: 'b' } }, b: {} } });
    const first = createActor(worker, { systemId: 'worker:1', inspect: hub.inspect }).start();
    first.send({ type: 'next' });
    hub.setStatus('worker:1', 'restarting');
    first.stop();
    assert.equal(byId(hub.source.actors()).get('worker:1')?.status, 'restarting');
    const second = createActor(worker, { systemId: 'worker:1', inspect: hub.inspect }).start();
    roots.push(second);
    const view = byId(hub.source.actors()).get('worker:1');
    assert.deepEqual(view && { status: view.status, state: view.state }, { status: 'running', state: 'a' });
  });

  it('asks again about an actor with a systemId that the runtime could not describe yet', () => {
    const late: { ready: boolean } = { ready: false };
    const hub = createInspectionHub({ describe: (ref) => (late.ready && ref.systemId ? { id: ref.systemId, kind: 'worker', parent: null } : undefined) });
    const worker = createMachine({ initial: 'a', states: { a: { on: { next: 'b' } }, b: {} } });
    const actor = createActor(worker, { systemId: 'worker:1', inspect: hub.inspect }).start();
    roots.push(actor);
    assert.equal(hub.source.actors().length, 0);
    late.ready = true;
    actor.send({ type: 'next' });
    assert.deepEqual(
      hub.source.actors().map((a) => [a.id, a.state]),
      [['worker:1', 'b']],
    );
  });

  it('streams coalesced upserts, removals and events to live subscribers only after they subscribe', async () => {
    const { hub, root } = sample();
    const received: InspectorEvent[] = [];
    const unsubscribe = hub.source.subscribe((e) => received.push(e));
    for (let i = 0; i < 50; i += 1) root.send({ type: 'forward', to: 'user:1', event: { type: 'user.order' } });
    root.send({ type: 'forward', to: 'position:8', event: { type: 'position.fill' } });
    root.send({ type: 'forward', to: 'position:8', event: { type: 'position.close' } });
    await waitFor(received, (r) => r.some((e) => e.type === 'actor.removed'));
    const upserts = received.filter((e) => e.type === 'actor.upsert');
    const user1 = upserts.filter((e) => e.actor.id === 'user:1');
    assert.equal(user1.length, 1, '50 transitions within one flush interval become one upsert');
    assert.equal((user1[0]?.actor.context as { orders: number }).orders, 50);
    assert.equal(received.filter((e) => e.type === 'event' && e.event.type === 'user.order').length, 50);
    assert.ok(!received.some((e) => e.type === 'event' && e.event.type === 'spawn.user'), 'the backlog is read through recentEvents(), not replayed');
    assert.deepEqual(
      received.filter((e) => e.type === 'actor.removed').map((e) => (e.type === 'actor.removed' ? e.id : '')),
      ['position:8'],
    );
    unsubscribe();
    const count = received.length;
    root.send({ type: 'forward', to: 'user:1', event: { type: 'user.order' } });
    await sleep(30);
    assert.equal(received.length, count, 'nothing after unsubscribe');
  });

  it('drops a subscriber that throws and keeps serving the others', async () => {
    const errors: unknown[] = [];
    const { hub, root } = sample({ onListenerError: (err) => errors.push(err) });
    const good: InspectorEvent[] = [];
    hub.source.subscribe(() => {
      throw new Error('broken page');
    });
    const stop = hub.source.subscribe((e) => good.push(e));
    root.send({ type: 'forward', to: 'user:1', event: { type: 'user.order' } });
    await waitFor(good, (r) => r.length > 0);
    root.send({ type: 'forward', to: 'user:1', event: { type: 'user.order' } });
    await waitFor(good, (r) => r.filter((e) => e.type === 'event' && e.event.type === 'user.order').length === 2);
    assert.equal(errors.length, 1);
    stop();
  });

  it('does constant work per event with nobody watching: no sanitising, one describe per actor', () => {
    let sanitized = 0;
    let described = 0;
    const describer = createDescriber();
    const hub = createInspectionHub({
      describe: (ref) => {
        described += 1;
        return describer.describe(ref);
      },
      sanitize: (v) => {
        sanitized += 1;
        return v;
      },
      maxEvents: 100,
    });
    const { root } = startSampleSystem(hub.inspect, describer);
    roots.push(root);
    const describedAtStart = described;
    const t0 = performance.now();
    for (let i = 0; i < 20_000; i += 1) root.send({ type: 'forward', to: 'user:1', event: { type: 'user.order' } });
    const perEventUs = ((performance.now() - t0) * 1000) / 20_000;
    assert.equal(sanitized, 0, 'nothing is sanitised until someone reads');
    assert.equal(described, describedAtStart, 'describe() answers are cached');
    hub.source.recentEvents();
    assert.equal(sanitized, 100, 'reading sanitises only what the ring holds');
    // Generous bound (XState's own transition dominates); catches an accidental O(actors) or O(log) per event.
    assert.ok(perEventUs < 200, `${perEventUs.toFixed(1)} µs per forwarded event`);
  });

  describe('time travel: recent steps', () => {
    const toggler = createMachine({ initial: 'a', states: { a: { on: { flip: 'b', poke: {} } }, b: { on: { flip: 'a' } } } });
    /** A lone actor whose systemId names it, with a hub over it. */
    const lone = (options: Partial<Parameters<typeof createInspectionHub>[0]> = {}, id = 'worker:1') => {
      const hub = createInspectionHub({ describe: (ref) => (ref.systemId ? { id: ref.systemId, kind: 'worker', parent: null } : undefined), flushIntervalMs: 5, ...options });
      const actor = createActor(toggler, { systemId: id, inspect: hub.inspect }).start();
      roots.push(actor);
      return { hub, actor };
    };

    it('keeps each actor’s steps oldest first: its start, then each state or context change, with the event that caused it', async () => {
      const { hub, root } = sample();
      root.send({ type: 'forward', to: 'position:7', event: { type: 'position.fill' } });
      root.send({ type: 'forward', to: 'user:1', event: { type: 'user.order' } });
      root.send({ type: 'forward', to: 'user:1', event: { type: 'user.order' } });
      root.send({ type: 'forward', to: 'user:1', event: { type: 'user.pause' } });
      const position = await hub.source.history!('position:7');
      assert.deepEqual(
        position.map((s) => [s.event, s.state, s.origin]),
        [
          ['xstate.init', 'pending', 'live'],
          ['position.fill', 'open', 'live'],
        ],
      );
      const user = await hub.source.history!('user:1');
      assert.deepEqual(
        user.map((s) => [s.event, s.state, (s.context as { orders: number }).orders]),
        [
          ['xstate.init', 'idle', 0],
          ['user.order', 'idle', 1],
          ['user.order', 'idle', 2],
          ['user.pause', 'paused', 2],
        ],
      );
      assert.ok(user.every((s, i) => i === 0 || s.at >= user[i - 1]!.at));
      assert.deepEqual(await hub.source.history!('user:404'), [], 'unknown actor');
    });

    it('records nothing when neither the state value nor the context changed', async () => {
      const { hub, actor } = lone();
      actor.send({ type: 'poke' });
      actor.send({ type: 'nobody.listens' });
      actor.send({ type: 'flip' });
      assert.deepEqual(
        (await hub.source.history!('worker:1')).map((s) => [s.event, s.state]),
        [
          ['xstate.init', 'a'],
          ['flip', 'b'],
        ],
      );
    });

    it('keeps only the newest historyPerActor steps, and at most `limit` per answer', async () => {
      const { hub, actor } = lone({ historyPerActor: 4 });
      for (let i = 0; i < 11; i += 1) actor.send({ type: 'flip' });
      const steps = await hub.source.history!('worker:1');
      assert.equal(steps.length, 4);
      assert.deepEqual(
        steps.map((s) => s.state),
        ['a', 'b', 'a', 'b'],
        'the 11th flip ends in b',
      );
      assert.ok(steps.every((s) => s.event === 'flip'), 'the start fell out of the ring');
      assert.deepEqual(
        (await hub.source.history!('worker:1', 2)).map((s) => s.state),
        ['a', 'b'],
      );
    });

    it('never returns a secret: contexts are sanitised when history is read, and only then', async () => {
      let sanitized = 0;
      const { hub, root } = sample({
        sanitize: (v) => {
          sanitized += 1;
          return scrubSecrets(v);
        },
      });
      root.send({ type: 'forward', to: 'position:7', event: { type: 'position.fill' } });
      assert.equal(sanitized, 0, 'recording a step sanitises nothing');
      const steps = await hub.source.history!('position:7');
      const text = JSON.stringify(steps);
      assert.doesNotMatch(text, /abab/, 'the private key is not in the history');
      assert.match(text, /REDACTED/);
      assert.equal(sanitized, 1, 'both steps share one context object, sanitised once');
      assert.doesNotMatch(JSON.stringify(await hub.source.history!('user:1')), /AAAAAAAA/, 'nor the api token');
    });

    it('keeps a restarted actor’s history under its systemId, with the restart as a step', async () => {
      const { hub, actor } = lone();
      actor.send({ type: 'flip' });
      // As the supervisor does: marked restarting first, so the stopped actor stays shown.
      hub.setStatus('worker:1', 'restarting');
      actor.stop();
      const second = createActor(toggler, { systemId: 'worker:1', inspect: hub.inspect }).start();
      roots.push(second);
      assert.deepEqual(
        (await hub.source.history!('worker:1')).map((s) => [s.event, s.state]),
        [
          ['xstate.init', 'a'],
          ['flip', 'b'],
          ['xstate.init', 'a'],
        ],
      );
    });

    it('streams one transition event per state change to subscribers, never coalesced, and queues none for nobody', async () => {
      const { hub, root } = sample();
      // Before anyone subscribes: the spawns moved four actors, and nothing is kept for later.
      root.send({ type: 'forward', to: 'user:2', event: { type: 'user.pause' } });
      const received: InspectorEvent[] = [];
      const unsubscribe = hub.source.subscribe((e) => received.push(e));
      root.send({ type: 'forward', to: 'position:7', event: { type: 'position.fill' } });
      root.send({ type: 'forward', to: 'position:7', event: { type: 'position.close' } });
      for (let i = 0; i < 5; i += 1) root.send({ type: 'forward', to: 'user:1', event: { type: 'user.order' } });
      root.send({ type: 'forward', to: 'user:1', event: { type: 'user.pause' } });
      await waitFor(received, (r) => r.some((e) => e.type === 'transition' && e.id === 'user:1'));
      const transitions = received.flatMap((e) => (e.type === 'transition' ? [[e.id, e.event, e.state]] : []));
      assert.deepEqual(transitions, [
        ['position:7', 'position.fill', 'open'],
        ['position:7', 'position.close', 'closed'],
        ['user:1', 'user.pause', 'paused'],
      ]);
      assert.ok(received.every((e) => e.type !== 'transition' || typeof e.at === 'number'));
      unsubscribe();
      const count = received.length;
      root.send({ type: 'forward', to: 'user:2', event: { type: 'user.order' } });
      await sleep(30);
      assert.equal(received.length, count, 'nothing after unsubscribe');
    });

    it('bounds the transitions waiting for one flush: the oldest are dropped and counted', async () => {
      const { hub, actor } = lone({ maxPendingTransitions: 10, flushIntervalMs: 20 });
      const received: InspectorEvent[] = [];
      hub.source.subscribe((e) => received.push(e));
      for (let i = 0; i < 101; i += 1) actor.send({ type: 'flip' });
      await waitFor(received, (r) => r.some((e) => e.type === 'transition'));
      const transitions = received.filter((e) => e.type === 'transition');
      assert.equal(transitions.length, 10, 'only the newest ten');
      assert.equal(transitions.at(-1)?.type === 'transition' && transitions.at(-1)?.state, 'b', 'the last flip is kept');
      assert.equal(hub.droppedTransitions, 91);
    });

    it('puts the journal’s older steps before this run’s, without the ones the live ring holds', async () => {
      let t = 1_000;
      const journalled: JournalStep[] = [
        { at: 100, event: 'xstate.init', state: 'a', context: {} },
        { at: 200, event: 'flip', state: 'b', context: {} },
        // This run's first step, journalled too: the live ring has it, so it is not shown twice.
        { at: 1_000, event: 'xstate.init', state: 'a', context: {} },
      ];
      const { hub, actor } = lone({ now: () => t, journal: { recent: (_id, limit) => Promise.resolve(journalled.slice(-limit)) } });
      t = 1_001;
      actor.send({ type: 'flip' });
      assert.deepEqual(
        (await hub.source.history!('worker:1')).map((s) => [s.at, s.state, s.origin]),
        [
          [100, 'a', 'journal'],
          [200, 'b', 'journal'],
          [1_000, 'a', 'live'],
          [1_001, 'b', 'live'],
        ],
      );
      assert.deepEqual(
        (await hub.source.history!('worker:1', 3)).map((s) => s.at),
        [200, 1_000, 1_001],
      );
      assert.deepEqual(
        (await hub.source.history!('gone:1')).map((s) => s.origin),
        ['journal', 'journal', 'journal'],
        'an actor no longer running still has its journal',
      );
    });

    it('answers with the live steps when the journal cannot be read', async () => {
      const errors: unknown[] = [];
      const { hub } = lone({ journal: { recent: () => Promise.reject(new Error('db down')) }, onJournalError: (err) => errors.push(err) });
      assert.deepEqual(
        (await hub.source.history!('worker:1')).map((s) => s.origin),
        ['live'],
      );
      assert.equal(errors.length, 1);
    });

    it('hands every step to onStep, raw, and keeps a throwing onStep away from XState', () => {
      const steps: ObservedStep[] = [];
      const errors: unknown[] = [];
      const { actor } = lone({
        onStep: (step) => {
          steps.push(step);
          if (step.event === 'flip') throw new Error('journal bug');
        },
        onListenerError: (err) => errors.push(err),
      });
      actor.send({ type: 'flip' });
      actor.send({ type: 'flip' });
      assert.deepEqual(
        steps.map((s) => [s.id, s.kind, s.event, s.state]),
        [
          ['worker:1', 'worker', 'xstate.init', 'a'],
          ['worker:1', 'worker', 'flip', 'b'],
          ['worker:1', 'worker', 'flip', 'a'],
        ],
      );
      assert.equal(errors.length, 2);
      assert.equal(actor.getSnapshot().value, 'a', 'the actor kept going');
    });
  });

  it('ignores transition, microstep and action inspection events', () => {
    const describer = createDescriber();
    const seen: string[] = [];
    const hub = createInspectionHub({ describe: describer.describe });
    const inspect = (e: InspectionEvent) => {
      seen.push(e.type);
      hub.inspect(e);
    };
    const { root } = startSampleSystem(inspect, describer);
    roots.push(root);
    assert.ok(seen.includes('@xstate.microstep') || seen.includes('@xstate.transition') || seen.includes('@xstate.action'));
    assert.equal(hub.source.actors().length, 5);
  });
});
