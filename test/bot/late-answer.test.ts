import assert from 'node:assert/strict';
import { startBotHarness, type BotHarness } from '../helpers/bot-harness.ts';
import { trader } from '../helpers/bot-chat.ts';

/**
 * Telegram refuses the answer to a button press that comes too late ("query is too old…"): under
 * load a confirm can wait longer than Telegram does. The press is still the trader's, so the order
 * goes through and the chat shows it; only the toast is lost. (In CI, before this, the crash test's
 * confirm ended in "Something went wrong on our side" and nothing was sent.)
 */
describe('bot: a button press answered too late for Telegram still does what it asked', function () {
  this.timeout(120_000);
  let h: BotHarness;
  before(async () => {
    // Every answer is "too old": the double accepts none.
    h = await startBotHarness({ fastChats: true, callbackAnswerTimeoutMs: -1 });
  });
  after(() => h?.close());

  it('a confirmed order is sent and its outcome shown, with no error message', async () => {
    const t = trader(h, 4101);
    await t.say('/start', /Welcome to Vanta/);
    await t.say('long eth 100 10x', /Review: 🟢 Long ETH\/USD/);
    const pressed = t.user.click('✅ Confirm');
    await t.sees(/order accepted/, 30_000);
    await t.sees(/✅ .*\(long ETH\/USD\) is open/, 60_000);
    assert.ok(!t.user.messages().some((m) => m.from === 'bot' && /Something went wrong/.test(m.text)), 'no error was shown');
    assert.equal(t.user.answers().length, 0, `Telegram took no answer for press ${pressed}: the toast was lost, nothing else`);
  });
});
