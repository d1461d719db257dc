import assert from 'node:assert/strict';
import { readTradingControls } from '../../src/actors/kinds/controls.actor.ts';
import type { KeyStore } from '../../src/infra/keys/keystore.ts';
import { createLocalKeyStore } from '../../src/infra/keys/local-keystore.ts';
import { ADMIN_ID, startBotHarness, type BotHarness } from '../helpers/bot-harness.ts';
import { assertUnchanged, shared, stateOf, trader, type Trader } from '../helpers/bot-chat.ts';
import { silentLogger } from '../helpers/common.ts';
import { sleep, waitFor } from '../helpers/runtime.ts';
import { flakyKind } from '../helpers/test-kinds.ts';

const DEPUTY_ID = 778;

/**
 * The operator's commands through the Bot API double on the devnet with PostgreSQL and Redis:
 * a trader on every one of them is refused and nothing changes; the admin (ADMIN_ID) pauses and
 * resumes trading (all pairs and one), suspends and reinstates a trader, broadcasts with a one-shot
 * confirm, lists and releases a quarantined actor in the running engine, and rotates the wallet
 * keys watching the progress. What traders see, the engine's state and the audit log are checked.
 */
describe('bot: operator commands', function () {
  this.timeout(120_000);
  let h: BotHarness;
  let admin: Trader;
  /** A second operator, so refusal matrices run in a chat of their own beside the main flow. */
  let deputy: Trader;
  let holder: Trader;
  let other: Trader;
  let nosy: Trader;
  let nosies: Trader[];
  /** The first rewrap of the rotation waits for this (so a second /rotate meets the first running). */
  let letRotationGo: () => void = () => {};

  before(async () => {
    const held = new Promise<void>((resolve) => (letRotationGo = resolve));
    h = await startBotHarness({
      redis: true,
      fastChats: true,
      adminIds: [ADMIN_ID, DEPUTY_ID],
      extraKinds: [flakyKind],
      rotationKeystore: (f) => async (): Promise<KeyStore> => {
        const keystore = await createLocalKeyStore({ dataDir: f.keyDir, mode: 'sandbox', allowInLive: false, logger: silentLogger() });
        return {
          ...keystore,
          rewrap: async (items) => {
            await held;
            return keystore.rewrap(items);
          },
        };
      },
    });
    [admin, deputy, holder, other, nosy] = [trader(h, ADMIN_ID, 'Operator'), trader(h, DEPUTY_ID, 'Deputy'), trader(h, 5001, 'Holder'), trader(h, 5002, 'Other'), trader(h, 5003, 'Nosy')];
    nosies = [nosy, trader(h, 5004, 'Nosy 2'), trader(h, 5005, 'Nosy 3'), trader(h, 5006, 'Nosy 4')];
    await Promise.all([holder, other, ...nosies].map((t) => t.say('/start', /Welcome to Vanta/)));
    // The holder has an open position, to close while trading is paused.
    await holder.say('long eth 100 10x', /Review: 🟢 Long ETH\/USD/);
    await holder.clickFor('✅ Confirm', /order accepted/);
    await holder.user.waitFor((m) => m.from === 'bot' && /✅ .*is open/.test(m.text) && m.keyboard !== undefined, 60_000);
  });
  after(() => h?.close());

  const audit = async () => (await h.f.pg.db.sql<{ actor: string; action: string; subject: string | null }>(`select actor, action, subject from audit_log where action <> 'wallet.created' order by id`)).map((r) => `${r.actor} ${r.action} ${r.subject}`);
  const controls = () => JSON.parse(JSON.stringify(h.runtime.get('controls')!.getPersistedSnapshot())) as unknown;
  const BY = `admin:${ADMIN_ID}`;
  const DEPUTY = `admin:${DEPUTY_ID}`;

  describe('a trader on every operator command', () => {
    it('is told it is for operators only, and nothing changes: no audit entry, the controls as they were, no broadcast', async () => {
      const auditBefore = await audit();
      const controlsBefore = controls();
      const everyone = [holder, other, ...nosies];
      const before = await Promise.all(everyone.map((t) => stateOf(h, t.id)));
      const othersBefore = [holder, other].map((t) => t.user.messages().length);
      const commands = ['/stats', '/pause', '/pause ETH', '/resume', '/resume ETH', '/suspend 5002', '/suspend 1', '/reinstate 1', '/broadcast hi all', '/broadcast', '/quarantine', '/release x:y', '/release controls', '/release', '/rotate', '/stats@vanta_sandbox_bot'];
      // Everything the traders are shown, placeholders included (they are edited away later).
      const shown: string[] = [];
      const stop = h.double.subscribe((e) => {
        if ((e.type === 'message' || e.type === 'edited') && nosies.some((t) => t.id === e.chatId) && e.entry.from === 'bot') shown.push(e.entry.text);
      });
      await shared(nosies, commands, async (t, command) => assert.equal((await t.answer(command)).text, '⚠️ This command is for operators only.', command));
      // Nothing was set up by the refused /broadcast: the next text is just text.
      await Promise.all(nosies.map(async (t) => assert.match((await t.answer('hello everyone')).text, /^I did not understand that/)));
      stop();
      assert.ok(!shown.some((t) => /Releasing|Pausing|Resuming|Counting|Suspending|Reinstating|rotation|quarantined/i.test(t)), `no operator step was shown, not even pending:\n${shown.join('\n')}`);
      assert.deepEqual(await audit(), auditBefore, 'no admin action in the audit log');
      assert.deepEqual(controls(), controlsBefore, 'the controls actor is unchanged');
      assert.deepEqual(readTradingControls(h.runtime), { paused: false, pausedPairs: [], known: true });
      for (const [k, t] of everyone.entries()) await assertUnchanged(h, t.id, before[k]!, `${t.id} after a trader's operator commands`);
      assert.deepEqual([holder, other].map((t) => t.user.messages().length), othersBefore, 'no trader received anything');
      assert.equal(h.admin.rotation().state, 'idle');
    });

    it("pressing the admin's buttons (their data, on their message) does nothing either", async () => {
      const preview = await admin.say('/broadcast Not from you', /Send this to \d+ traders\?/);
      const send = admin.dataOf(preview.messageId, '📣 Send');
      const answer = await nosy.press(preview.messageId, send, { forge: true });
      assert.equal(answer.text, '⚠️ This button has expired. Send the command again for fresh buttons.');
      await sleep(300);
      assert.ok(!other.user.messages().some((m) => /Not from you/.test(m.text)), 'nothing was broadcast');
      await admin.clickFor('✖ Cancel', /Canceled\. Nothing was sent\./);
      assert.deepEqual(
        (await audit()).filter((a) => a.includes('broadcast')),
        [],
      );
    });
  });

  describe('the admin', () => {
    it('/stats counts traders, positions, actors and quarantined ones; refresh re-counts', async () => {
      const stats = await admin.say('/stats', /^Engine\n/);
      assert.match(stats.text, /Traders: 6 · open positions: 1 · pending orders: 0/);
      assert.match(stats.text, /Actors: \d+ · quarantined: 0/);
      assert.match(stats.text, /Trading: ▶️ running/);
      await admin.clickFor('🔄 Refresh', /^Engine\n/);
    });

    it('/pause stops new orders for everyone with a clear refusal, closes still go through; /resume', async () => {
      const reply = await admin.answer('/pause');
      assert.equal(reply.text, '⏸ Trading for every pair is paused: new orders are refused, closes still work.');
      assert.deepEqual(readTradingControls(h.runtime), { paused: true, pausedPairs: [], known: true });
      assert.equal((await admin.answer('/pause')).text, '⚠️ Trading is already paused for every pair.');

      const before = await stateOf(h, other.id);
      assert.equal((await other.answer('long eth 100 10x')).text, '⚠️ No order can be placed on ETH/USD now: trading is paused by an operator. Nothing was sent.');
      assert.equal((await other.answer('/trade')).text, 'No market can be traded right now (every price feed is halted or paused). Try /status.');
      assert.match((await other.answer('/status')).text, /⏸ Trading is paused by the operator\./);
      await assertUnchanged(h, other.id, before, 'an order while paused');

      // A trader can always get out.
      const wallet = await h.walletOf(holder.id);
      const list = await holder.say('/positions', /Your positions \(1\)/);
      const close = (list.keyboard ?? []).flat().find((b) => b.text.startsWith('✖ Close'))!.text;
      await holder.clickFor(close, /Close this position\?/);
      await holder.clickFor('✅ Yes, close it', /Closing .*being sent/);
      await holder.user.waitFor((m) => m.from === 'bot' && /🏁 .*is closed/.test(m.text) && m.keyboard !== undefined, 60_000);
      assert.deepEqual(await h.requests(wallet), { open: 1, close: 1 });

      assert.equal((await admin.answer('/resume')).text, '▶️ Trading for every pair is resumed.');
      assert.equal((await admin.answer('/resume')).text, '⚠️ Trading is not paused.');
      await other.say('long eth 100 10x', /Review: 🟢 Long ETH\/USD/);
      await other.clickFor('✖ Cancel', /Canceled/);
      assert.deepEqual((await audit()).filter((a) => a.includes('trading.')), [
        `${BY} trading.paused all`,
        `${BY} trading.paused.refused all`,
        `${BY} trading.resumed all`,
        `${BY} trading.resumed.refused all`,
      ]);
    });

    it('/pause ETH stops that pair only; unknown pairs are refused; /resume ETH', async () => {
      assert.equal((await admin.answer('/pause eth')).text, '⏸ Trading in ETH is paused: new orders are refused, closes still work.');
      assert.deepEqual(readTradingControls(h.runtime), { paused: false, pausedPairs: ['ETH/USD'], known: true });
      const controlsBefore = controls();
      await Promise.all([
        (async () => {
          for (const [command, refusal] of [
            ['/pause xyz', /^⚠️ XYZ\/USD is not a pair this engine trades\. Pairs: .*ETH\/USD/],
            ['/pause 🚀🚀', /^⚠️ "🚀🚀" is not a pair: name it like ETH or ETH\/USD\.$/],
            [`/pause ${'x'.repeat(3000)}`, /^⚠️ "X+…" is not a pair: name it like ETH or ETH\/USD\.$/],
            ['/pause eth', /^⚠️ Trading on ETH\/USD is already paused\.$/],
            ['/resume btc', /^⚠️ Trading on BTC\/USD is not paused\.$/],
          ] as const) {
            assert.match((await deputy.answer(command)).text, refusal, command.slice(0, 20));
          }
        })(),
        (async () => {
          const before = await stateOf(h, other.id);
          assert.equal((await other.answer('short eth 50 5x')).text, '⚠️ No order can be placed on ETH/USD now: trading on ETH/USD is paused by an operator. Nothing was sent.');
          await assertUnchanged(h, other.id, before, 'an order on a paused pair');
          await other.say('short btc 50 5x', /Review: 🔴 Short BTC\/USD/);
          await other.clickFor('✖ Cancel', /Canceled/);
          assert.match((await other.answer('/markets')).text, /⏸ ETH\/USD [\d.]+ {2}1–75x, fee [\d.]+% halted: trading on ETH\/USD is paused by an operator/);
        })(),
      ]);
      assert.deepEqual(controls(), controlsBefore, 'refusals changed nothing');

      assert.equal((await admin.answer('/resume ETH/USD')).text, '▶️ Trading in ETH/USD is resumed.');
      assert.equal((await admin.answer('/resume eth')).text, '⚠️ Trading on ETH/USD is not paused.');
      assert.deepEqual(readTradingControls(h.runtime), { paused: false, pausedPairs: [], known: true });
      assert.deepEqual((await audit()).filter((a) => a.includes('trading.pair')), [
        `${BY} trading.pair.paused ETH/USD`,
        // Unknown pairs are refused and on record as typed (clipped).
        `${DEPUTY} trading.pair.paused.refused XYZ`,
        `${DEPUTY} trading.pair.paused.refused 🚀🚀`,
        `${DEPUTY} trading.pair.paused.refused ${'X'.repeat(20)}…`,
        `${DEPUTY} trading.pair.paused.refused ETH/USD`,
        `${DEPUTY} trading.pair.resumed.refused BTC/USD`,
        `${BY} trading.pair.resumed ETH/USD`,
        `${BY} trading.pair.resumed.refused ETH/USD`,
      ]);
    });

    it('/suspend refuses the trader’s orders until /reinstate; bad ids are refused', async () => {
      assert.equal((await admin.answer(`/suspend ${other.id}`)).text, `🚫 Trader ${other.id} is suspended: new orders are refused, open positions can still be closed.`);
      assert.equal((await admin.answer(`/suspend ${other.id}`)).text, `⚠️ Trader ${other.id} is already suspended.`);
      await Promise.all([
        (async () => {
          const before = await stateOf(h, other.id);
          assert.equal((await other.answer('long eth 100 10x')).text, '⚠️ Your account is suspended by an operator, so no order can be placed. Contact support to have it reinstated.');
          await assertUnchanged(h, other.id, before, "a suspended trader's order");
        })(),
        (async () => {
          for (const [command, refusal] of [
            ['/suspend', /^⚠️ Give a Telegram user id \(digits only\), e\.g\. \/suspend 123456789\.$/],
            ['/suspend abc', /^⚠️ Give a Telegram user id/],
            ['/suspend -5', /^⚠️ Give a Telegram user id/],
            ['/suspend 0', /^⚠️ Give a Telegram user id/],
            ['/suspend NaN', /^⚠️ Give a Telegram user id/],
            ['/suspend 1e9', /^⚠️ Give a Telegram user id/],
            ['/suspend 99999999999999999999', /^⚠️ Give a Telegram user id/],
            ['/suspend 424242', /^⚠️ No trader with Telegram id 424242 has started the bot\.$/],
            ['/reinstate 5001', /^⚠️ Trader 5001 is not suspended\.$/],
          ] as const) {
            assert.match((await deputy.answer(command)).text, refusal, command);
          }
        })(),
      ]);
      assert.equal((await admin.answer(`/reinstate ${other.id}`)).text, `✅ Trader ${other.id} is reinstated.`);
      await other.say('long eth 100 10x', /Review: 🟢 Long ETH\/USD/);
      await other.clickFor('✖ Cancel', /Canceled/);
      const actions = (await audit()).filter((a) => a.includes('user.'));
      assert.deepEqual(actions, [
        `${BY} user.suspended user:${other.id}`,
        `${BY} user.suspended.refused user:${other.id}`,
        `${DEPUTY} user.suspended.refused user:424242`,
        `${DEPUTY} user.reinstated.refused user:5001`,
        `${BY} user.reinstated user:${other.id}`,
      ]);
    });

    it('/broadcast shows a preview with a one-shot Send; every trader gets it once, escaped; cancel sends nothing', async () => {
      const text = 'Maintenance at 18:00 UTC <b>not bold</b> & 🚀';
      await admin.say(`/broadcast ${text}`, /Send this to 6 traders\?\n\n📣 Maintenance at 18:00 UTC <b>not bold<\/b> & 🚀/);
      await admin.clickFor('✖ Cancel', /✖ Canceled\. Nothing was sent\./);
      assert.ok(![holder, other, ...nosies].some((t) => t.user.messages().some((m) => m.text.includes('Maintenance'))));

      // Typed on the next line, as a person would.
      assert.equal((await admin.answer('/broadcast')).text, 'Type the message to send to every trader (plain text).');
      const preview = await admin.say(text, /Send this to 6 traders\?/);
      const send = admin.dataOf(preview.messageId, '📣 Send');
      assert.equal((await admin.press(preview.messageId, send)).text, 'Broadcasting…');
      await admin.shows(preview.messageId, /^📣 Broadcast sent to 6 of 6 traders \(0 have blocked the bot, 0 failed\)\.$/);
      for (const t of [holder, other, ...nosies]) {
        const got = await t.sees(/^📣 Maintenance/);
        assert.equal(got.text, `📣 ${text}`);
        assert.equal(t.user.messages().filter((m) => m.text.includes('Maintenance')).length, 1, 'once');
      }
      const again = await admin.press(preview.messageId, send, { forge: true });
      assert.equal(again.text, '⚠️ Already done: this button works once.');
      await sleep(300);
      for (const t of [holder, other, ...nosies]) assert.equal(t.user.messages().filter((m) => m.text.includes('Maintenance')).length, 1, 'still once');
      assert.deepEqual((await audit()).filter((a) => a.includes('broadcast')), [`${BY} broadcast.started 6 traders`, `${BY} broadcast.finished sent 6, unreachable 0, failed 0`]);
    });

    it('/broadcast refuses a message too long for one Telegram message, counted as Telegram counts (an emoji is two)', async () => {
      assert.equal((await admin.answer(`/broadcast ${'x'.repeat(3_600)}`)).text, '⚠️ A broadcast is at most 3500 characters (an emoji counts as two); this one has 3600.');
      // 2,048 emoji typed after /broadcast: one message of 4,096 UTF-16 units, so "📣 " and it would not fit in one.
      await admin.say('/broadcast', /Type the message to send/);
      assert.equal((await admin.answer('🚀'.repeat(2_048))).text, '⚠️ A broadcast is at most 3500 characters (an emoji counts as two); this one has 4096.');
      assert.equal((await admin.answer(`/broadcast ${'🚀'.repeat(2_040)}`)).text, '⚠️ A broadcast is at most 3500 characters (an emoji counts as two); this one has 4080.');
      assert.equal((await audit()).filter((a) => a.includes('broadcast')).length, 2, 'only the broadcast before');
    });

    it('/quarantine lists an actor quarantined in the running engine; Release runs it again, audited', async () => {
      h.runtime.spawn('flaky:1', { input: undefined });
      h.runtime.send('flaky:1', { type: 'bump' });
      for (let i = 0; i < 4; i++) {
        h.runtime.send('flaky:1', { type: 'boom' });
        await waitFor(() => h.runtime.get('flaky:1') !== undefined || h.runtime.quarantined().some((q) => q.id === 'flaky:1'), 'a restart or the quarantine');
      }
      await waitFor(() => h.runtime.quarantined().some((q) => q.id === 'flaky:1'), 'the quarantine');
      assert.match((await admin.say('/stats', /^Engine/)).text, /quarantined: 1/);
      const list = await admin.say('/quarantine', /Quarantined actors \(1\)/);
      assert.match(list.text, /• flaky:1 \(flaky\): \d+ failures within \d+ ms; last: boom/);
      await admin.clickFor('Release flaky:1', /✅ flaky:1 is released and running again\./);
      assert.ok(h.runtime.get('flaky:1'), 'running in this engine');
      h.runtime.send('flaky:1', { type: 'bump' });
      assert.equal((h.runtime.get('flaky:1')!.getSnapshot() as { context: { n: number } }).context.n, 2, 'from its last state');
      assert.equal((await admin.answer('/quarantine')).text, 'No actor is quarantined.');
      assert.equal((await admin.answer('/release flaky:1')).text, 'flaky:1 is not quarantined (nothing changed).');
      assert.equal((await admin.answer('/release')).text, '⚠️ Give the actor id, e.g. /release position:abc123 (see /quarantine).');
      assert.equal((await admin.answer('/release 🚀:1')).text, '⚠️ Give the actor id, e.g. /release position:abc123 (see /quarantine).');
      const actions = (await audit()).filter((a) => a.includes('release'));
      assert.deepEqual(actions, [`${BY} actor.released flaky:1`, `${BY} actor.release.refused flaky:1`]);
    });

    it('/rotate starts a key rotation and shows its progress to the end; a second one meanwhile is refused and says so', async () => {
      const first = await admin.say('/rotate', /🔄 Key rotation running: 0 wallets rewrapped, 6 to go\. started/);
      const second = await admin.answer('/rotate');
      assert.equal(second.text, '⚠️ A key rotation is already running: 0 rewrapped, 6 remaining.');
      letRotationGo();
      await admin.shows(first.messageId, /^✅ Key rotation done: 6 wallets rewrapped, 0 to go\. Every wallet key is on key version 2; older versions are retired\.$/, 30_000);
      await sleep(2_500);
      assert.equal(admin.user.messages().find((m) => m.messageId === second.messageId)?.text, second.text, 'the refusal stays');
      const versions = await h.f.pg.db.sql<{ key_version: number }>('select distinct key_version from wallets');
      assert.deepEqual(versions, [{ key_version: 2 }]);
      assert.deepEqual(
        (await audit()).filter((a) => a.includes('keys.')),
        [`${BY} keys.rotation.requested local`, `${BY} keys.rotation.started local`, `${BY} keys.rotation.requested.refused keys`, `${BY} keys.rotation.completed local`],
      );
    });
  });

  describe('at the end', () => {
    it('made no call Telegram would refuse', () => {
      h.double.assertNoViolations();
    });
  });
});
