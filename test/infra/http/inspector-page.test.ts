import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { createInspectionHub, type InspectionHub } from '../../../src/actors/inspection-hub.ts';
import { createInspectorServer, type InspectorServer } from '../../../src/infra/http/inspector-server.ts';
import { Secret } from '../../../src/infra/secret.ts';
import { launchBrowser } from '../../helpers/browser.ts';
import { silentLogger } from '../../helpers/common.ts';
import { createDescriber, startSampleSystem } from '../../helpers/inspected-system.ts';

const TOKEN = 'page-test-token-0123456789';

/** The inspector page in headless Chromium, fed by a real running XState system through the hub. */
describe('inspector page (headless Chromium)', function () {
  this.timeout(60_000);
  let browser: Browser;
  let hub: InspectionHub;
  let root: ReturnType<typeof startSampleSystem>['root'];
  const servers: InspectorServer[] = [];

  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });
  beforeEach(() => {
    const describer = createDescriber();
    hub = createInspectionHub({ describe: describer.describe, flushIntervalMs: 20 });
    root = startSampleSystem(hub.inspect, describer).root;
  });
  afterEach(async () => {
    root.stop();
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  async function openPage(token: string | null): Promise<{ page: Page; url: string; requests: string[] }> {
    const server = await createInspectorServer({ port: 0, token: token === null ? null : new Secret(token), source: hub.source, logger: silentLogger() });
    servers.push(server);
    const page = await browser.newPage({ viewport: { width: 1400, height: 860 } });
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(`${server.url}/`);
    return { page, url: server.url, requests };
  }

  const row = (page: Page, id: string) => page.locator(`.node[data-id="${id}"]`);

  it('shows the live actor tree and follows state changes without a reload', async () => {
    const { page, url, requests } = await openPage(null);
    try {
      await row(page, 'position:8').waitFor();
      const ids = await page.locator('.node').evaluateAll((nodes) => nodes.map((n) => (n as HTMLElement).dataset['id']));
      assert.deepEqual(ids, ['root', 'user:1', 'position:7', 'user:2', 'position:8'], 'parents before their children');
      const indent = (id: string) => row(page, id).evaluate((n) => parseFloat((n as HTMLElement).style.paddingLeft));
      assert.ok((await indent('position:7')) > (await indent('user:1')), 'a position is drawn under its user');
      assert.equal(await row(page, 'position:7').locator('.kind').textContent(), 'position');
      assert.equal(await row(page, 'position:7').locator('[data-role="state"]').textContent(), 'pending');
      assert.equal(await page.locator('#conn-text').textContent(), 'live');

      await row(page, 'position:7').click();
      await page.locator('#detail-state').waitFor();
      assert.equal(await page.locator('#detail-state').textContent(), 'pending');
      // The context comes from /api/actor once the actor is selected.
      await page.locator('#detail-context', { hasText: '"pair"' }).waitFor({ timeout: 5_000 });
      const detail = (await page.locator('#detail').textContent()) ?? '';
      assert.match(detail, /"pair": "ETH\/USD"/);
      assert.match(detail, /"privateKey": "\[REDACTED\]"/);
      assert.doesNotMatch(await page.content(), /abababababababababababababababababababababababababababababababab/, 'no secret reaches the page');

      root.send({ type: 'forward', to: 'position:7', event: { type: 'position.fill' } });
      await page.locator('#detail-state', { hasText: 'open' }).waitFor({ timeout: 5_000 });
      await row(page, 'position:7').locator('[data-role="state"]', { hasText: 'open' }).waitFor();
      await page.locator('#log-body tr', { hasText: 'position.fill' }).first().waitFor();
      const logRow = (await page.locator('#log-body tr', { hasText: 'position.fill' }).first().textContent()) ?? '';
      assert.match(logRow, /root → position:7/);

      hub.setStatus('user:2', 'quarantined');
      await row(page, 'user:2').locator('.badge-quarantined').waitFor({ timeout: 5_000 });
      assert.equal(await page.locator('#stat-problems-n').textContent(), '1');

      root.send({ type: 'forward', to: 'position:7', event: { type: 'position.close' } });
      await row(page, 'position:7').waitFor({ state: 'detached', timeout: 5_000 });
      await page.locator('#detail', { hasText: 'no longer running' }).waitFor();

      // Filtering the log to one actor.
      await page.locator('#log-filter').fill('user:1');
      await page.waitForFunction(() => {
        const routes = Array.from(document.querySelectorAll('#log-body tr td.c-route'), (td) => td.textContent ?? '');
        return routes.length > 0 && routes.every((t) => t.includes('user:1'));
      });

      await page.locator('#log-filter').fill('');
      await row(page, 'user:1').click();
      const shot = join(tmpdir(), `vanta-inspector-${process.pid}.png`);
      await page.screenshot({ path: shot });
      console.log(`      screenshot: ${shot}`);
      assert.ok(requests.every((r) => r.startsWith(url)), `requests left the server: ${requests.filter((r) => !r.startsWith(url)).join(', ')}`);
    } finally {
      await page.close();
    }
  });

  it('asks for the token, refuses a wrong one, and opens with the right one', async () => {
    const { page } = await openPage(TOKEN);
    try {
      await page.locator('#login-form').waitFor();
      assert.equal(await page.locator('#app').isVisible(), false);
      await page.locator('#login-token').fill('wrong-token-wrong-token');
      await page.locator('#login-form button[type="submit"]').click();
      await page.locator('#login-error', { hasText: 'refused' }).waitFor({ timeout: 5_000 });
      await page.locator('#login-token').fill(TOKEN);
      await page.locator('#login-form button[type="submit"]').click();
      await row(page, 'user:1').waitFor({ timeout: 5_000 });
      assert.equal(await page.locator('#login').isVisible(), false);
      const stored = await page.evaluate(() => sessionStorage.getItem('vanta.inspector.token'));
      assert.equal(stored, TOKEN, 'kept for this tab only');
      assert.doesNotMatch(page.url(), /token/i, 'the token never goes in the URL');
      root.send({ type: 'forward', to: 'user:1', event: { type: 'user.pause' } });
      await row(page, 'user:1').locator('[data-role="state"]', { hasText: 'paused' }).waitFor({ timeout: 5_000 });
    } finally {
      await page.close();
    }
  });
});
