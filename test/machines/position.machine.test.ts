import assert from 'node:assert/strict';
import { createActor, fromCallback, fromPromise, type AnyActorRef, type EventObject } from 'xstate';
import { createDeadlineLogic } from '../../src/actors/deadline.ts';
import {
  closeIntentId,
  positionMachine,
  type ChainEvent,
  type CloseRequest,
  type FollowCloseInput,
  type FollowOpenInput,
  type OpenedTrade,
  type SubmittedOrder,
  type WatchTradeInput,
} from '../../src/machines/position.machine.ts';
import { migratePositionV1, migratePositionV2 } from '../../src/machines/position.migrations.ts';
import { manualClock } from '../helpers/manual-clock.ts';

const INPUT = { positionId: 'p1', owner: 'user:1', pair: 'ETH/USD', pairIndex: 0, side: 'long' as const, collateral: '50', leverage: 5, slippageBps: 50, fillTimeoutMs: 30_000 };
const TRADE: OpenedTrade = { tradeIndex: 2, openPrice: '3000', collateral: '49.8', openedAt: '1700000000', block: '11' };
const flush = () => new Promise((r) => setImmediate(r));

interface Follows {
  open: { input: FollowOpenInput; send: (e: ChainEvent) => void }[];
  close: { input: FollowCloseInput; send: (e: ChainEvent) => void }[];
  watch: { input: WatchTradeInput; send: (e: ChainEvent) => void }[];
  stopped: string[];
}

/** A position whose chain follows are driven by the test: `follows.open.at(-1).send(...)` is the chain speaking. */
function position(effects: { submitOpen?: () => Promise<SubmittedOrder>; submitClose?: (request: CloseRequest) => Promise<SubmittedOrder> } = {}, snapshot?: unknown) {
  const clock = manualClock(0);
  const told: string[] = [];
  const notices: Record<string, unknown>[] = [];
  const closes: CloseRequest[] = [];
  const follows: Follows = { open: [], close: [], watch: [], stopped: [] };
  const follow = <I>(list: { input: I; send: (e: ChainEvent) => void }[], name: string) =>
    fromCallback<EventObject, I>(({ input, sendBack }) => {
      list.push({ input, send: (e) => sendBack(e) });
      return () => follows.stopped.push(name);
    });
  const logic = positionMachine.provide({
    actors: {
      deadline: createDeadlineLogic(clock),
      submitOpen: fromPromise(effects.submitOpen ?? (() => Promise.resolve({ orderId: '7', txHash: '0xabc', block: '10' }))),
      submitClose: fromPromise<SubmittedOrder, CloseRequest>(({ input }) => {
        closes.push(input);
        return effects.submitClose ? effects.submitClose(input) : Promise.resolve({ orderId: '8', txHash: '0xdef', block: '12' });
      }),
      followOpen: follow(follows.open, 'followOpen'),
      followClose: follow(follows.close, 'followClose'),
      watchTrade: follow(follows.watch, 'watchTrade'),
    },
    actions: {
      notifyOwner: (_, p) => {
        told.push(`${p.outcome}${p.final ? '!' : ''}`);
        notices.push({ ...p });
      },
    },
  });
  const actor = createActor(logic, (snapshot === undefined ? { input: INPUT } : { snapshot }) as never).start();
  return { actor: actor as typeof actor & AnyActorRef, clock, told, notices, closes, follows };
}

async function opened(p: ReturnType<typeof position>) {
  await flush();
  p.follows.open.at(-1)!.send({ type: 'chain.opened', trade: TRADE });
  await flush();
}

describe('position machine', () => {
  it('submits, waits for the keeper, opens, closes and reports each step to its owner', async () => {
    const p = position();
    await opened(p);
    const { actor, told, follows } = p;
    assert.deepEqual(actor.getSnapshot().value, { open: 'watching' });
    const c = actor.getSnapshot().context;
    assert.deepEqual([c.orderId, c.tradeIndex, c.positionCollateral, c.openedAt, c.openBlock], ['7', 2, '49.8', '1700000000', '11']);
    assert.deepEqual(follows.watch.at(-1)!.input, { trade: { owner: 'user:1', pairIndex: 0, tradeIndex: 2, side: 'long', leverage: 5, openPrice: '3000', collateral: '49.8', openedAt: '1700000000' }, fromBlock: '11' });
    actor.send({ type: 'close.requested' });
    await flush();
    assert.deepEqual(actor.getSnapshot().value, { awaitingClose: 'following' });
    follows.close.at(-1)!.send({ type: 'chain.closed', closure: { by: 'trader', closePrice: '3100', payout: '57.3' } });
    await flush();
    assert.equal(actor.getSnapshot().status, 'done');
    assert.deepEqual([actor.getSnapshot().context.closePrice, actor.getSnapshot().context.payout, actor.getSnapshot().context.closedBy], ['3100', '57.3', 'trader']);
    assert.deepEqual(told, ['sent', 'opened', 'close-sent', 'closed!']);
    // The acknowledgements carry what the trader needs: what was sent, and its transaction.
    const [sent, filled, closeSent] = p.notices;
    assert.deepEqual(
      [sent!['pair'], sent!['side'], sent!['collateral'], sent!['leverage'], sent!['txHash'], filled!['openPrice'], filled!['txHash'], closeSent!['txHash']],
      ['ETH/USD', 'long', '50', 5, '0xabc', '3000', null, '0xdef'],
    );
  });

  it('is rejected with the reason when the request is refused, and nothing is pending', async () => {
    const { actor, told } = position({ submitOpen: () => Promise.reject(Object.assign(new Error('Leverage out of range: this pair allows 1x to 75x.'), { code: 'TRADE_REJECTED' })) });
    await flush();
    assert.equal(actor.getSnapshot().value, 'rejected');
    assert.deepEqual(actor.getSnapshot().context.error, { code: 'TRADE_REJECTED', message: 'Leverage out of range: this pair allows 1x to 75x.', retryable: false });
    assert.deepEqual(told, ['rejected!']);
  });

  it('never gives up an order on a retryable failure: it retries with backoff under the same intent', async () => {
    let calls = 0;
    const { actor, clock, told } = position({
      submitOpen: () => {
        calls += 1;
        return calls < 3 ? Promise.reject(Object.assign(new Error('The blockchain node did not answer'), { code: 'RPC_UNAVAILABLE', retryable: true })) : Promise.resolve({ orderId: '9', txHash: '0x1', block: '3' });
      },
    });
    await flush();
    assert.deepEqual([actor.getSnapshot().value, actor.getSnapshot().context.attempts], ['retryingSubmit', 1]);
    clock.advance(1_000);
    await flush();
    assert.deepEqual([actor.getSnapshot().value, actor.getSnapshot().context.attempts], ['retryingSubmit', 2]);
    clock.advance(1_999);
    await flush();
    assert.equal(actor.getSnapshot().value, 'retryingSubmit', 'the backoff doubles');
    clock.advance(1);
    await flush();
    assert.deepEqual([actor.getSnapshot().value, actor.getSnapshot().context.orderId, calls], [{ awaitingFill: 'following' }, '9', 3]);
    assert.deepEqual(told, ['retrying', 'sent'], 'told once, not on every retry, then that it went out');
  });

  it('ends canceled when Avantis declines the order, or when an operator cancels it, and says which', async () => {
    for (const by of ['protocol', 'operator'] as const) {
      const { actor, told, notices, follows } = position();
      await flush();
      follows.open.at(-1)!.send({ type: 'chain.canceled', by });
      await flush();
      assert.equal(actor.getSnapshot().value, 'canceled');
      assert.deepEqual(told, ['sent', 'canceled!']);
      assert.equal(notices[1]!['canceledBy'], by);
    }
  });

  it('tells the owner once when the fill is late, keeps waiting, and keeps its timer across follow progress', async () => {
    const { actor, clock, told, follows } = position();
    await flush();
    clock.advance(20_000);
    // The follow reports progress: it restarts from the new cursor, the fill timer does not.
    follows.open.at(-1)!.send({ type: 'chain.progress', cursor: '500' });
    await flush();
    assert.equal(follows.open.length, 2);
    assert.deepEqual(follows.open.at(-1)!.input, { owner: 'user:1', orderId: '7', fromBlock: '500' });
    clock.advance(9_999);
    assert.deepEqual(told, ['sent']);
    clock.advance(1);
    assert.deepEqual([actor.getSnapshot().value, actor.getSnapshot().context.fillDelayed], [{ awaitingFill: 'following' }, true]);
    assert.deepEqual(told, ['sent', 'delayed']);
  });

  it('stays open and says why when a close is refused, once, without announcing the open again', async () => {
    const p = position({ submitClose: () => Promise.reject(new Error('RPC down')) });
    await opened(p);
    p.actor.send({ type: 'close.requested' });
    await flush();
    assert.deepEqual(p.actor.getSnapshot().value, { open: 'watching' });
    assert.equal(p.actor.getSnapshot().context.error?.message, 'RPC down');
    // Regression: version 2 said "opened" again on every return to `open`.
    assert.deepEqual(p.told, ['sent', 'opened', 'close-refused']);
  });

  it('tries a refused close again as a new try (a new intent), and a retry of one try keeps its intent', async () => {
    let refuse = true;
    let flaky = 1;
    const p = position({
      submitClose: () => {
        if (refuse) return Promise.reject(Object.assign(new Error('The trade is being closed'), { code: 'TRADE_REJECTED' }));
        if (flaky-- > 0) return Promise.reject(Object.assign(new Error('node down'), { code: 'RPC_UNAVAILABLE', retryable: true }));
        return Promise.resolve({ orderId: '21', txHash: '0x2', block: '30' });
      },
    });
    await opened(p);
    p.actor.send({ type: 'close.requested' });
    await flush();
    refuse = false;
    p.actor.send({ type: 'close.requested' });
    await flush();
    assert.equal(p.actor.getSnapshot().value, 'retryingClose');
    p.clock.advance(1_000);
    await flush();
    assert.deepEqual(p.actor.getSnapshot().value, { awaitingClose: 'following' });
    assert.deepEqual(
      p.closes.map((c) => closeIntentId(c.positionId, c.attempt)),
      ['position:p1:close:1', 'position:p1:close:2', 'position:p1:close:2'],
      'a new try after the refusal, the same try after the network failure',
    );
  });

  it('follows a trade the chain closes on its own (TP, SL, liquidation) to closed, with the payout, and tells the trader', async () => {
    for (const by of ['tp', 'sl', 'liquidation'] as const) {
      const p = position();
      await opened(p);
      p.follows.watch.at(-1)!.send({ type: 'chain.closed', closure: { by, closePrice: '2800', payout: by === 'liquidation' ? '0' : '31.2' } });
      await flush();
      assert.equal(p.actor.getSnapshot().value, 'closed');
      assert.deepEqual(p.told, ['sent', 'opened', 'closed!']);
      assert.deepEqual([p.notices[2]!['closedBy'], p.notices[2]!['closePrice'], p.notices[2]!['payout']], [by, '2800', by === 'liquidation' ? '0' : '31.2']);
    }
  });

  it('returns to open when its close request is canceled on chain, says so, and can close again', async () => {
    const p = position();
    await opened(p);
    p.actor.send({ type: 'close.requested' });
    await flush();
    p.follows.close.at(-1)!.send({ type: 'chain.closeCanceled' });
    await flush();
    assert.deepEqual(p.actor.getSnapshot().value, { open: 'watching' });
    assert.deepEqual(p.told, ['sent', 'opened', 'close-sent', 'close-canceled']);
    p.actor.send({ type: 'close.requested' });
    await flush();
    assert.deepEqual(p.closes.map((c) => c.attempt), [1, 2]);
  });

  it('sends nothing and goes back to watching when the slot no longer holds its trade; the watch says how it closed', async () => {
    const p = position({ submitClose: () => Promise.reject(Object.assign(new Error('gone'), { code: 'TRADE_GONE' })) });
    await opened(p);
    const watches = p.follows.watch.length;
    p.actor.send({ type: 'close.requested' });
    await flush();
    assert.deepEqual(p.actor.getSnapshot().value, { open: 'watching' });
    assert.equal(p.follows.watch.length, watches + 1, 'the watch runs again');
    assert.deepEqual(p.told, ['sent', 'opened'], 'no "close refused": the closing is being looked up');
    p.follows.watch.at(-1)!.send({ type: 'chain.closed', closure: { by: 'liquidation', closePrice: '2500', payout: '0' } });
    await flush();
    assert.equal(p.actor.getSnapshot().context.closedBy, 'liquidation');
  });

  it('persists the follow cursor and a restored position resumes reading from it', async () => {
    const p = position();
    await flush();
    p.follows.open.at(-1)!.send({ type: 'chain.progress', cursor: '12345' });
    await flush();
    const saved: unknown = JSON.parse(JSON.stringify(p.actor.getPersistedSnapshot()));
    p.actor.stop();
    const restored = position({}, saved);
    await flush();
    assert.deepEqual(restored.follows.open.at(-1)!.input, { owner: 'user:1', orderId: '7', fromBlock: '12345' });
    restored.follows.open.at(-1)!.send({ type: 'chain.opened', trade: TRADE });
    await flush();
    assert.deepEqual(restored.actor.getSnapshot().value, { open: 'watching' });
  });
});

describe('position snapshot migrations', () => {
  const v2Context = {
    ...INPUT,
    orderId: '7',
    openTx: '0xabc',
    requestBlock: '10',
    tradeIndex: 2,
    openPrice: '3000',
    positionCollateral: '49.8',
    fillDelayed: false,
    closeOrderId: null,
    closeTx: null,
    closeBlock: null,
    closePrice: null,
    payout: null,
    outcome: null,
    error: null,
    attempts: 0,
  };
  const v2 = (value: string, context: Record<string, unknown> = {}, children: Record<string, unknown> = {}) => ({ status: 'active', value, historyValue: {}, context: { ...v2Context, ...context }, children });

  it('migrates a pending version-1 order to a resubmission that actually runs, and refuses to invent a trade for others', async () => {
    const v1 = { status: 'active', value: 'pending', historyValue: {}, children: { fillTimeout: {} }, context: { positionId: 'p', owner: 'user:1', pair: 'BTC/USD', side: 'long', collateral: '5', leverage: 2, fillTimeoutMs: 1000, openPrice: null, closePrice: null, outcome: null } };
    const migrated = migratePositionV2(migratePositionV1(v1));
    assert.equal(migrated['value'], 'submitting');
    assert.equal((migrated['context'] as { pairIndex: number }).pairIndex, 1);
    assert.throws(() => migratePositionV1({ ...v1, context: { ...v1.context, pair: 'MOON/USD' } }), /no known Avantis pair index/);
    assert.throws(() => migratePositionV1({ ...v1, value: 'open' }), /has no on-chain trade to resume/);
    // Regression: the v1 migration left no submitOpen child, so the restored order waited forever.
    let submitted = 0;
    const p = position({ submitOpen: () => ((submitted += 1), Promise.resolve({ orderId: '3', txHash: '0x3', block: '4' })) }, migrated);
    await flush();
    assert.equal(submitted, 1);
    assert.deepEqual(p.actor.getSnapshot().value, { awaitingFill: 'following' });
  });

  it('resumes a version-2 order waiting for its fill by following it from its request block, keeping its fill timer', async () => {
    const p = position({}, migratePositionV2(v2('awaitingFill', {}, { fillTimeout: { snapshot: { status: 'active', deadline: 30_000 }, src: 'deadline', syncSnapshot: false } })));
    await flush();
    assert.deepEqual(p.follows.open.at(-1)!.input, { owner: 'user:1', orderId: '7', fromBlock: '10' });
    p.clock.advance(30_000);
    assert.deepEqual(p.told, ['delayed']);
  });

  it('resumes a version-2 open position by watching it; it learns the opening time it never stored', async () => {
    const p = position({}, migratePositionV2(v2('open')));
    await flush();
    assert.equal(p.follows.watch.at(-1)!.input.trade.openedAt, null);
    p.follows.watch.at(-1)!.send({ type: 'chain.identified', openedAt: '1699999999' });
    await flush();
    assert.equal(p.follows.watch.at(-1)!.input.trade.openedAt, '1699999999');
    assert.equal(p.actor.getSnapshot().context.openedAt, '1699999999');
  });

  it('resumes a version-2 close in flight under its old intent id, so it is never sent twice', async () => {
    const p = position({}, migratePositionV2(v2('closing')));
    await flush();
    assert.equal(closeIntentId(p.closes[0]!.positionId, p.closes[0]!.attempt), 'position:p1:close');
    const q = position({}, migratePositionV2(v2('awaitingClose', { closeOrderId: '8', closeBlock: '40' })));
    await flush();
    assert.deepEqual([q.follows.close.at(-1)!.input.orderId, q.follows.close.at(-1)!.input.fromBlock], ['8', '40']);
  });
});
