import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { erc20Abi, getAddress, parseAbiItem, parseEther, parseUnits, type Address } from 'viem';
import type { ChatEntry, SimulatedUser } from '../../src/sandbox/telegram/bot-api-double.ts';
import { startBotHarness, type BotHarness } from '../helpers/bot-harness.ts';

async function waitUntil(predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > until) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const TRANSFER = parseAbiItem('event Transfer(address indexed from, address indexed to, uint256 value)');

/**
 * Withdrawing USDC from /wallet through the Bot API double, on the devnet with real PostgreSQL
 * and Redis: the amount (button or typed), the destination, a review that says it cannot be
 * undone, a one-shot confirm, and the card edited to the outcome. The USDC moves exactly once;
 * bad input gets a clear reply and changes nothing; the double fails the suite on any call
 * Telegram would refuse.
 */
describe('bot: withdrawing USDC from /wallet', function () {
  this.timeout(180_000);
  let h: BotHarness;

  before(async () => {
    // Telegram's per-chat pace (about a message a second) is kept by the journey and chat-page
    // tests; these walk through dozens of refusals in one chat, so the double and the bot allow more
    // (and so does the per-user limit of incoming messages, which a fast walk would reach).
    h = await startBotHarness({ redis: true, fastChats: true, rateLimit: { windowMs: 2_000, limit: 30 } });
  });
  after(() => h?.close());

  const someAddress = (): Address => getAddress(`0x${randomBytes(20).toString('hex')}`);
  const saysTo = (user: SimulatedUser) => (pattern: RegExp, timeoutMs = 20_000) => user.waitFor((m: ChatEntry) => m.from === 'bot' && pattern.test(m.text), timeoutMs);
  const usdcOf = (address: Address): Promise<bigint> => h.client.readContract({ address: h.f.sim.deployment.usdc, abi: erc20Abi, functionName: 'balanceOf', args: [address] });
  const transfersFrom = async (from: Address) => (await h.client.getLogs({ address: h.f.sim.deployment.usdc, event: TRANSFER, args: { from }, fromBlock: 0n })).map((l) => ({ to: l.args.to!, value: l.args.value!, hash: l.transactionHash }));
  const userContext = (telegramId: number) => (h.runtime.get(`user:${telegramId}`)!.getSnapshot() as { context: { withdrawals: string[]; recentWithdrawals: string[] } }).context;

  async function onboarded(id: number, name: string): Promise<SimulatedUser> {
    const user = h.double.user(id, { firstName: name });
    user.send('/start');
    await saysTo(user)(/Welcome to Vanta/);
    return user;
  }

  /** Opens the withdrawal flow from /wallet. */
  async function startWithdrawal(user: SimulatedUser): Promise<void> {
    user.send('/wallet');
    const wallet = await saysTo(user)(/USDC: [\d.]+ .*ETH/);
    assert.ok((wallet.keyboard ?? []).flat().some((b) => b.text === '💸 Withdraw'), 'the wallet card has a Withdraw button');
    user.click('💸 Withdraw');
    await saysTo(user)(/How much do you want to withdraw\?/);
  }

  it('withdraws by buttons and a typed address: review, confirm, and the card edited to done with the transaction', async () => {
    const alice = await onboarded(3001, 'Alice');
    const says = saysTo(alice);
    const from = await h.walletOf(3001);
    const to = someAddress();
    await startWithdrawal(alice);
    const amountStep = alice.lastBotMessage()!;
    assert.match(amountStep.text, /Your balance: 1000 USDC on the local sandbox chain\./);
    alice.click('25 USDC');
    const where = await says(/Withdraw 25 USDC\nWhere to\?/);
    assert.equal(where.messageId, amountStep.messageId, 'one message, edited in place');
    assert.match(where.text, /Sandbox: any address works at once, with no waiting\. In live mode withdrawals go only to addresses on your allowlist/);
    alice.send(to.toLowerCase());
    const review = await says(/Review your withdrawal/);
    // A typed value is answered right under it; the step it answered keeps its text, without buttons.
    assert.ok(review.messageId > amountStep.messageId);
    await alice.waitFor((m) => m.messageId === amountStep.messageId && (m.keyboard ?? []).length === 0);
    assert.match(review.text, new RegExp(`Send 25 USDC to ${to.slice(0, 6)}…${to.slice(-4)} on the local sandbox chain\\. This cannot be undone\\.`));
    assert.match(review.text, new RegExp(`Full address: ${to}`), 'the full address, checksummed');
    alice.click('✅ Confirm');
    const done = await alice.waitFor((m) => m.from === 'bot' && m.messageId === review.messageId && /✅ Withdrawal \S+ is done/.test(m.text), 30_000);
    const [transfer] = await transfersFrom(from);
    assert.ok(transfer, 'a transfer on chain');
    assert.match(done.text, new RegExp(`is done: 25 USDC was sent to ${to}\\. Transaction ${transfer.hash}\\.`));
    // Telegram does not notify about edits: the outcome also arrives as a new message.
    await alice.waitFor((m) => m.from === 'bot' && m.messageId > review.messageId && /✅ Withdrawal \S+ is done/.test(m.text));
    assert.deepEqual(await transfersFrom(from), [{ to, value: parseUnits('25', 6), hash: transfer.hash }], 'exactly one transfer of 25 USDC');
    assert.equal(await usdcOf(to), parseUnits('25', 6));
    assert.equal(await usdcOf(from), parseUnits('975', 6));
    const kinds = () => h.delivered.filter((n) => n.telegramId === 3001 && n.kind.startsWith('withdrawal.')).map((n) => n.kind);
    await waitUntil(() => kinds().length >= 2, 'the done notice to be recorded as delivered');
    assert.deepEqual(kinds(), ['withdrawal.sent', 'withdrawal.done']);
  });

  it('sends once when the confirm is double-clicked, replayed later, or pressed by someone else', async () => {
    const bob = await onboarded(3002, 'Bob');
    const mallory = await onboarded(3003, 'Mallory');
    const says = saysTo(bob);
    const from = await h.walletOf(3002);
    const to = someAddress();
    await startWithdrawal(bob);
    bob.send('12.5');
    await says(/Withdraw 12\.5 USDC/);
    bob.send(to);
    const review = await says(/Review your withdrawal/);
    const confirm = (review.keyboard ?? []).flat().find((b) => b.text === '✅ Confirm') as { callback_data: string } | undefined;
    assert.ok(confirm, 'a confirm button');
    // Someone else pressing Bob's button (foreign callback data) changes nothing.
    const foreign = mallory.press(review.messageId, confirm.callback_data, { forge: true });
    const first = bob.press(review.messageId, confirm.callback_data);
    const second = bob.press(review.messageId, confirm.callback_data);
    const answers = await Promise.all([mallory.waitForAnswer(foreign), bob.waitForAnswer(first), bob.waitForAnswer(second)]);
    assert.match(answers[0].text ?? '', /expired|not valid/i, 'the foreign press is refused');
    // The two presses race to the one-shot claim: either may win.
    assert.deepEqual(
      answers
        .slice(1)
        .map((a) => a.text ?? '')
        .sort(),
      ['Sending…', '⚠️ Already done: this button works once.'].sort(),
    );
    await bob.waitFor((m) => m.from === 'bot' && m.messageId === review.messageId && /is done/.test(m.text), 30_000);
    // The card lost its buttons when it was edited; a replayed request still carries the old data.
    const replay = bob.press(review.messageId, confirm.callback_data, { forge: true });
    assert.equal((await bob.waitForAnswer(replay)).text, '⚠️ Already done: this button works once.');
    assert.deepEqual(
      (await transfersFrom(from)).map((t) => [t.to, t.value]),
      [[to, parseUnits('12.5', 6)]],
      'one transfer of 12.5 USDC',
    );
    assert.deepEqual(await transfersFrom(await h.walletOf(3003)), []);
    assert.equal(userContext(3002).recentWithdrawals.length, 1);
  });

  it('answers every bad amount and address with a clear reply, keeps asking, and sends nothing', async () => {
    const carol = await onboarded(3004, 'Carol');
    const from = await h.walletOf(3004);
    await startWithdrawal(carol);
    const badAmounts: [string, RegExp][] = [
      ['abc', /⚠️ The amount must be a plain number of USDC .*"abc" is not one\./],
      ['💸🚀', /⚠️ The amount must be a plain number .*"💸🚀" is not one\./],
      ['-5', /⚠️ The amount cannot be negative \("-5"\)/],
      ['0', /⚠️ The amount must be more than 0 USDC\./],
      ['NaN', /"NaN" is not one/],
      ['1e30', /"1e30" is not one/],
      ['99999999999999999999', /is not a realistic amount of USDC/],
      ['1.1234567', /USDC has at most 6 decimals/],
      ['5000', /⚠️ 5000 USDC is more than you can withdraw now: 1000 USDC is available\. Nothing was sent\./],
    ];
    for (const [text, reply] of badAmounts) {
      const answer = await carol.reply(text, 30_000);
      assert.match(answer.text, reply, `the reply to ${JSON.stringify(text)}`);
      assert.ok(answer.text.length < 400, 'a short reply');
    }
    // 5,000 characters arrive as two messages; each gets a short refusal.
    const before = carol.messages().length;
    carol.send('9'.repeat(5000));
    await waitUntil(() => carol.messages().slice(before).filter((m) => m.from === 'bot').length >= 2, 'two replies', 30_000);
    const refusals = carol.messages().slice(before).filter((m) => m.from === 'bot');
    assert.equal(refusals.length, 2, `two replies: ${refusals.map((m) => m.text).join(' | ')}`);
    for (const r of refusals) assert.ok(r.text.length < 400 && /⚠️/.test(r.text), r.text);

    // A valid amount after all that moves on; then bad destinations.
    const where = await carol.reply('20', 30_000);
    assert.match(where.text, /Withdraw 20 USDC/);
    const badAddresses: [string, RegExp][] = [
      ['hello', /⚠️ "hello" is not an address: a Base address is 0x followed by 40 hexadecimal characters\./],
      ['🏦🏦', /⚠️ "🏦🏦" is not an address/],
      ['0x1234', /"0x1234" is not an address/],
      [`0x${'0'.repeat(40)}`, /⚠️ That is the zero address: USDC sent there is burnt for good\. Nothing was sent\./],
      [from, /is your own Vanta wallet: the USDC is already there\. Nothing was sent\./],
      [h.f.sim.deployment.usdc, /is the USDC token contract itself: USDC sent there cannot be recovered/],
      [h.f.sim.deployment.trading, /is the Avantis Trading contract/],
      [`0x${'x'.repeat(4000)}`, /is not an address/],
    ];
    for (const [text, reply] of badAddresses) {
      const answer = await carol.reply(text, 30_000);
      assert.match(answer.text, reply, `the reply to ${JSON.stringify(text.slice(0, 20))}`);
      assert.ok(answer.text.length < 400, 'a short reply');
    }
    carol.click('✖ Cancel');
    await saysTo(carol)(/Withdrawal canceled\. Nothing was sent\./);
    assert.deepEqual(userContext(3004).withdrawals, []);
    assert.deepEqual(userContext(3004).recentWithdrawals, []);
    assert.deepEqual(await h.f.pg.db.sql("select id from tx_intents where user_id = 'user:3004'"), [], 'nothing was signed');
    assert.deepEqual(await transfersFrom(from), []);
    assert.equal(await usdcOf(from), parseUnits('1000', 6));
  });

  it('made no call Telegram would refuse', () => {
    h.double.assertNoViolations();
  });
});

/**
 * Live rules on the devnet (the harness's desk and bot in live mode, a 3-second waiting period):
 * the destination must be on the allowlist and past its wait; the chat shows the wait and then
 * the address to pick.
 */
describe('bot: withdrawing in live mode, through the allowlist', function () {
  this.timeout(180_000);
  // Long enough to outlast the replies in between (outgoing messages are throttled per chat).
  const DELAY_MS = 15_000;
  let h: BotHarness;

  before(async () => {
    h = await startBotHarness({ redis: true, mode: 'live', withdrawAddressDelayMs: DELAY_MS });
  });
  after(() => h?.close());

  it('refuses an unlisted address, adds one with a notice, shows its wait, then offers it and sends', async () => {
    const dave = h.double.user(3101, { firstName: 'Dave' });
    const says = (pattern: RegExp, timeoutMs = 20_000) => dave.waitFor((m: ChatEntry) => m.from === 'bot' && pattern.test(m.text), timeoutMs);
    dave.send('/start');
    await says(/Live: real money on Base mainnet/);
    const from = await h.walletOf(3101);
    await h.f.sim.call(h.f.sim.deployer, 'SimUSDC', h.f.sim.deployment.usdc, 'mint', [from, parseUnits('200', 6)]);
    await h.f.sim.clients.testClient.setBalance({ address: from, value: parseEther('1') });
    const to = getAddress(`0x${randomBytes(20).toString('hex')}`);

    dave.send('/wallet');
    await says(/USDC: 200 /);
    dave.click('💸 Withdraw');
    await says(/How much do you want to withdraw\?/);
    dave.click('25 USDC');
    const where = await says(/Withdrawals go only to addresses on your allowlist\. A new address can be used 15 s after you add it\./);
    assert.match(where.text, /No address can be used yet: add one below\./);
    const refused = await dave.reply(to, 30_000);
    assert.match(refused.text, new RegExp(`⚠️ ${to} is not on your withdrawal allowlist\\. Add it first; a new address can be used only after a waiting period\\. Nothing was sent\\.`));

    dave.click('➕ Add an address');
    await says(/Add a withdrawal address/);
    const addedAt = Date.now();
    dave.send(to.toLowerCase());
    const added = await says(/✅ Added to your allowlist/, 30_000);
    assert.match(added.text, new RegExp(`✅ Added to your allowlist: ${to}\\nIt can receive withdrawals from \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC\\.`));
    // The trader is told by a notice too: the alarm if it was not them.
    await says(new RegExp(`ℹ️ ${to} was added to your withdrawal allowlist\\. It can receive withdrawals from .* If you did not add it, contact support at once\\.`));
    dave.click('⬅️ Back to the destinations');
    const waiting = await says(new RegExp(`⏳ ${to} can be used from `));
    assert.ok(!(waiting.keyboard ?? []).flat().some((b) => b.text.includes(to)), 'not offered while it waits');
    const tooNew = await dave.reply(to, 30_000);
    assert.match(tooNew.text, /can receive withdrawals from .* \(in \d+ s\)\. Nothing was sent\./);

    await new Promise((r) => setTimeout(r, Math.max(0, addedAt + DELAY_MS + 500 - Date.now())));
    dave.click('🔄 Refresh');
    await dave.waitFor((m) => m.from === 'bot' && (m.keyboard ?? []).flat().some((b) => b.text === `➡️ ${to}`), 20_000);
    dave.click(`➡️ ${to}`);
    const review = await says(new RegExp(`Send 25 USDC to ${to.slice(0, 6)}…${to.slice(-4)} on chain 31337\\. This cannot be undone\\.`));
    dave.click('✅ Confirm');
    await dave.waitFor((m) => m.from === 'bot' && m.messageId === review.messageId && /✅ Withdrawal \S+ is done/.test(m.text), 30_000);
    const transfers = await h.client.getLogs({ address: h.f.sim.deployment.usdc, event: TRANSFER, args: { from }, fromBlock: 0n });
    assert.deepEqual(
      transfers.map((l) => [l.args.to, l.args.value]),
      [[to, parseUnits('25', 6)]],
    );
    h.double.assertNoViolations();
  });
});

