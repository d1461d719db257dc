import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { autoRetry } from '@grammyjs/auto-retry';
import { run, sequentialize } from '@grammyjs/runner';
import { Bot, GrammyError, InlineKeyboard, InputFile, webhookCallback } from 'grammy';
import { startBotApiDouble, type BotApiDouble } from '../../../src/sandbox/telegram/bot-api-double.ts';
import { silentLogger } from '../../helpers/common.ts';
import { TINY_PNG } from './helpers.ts';

/** A small bot of the kind Vanta's is: a command with a keyboard, a button that edits in place. */
function keyboardBot(double: BotApiDouble): Bot {
  const bot = new Bot(double.token, { client: { apiRoot: double.apiRoot } });
  bot.command('start', (ctx) =>
    ctx.reply(`<b>Welcome</b>, ${ctx.from?.first_name ?? 'trader'}`, { parse_mode: 'HTML', reply_markup: new InlineKeyboard().text('Open a position', 'trade:open').text('Help', 'help') }),
  );
  bot.callbackQuery('trade:open', async (ctx) => {
    await ctx.answerCallbackQuery({ text: 'Opening…' });
    await ctx.editMessageText('Pick a pair', { reply_markup: new InlineKeyboard().text('ETH', 'pair:eth').text('BTC', 'pair:btc') });
  });
  bot.on('message:text', (ctx) => ctx.reply(`echo: ${ctx.message.text}`));
  bot.catch((err) => {
    throw err.error;
  });
  return bot;
}

describe('sandbox Telegram: a real grammY bot against the Bot API double', function () {
  this.timeout(20_000);
  let double: BotApiDouble;
  beforeEach(async () => {
    double = await startBotApiDouble({ logger: silentLogger(), chatPage: false });
  });
  afterEach(() => double.close());

  it('long polling (bot.start): a command with a keyboard, a button that edits the message in place, and a clean stop', async () => {
    const bot = keyboardBot(double);
    const polling = bot.start({ timeout: 30 });
    try {
      const trader = double.user(8001, { firstName: 'Gus' });
      const welcome = await trader.reply('/start');
      assert.equal(welcome.text, 'Welcome, Gus');
      assert.deepEqual(welcome.entities, [{ type: 'bold', offset: 0, length: 7 }]);
      assert.deepEqual(welcome.keyboard?.flat().map((b) => b.callback_data), ['trade:open', 'help']);
      const query = trader.click('Open a position');
      assert.equal((await trader.waitForAnswer(query)).text, 'Opening…');
      const edited = await trader.waitFor((m) => m.messageId === welcome.messageId && m.text === 'Pick a pair');
      assert.ok(edited.editDate);
      assert.deepEqual(edited.keyboard?.flat().map((b) => b.text), ['ETH', 'BTC']);
      assert.equal((await trader.reply('long eth 100 10x')).text, 'echo: long eth 100 10x');
    } finally {
      await bot.stop();
      await polling;
    }
    // bot.stop() aborts its poll and confirms the offset with one more getUpdates: not a conflict.
    double.assertNoViolations();
    assert.ok(double.calls().some((c) => c.method === 'deleteWebhook'), 'bot.start() deletes any webhook first');
  });

  it('@grammyjs/runner with sequentialize: many chats at once, each answered in order, auto-retry riding out the 30 messages/s limit', async () => {
    const bot = new Bot(double.token, { client: { apiRoot: double.apiRoot } });
    // 60 replies in a burst exceed Telegram's ~30 messages a second: the double answers 429s.
    bot.api.config.use(autoRetry({ maxRetryAttempts: 5, maxDelaySeconds: 5 }));
    bot.catch((err) => {
      throw err.error;
    });
    bot.use(sequentialize((ctx) => String(ctx.chat?.id)));
    bot.on('message:text', async (ctx) => {
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 20));
      await ctx.reply(`ack ${ctx.message.text}`);
    });
    const runner = run(bot, { runner: { fetch: { timeout: 30 } } });
    try {
      const users = Array.from({ length: 20 }, (_, i) => double.user(8100 + i));
      for (const user of users) for (const n of [1, 2, 3]) user.send(`m${n}`);
      await Promise.all(users.map((u) => u.waitFor((m) => m.text === 'ack m3', 8000)));
      for (const user of users) {
        assert.deepEqual(user.messages().filter((m) => m.from === 'bot').map((m) => m.text), ['ack m1', 'ack m2', 'ack m3']);
      }
    } finally {
      await runner.stop();
    }
    double.assertNoViolations();
    assert.ok(double.floodRefusals().length > 0, 'the burst did meet flood control');
  });

  it('uploads a photo as multipart/form-data and keeps it for the chat page and getFile', async () => {
    const bot = new Bot(double.token, { client: { apiRoot: double.apiRoot } });
    const trader = double.user(8201);
    trader.send('/start');
    const sent = await bot.api.sendPhoto(8201, new InputFile(TINY_PNG, 'pnl.png'), { caption: '<b>PnL</b> today', parse_mode: 'HTML' });
    assert.deepEqual(sent.photo?.map((p) => [p.width, p.height, p.file_size]), [[1, 1, TINY_PNG.length]]);
    assert.deepEqual(sent.caption_entities, [{ type: 'bold', offset: 0, length: 3 }]);
    const seen = trader.lastBotMessage();
    assert.equal(seen?.text, 'PnL today');
    assert.deepEqual(await (await fetch(`${double.apiRoot}${seen?.photo?.url ?? ''}`)).bytes(), new Uint8Array(TINY_PNG));
    const file = await bot.api.getFile(sent.photo?.[0]?.file_id ?? '');
    assert.deepEqual(await (await fetch(`${double.apiRoot}/file/bot${double.token}/${file.file_path ?? ''}`)).bytes(), new Uint8Array(TINY_PNG));
    // Sending the same file_id again reuses the upload, as on Telegram.
    const again = await bot.api.sendPhoto(8201, sent.photo?.[0]?.file_id ?? '');
    assert.equal(again.photo?.[0]?.file_unique_id, sent.photo?.[0]?.file_unique_id);
    await assert.rejects(bot.api.sendPhoto(8201, new InputFile(Buffer.from('not an image'), 'x.png')), (err: unknown) => err instanceof GrammyError && err.description === 'Bad Request: IMAGE_PROCESS_FAILED');
  });

  it('flood control: 429 with retry_after reaches grammY, and @grammyjs/auto-retry waits and gets every message through', async () => {
    const limited = await startBotApiDouble({ logger: silentLogger(), chatPage: false, limits: { flood: { global: { perSecond: 30, burst: 30 }, perChat: { perSecond: 1, burst: 2 } } } });
    try {
      limited.user(8301).send('/start');
      const plain = new Bot(limited.token, { client: { apiRoot: limited.apiRoot } });
      await plain.api.sendMessage(8301, '1');
      await plain.api.sendMessage(8301, '2');
      await assert.rejects(plain.api.sendMessage(8301, '3'), (err: unknown) => err instanceof GrammyError && err.error_code === 429 && err.parameters.retry_after === 1);

      const patient = new Bot(limited.token, { client: { apiRoot: limited.apiRoot } });
      patient.api.config.use(autoRetry({ maxRetryAttempts: 5, maxDelaySeconds: 5 }));
      const started = Date.now();
      for (const text of ['a', 'b']) await patient.api.sendMessage(8301, text);
      const elapsed = Date.now() - started;
      assert.deepEqual(limited.user(8301).messages().filter((m) => m.from === 'bot').map((m) => m.text), ['1', '2', 'a', 'b']);
      assert.ok(elapsed >= 900, `auto-retry waited ${elapsed} ms`);
      assert.ok(limited.floodRefusals().length >= 2, 'the plain refusal and at least one retried one');
      limited.assertNoViolations();
    } finally {
      await limited.close();
    }
  });

  it("webhook mode with grammY's webhookCallback and a secret token", async () => {
    const bot = keyboardBot(double);
    await bot.init();
    const handleUpdate = webhookCallback(bot, 'http', { secretToken: 'hook-secret' });
    const server = createServer((req, res) => {
      handleUpdate(req, res).catch((err: unknown) => {
        res.statusCode = 500;
        res.end(String(err));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      await bot.api.setWebhook(`http://127.0.0.1:${(server.address() as AddressInfo).port}/telegram`, { secret_token: 'hook-secret' });
      const trader = double.user(8401, { firstName: 'Hal' });
      assert.equal((await trader.reply('/start')).text, 'Welcome, Hal');
      const info = await bot.api.getWebhookInfo();
      assert.equal(info.pending_update_count, 0);
      assert.equal(info.last_error_message, undefined);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    double.assertNoViolations();
  });
});
