import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { CallbackAnswer } from '../../src/sandbox/telegram/bot-api-double.ts';
import { startBotHarness, type BotHarness } from '../helpers/bot-harness.ts';
import { assertUnchanged, stateOf, trader, transcript, type Trader } from '../helpers/bot-chat.ts';
import { sleep, waitFor } from '../helpers/runtime.ts';

/**
 * Buttons as an attacker or a clumsy thumb uses them, through the Bot API double on the devnet
 * with PostgreSQL and Redis, and the bot's own per-user rate limit (8 updates in 2 s): forged
 * callback data, replayed presses (a double click, an old message's button after it moved on, a
 * close of a closed position), foreign presses (another trader's button data), and a button
 * copied onto another message. Each is answered (no spinner left) with a clear line, and changes
 * nothing: no order on chain, no actor changed.
 */
describe('bot: forged, replayed and foreign buttons', function () {
  this.timeout(120_000);
  let h: BotHarness;
  let alice: Trader;
  let bob: Trader;

  before(async () => {
    h = await startBotHarness({ redis: true, fastChats: true });
    [alice, bob] = [trader(h, 4001, 'Alice'), trader(h, 4002, 'Bob')];
    await Promise.all([alice.say('/start', /Welcome to Vanta/), bob.say('/start', /Welcome to Vanta/)]);
  });
  after(() => h?.close());

  const EXPIRED = 'This button has expired. Send the command again for fresh buttons.';
  const alert = (a: CallbackAnswer, text: string) => {
    assert.equal(a.showAlert, true, `an alert, got ${JSON.stringify(a)}`);
    assert.equal(a.text, `⚠️ ${text}`);
  };
  const textOf = (t: Trader, messageId: number) => t.user.messages().find((m) => m.messageId === messageId)?.text;

  describe('forged callback data', () => {
    it('made-up, random, oversized and action-shaped data, on a real message and on none, is refused and changes nothing', async () => {
      const card = await alice.say('/settings', /Settings/);
      const before = await stateOf(h, alice.id);
      const real = alice.dataOf(card.messageId, '10x');
      const forged = [
        'k:AAAAAAAAAAAA:0',
        real.replace(/:\d+$/, ':99'),
        real.replace(/^k:[^:]+/, 'k:AAAAAAAAAAAA'),
        randomBytes(40).toString('latin1'),
        randomBytes(30).toString('base64'),
        'x'.repeat(65),
        `k:${'A'.repeat(70)}:0`,
        '🚀'.repeat(20),
        'set.lev:500',
        't.confirm:abcdefgh:ETH/USD:long:100:10:0',
        'p.closeYes:abcdefgh',
        'k::',
        ':',
      ];
      for (const data of forged) {
        const answer = await alice.press(card.messageId, data, { forge: true });
        assert.equal(answer.showAlert, true);
        assert.match(answer.text ?? '', /^⚠️ This button (has expired\. Send the command again for fresh buttons|is not valid any more\. Please use \/positions to get fresh buttons)\.$/, JSON.stringify(data));
      }
      // A real button's data, pressed on a message that does not exist (Telegram sends an inaccessible message).
      alert(await alice.press(999_999, real, { forge: true }), EXPIRED);
      assert.equal(textOf(alice, card.messageId), card.text, 'the settings message is as it was');
      await assertUnchanged(h, alice.id, before, 'forged presses');
    });
  });

  describe('foreign and copied buttons', () => {
    it("Bob pressing Alice's button data, on her message and on his own, and Alice's button copied onto another message: refused, nothing changes", async () => {
      const aliceCard = await alice.say('/settings', /Settings/);
      const aliceTen = alice.dataOf(aliceCard.messageId, '10x');
      const bobCard = await bob.say('/settings', /Settings/);
      const before = await Promise.all([stateOf(h, alice.id), stateOf(h, bob.id)]);
      alert(await bob.press(aliceCard.messageId, aliceTen, { forge: true }), EXPIRED);
      alert(await bob.press(bobCard.messageId, aliceTen, { forge: true }), EXPIRED);
      // Alice's own button, pressed on another message of hers.
      const other = await alice.say('/wallet', /Your wallet/);
      alert(await alice.press(other.messageId, aliceTen, { forge: true }), EXPIRED);
      assert.equal(textOf(alice, aliceCard.messageId), aliceCard.text);
      assert.equal(textOf(bob, bobCard.messageId), bobCard.text);
      assert.equal(textOf(alice, other.messageId), other.text);
      await assertUnchanged(h, alice.id, before[0], "foreign presses of Alice's button");
      await assertUnchanged(h, bob.id, before[1], "Bob's foreign presses");
    });
  });

  describe('replayed presses', () => {
    it('a double-clicked Confirm places exactly one order on chain; a press of the review after it moved on changes nothing', async () => {
      const wallet = await h.walletOf(alice.id);
      const review = await alice.say('long eth 50 5x', /Review: 🟢 Long ETH\/USD/);
      const confirm = alice.dataOf(review.messageId, '✅ Confirm');
      const cancel = alice.dataOf(review.messageId, '✖ Cancel');
      const first = alice.user.press(review.messageId, confirm);
      const second = alice.user.press(review.messageId, confirm);
      const answers = await Promise.all([alice.user.waitForAnswer(first, 20_000), alice.user.waitForAnswer(second, 20_000)]);
      assert.equal(answers[0].text, 'Sending…');
      // The second press comes after the first moved the message on to the order's progress: its
      // buttons are retired. (Confirm itself is not one-shot: its order id already makes any repeat
      // the same order, and a press lost in a crash must be pressable again.)
      alert(answers[1], EXPIRED);
      await alice.sees(/order accepted/);
      const filled = await alice.user.waitFor((m) => m.from === 'bot' && /✅ .*is open/.test(m.text) && m.keyboard !== undefined, 60_000);
      assert.deepEqual(await h.requests(wallet), { open: 1, close: 0 }, 'one order on chain');

      // Later: Confirm again, and the review's Cancel, on the message that now shows the order.
      const card = textOf(alice, review.messageId);
      assert.match(card ?? '', /is open/);
      const before = await stateOf(h, alice.id);
      alert(await alice.press(review.messageId, confirm, { forge: true }), EXPIRED);
      alert(await alice.press(review.messageId, cancel, { forge: true }), EXPIRED);
      assert.equal(textOf(alice, review.messageId), card, 'the order card still shows the order');
      await assertUnchanged(h, alice.id, before, 'replayed review buttons');
      assert.deepEqual(await h.requests(wallet), { open: 1, close: 0 });
      void filled;
    });

    it('the guided flow: a pair button of the step before is refused once the message moved on', async () => {
      const pick = await bob.say('/trade', /Pick a market/);
      const btc = bob.dataOf(pick.messageId, 'BTC/USD');
      await bob.clickFor('ETH/USD', /New position: ETH\/USD/);
      const step = textOf(bob, pick.messageId);
      alert(await bob.press(pick.messageId, btc, { forge: true }), EXPIRED);
      assert.equal(textOf(bob, pick.messageId), step, 'still at ETH/USD');
      await bob.clickFor('✖ Cancel', /Canceled/);
    });

    it("'Yes, close it' after 'Keep it' closes nothing", async () => {
      const wallet = await h.walletOf(alice.id);
      const list1 = await alice.say('/positions', /Your positions \(1\)/);
      const closeLabel = (list1.keyboard ?? []).flat().find((b) => b.text.startsWith('✖ Close long ETH/USD'))!.text;
      await alice.clickFor(closeLabel, /Close this position\?/);
      const yes = alice.dataOf(list1.messageId, '✅ Yes, close it');
      await alice.clickFor('↩️ Keep it', /Your positions \(1\)/);
      const before = await stateOf(h, alice.id);
      alert(await alice.press(list1.messageId, yes, { forge: true }), EXPIRED);
      await sleep(300);
      assert.deepEqual(await h.requests(wallet), { open: 1, close: 0 }, 'kept means kept');
      await assertUnchanged(h, alice.id, before, "a replayed 'Yes, close it'");
    });

    it('two confirmations open at once: the first closes, the second is refused where it was asked, and the progress stays with the first', async () => {
      const wallet = await h.walletOf(alice.id);
      const closeLabel = (alice.last(/Your positions \(1\)/).keyboard ?? []).flat().find((b) => b.text.startsWith('✖ Close long ETH/USD'))!.text;
      const listA = await alice.say('/positions', /Your positions \(1\)/);
      await alice.press(listA.messageId, alice.dataOf(listA.messageId, closeLabel));
      await alice.sees(/Close this position\?/);
      const listB = await alice.say('/positions', /Your positions \(1\)/);
      await alice.press(listB.messageId, alice.dataOf(listB.messageId, closeLabel));
      await alice.shows(listB.messageId, /Close this position\?/);
      // The keeper waits, so the first close is still on its way when the second is pressed.
      await h.holdKeeper();
      assert.equal((await alice.press(listA.messageId, alice.dataOf(listA.messageId, '✅ Yes, close it'))).text, 'Closing…');
      await alice.shows(listA.messageId, /Closing .*being sent/);
      await alice.press(listB.messageId, alice.dataOf(listB.messageId, '✅ Yes, close it'));
      await alice.shows(listB.messageId, /^⚠️ Position \S+ is already being closed; you will be told when it is\.$/);
      h.resumeKeeper();
      await alice.user.waitFor((m) => m.from === 'bot' && /🏁 .*is closed/.test(m.text) && m.keyboard !== undefined, 60_000);
      // The close's progress went to the message that asked for it; the refused one kept its answer.
      await alice.shows(listA.messageId, /🏁 .*is closed/);
      assert.match(textOf(alice, listB.messageId) ?? '', /^⚠️ Position \S+ is already being closed/, transcript(alice.user));
      assert.deepEqual(await h.requests(wallet), { open: 1, close: 1 }, 'one close on chain');
    });

    it('Close on a closed position (the fill notice’s button) is answered and sends nothing', async () => {
      const wallet = await h.walletOf(alice.id);
      const filled = alice.user.messages().filter((m) => m.from === 'bot' && /✅ .*is open/.test(m.text) && m.keyboard !== undefined).at(-1)!;
      const before = await stateOf(h, alice.id);
      await alice.press(filled.messageId, alice.dataOf(filled.messageId, '✖ Close'));
      await alice.sees(/That position is not open any more\. See \/positions and \/history\./);
      await assertUnchanged(h, alice.id, before, 'closing a closed position');
      assert.deepEqual(await h.requests(wallet), { open: 1, close: 1 });
    });
  });

  describe("the bot's per-user rate limit (8 updates in 2 s)", () => {
    it('a burst of messages is told once to slow down; what was skipped changes nothing', async () => {
      const t = trader(h, 4003);
      await t.say('/start', /Welcome to Vanta/);
      await sleep(2_100);
      const before = await stateOf(h, t.id);
      const mark = t.mark();
      for (let i = 0; i < 14; i++) t.user.send(`spam ${i}`);
      await t.user.waitFor((m) => m.from === 'bot' && /You are sending messages too fast; I skipped some/.test(m.text), 30_000);
      const answered = () => t.botMessagesAfter(mark).filter((m) => /I did not understand/.test(m.text)).length;
      await waitFor(() => answered() >= 8, 'the first eight answers', 30_000);
      await sleep(1_500);
      assert.equal(answered(), 8, `the first eight were answered, the rest skipped:\n${transcript(t.user)}`);
      assert.equal(t.botMessagesAfter(mark).filter((m) => /too fast/.test(m.text)).length, 1, 'told once');
      await assertUnchanged(h, t.id, before, 'a burst of messages');
    });

    it('a burst of taps: every tap is answered (no spinner left), the ones over the limit with "slow down"', async () => {
      const t = trader(h, 4004);
      const card = await t.say('/status', /Status/);
      await sleep(2_100);
      const data = t.dataOf(card.messageId, '🔄 Refresh');
      const ids = Array.from({ length: 12 }, () => t.user.press(card.messageId, data));
      const answers = await Promise.all(ids.map((id) => t.user.waitForAnswer(id, 20_000)));
      assert.ok(answers.filter((a) => a.text === 'Slow down a little: too many taps at once.').length >= 4);
    });
  });

  describe('at the end', () => {
    it('made no call Telegram would refuse', () => {
      h.double.assertNoViolations();
    });
  });
});
