import assert from 'node:assert/strict';
import { formatUnits } from 'viem';
import { REVIEW_VALID_SECONDS } from '../../src/bot/flows/trade.ts';
import { ADMIN_ID, startBotHarness, type BotHarness } from '../helpers/bot-harness.ts';
import { assertUnchanged, shared, stateOf, trader, transcript, type Trader } from '../helpers/bot-chat.ts';
import { sleep } from '../helpers/runtime.ts';

/**
 * Every trader command and the buttons each shows, through the Bot API double, on the devnet
 * with real PostgreSQL and Redis: what the trader reads, and what changed in the engine (or, for
 * bad input, that nothing did). One harness for the file; each part has traders of its own.
 *
 * The bot sends at most about one message a second per chat after a burst of five (its outgoing
 * throttle, under Telegram's limits), so the long matrices are shared among several traders who
 * talk at the same time, each in their own chat.
 */
/** Wider than the bot's default (8 per 2 s) so the matrices run quickly; buttons.test.ts runs with the default. */
const RATE = { windowMs: 2_000, limit: 30 };

describe('bot: every command, its buttons, and bad input', function () {
  this.timeout(120_000);
  let h: BotHarness;
  /** How far the bot's clock is ahead of the real one (a review's expiry, without waiting two minutes). */
  let clockAheadMs = 0;

  // The configured leverage limit (50x) is below ETH/USD's own maximum (75x), so both refusals show.
  before(async () => {
    h = await startBotHarness({ redis: true, fastChats: true, limits: { maxLeverage: 50 }, rateLimit: RATE, now: () => Date.now() + clockAheadMs });
  });
  after(() => h?.close());

  const usdcOf = async (telegramId: number) => formatUnits((await h.f.sim.reads.usdcBalance(await h.walletOf(telegramId))), 6);
  const settingsOf = (telegramId: number) => (h.runtime.get(`user:${telegramId}`)?.getSnapshot() as { context: { settings: Record<string, unknown> } }).context.settings;

  async function onboarded(...ids: number[]): Promise<Trader[]> {
    return Promise.all(
      ids.map(async (id) => {
        const t = trader(h, id);
        await t.say('/start', /Welcome to Vanta/);
        return t;
      }),
    );
  }

  /** Each text gets its reply (matched whole), and no trader's state changes. */
  async function refusals(traders: readonly Trader[], cases: readonly (readonly [string, RegExp])[]): Promise<void> {
    const before = await Promise.all(traders.map((t) => stateOf(h, t.id)));
    await shared(traders, cases, async (t, [text, reply]) => {
      const got = await t.answer(text);
      assert.match(got.text, reply, `the reply to ${JSON.stringify(text.slice(0, 60))}`);
    });
    for (const [k, t] of traders.entries()) await assertUnchanged(h, t.id, before[k]!, `bad input from ${t.id}`);
  }

  describe('before /start', () => {
    it('every command answers plainly and creates nothing', async () => {
      const [a, b] = [trader(h, 3001), trader(h, 3002)];
      await shared(
        [a, b],
        [
          ['/wallet', /^You have no wallet yet\. Send \/start to create one\.$/],
          ['/settings', /^⚠️ You have no account yet: send \/start to open one\.$/],
          ['/positions', /^You have no open positions or pending orders\. Open one with \/trade\.$/],
          ['/history', /^No finished trades yet\.$/],
          ['long eth 100 10x', /^⚠️ You have no account yet: send \/start to open one\.$/],
          // Told at the first step, not after picking a pair, a side and an amount.
          ['/trade', /^⚠️ You have no account yet: send \/start to open one\.$/],
          ['/status', /^Status\n🧪 Sandbox/],
          ['/markets', /^Markets\n/],
          ['/help', /^Vanta commands/],
          ['hello', /^I did not understand that/],
        ] as const,
        async (t, [text, reply]) => assert.match((await t.answer(text)).text, reply, text),
      );
      for (const t of [a, b]) assert.deepEqual(await stateOf(h, t.id), { actor: null, rows: [], wallets: 0, requests: null });
    });
  });

  describe('/start', () => {
    it('opens one funded wallet; a second /start welcomes back to the same wallet', async () => {
      const t = trader(h, 3010);
      const first = await t.say('/start', /Welcome to Vanta/);
      assert.match(first.text, /🧪 Sandbox: a local test chain with test money\. Nothing here is real\./);
      assert.match(first.text, /Leveraged perpetuals can lose your whole collateral/);
      const address = /Your wallet: (0x[0-9a-fA-F]{40})/.exec(first.text)?.[1];
      assert.equal(address, await h.walletOf(t.id));
      assert.equal(await usdcOf(t.id), '1000');
      const again = await t.say('/start ref_🚀<b>', /Welcome back/);
      assert.match(again.text, new RegExp(`Your wallet: ${address}`));
      const state = await stateOf(h, t.id);
      assert.equal(state.wallets, 1, 'one wallet');
      assert.equal(await usdcOf(t.id), '1000', 'the faucet funds a wallet once');
      assert.ok(state.actor, 'the trader has an actor');
    });

    it("start's buttons open the wallet, the guided flow, the markets and the help, and the welcome stays", async () => {
      const [t] = await onboarded(3011);
      const welcome = t!.last(/Welcome to Vanta/);
      await t!.clickFor('💰 Wallet', /^Your wallet\nAddress/);
      await t!.clickFor('📈 Trade', /Pick a market/);
      await t!.clickFor('📊 Markets', /^Markets\n/);
      await t!.clickFor('❓ Help', /^Vanta commands/);
      const now = t!.user.messages().find((m) => m.messageId === welcome.messageId);
      assert.equal(now?.text, welcome.text, 'the welcome with its risk notice is still there');
    });
  });

  describe('/wallet', () => {
    it('shows the address and balances; the faucet adds test USDC on chain; refresh re-reads', async () => {
      const [t] = await onboarded(3012);
      const wallet = await t!.say('/wallet', /Your wallet/);
      assert.match(wallet.text, new RegExp(`Address: ${await h.walletOf(t!.id)}`));
      assert.match(wallet.text, /USDC: 1000 {3}ETH: 5/);
      assert.match(wallet.text, /sandbox wallet on a local chain\. Tap Faucet/);
      const answer = await t!.click('🚰 Faucet');
      assert.equal(answer.text, 'Asking the faucet…');
      await t!.sees(/USDC: 2000 /);
      assert.equal(await usdcOf(t!.id), '2000');
      await t!.clickFor('🔄 Refresh', /USDC: 2000 /);
    });
  });

  describe('/markets and /status', () => {
    it('markets list pairs with price, leverage bounds and fees; refresh and trade buttons', async () => {
      const t = trader(h, 3013);
      const markets = await t.say('/markets', /Markets\n/);
      // The usable maximum (this engine's limit, 50x) with the pair's own when it is higher.
      assert.match(markets.text, /• ETH\/USD [\d.]+ {2}1–50x \(pair up to 75x\), fee [\d.]+%/);
      assert.match(markets.text, /• OP\/USD [\d.]+ {2}1–5x/);
      await t.clickFor('🔄 Refresh', /Markets\n/);
      await t.clickFor('📈 Trade', /Pick a market|You have no account yet/);
    });

    it('status shows the mode, the chain and the feeds; refresh re-reads', async () => {
      const t = trader(h, 3014);
      const status = await t.say('/status', /Status/);
      assert.match(status.text, /Chain \d+, block \d+/);
      assert.match(status.text, /• ETH\/USD [\d.]+ \(\d+s ago\)/);
      assert.doesNotMatch(status.text, /paused|refused/);
      await t.clickFor('🔄 Refresh', /Price feeds/);
    });
  });

  describe('/help', () => {
    it('a trader sees the commands but no operator section; the admin sees it', async () => {
      const help = await trader(h, 3015).say('/help', /Vanta commands/);
      assert.match(help.text, /\/positions/);
      assert.doesNotMatch(help.text, /Operator|\/pause|\/suspend/);
      const adminHelp = await trader(h, ADMIN_ID).say('/help', /Vanta commands/);
      assert.match(adminHelp.text, /Operator\n\/stats · \/pause \[pair\]/);
    });
  });

  describe('/settings', () => {
    it('its buttons change leverage, slippage, confirmations and notifications in the trader actor', async () => {
      const [t, n] = await onboarded(3020, 3023);
      await Promise.all(
        [t!, n!].map(async (u) => {
          const card = await u.say('/settings', /Settings/);
          assert.match(card.text, /Default leverage: 5x\nSlippage: 0\.50%\nConfirm text orders: on\nNotifications: fills on, delays on, closes on/);
        }),
      );
      await Promise.all([
        (async () => {
          assert.equal((await t!.click('10x')).text, 'Saved');
          await t!.sees(/Default leverage: 10x/);
          await t!.click('1%');
          await t!.sees(/Slippage: 1\.00%/);
          await t!.click('✅ Confirm text orders');
          await t!.sees(/Confirm text orders: off/);
        })(),
        (async () => {
          await n!.click('✅ Fills');
          await n!.sees(/fills off, delays on, closes on/);
          await n!.click('✅ Delays');
          await n!.sees(/fills off, delays off, closes on/);
          await n!.click('✅ Closes');
          await n!.sees(/fills off, delays off, closes off/);
          await n!.click('⬜ Fills');
          await n!.sees(/fills on, delays off, closes off/);
        })(),
      ]);
      assert.deepEqual(settingsOf(t!.id), { slippageBps: 100, defaultLeverage: 10, confirmOrders: false, notify: { fills: true, delays: true, closes: true } });
      assert.deepEqual(settingsOf(n!.id), { slippageBps: 50, defaultLeverage: 5, confirmOrders: true, notify: { fills: true, delays: false, closes: false } });
      // With confirmations off, a text order that the desk refuses is refused in place.
      const before = await stateOf(h, t!.id);
      assert.match((await t!.answer('long eth 5000 2x')).text, /^⚠️ Collateral 5000 USDC is above your available balance of 1000 USDC/);
      await assertUnchanged(h, t!.id, before, 'a refused unconfirmed text order');
    });

    it('typed values: garbage and values beyond the limits are refused, a valid one is saved', async () => {
      const [lev, lev2, slip] = await onboarded(3021, 3024, 3022);
      await Promise.all([
        ...[lev!, lev2!].map((u) => u.say('/settings', /Settings/).then(() => u.clickFor('✏️ Other leverage', /Type the default leverage/))),
        slip!.say('/settings', /Settings/).then(() => slip!.clickFor('✏️ Other slippage', /Type the slippage in percent/)),
      ]);
      const before = await Promise.all([stateOf(h, lev!.id), stateOf(h, slip!.id), stateOf(h, lev2!.id)]);
      await Promise.all([
        shared(
          [lev!, lev2!],
          [
            ['abc', /^⚠️ "abc" is not a leverage/],
            ['-3', /^⚠️ "-3" is not a leverage/],
            ['0', /^⚠️ The leverage must be more than 0/],
            ['NaN', /^⚠️ "NaN" is not a leverage/],
            ['1e3', /^⚠️ "1e3" is not a leverage/],
            ['51', /^⚠️ The default leverage must be from 1x to 50x \(the configured limit\)/],
            ['0.5', /^⚠️ The default leverage must be from 1x to 50x/],
            ['🚀', /^⚠️ "🚀" is not a leverage/],
          ] as const,
          async (u, [typed, refusal]) => assert.match((await u.answer(typed)).text, refusal, typed),
        ),
        (async () => {
          for (const [typed, refusal] of [
            ['lots', /^⚠️ Give the slippage in percent, e\.g\. 0\.5 or 1%/],
            ['-1', /^⚠️ Give the slippage in percent/],
            ['0', /^⚠️ Slippage must be between 0\.01% and 10%/],
            ['11', /^⚠️ Slippage must be between 0\.01% and 10%/],
            ['Infinity', /^⚠️ Give the slippage in percent/],
            ['1'.repeat(3000), /^⚠️ Give the slippage in percent/],
          ] as const) {
            assert.match((await slip!.answer(typed)).text, refusal, typed.slice(0, 20));
          }
        })(),
      ]);
      await assertUnchanged(h, lev2!.id, before[2], 'typed leverage garbage');
      await assertUnchanged(h, lev!.id, before[0], 'typed leverage garbage');
      await assertUnchanged(h, slip!.id, before[1], 'typed slippage garbage');
      await lev!.say('7.5', /Default leverage: 7\.5x/);
      await slip!.say('0.75%', /Slippage: 0\.75%/);
      assert.equal(settingsOf(lev!.id)['defaultLeverage'], 7.5);
      assert.equal(settingsOf(slip!.id)['slippageBps'], 75);
      // The typed value was the last thing asked for: a number is not taken for anything again.
      assert.match((await slip!.answer('0.75')).text, /^A number on its own answers a question I am not asking now/);
      assert.equal(settingsOf(slip!.id)['slippageBps'], 75);
    });

    it('a command ends a question: a number typed after /positions is not taken for the setting asked before', async () => {
      const [t] = await onboarded(3026);
      await t!.say('/settings', /Settings/);
      await t!.clickFor('✏️ Other leverage', /Type the default leverage/);
      const before = await stateOf(h, t!.id);
      await t!.say('/positions', /You have no open positions/);
      assert.match((await t!.answer('7')).text, /^A number on its own answers a question I am not asking now/);
      await assertUnchanged(h, t!.id, before, 'a number typed after another command');
    });
  });

  describe('bad text from funded traders: a clear reply, and nothing changes', () => {
    let traders: Trader[];
    before(async () => {
      traders = await onboarded(3030, 3031, 3032, 3033, 3034, 3035);
    });

    it('garbage, unicode, emoji, markup, and commands Vanta does not have', () =>
      refusals(traders, [
        ['hello there', /^I did not understand that\. Try \/trade, \/positions or \/help, or type an order like long eth 100 10x\.$/],
        ['🚀🔥💯', /^I did not understand that/],
        ['Grüße ß 日本語 مرحبا 👨‍👩‍👧', /^I did not understand that/],
        ['<b>bold</b> & "quotes" <script>alert(1)</script>', /^I did not understand that/],
        ['\u202Eevil\u200B\u0000', /^I did not understand that/],
        ['/nonsense', /^I do not know that command\. Send \/help to see what I can do\.$/],
        ['/start@some_other_bot', /^That command did not work here\. Send \/help to see what I can do\.$/],
        ['/😀', /^I do not know that command/],
      ]));

    it('text orders with bad amounts and leverages: negative, zero, NaN, huge, exponents', () =>
      refusals(traders, [
        ['long 🚀 100 10x', /^⚠️ I could not read that order\. Write it like: long eth 100 10x/],
        ['long eth', /^⚠️ I could not read that order/],
        ['long eth -5 10x', /^⚠️ "-5" is not an amount of USDC/],
        ['long eth 0 10x', /^⚠️ The collateral must be more than 0 USDC\.$/],
        ['long eth 0.000000 10x', /^⚠️ The collateral must be more than 0 USDC\.$/],
        ['long eth NaN 10x', /^⚠️ "NaN" is not an amount of USDC/],
        ['long eth Infinity 10x', /^⚠️ "Infinity" is not an amount of USDC/],
        ['long eth 1e3 10x', /^⚠️ "1e3" is not an amount of USDC/],
        ['long eth 0x10 10x', /^⚠️ "0x10" is not an amount of USDC/],
        ['long eth 99999999999999999999 10x', /^⚠️ "99999999999999999999" is not an amount of USDC/],
        ['long eth 1.1234567 10x', /^⚠️ "1\.1234567" is not an amount of USDC/],
        ['long eth 💯 10x', /^⚠️ "💯" is not an amount of USDC/],
        ['long eth <b>1</b> 10x', /^⚠️ "<b>1<\/b>" is not an amount of USDC/],
        ['long eth 100 -5x', /^⚠️ "-5" is not a leverage/],
        ['long eth 100 0x', /^⚠️ The leverage must be more than 0\.$/],
        ['long eth 100 NaNx', /^⚠️ "NaN" is not a leverage/],
        ['long eth 100 Infinity', /^⚠️ "Infinity" is not a leverage/],
        ['long eth 100 1e2x', /^⚠️ "1e2" is not a leverage/],
        ['long eth 100 99999x', /^⚠️ "99999" is not a leverage/],
      ]));

    it('unknown pairs, leverage outside the pair’s bounds and above the limit, collateral above the balance and the limit', () =>
      refusals(traders, [
        ['long eth 100 0.5x', /^⚠️ Leverage 0\.5x is below ETH\/USD's minimum of 1x \(it allows 1x–75x\)\.$/],
        ['long eth 100 80x', /^⚠️ Leverage 80x is above ETH\/USD's maximum of 75x \(it allows 1x–75x\)\.$/],
        ['long eth 100 60x', /^⚠️ Order refused, nothing was sent: Leverage 60x is above the limit of 50x\.$/],
        ['short op 100 6x', /^⚠️ Leverage 6x is above OP\/USD's maximum of 5x/],
        ['long xyz 100 10x', /^⚠️ Unknown pair "XYZ"\. Try one of ETH\/USD, BTC\/USD/],
        ['long usd 100 10x', /^⚠️ Unknown pair "USD"/],
        ['long eth 2000 2x', /^⚠️ Collateral 2000 USDC is above your available balance of 1000 USDC\. Get test USDC with the faucet in \/wallet\.$/],
        ['long eth 6000 2x', /^⚠️ Order refused, nothing was sent: Collateral 6000 USDC is above the limit of 5000 USDC per order\.$/],
      ]));

    it('a 5,000-character message (two Telegram messages) gets two short, valid replies', async () => {
      const before = await Promise.all(traders.map((t) => stateOf(h, t.id)));
      const texts = ['x'.repeat(5_000), '🚀'.repeat(2_500), `long eth 100 10x ${'a'.repeat(4_990)}`, `/${'a'.repeat(4_999)}`, '<&'.repeat(2_500)];
      await shared(traders, texts, async (t, text) => {
        const mark = t.mark();
        t.user.send(text);
        await waitForReplies(t, mark, 2);
        for (const reply of t.botMessagesAfter(mark)) assert.match(reply.text, /^(I did not understand that|I do not know that command)/, 'a short reply, not an echo');
      });
      for (const [k, t] of traders.entries()) await assertUnchanged(h, t.id, before[k]!, 'long messages');
      h.double.assertNoViolations();
    });
  });

  describe('/trade, the guided flow', () => {
    it('every step can be canceled, and a canceled flow sends nothing', async () => {
      const steps: readonly string[] = ['ETH/USD', '🟢 Long', '25 USDC', '5x'];
      const traders = await onboarded(3040, 3041, 3042, 3043, 3044);
      const before = await Promise.all(traders.map((t) => stateOf(h, t.id)));
      await Promise.all(
        traders.map(async (t, depth) => {
          await t.say('/trade', /Pick a market/);
          for (const label of steps.slice(0, depth)) await t.clickFor(label, /New position|Review/);
          if (depth === steps.length) await t.sees(/Review: 🟢 Long ETH\/USD\nCollateral: 25 USDC at 5x → size 125 USDC/);
          const answer = await t.click('✖ Cancel');
          assert.equal(answer.text, 'Canceled');
          await t.sees(/✖ Canceled\. Nothing was sent\./);
        }),
      );
      for (const [k, t] of traders.entries()) await assertUnchanged(h, t.id, before[k]!, 'a canceled flow');
    });

    it('a photo, a sticker, a voice note, a document, a location or a contact gets a plain answer and changes nothing, even in the middle of a flow', async () => {
      const [t] = await onboarded(3060);
      const before = await stateOf(h, t!.id);
      for (const kind of ['photo', 'sticker', 'voice', 'document', 'location', 'contact'] as const) {
        const sent = t!.user.sendMedia(kind, kind === 'photo' ? 'long eth 100 10x' : undefined);
        const got = await t!.user.waitFor((m) => m.from === 'bot' && m.messageId > sent.messageId);
        assert.equal(got.text, 'I read text messages and commands only. Send /help to see what I can do.', kind);
      }
      await assertUnchanged(h, t!.id, before, 'media outside a flow');
      await t!.say('/trade', /Pick a market/);
      await t!.clickFor('ETH/USD', /Long \(you gain/);
      await t!.clickFor('🟢 Long', /How much USDC/);
      for (const kind of ['sticker', 'photo'] as const) {
        const sent = t!.user.sendMedia(kind);
        const got = await t!.user.waitFor((m) => m.from === 'bot' && m.messageId > sent.messageId);
        assert.match(got.text, /^I read text messages and commands only/, kind);
      }
      await t!.say('25', /New position: long ETH\/USD, 25 USDC\nWhich leverage/, 10_000);
      h.double.assertNoViolations();
    });

    it('typed collateral and leverage: garbage and out-of-bounds values are refused, and the flow goes on after a valid one', async () => {
      const [col, lev] = await onboarded(3045, 3047);
      const before = await Promise.all([stateOf(h, col!.id), stateOf(h, lev!.id)]);
      await Promise.all(
        [col!, lev!].map(async (t) => {
          await t.say('/trade', /Pick a market/);
          await t.clickFor('ETH/USD', /Long \(you gain/);
          await t.clickFor('🔴 Short', /How much USDC/);
        }),
      );
      await Promise.all([
        (async () => {
          for (const [typed, refusal] of [
            ['abc', /^⚠️ "abc" is not an amount of USDC/],
            ['-5', /^⚠️ "-5" is not an amount of USDC/],
            ['0', /^⚠️ The collateral must be more than 0 USDC/],
            ['NaN', /^⚠️ "NaN" is not an amount of USDC/],
            ['1e3', /^⚠️ "1e3" is not an amount of USDC/],
            ['💰', /^⚠️ "💰" is not an amount of USDC/],
          ] as const) {
            assert.match((await col!.answer(typed)).text, refusal, typed);
          }
          await col!.say('25', /New position: short ETH\/USD, 25 USDC\nWhich leverage \(1–50x\)\?/);
        })(),
        (async () => {
          await lev!.say('40', /New position: short ETH\/USD, 40 USDC\nWhich leverage \(1–50x\)\?/);
          for (const [typed, refusal] of [
            ['ten', /^⚠️ "ten" is not a leverage/],
            ['0', /^⚠️ The leverage must be more than 0/],
            ['80', /^⚠️ Leverage 80x is above ETH\/USD's maximum of 75x/],
            ['60', /^⚠️ Order refused, nothing was sent: Leverage 60x is above the limit of 50x/],
            ['0.5', /^⚠️ Leverage 0\.5x is below ETH\/USD's minimum of 1x/],
          ] as const) {
            assert.match((await lev!.answer(typed)).text, refusal, typed);
          }
          const review = await lev!.say('3', /Review: 🔴 Short ETH\/USD/);
          assert.match(review.text, /Collateral: 40 USDC at 3x → size 120 USDC/);
          await lev!.clickFor('✖ Cancel', /Canceled/);
        })(),
      ]);
      await assertUnchanged(h, col!.id, before[0], 'typed collateral garbage in the guided flow');
      await assertUnchanged(h, lev!.id, before[1], 'typed leverage garbage in the guided flow');
    });

    it('the leverage step offers only what the engine accepts: no button above the risk limit', async () => {
      // EUR/USD allows 100x; this engine's limit is 50x. (A 100x button here was refused when pressed.)
      const [t] = await onboarded(3049);
      await t!.say('/trade', /Pick a market/);
      await t!.clickFor('EUR/USD', /Long \(you gain/);
      await t!.clickFor('🟢 Long', /How much USDC/);
      const step = await t!.say('10', /New position: long EUR\/USD, 10 USDC\nWhich leverage \(1–50x\)\?/);
      const offered = (step.keyboard ?? []).flat().map((button) => button.text).filter((text) => /^\d+(\.\d+)?x$/.test(text));
      assert.ok(offered.includes('50x'), offered.join(' '));
      assert.ok(offered.every((text) => parseFloat(text) <= 50), offered.join(' '));
      await t!.clickFor('50x', /Review: 🟢 Long EUR\/USD/);
      await t!.clickFor('✖ Cancel', /Canceled/);
    });

    it('a review confirmed after it expired sends nothing and is priced again', async () => {
      const [t] = await onboarded(3051);
      const before = await stateOf(h, t!.id);
      await t!.say('long eth 50 3x', /Review: 🟢 Long ETH\/USD/);
      clockAheadMs = (REVIEW_VALID_SECONDS + 1) * 1000;
      try {
        await t!.clickFor('✅ Confirm', /⌛ That review expired, so nothing was sent\. Here is a fresh one:/);
        await t!.sees(/Review: 🟢 Long ETH\/USD/);
        assert.deepEqual(await h.requests(await h.walletOf(t!.id)), { open: 0, close: 0 });
        await assertUnchanged(h, t!.id, before, 'an expired review confirmed');
        await t!.clickFor('✖ Cancel', /Canceled/);
      } finally {
        clockAheadMs = 0;
      }
    });

    it('collateral above the balance is refused at the review, with what to do', async () => {
      const [t] = await onboarded(3046);
      const before = await stateOf(h, t!.id);
      await t!.say('/trade', /Pick a market/);
      await t!.clickFor('BTC/USD', /Long \(you gain/);
      await t!.clickFor('🟢 Long', /How much USDC/);
      await t!.say('1500', /Which leverage/);
      await t!.clickFor('2x', /⚠️ Collateral 1500 USDC is above your available balance of 1000 USDC\. Get test USDC with the faucet in \/wallet\./);
      await assertUnchanged(h, t!.id, before, 'collateral above the balance');
    });
  });

  describe('/positions and /history through a position’s life, with the notices’ buttons', () => {
    it('empty; pending while the keeper waits; open with PnL; kept; closed; in the history', async () => {
      const [t] = await onboarded(3050);
      const c = t!;
      await c.say('/positions', /You have no open positions or pending orders/);
      await c.say('/history', /No finished trades yet\./);
      const wallet = await h.walletOf(c.id);

      await h.holdKeeper();
      await c.say('long eth 100 10x', /Review: 🟢 Long ETH\/USD/);
      await c.clickFor('✅ Confirm', /order accepted/);
      await c.sees(/📤 .*was sent to Avantis/, 30_000);
      assert.deepEqual(await h.requests(wallet), { open: 1, close: 0 });
      // The order's card has its own way to the list.
      const card = c.last(/📤 .*was sent to Avantis/);
      assert.deepEqual(card.keyboard?.flat().map((b) => b.text), ['📋 Positions']);
      await c.press(card.messageId, c.dataOf(card.messageId, '📋 Positions'));
      const pending = await c.sees(/Your positions \(1\)/);
      assert.match(pending.text, /Long ETH\/USD 10x · 100 USDC · ⏳ pending/);
      assert.match(pending.text, /Waiting for the keeper/);
      assert.deepEqual(pending.keyboard?.flat().map((b) => b.text), ['🔄 Refresh'], 'a pending order cannot be closed yet');
      h.resumeKeeper();

      // The fill edits the order's card and arrives as a new message with its buttons.
      const filled = await c.user.waitFor((m) => m.from === 'bot' && /✅ .*is open/.test(m.text) && m.keyboard !== undefined, 60_000);
      assert.deepEqual(filled.keyboard?.flat().map((b) => b.text), ['✖ Close', '📋 Positions']);
      await c.clickFor('📋 Positions', /Your positions \(1\)/);
      const open = c.last(/Your positions \(1\)/);
      assert.match(open.text, /🟢 open/);
      assert.match(open.text, /Entry [\d.]+ · Mark [\d.]+ · PnL/);
      assert.match(open.text, /Liquidation [\d.]+ \([\d.]+% away\)/);
      await c.clickFor('🔄 Refresh', /Your positions \(1\)/);

      // Close from the fill notice, keep it, then close it from the list.
      await c.clickFor('✖ Close', /Close this position\?/);
      await c.clickFor('↩️ Keep it', /Your positions \(1\)/);
      assert.deepEqual(await h.requests(wallet), { open: 1, close: 0 }, 'kept: no close was sent');
      const closeButton = (c.last(/Your positions \(1\)/).keyboard ?? []).flat().find((b) => b.text.startsWith('✖ Close long ETH/USD'));
      assert.ok(closeButton, transcript(c.user));
      await c.clickFor(closeButton.text, /Close this position\?/);
      await c.clickFor('✅ Yes, close it', /Closing .*being sent to Avantis/);
      const closed = await c.user.waitFor((m) => m.from === 'bot' && /🏁 .*is closed.*paid out/.test(m.text) && m.keyboard !== undefined, 60_000);
      assert.deepEqual(closed.keyboard?.flat().map((b) => b.text), ['📈 New trade']);
      assert.deepEqual(await h.requests(wallet), { open: 1, close: 1 });
      await c.say('/positions', /You have no open positions/);
      const history = await c.say('/history', /History/);
      assert.match(history.text, /long ETH\/USD 10x [\d.]+ USDC: closed at [\d.]+, paid [\d.]+ USDC/);
      await c.clickFor('📈 New trade', /Pick a market/);
    });
  });

  describe('the rest', () => {
    it('an admin asking this engine (no rotation keystore) for a key rotation is told it cannot, and the answer stays', async () => {
      const admin = trader(h, ADMIN_ID);
      const reply = await admin.say('/rotate', /⚠️ This engine cannot rotate keys\. Run `npm run keys:rotate`/);
      await sleep(2_500);
      const now = admin.user.messages().find((m) => m.messageId === reply.messageId);
      assert.match(now?.text ?? '', /This engine cannot rotate keys/, 'the refusal is not replaced by a progress line');
      const audit = await h.f.pg.db.sql<{ action: string }>("select action from audit_log where action like 'keys.%'");
      assert.deepEqual(audit.map((r) => r.action), ['keys.rotation.requested.refused']);
    });

    it('made no call Telegram would refuse', () => {
      h.double.assertNoViolations();
    });
  });
});

async function waitForReplies(t: Trader, after: number, count: number, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (t.botMessagesAfter(after).length < count) {
    if (Date.now() > until) throw new Error(`expected ${count} bot replies after #${after}; chat:\n${transcript(t.user)}`);
    await sleep(20);
  }
}
