import assert from 'node:assert/strict';
import { createActor, enqueueActions } from 'xstate';
import { NOTICES_KEPT, type UserNotice } from '../../src/machines/notices.ts';
import { checkOrderRisk, type RiskLimits } from '../../src/machines/risk.ts';
import { DEFAULT_SETTINGS, migrateUserV1, migrateUserV2, userMachine, type UserContext } from '../../src/machines/user.machine.ts';

const WIDE: RiskLimits = { maxLeverage: 100, maxCollateralUsdc: '10000', maxNotionalUsdc: '1000000', maxOpenPositions: 100 };

/** The machine with the effects the actors layer provides, recorded instead of performed. */
function provided(limits: RiskLimits = WIDE) {
  const spawned: string[] = [];
  const kicks: number[] = [];
  const dropped: string[][] = [];
  const logic = userMachine.provide({
    guards: { breaksRiskLimits: (_, o) => checkOrderRisk(o, o.openPositions, limits) !== null },
    actions: {
      spawnPosition: (_, { order }) => void spawned.push(order.positionId),
      refuseRisk: enqueueActions(({ enqueue }, o: { positionId: string; collateral: string; leverage: number; openPositions: number }) => {
        enqueue({ type: 'tell', params: { kind: 'order.refused', positionId: o.positionId, text: checkOrderRisk(o, o.openPositions, limits)!.message } });
      }) as never,
      deliverNotices: (_, { telegramId }) => void kicks.push(telegramId),
      noticesDropped: (_, { ids }) => void dropped.push([...ids]),
    },
  });
  return { logic, spawned, kicks, dropped };
}

function user(maxOpenPositions = 2, limits: RiskLimits = WIDE) {
  const p = provided(limits);
  const actor = createActor(p.logic, { input: { telegramId: 42, maxOpenPositions } }).start();
  const context = () => actor.getSnapshot().context;
  /** Texts of the notices still waiting, oldest first. */
  const texts = () => context().notices.map((n) => n.text);
  return { ...p, actor, context, texts, state: () => actor.getSnapshot().value };
}

const order = (positionId: string, collateral = '100', leverage = 10) => ({ type: 'order.requested' as const, positionId, pair: 'ETH/USD', pairIndex: 0, side: 'long' as const, collateral, leverage });
const news = (type: 'position.updated' | 'position.finished', positionId: string, outcome: string, extra: Record<string, unknown> = {}) =>
  ({ type, positionId, outcome, pair: 'ETH/USD', side: 'long', collateral: '100', leverage: 10, ...extra }) as never;

describe('user machine', () => {
  describe('settings', () => {
    it('applies any valid subset, notify as a partial object, and bumps the revision', () => {
      const { actor, context } = user();
      actor.send({ type: 'settings.update', slippageBps: 80 });
      actor.send({ type: 'settings.update', confirmOrders: false, notify: { delays: false } });
      actor.send({ type: 'settings.update', defaultLeverage: 12.5, notify: { fills: false, closes: true } });
      assert.deepEqual(context().settings, { slippageBps: 80, defaultLeverage: 12.5, confirmOrders: false, notify: { fills: false, delays: false, closes: true } });
      assert.equal(context().revision, 3);
      assert.deepEqual(context().notices, []);
    });

    it('refuses a bad value with a notice that says what is allowed, and changes nothing at all', () => {
      const { actor, context } = user();
      actor.send({ type: 'settings.update', slippageBps: 80, confirmOrders: false });
      const before = context().settings;
      const bad: Record<string, unknown>[] = [
        { slippageBps: 0 },
        { slippageBps: 1001 },
        { slippageBps: 1.5 },
        { slippageBps: Number.NaN },
        { slippageBps: '50' },
        { defaultLeverage: 0 },
        { defaultLeverage: 501 },
        { defaultLeverage: Number.POSITIVE_INFINITY },
        { confirmOrders: 'yes' },
        { notify: { fills: 'no' } },
        { notify: { sounds: true } },
        { notify: [] },
        { notify: {} },
        // One good value does not carry a bad one through.
        { slippageBps: 70, defaultLeverage: -3 },
        {},
      ];
      for (const patch of bad) actor.send({ type: 'settings.update', ...patch } as never);
      assert.deepEqual(context().settings, before);
      assert.equal(context().revision, 1);
      const notices = context().notices;
      assert.equal(notices.length, bad.length);
      assert.ok(notices.every((n) => n.kind === 'account' && n.positionId === null && n.text.startsWith('Settings not changed')));
      assert.match(notices[0]!.text, /slippage must be a whole number of basis points from 1 to 1000/);
      assert.match(notices[5]!.text, /default leverage must be from 1x to 500x/);
      assert.match(notices[8]!.text, /confirmations are either on or off/);
      assert.match(notices[10]!.text, /fills, delays and closes only/);
      assert.match(notices[14]!.text, /nothing to change was given/);
    });
  });

  it('spawns a position per order up to the limit, then refuses with the limit named', () => {
    const { actor, spawned, context } = user(2);
    actor.send(order('a'));
    actor.send(order('b'));
    actor.send(order('c'));
    assert.deepEqual(spawned, ['a', 'b']);
    assert.deepEqual(context().positions, ['position:a', 'position:b']);
    assert.deepEqual(context().notices, [{ id: 'n1', telegramId: 42, kind: 'order.refused', positionId: 'c', text: 'You already have 2 open positions, the most allowed.' }]);
    actor.send(news('position.finished', 'a', 'closed', { closedBy: 'trader', closePrice: '3000', payout: '101' }));
    actor.send(order('c'));
    assert.deepEqual(context().positions, ['position:b', 'position:c']);
  });

  it('refuses orders while the trader paused trading and accepts them after resume', () => {
    const { actor, spawned, context, state } = user();
    actor.send({ type: 'trading.pause' });
    actor.send(order('a'));
    assert.deepEqual(spawned, []);
    assert.equal(state(), 'paused');
    assert.deepEqual(context().notices.map((n) => [n.kind, n.positionId, n.text]), [['order.refused', 'a', 'Trading is paused for your account. Send /resume to trade again.']]);
    actor.send({ type: 'trading.resume' });
    actor.send(order('a'));
    assert.deepEqual(spawned, ['a']);
  });

  it('recognises a repeated order id (double click, replayed button, duplicate update): one order, the live one kept, no limit bypassed', () => {
    const { actor, spawned, texts, context } = user(2);
    actor.send(order('a'));
    actor.send(order('a'));
    actor.send(order('a'));
    // Regression: each duplicate was tracked again, and the failed spawn's "rejected" then dropped
    // the live position from the list (and freed room beyond the limit).
    assert.deepEqual(spawned, ['a']);
    assert.deepEqual(context().positions, ['position:a']);
    assert.equal(texts().length, 2);
    assert.equal(texts()[0], 'Order a was already received; it is never sent twice.');
    actor.send(order('b'));
    actor.send(order('c'));
    assert.match(texts().at(-1)!, /already have 2 open positions/);
    // A finished order's id cannot be used again either (an old button pressed later).
    actor.send(news('position.finished', 'a', 'closed'));
    actor.send(order('a'));
    assert.deepEqual(spawned, ['a', 'b']);
    assert.match(texts().at(-1)!, /Order a was already received/);
    assert.deepEqual(context().positions, ['position:b']);
    // A stray "finished" for an order it never had changes nothing.
    actor.send({ type: 'position.finished', positionId: 'zzz', outcome: 'rejected' });
    assert.deepEqual(context().positions, ['position:b']);
  });

  it('refuses an order beyond a risk limit before anything is created, naming the limit and the numbers', () => {
    const limits: RiskLimits = { maxLeverage: 20, maxCollateralUsdc: '500', maxNotionalUsdc: '2000', maxOpenPositions: 2 };
    const { actor, spawned, texts, context } = user(10, limits);
    actor.send(order('lev', '100', 25));
    actor.send(order('col', '600', 2));
    actor.send(order('not', '300', 10));
    actor.send(order('ok1', '100', 10));
    actor.send(order('ok2', '150.5', 2.5));
    actor.send(order('many', '10', 2));
    assert.deepEqual(spawned, ['ok1', 'ok2']);
    assert.deepEqual(texts(), [
      'Leverage 25x is above the limit of 20x.',
      'Collateral 600 USDC is above the limit of 500 USDC per order.',
      'Position size 3000 USDC (300 USDC × 10x) is above the limit of 2000 USDC per order.',
      'You already hold 2 positions; the limit is 2. Close one to open another.',
    ]);
    assert.deepEqual(context().notices.map((n) => n.positionId), ['lev', 'col', 'not', 'many']);
    assert.deepEqual(context().positions, ['position:ok1', 'position:ok2']);
  });

  describe('notices', () => {
    it('turns every piece of position news into a notice of its kind, numbered in order, and asks for delivery each time', () => {
      const { actor, context, kicks } = user(5);
      actor.send(order('p'));
      actor.send(news('position.updated', 'p', 'sent', { txHash: '0xabc' }));
      actor.send(news('position.updated', 'p', 'delayed'));
      actor.send(news('position.updated', 'p', 'opened', { openPrice: '3001.5' }));
      actor.send(news('position.updated', 'p', 'close-sent', { txHash: '0xdef' }));
      actor.send(news('position.updated', 'p', 'close-canceled'));
      actor.send(news('position.updated', 'p', 'close-refused', { detail: 'Avantis has paused trading. Try again later.' }));
      actor.send(news('position.finished', 'p', 'closed', { closedBy: 'tp', closePrice: '3100', payout: '130.2' }));
      assert.deepEqual(
        context().notices.map((n) => [n.id, n.kind, n.positionId, n.text]),
        [
          ['n1', 'order.sent', 'p', 'Order p (long ETH/USD) was sent to Avantis with 100 USDC at 10x and waits for the keeper to fill it. Transaction 0xabc.'],
          ['n2', 'order.delayed', 'p', 'Order p (long ETH/USD) is still waiting for the keeper to fill it; it stays tracked and nothing is sent twice.'],
          ['n3', 'order.filled', 'p', 'Order p (long ETH/USD) is open at 3001.5.'],
          ['n4', 'close.sent', 'p', 'Order p (long ETH/USD): the close was sent to Avantis and waits for the keeper to execute it. Transaction 0xdef.'],
          ['n5', 'close.refused', 'p', 'Order p (long ETH/USD) was not closed: Avantis canceled the close request. It is still open; you can ask to close it again.'],
          ['n6', 'close.refused', 'p', 'Order p (long ETH/USD) could not be closed; it is still open, and you can ask to close it again. Avantis has paused trading. Try again later.'],
          ['n7', 'position.closed', 'p', 'Order p (long ETH/USD) was closed by its take-profit at 3100. 130.2 USDC was paid out.'],
        ],
      );
      assert.equal(kicks.length, 7);
      assert.equal(context().noticeSeq, 7);
    });

    it('forgets a delivered notice (and only that one); an unknown id changes nothing', () => {
      const { actor, context } = user(5);
      for (const id of ['a', 'b', 'c']) actor.send({ type: 'trading.pause' }), actor.send(order(id)), actor.send({ type: 'trading.resume' });
      actor.send({ type: 'notice.delivered', id: 'n2' });
      assert.deepEqual(context().notices.map((n) => n.id), ['n1', 'n3']);
      const before = actor.getSnapshot();
      actor.send({ type: 'notice.delivered', id: 'n2' });
      actor.send({ type: 'notice.delivered', id: 'x' });
      assert.equal(actor.getSnapshot().context, before.context, 'no new context for an ack of nothing');
      // Ids are never reused after a delivery.
      actor.send({ type: 'trading.pause' });
      actor.send(order('d'));
      assert.deepEqual(context().notices.map((n) => n.id), ['n1', 'n3', 'n4']);
    });

    it(`keeps at most ${NOTICES_KEPT} undelivered notices, dropping the oldest and reporting them`, () => {
      const { actor, context, dropped } = user(5);
      actor.send({ type: 'trading.pause' });
      for (let i = 1; i <= NOTICES_KEPT + 3; i++) actor.send(order(`o${i}`));
      assert.equal(context().notices.length, NOTICES_KEPT);
      assert.equal(context().notices[0]!.id, 'n4');
      assert.equal(context().notices.at(-1)!.id, `n${NOTICES_KEPT + 3}`);
      assert.deepEqual(dropped, [['n1'], ['n2'], ['n3']]);
    });

    it('mutes only what the trader chose to mute: refusals, cancels, failed closes and liquidations always arrive', () => {
      const { actor, context } = user(5);
      actor.send({ type: 'settings.update', notify: { fills: false, delays: false, closes: false } });
      actor.send(order('p'));
      actor.send(news('position.updated', 'p', 'sent', { txHash: '0x1' }));
      actor.send(news('position.updated', 'p', 'retrying', { detail: 'The node did not answer.' }));
      actor.send(news('position.updated', 'p', 'delayed'));
      actor.send(news('position.updated', 'p', 'opened', { openPrice: '3000' }));
      actor.send(news('position.updated', 'p', 'close-sent'));
      actor.send(news('position.updated', 'p', 'close-refused', { detail: 'No.' }));
      actor.send(news('position.finished', 'p', 'closed', { closedBy: 'sl', closePrice: '2900', payout: '80' }));
      actor.send(order('q'));
      actor.send(news('position.finished', 'q', 'closed', { closedBy: 'liquidation', closePrice: '2700', payout: '0' }));
      actor.send(order('r'));
      actor.send(news('position.finished', 'r', 'canceled', { canceledBy: 'protocol' }));
      actor.send(order('s'));
      actor.send(news('position.finished', 's', 'rejected', { detail: 'Trading is paused by the operator.' }));
      assert.deepEqual(
        context().notices.map((n) => [n.kind, n.positionId]),
        [
          ['close.refused', 'p'],
          ['position.closed', 'q'],
          ['order.canceled', 'r'],
          ['order.refused', 's'],
        ],
      );
      assert.match(context().notices[1]!.text, /^Order q \(long ETH\/USD\) was liquidated at 2700\. 0 USDC was paid out\.$/);
      assert.match(context().notices[3]!.text, /was refused before anything was executed\. Trading is paused by the operator\.$/);
    });

    it('accepts a broadcast or account notice with text, and ignores one without', () => {
      const { actor, context } = user();
      actor.send({ type: 'notice.add', kind: 'broadcast', text: '  Maintenance at 02:00 UTC.  ' });
      actor.send({ type: 'notice.add', kind: 'broadcast', text: '   ' });
      actor.send({ type: 'notice.add', kind: 'broadcast', text: 'x'.repeat(4097) });
      actor.send({ type: 'notice.add', kind: 'order.filled', text: 'forged' } as never);
      assert.deepEqual(context().notices.map((n) => [n.kind, n.text]), [['broadcast', 'Maintenance at 02:00 UTC.']]);
    });
  });

  describe('operator suspension', () => {
    it('refuses every new order while suspended, runs no order effect, and keeps following open positions', () => {
      const { actor, spawned, context, state } = user(5);
      actor.send(order('open1'));
      actor.send({ type: 'account.suspend', by: 'admin:1', at: '2026-12-03T10:00:00.000Z' });
      assert.equal(state(), 'suspended');
      assert.deepEqual(context().suspension, { by: 'admin:1', at: '2026-12-03T10:00:00.000Z', wasPaused: false });
      actor.send(order('x'));
      actor.send({ type: 'settings.update', slippageBps: 75 });
      assert.deepEqual(spawned, ['open1']);
      assert.deepEqual(context().positions, ['position:open1']);
      const [suspended, refused] = context().notices;
      assert.equal(suspended!.kind, 'account');
      assert.match(suspended!.text, /suspended your account: new orders are refused\. Your open positions are still followed and you can still close them/);
      assert.deepEqual([refused!.kind, refused!.positionId, refused!.text], ['order.refused', 'x', 'Your account is suspended by an operator; contact support.']);
      // The open position still reports, and finishing it is recorded as usual.
      actor.send(news('position.finished', 'open1', 'closed', { closedBy: 'trader', closePrice: '3050', payout: '104' }));
      assert.deepEqual(context().positions, []);
      assert.equal(context().notices.at(-1)!.kind, 'position.closed');
      assert.equal(context().settings.slippageBps, 75, 'settings stay the trader’s own');
      actor.send({ type: 'account.reinstate', by: 'admin:1' });
      assert.equal(state(), 'active');
      assert.equal(context().suspension, null);
      assert.match(context().notices.at(-1)!.text, /reinstated your account; you can trade again/);
      actor.send(order('y'));
      assert.deepEqual(spawned, ['open1', 'y']);
    });

    it('remembers the trader’s own pause across a suspension; /resume while suspended is refused but remembered', () => {
      const { actor, state, context } = user();
      actor.send({ type: 'trading.pause' });
      actor.send({ type: 'account.suspend', by: 'admin:2' });
      assert.deepEqual([state(), context().suspension?.wasPaused], ['suspended', true]);
      actor.send({ type: 'trading.resume' });
      assert.equal(state(), 'suspended');
      assert.match(context().notices.at(-1)!.text, /^Your account is suspended by an operator; contact support\. You can trade again once it is reinstated\.$/);
      actor.send({ type: 'trading.pause' });
      actor.send({ type: 'account.reinstate', by: 'admin:2' });
      assert.equal(state(), 'paused');
      assert.match(context().notices.at(-1)!.text, /Trading stays paused for your account until you send \/resume/);
    });

    it('ignores a suspension without an operator, a second suspension, and a reinstatement of an active account', () => {
      const { actor, state, context } = user();
      actor.send({ type: 'account.suspend', by: '' });
      actor.send({ type: 'account.suspend' } as never);
      actor.send({ type: 'account.reinstate', by: 'admin:1' });
      assert.equal(state(), 'active');
      assert.deepEqual(context().notices, []);
      actor.send({ type: 'account.suspend', by: 'admin:1' });
      actor.send({ type: 'account.suspend', by: 'admin:9' });
      assert.equal(context().suspension?.by, 'admin:1');
      assert.equal(context().notices.length, 1);
    });
  });

  describe('migrations', () => {
    const v2 = (value: 'active' | 'paused') => ({
      status: 'active',
      value,
      historyValue: {},
      children: {},
      context: { telegramId: 7, maxOpenPositions: 3, settings: { slippageBps: 35, defaultLeverage: 8 }, revision: 4, positions: ['position:x'], recentOrders: ['w'] },
    });
    const restore = (snapshot: Record<string, unknown>) => {
      const p = provided();
      return { ...p, actor: createActor(p.logic, { snapshot } as never).start() };
    };

    it('brings a version-2 user to version 3: settings kept with the new defaults, no notices, not suspended', () => {
      const migrated = migrateUserV2(v2('paused'));
      const context = migrated['context'] as UserContext;
      assert.equal(migrated['value'], 'paused');
      assert.deepEqual(context.settings, { slippageBps: 35, defaultLeverage: 8, confirmOrders: true, notify: { fills: true, delays: true, closes: true } });
      assert.deepEqual([context.notices, context.noticeSeq, context.suspension, context.revision, context.positions, context.recentOrders], [[], 0, null, 4, ['position:x'], ['w']]);
      // The restored actor works: the trader's pause holds, the position still reports, notices start at n1.
      const { actor } = restore(migrated);
      actor.send(order('y'));
      actor.send(news('position.finished', 'x', 'closed', { closedBy: 'trader', closePrice: '1', payout: '2' }));
      const after = actor.getSnapshot();
      assert.equal(after.value, 'paused');
      assert.deepEqual(after.context.notices.map((n: UserNotice) => [n.id, n.kind]), [['n1', 'order.refused'], ['n2', 'position.closed']]);
      assert.deepEqual(after.context.recentOrders, ['w', 'x']);
    });

    it('fills in defaults for a version-2 row whose settings were missing, and chains from version 1', () => {
      const bare = { ...v2('active'), context: { telegramId: 8, maxOpenPositions: 3, revision: 0, positions: [] } };
      assert.deepEqual((migrateUserV2(bare)['context'] as UserContext).settings, DEFAULT_SETTINGS);
      const v1 = { status: 'active', value: 'active', historyValue: {}, children: {}, context: { telegramId: 7, maxOpenPositions: 3, settings: { slippageBps: 50, defaultLeverage: 5 }, revision: 2, positions: ['position:x'] } };
      const v3 = migrateUserV2(migrateUserV1(v1));
      const { actor, spawned } = restore(v3);
      actor.send(news('position.finished', 'x', 'closed'));
      actor.send(order('z'));
      assert.deepEqual(actor.getSnapshot().context.recentOrders, ['x']);
      assert.deepEqual(spawned, ['z']);
    });
  });
});
