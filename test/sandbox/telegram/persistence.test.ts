import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBotApiDouble } from '../../../src/sandbox/telegram/bot-api-double.ts';
import { captureLogger, silentLogger } from '../../helpers/common.ts';
import { chartPng, ok } from './helpers.ts';

describe('sandbox Telegram: the chat survives a restart of the sandbox', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vanta-chat-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps messages, photos, the command menu, and the updates the bot has not confirmed', async () => {
    const statePath = join(dir, 'sandbox-telegram.json');
    const first = await startBotApiDouble({ logger: silentLogger(), statePath, chatPage: false, limits: { flood: false } });
    const token = first.token;
    const user = first.user(9001, { firstName: 'Jo' });
    user.send('/start');
    await ok(first, 'getUpdates');
    const welcome = await ok<{ message_id: number }>(first, 'sendMessage', { chat_id: 9001, text: '<b>Welcome</b>', parse_mode: 'HTML', reply_markup: { inline_keyboard: [[{ text: 'Trade', callback_data: 'trade' }]] } });
    const form = new FormData();
    form.set('chat_id', '9001');
    form.set('photo', new Blob([new Uint8Array(chartPng(40, 20))], { type: 'image/png' }), 'chart.png');
    assert.equal((await fetch(`${first.apiRoot}/bot${token}/sendPhoto`, { method: 'POST', body: form })).status, 200);
    await ok(first, 'setMyCommands', { commands: [{ command: 'trade', description: 'Open a position' }] });
    user.press(welcome.message_id, 'trade');
    const before = user.messages();
    await first.close();

    const second = await startBotApiDouble({ logger: silentLogger(), statePath, token, chatPage: false, limits: { flood: false } });
    try {
      const again = second.user(9001);
      assert.deepEqual(again.messages(), before);
      assert.deepEqual(second.commands(), [{ command: 'trade', description: 'Open a position' }]);
      const photo = again.messages().find((m) => m.photo);
      assert.deepEqual(await (await fetch(`${second.apiRoot}${photo?.photo?.url ?? ''}`)).bytes(), new Uint8Array(chartPng(40, 20)));
      // The /start was handed out but never confirmed, and the button press was never fetched: both come again.
      const updates = await ok<{ message?: { text: string }; callback_query?: { data: string } }[]>(second, 'getUpdates');
      assert.deepEqual(updates.map((u) => u.message?.text ?? u.callback_query?.data), ['/start', 'trade']);
      const next = again.send('still here');
      assert.equal(next.messageId, before.length + 1, 'message ids carry on');
    } finally {
      await second.close();
    }
  });

  it('sets an unreadable file aside and starts with an empty chat instead of failing', async () => {
    const statePath = join(dir, 'sandbox-telegram.json');
    writeFileSync(statePath, '{"version":1,"world":');
    const { logger, lines } = captureLogger('warn');
    const double = await startBotApiDouble({ logger, statePath, chatPage: false });
    try {
      assert.deepEqual(double.user(9002).messages(), []);
      assert.ok(readdirSync(dir).some((f) => f.startsWith('sandbox-telegram.json.unreadable-')));
      assert.match(String(lines().at(-1)?.['msg']), /could not be read; starting with an empty chat/);
      double.user(9002).send('/start');
    } finally {
      await double.close();
    }
    assert.ok(existsSync(statePath), 'a fresh state file was written');
  });
});
