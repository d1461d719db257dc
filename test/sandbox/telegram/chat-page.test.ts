import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { Bot, InlineKeyboard, InputFile } from 'grammy';
import type { Browser, Page } from 'playwright-core';
import { startBotApiDouble, type BotApiDouble } from '../../../src/sandbox/telegram/bot-api-double.ts';
import { launchBrowser } from '../../helpers/browser.ts';
import { silentLogger } from '../../helpers/common.ts';
import { chartPng } from './helpers.ts';

const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/sandbox-chat/', import.meta.url));

/** A small grammY bot shaped like Vanta's: commands, HTML, keyboards, edits in place, alerts. */
function testBot(double: BotApiDouble): Bot {
  const bot = new Bot(double.token, { client: { apiRoot: double.apiRoot } });
  bot.command('start', (ctx) =>
    ctx.reply('<b>Welcome to Vanta</b>\nYour sandbox wallet holds <code>1,000.00</code> USDC.', {
      parse_mode: 'HTML',
      reply_markup: new InlineKeyboard().text('📈 Trade', 'trade').text('💰 Wallet', 'wallet'),
    }),
  );
  bot.callbackQuery('trade', async (ctx) => {
    await ctx.answerCallbackQuery({ text: 'Order sent' });
    await ctx.editMessageText('<b>Long ETH</b> 10x · pending…', { parse_mode: 'HTML' });
  });
  bot.callbackQuery('wallet', (ctx) => ctx.answerCallbackQuery({ text: 'Balance: 1,000.00 USDC', show_alert: true }));
  bot.command('chart', (ctx) => ctx.replyWithPhoto(new InputFile(chartPng(320, 180), 'pnl.png'), { caption: 'PnL, last 24 h' }));
  bot.on('message:text', (ctx) => ctx.reply(`You wrote: ${ctx.message.text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')}`, { parse_mode: 'HTML' }));
  bot.catch((err) => {
    throw err.error;
  });
  return bot;
}

describe('sandbox chat page (headless Chromium)', function () {
  this.timeout(30_000);
  let browser: Browser;
  let double: BotApiDouble;
  let bot: Bot;
  let polling: Promise<void>;

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    browser = await launchBrowser();
    double = await startBotApiDouble({ logger: silentLogger() });
    bot = testBot(double);
    await bot.api.setMyCommands([
      { command: 'start', description: 'Open your account' },
      { command: 'chart', description: 'Your PnL chart' },
    ]);
    polling = bot.start({ timeout: 30 });
  });
  after(async () => {
    await bot?.stop();
    await polling;
    await browser?.close();
    await double?.close();
  });

  async function open(query = '', viewport = { width: 1100, height: 760 }): Promise<{ page: Page; requests: string[]; errors: string[] }> {
    const page = await browser.newPage({ viewport });
    const requests: string[] = [];
    const errors: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.goto(`${double.chatUrl}${query}`);
    return { page, requests, errors };
  }

  const botRows = (page: Page) => page.locator('.row.bot');

  it('a trader types a command, gets a keyboard, presses a button and sees the message edited in place with a toast', async () => {
    const { page, requests, errors } = await open();
    try {
      await page.locator('.empty .start-button').waitFor();
      await page.screenshot({ path: `${ARTIFACTS}01-new-chat.png`, animations: 'disabled' });

      await page.locator('#input').fill('/start');
      await page.keyboard.press('Enter');
      const welcome = botRows(page).first();
      await welcome.locator('.key', { hasText: '📈 Trade' }).waitFor();
      assert.equal(await welcome.locator('strong').textContent(), 'Welcome to Vanta');
      assert.equal(await welcome.locator('code').textContent(), '1,000.00');
      await page.locator('.row.user .ticks.delivered').first().waitFor();
      await page.screenshot({ path: `${ARTIFACTS}02-welcome.png`, animations: 'disabled' });

      const messageId = await welcome.getAttribute('data-message-id');
      await welcome.locator('.key', { hasText: '📈 Trade' }).click();
      await page.locator('#toast', { hasText: 'Order sent' }).waitFor();
      const edited = page.locator(`.row.bot[data-message-id="${messageId}"]`);
      await edited.locator('.text', { hasText: 'Long ETH 10x · pending…' }).waitFor();
      assert.equal(await edited.locator('.edited').textContent(), 'edited');
      assert.equal(await edited.locator('.key').count(), 0, 'the edit left out the keyboard, so it is gone');
      assert.equal(await botRows(page).count(), 1, 'edited in place, not sent again');
      await page.screenshot({ path: `${ARTIFACTS}03-edited-in-place.png`, animations: 'disabled' });

      assert.deepEqual(errors, []);
      assert.ok(requests.every((r) => r.startsWith(double.apiRoot)), `the page reached beyond the double: ${requests.filter((r) => !r.startsWith(double.apiRoot)).join(', ')}`);
    } finally {
      await page.close();
    }
  });

  it('shows alerts, the command menu, photos, and messages the bot sends on its own, live', async () => {
    const { page, errors } = await open('?user=2000002&name=Ivy');
    try {
      await page.locator('.empty .start-button').click();
      await page.locator('.key', { hasText: '💰 Wallet' }).click();
      await page.locator('#alert-text', { hasText: 'Balance: 1,000.00 USDC' }).waitFor();
      await page.locator('#alert-ok').click();
      await page.locator('#alert').waitFor({ state: 'hidden' });
      await page.locator('.key.loading').waitFor({ state: 'detached', timeout: 3000 });

      await page.locator('#menu-button').click();
      await page.locator('.command-item', { hasText: '/chart' }).click();
      await page.locator('img.photo').waitFor();
      await page.waitForFunction(() => document.querySelector<HTMLImageElement>('img.photo')?.complete === true);
      assert.equal(await page.locator('img.photo').evaluate((img: HTMLImageElement) => img.naturalWidth), 320);

      // A notification: the bot writes without being asked, the page shows it without a reload.
      await bot.api.sendMessage(2000002, '✅ <b>Filled</b>: long ETH 10x at 3,120.55', { parse_mode: 'HTML' });
      await page.locator('.row.bot .text', { hasText: 'Filled: long ETH 10x at 3,120.55' }).waitFor();
      await page.setViewportSize({ width: 390, height: 760 });
      await page.screenshot({ path: `${ARTIFACTS}04-phone-notification.png`, animations: 'disabled' });
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });

  it('says what is wrong with a bad ?user= instead of spinning', async () => {
    const { page } = await open('?user=abc');
    try {
      await page.locator('.empty', { hasText: 'This chat cannot open: user must be a positive Telegram user id, not "abc".' }).waitFor();
    } finally {
      await page.close();
    }
  });

  it('answers only requests addressed to localhost, and takes actions only as same-origin JSON', async () => {
    const { port } = new URL(double.apiRoot);
    const get = (path: string, headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        request({ host: '127.0.0.1', port, path, headers }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
          .on('error', reject)
          .end();
      });
    // A page on evil.example that rebinds its DNS name to 127.0.0.1 sends Host: evil.example.
    assert.equal(await get('/', { host: `evil.example:${port}` }), 403);
    assert.equal(await get('/chat/api/state', { host: `evil.example:${port}` }), 403);
    assert.equal(await get('/', { host: `localhost:${port}` }), 200);
    const post = (headers: Record<string, string>) => fetch(`${double.apiRoot}/chat/api/send?user=2000009`, { method: 'POST', headers, body: JSON.stringify({ text: 'hi' }) });
    assert.equal((await post({ 'content-type': 'text/plain' })).status, 415, 'a form or text body could come from any site without a preflight');
    assert.equal((await post({ 'content-type': 'application/json', origin: 'http://evil.example' })).status, 403);
    assert.equal((await post({ 'content-type': 'application/json' })).status, 200);
  });

  it("never renders a user's or the bot's text as HTML", async () => {
    const { page, errors } = await open('?user=2000003');
    try {
      const hostile = '<img src=x onerror="document.title=\'pwned\'"><b>not bold</b>';
      await page.locator('#input').fill(hostile);
      await page.keyboard.press('Enter');
      await page.locator('.row.bot .text', { hasText: 'You wrote: <img' }).waitFor();
      assert.equal(await page.locator('.row.user .text').first().textContent(), hostile);
      assert.equal(await page.locator('.messages img').count(), 0);
      assert.equal(await page.locator('.messages b').count(), 0);
      assert.notEqual(await page.title(), 'pwned');
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
    double.assertNoViolations();
  });
});
