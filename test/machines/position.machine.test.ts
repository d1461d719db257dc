import assert from 'node:assert/strict';
import { createActor, fromPromise } from 'xstate';
import { createDeadlineLogic } from '../../src/actors/deadline.ts';
import { migratePositionV1, positionMachine, type CloseFill, type OpenFill, type SubmittedOrder } from '../../src/machines/position.machine.ts';
import { manualClock } from '../helpers/manual-clock.ts';

const INPUT = { positionId: 'p1', owner: 'user:1', pair: 'ETH/USD', pairIndex: 0, side: 'long' as const, collateral: '50', leverage: 5, slippageBps: 50, fillTimeoutMs: 30_000 };
const flush = () => new Promise((r) => setImmediate(r));

function position(effects: { submitOpen?: () => Promise<SubmittedOrder>; openFill?: Promise<OpenFill>; submitClose?: () => Promise<SubmittedOrder>; closeFill?: Promise<CloseFill> } = {}) {
  const clock = manualClock(0);
  const told: string[] = [];
  const never = new Promise<never>(() => {});
  const actor = createActor(
    positionMachine.provide({
      actors: {
        deadline: createDeadlineLogic(clock),
        submitOpen: fromPromise(effects.submitOpen ?? (() => Promise.resolve({ orderId: '7', txHash: '0xabc', block: '10' }))),
        awaitOpenFill: fromPromise(() => effects.openFill ?? never),
        submitClose: fromPromise(effects.submitClose ?? (() => Promise.resolve({ orderId: '8', txHash: '0xdef', block: '12' }))),
        awaitCloseFill: fromPromise(() => effects.closeFill ?? never),
      },
      actions: { notifyOwner: (_, p) => void told.push(`${p.outcome}${p.final ? '!' : ''}`) },
    }),
    { input: INPUT },
  ).start();
  return { actor, clock, told };
}

describe('position machine', () => {
  it('submits, waits for the keeper, opens, closes and reports each step to its owner', async () => {
    const { actor, told } = position({ openFill: Promise.resolve({ kind: 'filled', tradeIndex: 2, openPrice: '3000', collateral: '49.8' }), closeFill: Promise.resolve({ closePrice: '3100', payout: '57.3' }) });
    await flush();
    assert.equal(actor.getSnapshot().value, 'open');
    assert.deepEqual([actor.getSnapshot().context.orderId, actor.getSnapshot().context.tradeIndex, actor.getSnapshot().context.positionCollateral], ['7', 2, '49.8']);
    actor.send({ type: 'close.requested' });
    await flush();
    assert.equal(actor.getSnapshot().status, 'done');
    assert.deepEqual([actor.getSnapshot().context.closePrice, actor.getSnapshot().context.payout], ['3100', '57.3']);
    assert.deepEqual(told, ['opened', 'closed!']);
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
    assert.deepEqual([actor.getSnapshot().value, actor.getSnapshot().context.orderId, calls], ['awaitingFill', '9', 3]);
    assert.deepEqual(told, ['retrying'], 'told once, not on every retry');
  });

  it('ends canceled when Avantis cancels the order (slippage, refunded)', async () => {
    const { actor, told } = position({ openFill: Promise.resolve({ kind: 'canceled' }) });
    await flush();
    assert.equal(actor.getSnapshot().value, 'canceled');
    assert.deepEqual(told, ['canceled!']);
  });

  it('tells the owner once when the fill is late, and keeps waiting for it', async () => {
    const { actor, clock, told } = position();
    await flush();
    clock.advance(29_999);
    assert.deepEqual(told, []);
    clock.advance(1);
    assert.deepEqual([actor.getSnapshot().value, actor.getSnapshot().context.fillDelayed], ['awaitingFill', true]);
    assert.deepEqual(told, ['delayed']);
  });

  it('stays open and says why when a close is refused', async () => {
    const { actor, told } = position({ openFill: Promise.resolve({ kind: 'filled', tradeIndex: 0, openPrice: '3000', collateral: '49.8' }), submitClose: () => Promise.reject(new Error('RPC down')) });
    await flush();
    actor.send({ type: 'close.requested' });
    await flush();
    assert.equal(actor.getSnapshot().value, 'open');
    assert.equal(actor.getSnapshot().context.error?.message, 'RPC down');
    assert.deepEqual(told, ['opened', 'close-refused', 'opened']);
  });

  it('migrates a pending version-1 order to a resubmission and refuses to invent a trade for others', () => {
    const v1 = { status: 'active', value: 'pending', historyValue: {}, children: { fillTimeout: {} }, context: { positionId: 'p', owner: 'user:1', pair: 'ETH/USD', side: 'long', collateral: '5', leverage: 2, fillTimeoutMs: 1000, openPrice: null, closePrice: null, outcome: null } };
    const v2 = migratePositionV1({ ...v1, context: { ...v1.context, pair: 'BTC/USD' } });
    assert.equal(v2['value'], 'submitting');
    assert.equal((v2['context'] as { pairIndex: number }).pairIndex, 1);
    assert.throws(() => migratePositionV1({ ...v1, context: { ...v1.context, pair: 'MOON/USD' } }), /no known Avantis pair index/);
    assert.deepEqual(v2['children'], {});
    assert.throws(() => migratePositionV1({ ...v1, value: 'open' }), /has no on-chain trade to resume/);
  });
});
