import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { createAdminDesk, type AdminDeskDeps, type RunningAdminDesk } from '../../src/actors/admin-desk.ts';
import { readTradingControls } from '../../src/actors/kinds/controls.actor.ts';
import type { ActorRuntime } from '../../src/actors/runtime.ts';
import type { RotationProgress } from '../../src/actors/desk.ts';
import { BadInputError } from '../../src/errors.ts';
import { systemClock } from '../../src/infra/clock.ts';
import type { KeyStore } from '../../src/infra/keys/keystore.ts';
import { createLocalKeyStore } from '../../src/infra/keys/local-keystore.ts';
import { createKeyRotationMetrics } from '../../src/infra/keys/rotation-metrics.ts';
import { createWallets } from '../../src/infra/keys/wallets.ts';
import { silentLogger } from '../helpers/common.ts';
import { createTestPostgres, type TestDatabase } from '../helpers/db.ts';
import { ordersDouble, type OrdersDouble } from '../helpers/orders-double.ts';
import { noticeLog, sleep, testSystem, topState, waitFor } from '../helpers/runtime.ts';
import { flakyKind } from '../helpers/test-kinds.ts';
import { localFixture, type KeyStoreFixture } from '../infra/keys/support.ts';

const ADMIN = 'admin:900';
const order = (positionId: string, pair = 'ETH/USD') => ({ type: 'order.requested', positionId, pair, pairIndex: pair === 'ETH/USD' ? 0 : 1, side: 'long', collateral: '10', leverage: 2 });

describe('admin desk, on the running engine (PostgreSQL)', function () {
  this.timeout(60_000);
  let t: TestDatabase;
  let orders: OrdersDouble;
  let log: ReturnType<typeof noticeLog>;
  let runtime: ActorRuntime;
  let desk: RunningAdminDesk;
  const extra: ActorRuntime[] = [];

  function deskFor(r: ActorRuntime, overrides: Partial<AdminDeskDeps> = {}): RunningAdminDesk {
    return createAdminDesk({ runtime: r, db: t.db, logger: silentLogger(), clock: systemClock, rotationKeystore: null, rotationMetrics: createKeyRotationMetrics(new Registry()), ...overrides });
  }
  const audit = async () => (await t.db.sql<{ actor: string; action: string; subject: string | null }>(`select actor, action, subject from audit_log where action <> 'wallet.created' order by id`)).map((r) => `${r.actor} ${r.action} ${r.subject}`);
  const stateOf = (id: string, r: ActorRuntime = runtime) => topState(r.get(id)?.getSnapshot() as { value?: unknown } | undefined);
  const noticesOf = (telegramId: number) => log.received.filter((n) => n.telegramId === telegramId);

  beforeEach(async () => {
    t = await createTestPostgres('admin_desk');
    orders = ordersDouble();
    log = noticeLog();
    runtime = testSystem(t.db, { orders, notices: log.sink, extraKinds: () => [flakyKind] });
    await runtime.boot();
    for (const [pair, pairIndex] of [
      ['ETH/USD', 0],
      ['BTC/USD', 1],
    ] as const) {
      runtime.spawn(`price-feed:${pair}`, { input: { pair, pairIndex, heartbeatMs: 60_000 } });
    }
    desk = deskFor(runtime);
  });
  afterEach(async () => {
    await desk.close();
    await runtime.stop();
    for (const r of extra.splice(0)) await r.stop();
    await t.destroy();
  });

  describe('pause and resume trading', () => {
    it('a global pause refuses every new open at the gateway, tells the trader why, and still lets positions close', async () => {
      runtime.spawn('user:1', { input: { telegramId: 1, maxOpenPositions: 5 } });
      runtime.send('user:1', order('before'));
      await waitFor(() => stateOf('position:before') === 'awaitingFill', 'the first order on chain');
      orders.fill('before', '3000');
      await waitFor(() => stateOf('position:before') === 'open', 'the fill');

      await desk.pauseTrading(ADMIN, null);
      assert.deepEqual(readTradingControls(runtime), { paused: true, pausedPairs: [], known: true });
      runtime.send('user:1', order('during'));
      await waitFor(() => noticesOf(1).some((n) => n.positionId === 'during'), 'the refusal');
      const refusal = noticesOf(1).find((n) => n.positionId === 'during')!;
      assert.equal(refusal.kind, 'order.refused');
      assert.match(refusal.text, /^Order during \(long ETH\/USD\) was refused before anything was executed\. Trading is paused by the operator\. Nothing was sent; you can still close positions/);
      assert.deepEqual(orders.submitted, ['open:before'], 'nothing was sent for the paused order');

      // A trader can always get out.
      runtime.send('position:before', { type: 'close.requested' });
      await waitFor(() => stateOf('position:before') === 'awaitingClose', 'the close request');
      orders.closeFill('before', '3010', '10.1');
      await waitFor(() => !runtime.ids().includes('position:before'), 'the close');
      assert.deepEqual(orders.submitted, ['open:before', 'close:before:1']);

      await desk.resumeTrading(ADMIN, null);
      runtime.send('user:1', order('after'));
      await waitFor(() => orders.submitted.includes('open:after'), 'an order after resuming');
      assert.deepEqual(await audit(), [`${ADMIN} trading.paused all`, `${ADMIN} trading.resumed all`]);
    });

    it('a pause survives a restart of the engine', async () => {
      await desk.pauseTrading(ADMIN, 'btc');
      await desk.pauseTrading(ADMIN, null);
      await runtime.stop();
      const again = testSystem(t.db, { orders: ordersDouble() });
      extra.push(again);
      await again.boot();
      assert.deepEqual(readTradingControls(again), { paused: true, pausedPairs: ['BTC/USD'], known: true });
      const snapshot = again.get('controls')!.getSnapshot() as { context: { by: string; since: string } };
      assert.equal(snapshot.context.by, ADMIN);
      assert.ok(!Number.isNaN(Date.parse(snapshot.context.since)));
    });

    it('pauses one pair (named as the operator types it) and leaves the others trading; a global resume keeps it', async () => {
      runtime.spawn('user:2', { input: { telegramId: 2, maxOpenPositions: 5 } });
      await desk.pauseTrading(ADMIN, ' eth ');
      await desk.pauseTrading(ADMIN, null);
      await desk.resumeTrading(ADMIN, null);
      assert.deepEqual(readTradingControls(runtime), { paused: false, pausedPairs: ['ETH/USD'], known: true });
      runtime.send('user:2', order('e1', 'ETH/USD'));
      runtime.send('user:2', order('b1', 'BTC/USD'));
      await waitFor(() => orders.submitted.includes('open:b1') && noticesOf(2).some((n) => n.positionId === 'e1'), 'both outcomes');
      assert.match(noticesOf(2).find((n) => n.positionId === 'e1')!.text, /Trading on ETH\/USD is paused by the operator\. Nothing was sent/);
      assert.ok(!orders.submitted.includes('open:e1'));
      await desk.resumeTrading(ADMIN, 'ETH/USD');
      runtime.send('user:2', order('e2', 'ETH/USD'));
      await waitFor(() => orders.submitted.includes('open:e2'), 'ETH trading again');
      assert.deepEqual(await audit(), [
        `${ADMIN} trading.pair.paused ETH/USD`,
        `${ADMIN} trading.paused all`,
        `${ADMIN} trading.resumed all`,
        `${ADMIN} trading.pair.resumed ETH/USD`,
      ]);
    });

    it('refuses what would change nothing or names no pair, audits the refusal, and changes nothing', async () => {
      const refused = async (p: Promise<unknown>, message: RegExp) => assert.rejects(p, (err: unknown) => err instanceof BadInputError && message.test(err.message));
      await refused(desk.resumeTrading(ADMIN, null), /^Trading is not paused\.$/);
      await refused(desk.pauseTrading(ADMIN, 'DOGE'), /^DOGE\/USD is not a pair this engine trades\. Pairs: BTC\/USD, ETH\/USD\.$/);
      await refused(desk.pauseTrading(ADMIN, 'ETH/USD; drop table'), /is not a pair: name it like ETH or ETH\/USD/);
      await refused(desk.pauseTrading(ADMIN, '💥'.repeat(50)), /is not a pair/);
      await refused(desk.pauseTrading('', null), /operator must be named/);
      await refused(desk.pauseTrading('admin 1', null), /operator must be named/);
      await desk.pauseTrading(ADMIN, null);
      await refused(desk.pauseTrading(ADMIN, null), /already paused for every pair/);
      await refused(desk.resumeTrading(ADMIN, 'BTC'), /^Trading on BTC\/USD is not paused\.$/);
      assert.deepEqual(readTradingControls(runtime), { paused: true, pausedPairs: [], known: true });
      assert.deepEqual(await audit(), [
        `${ADMIN} trading.resumed.refused all`,
        // What the operator typed is on record, clipped; a request with no valid operator is not.
        `${ADMIN} trading.pair.paused.refused DOGE`,
        `${ADMIN} trading.pair.paused.refused ETH/USD; drop table`,
        `${ADMIN} trading.pair.paused.refused ${'💥'.repeat(50).slice(0, 40)}`,
        `${ADMIN} trading.paused all`,
        `${ADMIN} trading.paused.refused all`,
        `${ADMIN} trading.pair.resumed.refused BTC/USD`,
      ]);
    });

    it('counts what the engine runs and reports the controls in stats', async () => {
      runtime.spawn('user:3', { input: { telegramId: 3, maxOpenPositions: 5 } });
      runtime.spawn('user:4', { input: { telegramId: 4, maxOpenPositions: 5 } });
      runtime.send('user:3', order('s1'));
      runtime.send('user:3', order('s2'));
      runtime.send('user:4', order('s3'));
      await waitFor(() => orders.submitted.length === 3, 'three orders');
      orders.fill('s1', '3000');
      await waitFor(() => stateOf('position:s1') === 'open', 'a fill');
      await desk.pauseTrading(ADMIN, 'BTC');
      assert.deepEqual(await desk.stats(), { users: 2, openPositions: 1, pendingOrders: 2, actors: 2 + 3 + 2 + 1, quarantined: 0, tradingPaused: false, pausedPairs: ['BTC/USD'] });
    });
  });

  describe('suspend and reinstate', () => {
    it('a suspended trader’s orders are refused with the operator’s message and nothing runs; closing stays possible', async () => {
      runtime.spawn('user:10', { input: { telegramId: 10, maxOpenPositions: 5 } });
      runtime.send('user:10', order('kept'));
      await waitFor(() => stateOf('position:kept') === 'awaitingFill', 'an order on chain');
      orders.fill('kept', '3000');
      await waitFor(() => stateOf('position:kept') === 'open', 'the fill');

      await desk.suspendUser(ADMIN, 10);
      assert.equal(stateOf('user:10'), 'suspended');
      const [row] = await t.db.sql<{ value: string }>(`select snapshot->>'value' as value from actor_snapshots where id = 'user:10'`);
      assert.equal(row!.value, 'suspended', 'durable before the desk answered');
      runtime.send('user:10', order('blocked'));
      await waitFor(() => noticesOf(10).some((n) => n.positionId === 'blocked'), 'the refusal');
      assert.equal(noticesOf(10).find((n) => n.positionId === 'blocked')!.text, 'Your account is suspended by an operator; contact support.');
      assert.equal(runtime.get('position:blocked'), undefined, 'no position was created');
      assert.ok(noticesOf(10).some((n) => n.kind === 'account' && /suspended your account/.test(n.text)), 'the trader is told');

      runtime.send('position:kept', { type: 'close.requested' });
      await waitFor(() => stateOf('position:kept') === 'awaitingClose', 'the close request of a suspended trader');
      orders.closeFill('kept', '2990', '9.9');
      await waitFor(() => noticesOf(10).some((n) => n.kind === 'position.closed'), 'the payout notice');

      await desk.reinstateUser(ADMIN, 10);
      runtime.send('user:10', order('again'));
      await waitFor(() => orders.submitted.includes('open:again'), 'trading again');
      assert.deepEqual(await audit(), [`${ADMIN} user.suspended user:10`, `${ADMIN} user.reinstated user:10`]);
    });

    it('refuses an unknown trader, a bad id, and a change that would change nothing', async () => {
      runtime.spawn('user:11', { input: { telegramId: 11, maxOpenPositions: 5 } });
      for (const bad of [0, -5, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 2]) {
        await assert.rejects(desk.suspendUser(ADMIN, bad), /Telegram user id, a positive whole number/);
      }
      await assert.rejects(desk.suspendUser(ADMIN, 12), /^BadInputError: No trader with Telegram id 12 has started the bot\.$/);
      await assert.rejects(desk.reinstateUser(ADMIN, 11), /Trader 11 is not suspended/);
      await desk.suspendUser(ADMIN, 11);
      await assert.rejects(desk.suspendUser('admin:901', 11), /Trader 11 is already suspended/);
      assert.equal((runtime.get('user:11')!.getSnapshot() as { context: { suspension: { by: string } } }).context.suspension.by, ADMIN);
      assert.deepEqual(await audit(), [
        // Bad ids are on record as typed.
        ...['0', '-5', '1.5', 'NaN', '9007199254740992'].map((id) => `${ADMIN} user.suspended.refused ${id}`),
        `${ADMIN} user.suspended.refused user:12`,
        `${ADMIN} user.reinstated.refused user:11`,
        `${ADMIN} user.suspended user:11`,
        'admin:901 user.suspended.refused user:11',
      ]);
    });
  });

  it('lists every trader who started the bot, quarantined ones included', async () => {
    for (const id of [30, 4, 200]) runtime.spawn(`user:${id}`, { input: { telegramId: id, maxOpenPositions: 5 } });
    await runtime.flushed();
    await t.db.sql(`insert into actor_snapshots (id, kind, parent, machine_version, snapshot, status, status_reason) values ('user:77', 'user', null, 99, '{}'::jsonb, 'quarantined', 'test')`);
    assert.deepEqual(await desk.traders(), [4, 30, 77, 200]);
  });

  describe('quarantine and release in the running engine', () => {
    it('releases an actor quarantined by repeated failures: it runs again at once, from its last state', async () => {
      runtime.spawn('flaky:1', { input: undefined });
      for (let i = 0; i < 5; i++) runtime.send('flaky:1', { type: 'bump' });
      await runtime.flushed();
      for (let i = 0; i < 4; i++) {
        runtime.send('flaky:1', { type: 'boom' });
        await waitFor(() => runtime.get('flaky:1') !== undefined || runtime.quarantined().some((q) => q.id === 'flaky:1'), 'restart or quarantine');
      }
      await waitFor(async () => (await desk.quarantined()).some((q) => q.id === 'flaky:1'), 'quarantine');
      const [listed] = await desk.quarantined();
      assert.deepEqual([listed!.id, listed!.kind], ['flaky:1', 'flaky']);
      assert.match(listed!.reason, /failures within 5000 ms; last: boom/);
      await waitFor(async () => (await t.db.sql<{ status: string }>(`select status from actor_snapshots where id = 'flaky:1'`))[0]!.status === 'quarantined', 'the row quarantined');

      assert.equal(await desk.release(ADMIN, 'flaky:1'), true);
      assert.deepEqual(await desk.quarantined(), []);
      runtime.send('flaky:1', { type: 'bump' });
      assert.equal((runtime.get('flaky:1')!.getSnapshot() as { context: { n: number } }).context.n, 6, 'live, with its state');
      await runtime.flushed();
      const [row] = await t.db.sql<{ status: string; n: number }>(`select status, (snapshot->'context'->>'n')::int as n from actor_snapshots where id = 'flaky:1'`);
      assert.deepEqual(row, { status: 'active', n: 6 }, 'and persisting again');
      assert.ok((await audit()).includes(`${ADMIN} actor.released flaky:1`));
    });

    it('releases a trader quarantined at boot once the row is fixed; what it still owed the trader is delivered', async () => {
      runtime.spawn('user:40', { input: { telegramId: 40, maxOpenPositions: 5 } });
      runtime.send('user:40', { type: 'trading.pause' });
      await runtime.flushed();
      // A bad deploy wrote the row with a version this build does not know; a restart quarantines it.
      await runtime.stop();
      await t.db.sql(`update actor_snapshots set machine_version = 99 where id = 'user:40'`);
      const silent = noticeLog();
      runtime = testSystem(t.db, { orders, notices: silent.sink, extraKinds: () => [flakyKind] });
      await runtime.boot();
      desk = deskFor(runtime);
      assert.deepEqual((await desk.quarantined()).map((q) => q.id), ['user:40']);
      // Orders sent to it meanwhile go nowhere.
      assert.equal(runtime.send('user:40', order('lost')), false);

      // Releasing it unfixed: it is quarantined again with the reason, and the desk says false.
      assert.equal(await desk.release(ADMIN, 'user:40'), false);
      assert.match((await desk.quarantined())[0]!.reason, /machine version 99 is unknown/);

      // The operator fixes the row (with a notice still owed in it) and releases it: it runs, in this engine.
      await t.db.sql(
        `update actor_snapshots set machine_version = 3, snapshot = jsonb_set(jsonb_set(snapshot, '{context,notices}', '[{"id":"n7","telegramId":40,"kind":"account","positionId":null,"text":"Owed."}]'), '{context,noticeSeq}', '7') where id = 'user:40'`,
      );
      assert.equal(await desk.release(ADMIN, 'user:40'), true);
      assert.equal(stateOf('user:40'), 'paused');
      await waitFor(() => silent.received.some((n) => n.id === 'n7'), 'the owed notice');
      runtime.send('user:40', { type: 'trading.resume' });
      runtime.send('user:40', order('live'));
      await waitFor(() => orders.submitted.includes('open:live'), 'the released trader trading');
      const actions = await audit();
      assert.ok(actions.includes(`${ADMIN} actor.release.failed user:40`));
      assert.equal(actions.filter((a) => a === `${ADMIN} actor.released user:40`).length, 2);
    });

    it('answers false (audited) for an actor that is not quarantined, and refuses a missing id', async () => {
      runtime.spawn('user:41', { input: { telegramId: 41, maxOpenPositions: 5 } });
      assert.equal(await desk.release(ADMIN, 'user:41'), false);
      assert.equal(await desk.release(ADMIN, 'nobody:1'), false);
      await assert.rejects(desk.release(ADMIN, '  '), /Name the actor to release/);
      assert.deepEqual(await audit(), [`${ADMIN} actor.release.refused user:41`, `${ADMIN} actor.release.refused nobody:1`]);
    });
  });

  describe('key rotation', () => {
    let fx: KeyStoreFixture;
    beforeEach(async () => {
      fx = await localFixture();
      const wallets = createWallets({ db: t.db, keystore: fx.keystore, logger: silentLogger() });
      for (let i = 1; i <= 12; i++) await wallets.create(`user:${i}`);
    });
    afterEach(async () => {
      await desk.close();
      await fx.close();
    });
    const rotationKeystore = () => createLocalKeyStore({ dataDir: fx.dataDir!, mode: 'sandbox', allowInLive: false, logger: silentLogger() });

    it('rotates in the background, reports progress, refuses a second one meanwhile, and audits it all', async () => {
      let release: () => void = () => {};
      const seen: RotationProgress[] = [];
      const held = new Promise<void>((resolve) => (release = resolve));
      // The rotation keystore holds its first rewrap until the test has asked for a second rotation.
      const gated = async (): Promise<KeyStore> => {
        const keystore = await rotationKeystore();
        let calls = 0;
        return {
          ...keystore,
          rewrap: async (items) => {
            calls += 1;
            if (calls === 1) await held;
            // What an operator polling the desk sees between two batches.
            else seen.push(desk.rotation());
            return keystore.rewrap(items);
          },
        };
      };
      desk = deskFor(runtime, { rotationKeystore: gated, rotationBatchSize: 5 });
      assert.deepEqual(desk.rotation(), { state: 'idle', rewrapped: 0, remaining: 0, detail: null });
      await desk.startKeyRotation(ADMIN);
      assert.equal(desk.rotation().state, 'running');
      assert.equal(desk.rotation().remaining, 12);
      await assert.rejects(desk.startKeyRotation('admin:901'), /^BadInputError: A key rotation is already running: 0 rewrapped, 12 remaining\.$/);
      release();
      await waitFor(() => desk.rotation().state !== 'running', 'the rotation to finish', 20_000);
      assert.deepEqual(desk.rotation(), { state: 'done', rewrapped: 12, remaining: 0, detail: 'Every wallet key is on key version 2; older versions are retired.' });
      assert.deepEqual(
        seen.map((p) => [p.state, p.rewrapped, p.remaining]),
        [
          ['running', 5, 7],
          ['running', 10, 2],
        ],
        'progress between batches',
      );
      const versions = await t.db.sql<{ key_version: number }>('select distinct key_version from wallets');
      assert.deepEqual(versions, [{ key_version: 2 }]);
      assert.deepEqual(await audit(), [
        `${ADMIN} keys.rotation.requested local`,
        'admin:901 keys.rotation.requested.refused keys',
        `${ADMIN} keys.rotation.started local`,
        `${ADMIN} keys.rotation.completed local`,
      ]);
      // Finished: another may start (nothing left to rewrap onto version 3 but the 12 again).
      await desk.startKeyRotation(ADMIN);
      await waitFor(() => desk.rotation().state === 'done', 'the second rotation', 20_000);
    });

    it('says so when this engine cannot rotate, and when the keystore cannot be opened, changing nothing', async () => {
      await assert.rejects(desk.startKeyRotation(ADMIN), /This engine cannot rotate keys\. Run `npm run keys:rotate`/);
      desk = deskFor(runtime, { rotationKeystore: () => Promise.reject(new Error('VAULT_OPERATOR_TOKEN is not set.')) });
      await assert.rejects(desk.startKeyRotation(ADMIN), /VAULT_OPERATOR_TOKEN is not set/);
      assert.equal(desk.rotation().state, 'idle');
      await sleep(10);
      const versions = await t.db.sql<{ key_version: number }>('select distinct key_version from wallets');
      assert.deepEqual(versions, [{ key_version: 1 }]);
      assert.deepEqual(await audit(), [`${ADMIN} keys.rotation.requested.refused keys`, `${ADMIN} keys.rotation.refused keys`]);
    });
  });

  it('writes an audit entry for an action the bot performs, and refuses a malformed one', async () => {
    await desk.audit(ADMIN, 'broadcast.sent', '1532 traders');
    await assert.rejects(desk.audit(ADMIN, 'drop table; --', 'x'), /short name like broadcast\.sent/);
    await assert.rejects(desk.audit(ADMIN, 'broadcast.sent', 'x'.repeat(501)), /at most 500 characters/);
    await assert.rejects(desk.audit('', 'broadcast.sent', 'x'), /operator must be named/);
    assert.deepEqual(await audit(), [`${ADMIN} broadcast.sent 1532 traders`]);
  });
});
