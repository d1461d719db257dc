import assert from 'node:assert/strict';
import { createActor } from 'xstate';
import { allowlistProblem } from '../../src/machines/notices.ts';
import { ALLOWLIST_MAX, migrateUserV2, migrateUserV3, userMachine } from '../../src/machines/user.machine.ts';

const HOUR = 3_600_000;
const A = '0x1111111111111111111111111111111111111111';
const B = '0x2222222222222222222222222222222222222222';

/** A user machine with the actors layer's effects recorded; `requireAllowlist` as live mode sets it. */
function user(requireAllowlist: boolean) {
  const spawned: { withdrawalId: string; to: string; amount: string }[] = [];
  const logic = userMachine.provide({
    guards: {
      breaksRiskLimits: () => false,
      breaksAllowlist: ({ context }, { to, at }) => requireAllowlist && allowlistProblem(context.allowlist, to, at) !== null,
    },
    actions: {
      spawnWithdrawal: (_, { request }) => void spawned.push(request),
      deliverNotices: () => {},
      noticesDropped: () => {},
    },
  });
  const actor = createActor(logic, { input: { telegramId: 7, maxOpenPositions: 5 } }).start();
  const context = () => actor.getSnapshot().context;
  const texts = () => context().notices.map((n) => `${n.kind}: ${n.text}`);
  return { actor, context, texts, spawned };
}

const request = (withdrawalId: string, to = A, at = 0, amount = '25') => ({ type: 'withdrawal.requested' as const, withdrawalId, to, amount, at });

describe('user machine: withdrawals and the allowlist', () => {
  it('creates one withdrawal actor per id, lists it until it finishes, and never creates it twice', () => {
    const u = user(false);
    u.actor.send(request('wd-0001'));
    u.actor.send(request('wd-0001'));
    assert.deepEqual(u.spawned, [{ withdrawalId: 'wd-0001', to: A, amount: '25' }]);
    assert.deepEqual(u.context().withdrawals, ['withdrawal:wd-0001']);
    assert.match(u.texts().at(-1)!, /^withdrawal\.failed: Withdrawal wd-0001 was already received; it is never sent twice\.$/);
    u.actor.send({ type: 'withdrawal.updated', withdrawalId: 'wd-0001', outcome: 'sent', to: A, amount: '25' });
    u.actor.send({ type: 'withdrawal.finished', withdrawalId: 'wd-0001', outcome: 'done', to: A, amount: '25', txHash: '0xabc' });
    assert.deepEqual([u.context().withdrawals, u.context().recentWithdrawals], [[], ['wd-0001']]);
    const [sent, done] = u.context().notices.slice(-2);
    assert.deepEqual([sent!.kind, sent!.positionId], ['withdrawal.sent', 'wd-0001']);
    assert.match(sent!.text, /Withdrawal wd-0001 \(25 USDC to 0x1111…1111\) was signed and sent/);
    assert.deepEqual([done!.kind, done!.text], ['withdrawal.done', `Withdrawal wd-0001 is done: 25 USDC was sent to ${A}. Transaction 0xabc.`]);
    // Finished: a replay of the same id is still refused, and creates nothing.
    u.actor.send(request('wd-0001'));
    assert.equal(u.spawned.length, 1);
  });

  it('tells a failure with its reason, and that no USDC left the wallet', () => {
    const u = user(false);
    u.actor.send(request('wd-0002'));
    u.actor.send({ type: 'withdrawal.finished', withdrawalId: 'wd-0002', outcome: 'failed', to: A, amount: '25', detail: 'The network refused the transaction (insufficient funds for gas)' });
    assert.equal(u.texts().at(-1), 'withdrawal.failed: Withdrawal wd-0002 (25 USDC to 0x1111…1111) failed: The network refused the transaction (insufficient funds for gas). No USDC left your wallet.');
  });

  it('refuses withdrawals while an operator suspends the account, but not while the trader paused trading', () => {
    const u = user(false);
    u.actor.send({ type: 'account.suspend', by: 'admin:1' });
    u.actor.send(request('wd-0003'));
    assert.deepEqual([u.spawned.length, u.context().withdrawals], [0, []]);
    assert.match(u.texts().at(-1)!, /^withdrawal\.failed: Your account is suspended by an operator; contact support\. No withdrawal can be made/);
    u.actor.send({ type: 'allowlist.add', address: A, at: 0, usableFrom: 0 });
    assert.deepEqual(u.context().allowlist, []);
    u.actor.send({ type: 'account.reinstate', by: 'admin:1' });
    u.actor.send({ type: 'trading.pause' });
    u.actor.send(request('wd-0004'));
    assert.deepEqual(u.spawned.map((s) => s.withdrawalId), ['wd-0004']);
  });

  it('refuses a malformed request with a notice and creates nothing, whatever sends it', () => {
    const u = user(false);
    const bad = [
      { ...request('x'), withdrawalId: 'x' },
      { ...request('wd-0005'), to: 'not an address' },
      { ...request('wd-0005'), to: `0x${'0'.repeat(40)}` },
      { ...request('wd-0005'), amount: '0' },
      { ...request('wd-0005'), amount: '-5' },
      { ...request('wd-0005'), amount: '1.0000001' },
      { ...request('wd-0005'), amount: 'NaN' },
      { ...request('wd-0005'), at: Number.NaN },
    ];
    for (const event of bad) u.actor.send(event);
    assert.deepEqual([u.spawned, u.context().withdrawals], [[], []]);
    assert.equal(u.context().notices.length, bad.length, 'each refusal is told');
  });

  it('live: a destination must be on the allowlist and past its waiting period at the request’s time', () => {
    const u = user(true);
    u.actor.send(request('wd-0006', A, 1_000));
    assert.match(u.texts().at(-1)!, new RegExp(`^withdrawal\\.failed: ${A} is not on your withdrawal allowlist`));
    u.actor.send({ type: 'allowlist.add', address: A, at: 0, usableFrom: 24 * HOUR });
    assert.match(u.texts().at(-1)!, new RegExp(`^account: ${A} was added to your withdrawal allowlist\\. It can receive withdrawals from 1970-01-02 00:00 UTC \\(24 h after it was added\\)\\. If you did not add it, contact support at once\\.$`));
    u.actor.send(request('wd-0007', A, 24 * HOUR - 60_000));
    assert.match(u.texts().at(-1)!, /can receive withdrawals from 1970-01-02 00:00 UTC \(in 1 min\)\. Nothing was sent\.$/);
    assert.equal(u.spawned.length, 0);
    // Addresses compare without regard to case; the waiting period is over.
    u.actor.send(request('wd-0008', A.toUpperCase().replace('0X', '0x'), 24 * HOUR));
    assert.deepEqual(u.spawned.map((s) => s.withdrawalId), ['wd-0008']);
  });

  it('keeps the allowlist bounded and without duplicates', () => {
    const u = user(true);
    u.actor.send({ type: 'allowlist.add', address: A, at: 5, usableFrom: 5 });
    u.actor.send({ type: 'allowlist.add', address: A.toLowerCase(), at: 6, usableFrom: 6 });
    u.actor.send({ type: 'allowlist.add', address: B, at: 9, usableFrom: 8 });
    assert.deepEqual(u.context().allowlist, [{ address: A, addedAt: 5, usableFrom: 5 }], 'a repeat and a usable time before the addition are ignored');
    for (let i = 0; u.context().allowlist.length < ALLOWLIST_MAX + 3; i++) {
      const before = u.context().allowlist.length;
      u.actor.send({ type: 'allowlist.add', address: `0x${(i + 16).toString(16).padStart(40, '0')}`, at: 1, usableFrom: 1 });
      if (u.context().allowlist.length === before) break;
    }
    assert.equal(u.context().allowlist.length, ALLOWLIST_MAX);
  });

  it('brings a version-3 user to version 4 with no withdrawals and an empty allowlist, and chains from version 2', () => {
    const v3 = { value: 'active', context: { telegramId: 7, positions: [], recentOrders: [], notices: [], noticeSeq: 3 } };
    assert.deepEqual(migrateUserV3(v3).context, { ...v3.context, withdrawals: [], recentWithdrawals: [], allowlist: [] });
    const v2 = { value: 'paused', context: { telegramId: 7, settings: { slippageBps: 80 }, positions: [], recentOrders: [] } };
    const v4 = migrateUserV3(migrateUserV2(v2)) as { value: string; context: Record<string, unknown> };
    assert.equal(v4.value, 'paused');
    assert.deepEqual([v4.context['allowlist'], v4.context['withdrawals']], [[], []]);
    const restored = createActor(userMachine.provide({ actions: { deliverNotices: () => {} } }), { snapshot: { ...v4, status: 'active', children: {}, historyValue: {} } } as never).start();
    assert.deepEqual(restored.getSnapshot().context.recentWithdrawals, []);
  });
});
