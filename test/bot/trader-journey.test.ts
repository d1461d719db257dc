import assert from 'node:assert/strict';
import type { ChatEntry, SimulatedUser } from '../../src/sandbox/telegram/bot-api-double.ts';
import { startBotHarness, type BotHarness } from '../helpers/bot-harness.ts';

/**
 * A new trader, end to end through the Bot API double, on the devnet with real PostgreSQL and
 * Redis: onboarding, the funded wallet, a long by the guided flow and a short by text, both in
 * /positions, both closed, and every notification on the way. The double refuses (and records)
 * any call Telegram would refuse, so the journey also proves every call the bot made was valid.
 */
describe('bot: a trader’s journey through Telegram, end to end', function () {
  this.timeout(180_000);
  let h: BotHarness;
  let alice: SimulatedUser;
  const ALICE = 1001;

  before(async () => {
    h = await startBotHarness({ redis: true });
    alice = h.double.user(ALICE, { firstName: 'Alice', username: 'alice' });
  });
  after(() => h?.close());

  const botSays = (pattern: RegExp, timeoutMs = 20_000) => alice.waitFor((m: ChatEntry) => m.from === 'bot' && pattern.test(m.text), timeoutMs);

  it('onboards with the mode and a risk notice, and funds the sandbox wallet', async () => {
    alice.send('/start');
    const welcome = await botSays(/Welcome to Vanta/);
    assert.match(welcome.text, /Sandbox/);
    assert.match(welcome.text, /lose your whole collateral/);
    assert.match(welcome.text, /0x[0-9a-fA-F]{40}/);
    alice.send('/wallet');
    const wallet = await botSays(/USDC: [\d.]+/);
    assert.match(wallet.text, /USDC: 1000 /, 'the sandbox faucet funded 1,000 test USDC');
    assert.match(wallet.text, /Tap Faucet/);
  });

  it('opens a long through the guided flow: pair → side → collateral → leverage → review → confirm', async () => {
    alice.send('/trade');
    await botSays(/Pick a market/);
    alice.click('ETH/USD');
    await botSays(/Long \(you gain/);
    alice.click('🟢 Long');
    await botSays(/How much USDC/);
    alice.click('100 USDC');
    await botSays(/Which leverage/);
    alice.click('10x');
    const review = await botSays(/Review: 🟢 Long ETH\/USD/);
    assert.match(review.text, /Opening fee: [\d.]+ USDC/);
    assert.match(review.text, /Liquidation price: [\d.]+/);
    alice.click('✅ Confirm');
    await botSays(/order accepted/);
    await botSays(/✅ .*\(long ETH\/USD\) is open/, 60_000);
  });

  it('opens a short from a text order', async () => {
    alice.send('short btc 50 5x');
    await botSays(/Review: 🔴 Short BTC\/USD/);
    alice.click('✅ Confirm');
    // This order's own fill (the long's card and its fill message both say "is open" too).
    await botSays(/✅ .*\(short BTC\/USD\) is open/, 60_000);
  });

  it('shows both positions with PnL and liquidation, then closes both and reports the payouts', async () => {
    alice.send('/positions');
    const list = await botSays(/Your positions \(2\)/);
    assert.match(list.text, /Long ETH\/USD/);
    assert.match(list.text, /Short BTC\/USD/);
    assert.match(list.text, /Liquidation [\d.]+/);
    for (const side of ['long ETH/USD', 'short BTC/USD']) {
      // A fresh /positions each time (the previous list became the first close's progress card),
      // taken by its own content: a late notice may arrive in between, so "the last message" is not it.
      alice.send('/positions');
      const current = await alice.waitFor(
        (m) => m.from === 'bot' && /Your positions \(\d\)/.test(m.text) && (m.keyboard ?? []).flat().some((b) => b.text.includes(`Close ${side}`)),
        30_000,
        { fresh: true },
      );
      const button = (current.keyboard ?? []).flat().find((b) => b.text.includes(`Close ${side}`)) as { callback_data: string } | undefined;
      assert.ok(button, `a close button for ${side}`);
      alice.press(current.messageId, button.callback_data);
      await alice.waitFor((m) => m.messageId === current.messageId && /Close this position\?/.test(m.text), 30_000);
      const yes = (alice.messages().find((m) => m.messageId === current.messageId)?.keyboard ?? []).flat().find((b) => b.text === '✅ Yes, close it') as { callback_data: string } | undefined;
      assert.ok(yes, 'a confirmation button');
      alice.press(current.messageId, yes.callback_data);
      await alice.waitFor((m) => m.messageId === current.messageId && /Closing .*being sent|is closed/.test(m.text), 30_000);
    }
    await waitForCount(alice, /🏁 .*is closed.*paid out/, 2, 90_000);
    const trader = await h.walletOf(ALICE);
    assert.deepEqual(await h.requests(trader), { open: 2, close: 2 }, 'exactly two opens and two closes reached the chain');
  });

  it('delivered every step a trader cares about, and made no call Telegram would refuse', () => {
    const kinds = h.delivered.filter((n) => n.telegramId === ALICE).map((n) => n.kind);
    for (const kind of ['order.sent', 'order.filled', 'close.sent', 'position.closed'] as const) {
      assert.ok(kinds.includes(kind), `a ${kind} notice (got ${kinds.join(', ')})`);
    }
    h.double.assertNoViolations();
  });
});

async function waitForCount(user: SimulatedUser, pattern: RegExp, count: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (user.messages().filter((m) => m.from === 'bot' && pattern.test(m.text)).length < count) {
    if (Date.now() > until) throw new Error(`expected ${count} bot messages matching ${pattern}; chat:\n${user.messages().map((m) => `${m.from}: ${m.text}`).join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
