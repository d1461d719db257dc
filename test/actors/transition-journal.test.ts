import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createActor, createMachine, setup, assign, type AnyActor } from 'xstate';
import { createInspectionHub } from '../../src/actors/inspection-hub.ts';
import { createTransitionJournal, type JournalEntry, type TransitionJournal, type TransitionJournalOptions } from '../../src/actors/transition-journal.ts';
import type { TransitionRow } from '../../src/infra/db/database.ts';
import { captureLogger, silentLogger } from '../helpers/common.ts';
import { createTestPostgres, type TestDatabase } from '../helpers/db.ts';

const PRIVATE_KEY = `0x${'c0ffee42'.repeat(8)}`;

/** A trader-like machine whose context holds a secret, as a careless machine might. */
const wallet = setup({
  types: { context: {} as { privateKey: string; orders: number }, events: {} as { type: 'order' } | { type: 'pause' } | { type: 'resume' } },
}).createMachine({
  context: { privateKey: PRIVATE_KEY, orders: 0 },
  initial: 'idle',
  states: {
    idle: { on: { order: { actions: assign({ orders: ({ context }) => context.orders + 1 }) }, pause: 'paused' } },
    paused: { on: { resume: 'idle' } },
  },
});

const entry = (actor: string, at: number, event = 'tick', context: unknown = { at }): JournalEntry => ({ actor, at, event, state: 'live', context });

describe('transition journal', function () {
  this.timeout(30_000);
  let t: TestDatabase;
  const journals: TransitionJournal[] = [];
  const actors: AnyActor[] = [];
  before(async () => {
    t = await createTestPostgres('journal');
  });
  after(async () => t.destroy());
  afterEach(async () => {
    actors.splice(0).forEach((a) => a.stop());
    for (const j of journals.splice(0)) await j.close();
    await t.db.sql('delete from actor_transitions');
  });
  const journal = (options: Partial<TransitionJournalOptions> = {}) => {
    const j = createTransitionJournal({ db: t.db, logger: silentLogger(), flushIntervalMs: 10, ...options });
    journals.push(j);
    return j;
  };
  const count = async (actor?: string) => {
    const rows = await t.db.sql<{ n: number }>(`select count(*)::int as n from actor_transitions${actor ? ' where actor = ?' : ''}`, actor ? [actor] : []);
    return rows[0]!.n;
  };

  it('writes queued steps in one INSERT per flush interval, off the caller’s path', async () => {
    const batches: number[] = [];
    const j = journal({
      flushIntervalMs: 30,
      db: {
        appendTransitions: (rows: readonly TransitionRow[]) => {
          batches.push(rows.length);
          return t.db.appendTransitions(rows);
        },
        recentTransitions: (a, l) => t.db.recentTransitions(a, l),
        pruneTransitions: (a, k) => t.db.pruneTransitions(a, k),
      },
    });
    for (let i = 0; i < 25; i += 1) j.append(entry(`user:${i % 3}`, 1_000 + i));
    assert.equal(j.pending, 25);
    assert.equal(await count(), 0, 'append() writes nothing itself');
    for (let i = 0; (await count()) < 25 && i < 200; i += 1) await sleep(10);
    assert.deepEqual(batches, [25], 'one statement for the whole interval');
    assert.equal(j.pending, 0);
    assert.deepEqual(
      (await j.recent('user:1', 100)).map((s) => s.at),
      [1_001, 1_004, 1_007, 1_010, 1_013, 1_016, 1_019, 1_022],
    );
  });

  it('splits a large backlog into INSERTs of batchMax rows, in order', async () => {
    const j = journal({ batchMax: 4, flushIntervalMs: 60_000 });
    for (let i = 0; i < 10; i += 1) j.append(entry('user:1', i));
    await j.flush();
    assert.deepEqual(
      (await j.recent('user:1', 100)).map((s) => s.at),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
  });

  it('stores contexts sanitised: no secret reaches the table', async () => {
    const j = journal();
    const hub = createInspectionHub({
      describe: (ref) => (ref.systemId ? { id: ref.systemId, kind: 'user', parent: null } : undefined),
      onStep: (s) => j.append({ actor: s.id, at: s.at, event: s.event, state: s.state, context: s.context }),
    });
    const actor = createActor(wallet, { systemId: 'user:7', inspect: hub.inspect }).start();
    actors.push(actor);
    actor.send({ type: 'order' });
    actor.send({ type: 'pause' });
    await j.flush();
    const dump = await t.db.sql<{ v: string }>('select state::text || context::text as v from actor_transitions order by id');
    assert.equal(dump.length, 3);
    const text = dump.map((r) => r.v).join('\n');
    assert.ok(!text.includes(PRIVATE_KEY.slice(2)), 'the private key is in actor_transitions');
    assert.match(text, /REDACTED/);
    assert.match(text, /"orders": 1/, 'the rest of the context is kept');
    assert.ok(actor.getSnapshot().context.privateKey === PRIVATE_KEY, 'the live context is untouched');
  });

  it('survives a restart: a new hub and journal over the same database show the earlier run’s steps, then this run’s', async () => {
    const describe = (ref: AnyActor) => (ref.systemId ? { id: ref.systemId, kind: 'user', parent: null } : undefined);
    // First run.
    let clock = 1_000;
    const first = journal();
    const hub1 = createInspectionHub({ describe, now: () => clock, journal: first, onStep: (s) => first.append({ actor: s.id, ...s }) });
    const run1 = createActor(wallet, { systemId: 'user:7', inspect: hub1.inspect }).start();
    clock = 1_001;
    run1.send({ type: 'order' });
    clock = 1_002;
    run1.send({ type: 'pause' });
    const persisted = run1.getPersistedSnapshot();
    run1.stop();
    await first.close();

    // Second run: restored from its snapshot, as the runtime does.
    clock = 2_000;
    const second = journal();
    const hub2 = createInspectionHub({ describe, now: () => clock, journal: second, onStep: (s) => second.append({ actor: s.id, ...s }) });
    const run2 = createActor(wallet, { systemId: 'user:7', snapshot: persisted, inspect: hub2.inspect }).start();
    actors.push(run2);
    clock = 2_001;
    run2.send({ type: 'resume' });
    const steps = await hub2.source.history!('user:7');
    assert.deepEqual(
      steps.map((s) => [s.at, s.event, s.state, s.origin]),
      [
        [1_000, 'xstate.init', 'idle', 'journal'],
        [1_001, 'order', 'idle', 'journal'],
        [1_002, 'pause', 'paused', 'journal'],
        [2_000, 'xstate.init', 'paused', 'live'],
        [2_001, 'resume', 'idle', 'live'],
      ],
    );
    assert.deepEqual(
      steps.map((s) => (s.context as { orders: number; privateKey: string }).orders),
      [0, 1, 1, 1, 1],
    );
    assert.doesNotMatch(JSON.stringify(steps), /c0ffee42/, 'no secret from either source');
    // Once this run's steps are journalled too, they are still shown once.
    await second.flush();
    assert.equal((await hub2.source.history!('user:7')).length, 5);
    assert.deepEqual(
      (await hub2.source.history!('user:7', 3)).map((s) => s.origin),
      ['journal', 'live', 'live'],
    );
  });

  it('keeps only the newest keepPerActor rows of each actor it wrote', async () => {
    await t.db.appendTransitions([{ actor: 'user:old', at: 1, event: 'tick', state: 'live', context: {} }]);
    const j = journal({ keepPerActor: 3, flushIntervalMs: 60_000 });
    for (let i = 0; i < 10; i += 1) j.append(entry('user:1', i));
    j.append(entry('user:2', 100));
    await j.flush();
    assert.equal(await count('user:1'), 10);
    await j.prune();
    assert.deepEqual(
      (await j.recent('user:1', 100)).map((s) => s.at),
      [7, 8, 9],
    );
    assert.equal(await count('user:2'), 1);
    assert.equal(await count('user:old'), 1, 'an actor not written since the last prune is not looked at');
    // Pruned again only once written again.
    for (let i = 10; i < 15; i += 1) j.append(entry('user:1', i));
    await j.close();
    assert.deepEqual(
      (await j.recent('user:1', 100)).map((s) => s.at),
      [12, 13, 14],
      'close() flushes and prunes',
    );
  });

  it('prunes on its own timer', async () => {
    const j = journal({ keepPerActor: 2, pruneIntervalMs: 30 });
    for (let i = 0; i < 6; i += 1) j.append(entry('user:1', i));
    for (let i = 0; i < 100 && (await count('user:1')) !== 2; i += 1) await sleep(10);
    assert.equal(await count('user:1'), 2);
  });

  it('drops the oldest steps when the queue is full, counts them and warns once, without throwing', async () => {
    const capture = captureLogger('info');
    const j = journal({ maxQueue: 5, flushIntervalMs: 60_000, logger: capture.logger });
    for (let i = 0; i < 12; i += 1) assert.doesNotThrow(() => j.append(entry('user:1', i)));
    assert.equal(j.pending, 5);
    assert.equal(j.dropped, 7);
    assert.equal(capture.lines().filter((l) => /queue is full/.test(String(l['msg']))).length, 1, 'one warning');
    await j.flush();
    assert.deepEqual(
      (await j.recent('user:1', 100)).map((s) => s.at),
      [7, 8, 9, 10, 11],
      'the newest are written',
    );
  });

  it('never throws a database error at the caller or into XState, and writes again once the database does', async () => {
    const capture = captureLogger('info');
    let down = true;
    let pruneDown = true;
    const pruned: string[][] = [];
    const j = journal({
      logger: capture.logger,
      flushIntervalMs: 60_000,
      db: {
        appendTransitions: (rows) => (down ? Promise.reject(new Error('connection refused')) : t.db.appendTransitions(rows)),
        recentTransitions: (a, l) => t.db.recentTransitions(a, l),
        pruneTransitions: (actorIds) => {
          pruned.push([...actorIds]);
          return pruneDown ? Promise.reject(new Error('connection refused')) : Promise.resolve(0);
        },
      },
    });
    const hub = createInspectionHub({
      describe: (ref) => (ref.systemId ? { id: ref.systemId, kind: 'user', parent: null } : undefined),
      onStep: (s) => j.append({ actor: s.id, ...s }),
    });
    const actor = createActor(wallet, { systemId: 'user:9', inspect: hub.inspect }).start();
    actors.push(actor);
    actor.send({ type: 'order' });
    await j.flush();
    actor.send({ type: 'order' });
    await j.flush();
    assert.equal(actor.getSnapshot().context.orders, 2, 'the actor never noticed');
    const warnings = capture.lines().filter((l) => /write failed/.test(String(l['msg'])));
    assert.equal(warnings.length, 1, 'one warning for a run of failures');
    down = false;
    actor.send({ type: 'pause' });
    await j.flush();
    assert.deepEqual(
      (await j.recent('user:9', 100)).map((s) => s.event),
      ['pause'],
      'the failed batches are dropped (best effort), the next one is written',
    );
    assert.ok(capture.lines().some((l) => /work again/.test(String(l['msg']))));
    // A failed prune is logged and tried again at the next one.
    await j.prune();
    assert.ok(capture.lines().some((l) => /prune failed/.test(String(l['msg']))));
    pruneDown = false;
    await j.prune();
    assert.deepEqual(pruned, [['user:9'], ['user:9']]);
  });

  it('ignores appends after close()', async () => {
    const j = journal();
    await j.close();
    j.append(entry('user:1', 1));
    assert.equal(j.pending, 0);
    await sleep(30);
    assert.equal(await count(), 0);
  });

  it('a plain machine without secrets keeps its context as is', async () => {
    const j = journal();
    const hub = createInspectionHub({
      describe: (ref) => (ref.systemId ? { id: ref.systemId, kind: 'feed', parent: null } : undefined),
      onStep: (s) => j.append({ actor: s.id, ...s }),
    });
    const feed = createActor(createMachine({ context: { price: '2500.5' }, initial: 'live', states: { live: {} } }), { systemId: 'price-feed:ETH', inspect: hub.inspect }).start();
    actors.push(feed);
    await j.flush();
    const steps = await j.recent('price-feed:ETH', 10);
    assert.deepEqual(
      steps.map((s) => [s.event, s.state, s.context]),
      [['xstate.init', 'live', { price: '2500.5' }]],
    );
    assert.ok(Math.abs(steps[0]!.at - Date.now()) < 60_000, 'at is epoch ms');
  });
});
