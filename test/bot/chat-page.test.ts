import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { DEFAULT_PAGE_USER } from '../../src/sandbox/telegram/bot-api-double.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { startBotHarness, type BotHarness } from '../helpers/bot-harness.ts';

/**
 * The newcomer's first contact, in headless Chromium: the sandbox chat page in front of the real
 * bot and engine (devnet, PostgreSQL, Redis). A scripted trader opens a position and closes it by
 * typing and clicking. Screenshots are kept in test-artifacts/bot-chat/.
 */
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/bot-chat/', import.meta.url));

describe('bot: the sandbox chat page, driven in headless Chromium', function () {
  this.timeout(180_000);
  let h: BotHarness;
  let browser: Browser;
  let page: Page;

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    h = await startBotHarness({ redis: true });
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 420, height: 860 } });
    await page.goto(h.double.chatUrl);
  });
  after(async () => {
    await browser?.close();
    await h?.close();
  });

  const type = async (text: string) => {
    await page.locator('#input').fill(text);
    await page.locator('#input').press('Enter');
  };
  const botText = (text: string | RegExp, timeout = 30_000) => page.locator('.row.bot .text', { hasText: text }).last().waitFor({ timeout });
  const click = async (label: string) => page.locator('.row.bot .key', { hasText: label }).last().click();

  it('a trader starts, opens a long by typing and clicking, sees it filled, closes it and sees the payout', async () => {
    await type('/start');
    await botText('Welcome to Vanta');
    await page.screenshot({ path: `${ARTIFACTS}01-welcome.png` });

    await type('long eth 100 10x');
    await botText('Review: 🟢 Long ETH/USD');
    await page.screenshot({ path: `${ARTIFACTS}02-review.png` });
    await click('✅ Confirm');
    await botText(/is open at/, 60_000);
    await page.screenshot({ path: `${ARTIFACTS}03-filled.png` });

    await type('/positions');
    await botText('Your positions (1)');
    await click('✖ Close long ETH/USD');
    await botText('Close this position?');
    await click('✅ Yes, close it');
    await botText(/is closed.*paid out/, 90_000);
    await page.screenshot({ path: `${ARTIFACTS}04-closed.png` });

    const trader = await h.walletOf(DEFAULT_PAGE_USER.id);
    assert.deepEqual(await h.requests(trader), { open: 1, close: 1 });
    h.double.assertNoViolations();
  });
});
