import assert from 'node:assert/strict';
import { createActor, fromPromise } from 'xstate';
import { createDeadlineLogic } from '../../src/actors/deadline.ts';
import { withdrawalMachine, type TransferReceipt, type TransferRequest, type WithdrawalOwnerNotice } from '../../src/machines/withdrawal.machine.ts';
import { manualClock } from '../helpers/manual-clock.ts';

const INPUT: TransferRequest = { withdrawalId: 'w1abcdef', owner: 'user:1', to: '0x1111111111111111111111111111111111111111', amount: '25' };
const flush = () => new Promise((r) => setImmediate(r));
const fail = (code: string, message: string, retryable = false) => Object.assign(new Error(message), { code, retryable });

interface Effects {
  persisted?: () => Promise<void>;
  send?: (call: number) => Promise<void>;
  confirm?: (call: number) => Promise<TransferReceipt>;
}

/** A withdrawal whose chain effects are scripted by the test; every call and notice is recorded. */
function withdrawal(effects: Effects = {}, snapshot?: unknown) {
  const clock = manualClock(0);
  const sends: TransferRequest[] = [];
  const confirms: TransferRequest[] = [];
  const notices: WithdrawalOwnerNotice[] = [];
  const logic = withdrawalMachine.provide({
    actors: {
      deadline: createDeadlineLogic(clock),
      persisted: fromPromise(effects.persisted ?? (() => Promise.resolve())),
      sendTransfer: fromPromise<void, TransferRequest>(({ input }) => {
        sends.push(input);
        return effects.send ? effects.send(sends.length) : Promise.resolve();
      }),
      confirmTransfer: fromPromise<TransferReceipt, TransferRequest>(({ input }) => {
        confirms.push(input);
        return effects.confirm ? effects.confirm(confirms.length) : Promise.resolve({ txHash: '0xfeed', block: '42' });
      }),
    },
    actions: { notifyOwner: (_, n) => void notices.push(n) },
  });
  const actor = createActor(logic, (snapshot === undefined ? { input: INPUT } : { snapshot }) as never).start();
  const told = () => notices.map((n) => `${n.outcome}${n.final ? '!' : ''}`);
  return { actor, clock, sends, confirms, notices, told, state: () => actor.getSnapshot().value as string };
}

describe('withdrawal machine', () => {
  it('waits for durability, sends once, confirms, and tells the owner sent, then done with the transaction', async () => {
    const w = withdrawal();
    await flush();
    assert.equal(w.state(), 'done');
    assert.equal(w.actor.getSnapshot().status, 'done');
    assert.deepEqual(w.told(), ['sent', 'done!']);
    assert.deepEqual(w.sends, [INPUT], 'one send, of exactly the withdrawal');
    const done = w.notices[1]!;
    assert.deepEqual([done.owner, done.withdrawalId, done.amount, done.to, done.txHash, done.detail], ['user:1', 'w1abcdef', '25', INPUT.to, '0xfeed', null]);
    assert.deepEqual([w.actor.getSnapshot().context.txHash, w.actor.getSnapshot().context.block], ['0xfeed', '42']);
  });

  it('sends nothing before the request is durable, and fails without sending when it cannot be recorded', async () => {
    let release!: () => void;
    const w = withdrawal({ persisted: () => new Promise<void>((r) => (release = r)) });
    await flush();
    assert.deepEqual([w.state(), w.sends.length], ['requested', 0]);
    release();
    await flush();
    assert.equal(w.state(), 'done');
    const refused = withdrawal({ persisted: () => Promise.reject(fail('PERSIST_CONFLICT', 'Actor withdrawal:w1abcdef was written by another instance.')) });
    await flush();
    assert.deepEqual([refused.state(), refused.sends.length, refused.told()], ['failed', 0, ['failed!']]);
  });

  it('fails with the reason when the transfer is refused before anything was signed', async () => {
    const w = withdrawal({ send: () => Promise.reject(fail('TX_SIMULATION_FAILED', 'The USDC transfer would fail on chain, so nothing was sent.')) });
    await flush();
    assert.equal(w.state(), 'failed');
    assert.deepEqual(w.told(), ['failed!']);
    assert.equal(w.notices[0]!.detail, 'The USDC transfer would fail on chain, so nothing was sent.');
  });

  it('retries a retryable send with backoff under the same transfer, telling the trader once', async () => {
    const w = withdrawal({ send: (n) => (n < 3 ? Promise.reject(fail('RPC_UNAVAILABLE', 'The blockchain node did not answer.', true)) : Promise.resolve()) });
    await flush();
    assert.deepEqual([w.state(), w.actor.getSnapshot().context.attempts], ['retrying', 1]);
    w.clock.advance(1_000);
    await flush();
    assert.deepEqual([w.state(), w.actor.getSnapshot().context.attempts], ['retrying', 2]);
    w.clock.advance(1_999);
    await flush();
    assert.equal(w.state(), 'retrying', 'the backoff doubles');
    w.clock.advance(1);
    await flush();
    assert.equal(w.state(), 'done');
    assert.deepEqual(w.sends, [INPUT, INPUT, INPUT], 'every try is the same transfer (the same intent id)');
    assert.deepEqual(w.told(), ['retrying', 'sent', 'done!']);
  });

  it('ends failed only on the chain’s final verdict; a slow or unknown confirmation keeps resuming the same transfer', async () => {
    for (const code of ['TX_REVERTED', 'TX_SUPERSEDED', 'TX_REJECTED']) {
      const w = withdrawal({ confirm: () => Promise.reject(fail(code, `verdict ${code}`)) });
      await flush();
      assert.deepEqual([code, w.state(), w.told()], [code, 'failed', ['sent', 'failed!']]);
      assert.equal(w.notices[1]!.detail, `verdict ${code}`);
    }
    // Not a verdict (a timeout, an unexpected error): it may still be mined, so it is never called failed.
    const w = withdrawal({
      confirm: (n) =>
        n === 1
          ? Promise.reject(fail('TX_TIMEOUT', 'The transaction has not been mined yet.', true))
          : n === 2
            ? Promise.reject(fail('INTERNAL', 'Something odd'))
            : Promise.resolve({ txHash: '0xbeef', block: '7' }),
    });
    await flush();
    assert.equal(w.state(), 'retrying');
    w.clock.advance(1_000);
    await flush();
    assert.equal(w.state(), 'retrying');
    w.clock.advance(2_000);
    await flush();
    assert.equal(w.state(), 'done');
    assert.equal(w.sends.length, 3, 'each retry resumes the send (re-broadcasting the same bytes), then confirms again');
    assert.deepEqual(w.told(), ['sent', 'retrying', 'done!'], '"sent" is said once, not on every resumed send');
  });

  it('resumes from a persisted snapshot: a restored withdrawal in confirming confirms the same transfer; in sending, sends it again', async () => {
    let hold!: (r: TransferReceipt) => void;
    const first = withdrawal({ confirm: () => new Promise<TransferReceipt>((r) => (hold = r)) });
    await flush();
    assert.equal(first.state(), 'confirming');
    const persisted = JSON.parse(JSON.stringify(first.actor.getPersistedSnapshot())) as unknown;
    first.actor.stop();
    void hold;
    const restored = withdrawal({}, persisted);
    await flush();
    assert.equal(restored.state(), 'done');
    assert.deepEqual(restored.confirms, [INPUT]);
    assert.deepEqual(restored.told(), ['done!'], 'a restored withdrawal does not say "sent" again');

    const stuck = withdrawal({ send: () => new Promise<void>(() => {}) });
    await flush();
    assert.equal(stuck.state(), 'sending');
    const again = withdrawal({}, JSON.parse(JSON.stringify(stuck.actor.getPersistedSnapshot())));
    await flush();
    assert.deepEqual([again.state(), again.sends], ['done', [INPUT]]);
  });
});
