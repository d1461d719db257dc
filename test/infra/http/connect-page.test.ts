import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { hashTypedData, recoverAddress } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { createDelegateConnectSessions, type DelegateConnectSessions } from '../../../src/actors/delegate-connect.ts';
import { INTENT_TYPES } from '../../../src/infra/chain/avantis-v2/intent-types.ts';
import { decodeIntent, intentDigest } from '../../../src/infra/chain/avantis-v2/intents.ts';
import { createConnectServer, type ConnectServer, type SignedDelegateReq } from '../../../src/infra/http/connect-server.ts';
import { startAvantisV2Sandbox, type AvantisV2Sandbox } from '../../../src/sandbox/avantis-v2/index.ts';
import { launchBrowser } from '../../helpers/browser.ts';
import { silentLogger } from '../../helpers/common.ts';

const trader = privateKeyToAccount(generatePrivateKey());
const delegate = privateKeyToAccount(generatePrivateKey());
const stranger = privateKeyToAccount(generatePrivateKey());
const SHOTS = join(process.cwd(), 'test-artifacts', 'connect');

interface WalletCall {
  readonly method: string;
  readonly params: unknown[];
}

/** The typed data as eth_signTypedData_v4 carries it (JSON: integers as decimal strings). */
type TypedJson = Parameters<typeof hashTypedData>[0];

/**
 * The connect page in headless Chromium, with a test wallet injected as window.ethereum: its
 * `request` goes through page.exposeFunction to a viem key in Node, so the page drives a real
 * EIP-1193 round trip and the key never enters the page.
 */
describe('delegate connect page (headless Chromium)', function () {
  this.timeout(60_000);
  let browser: Browser;
  let sb: AvantisV2Sandbox;
  let sessions: DelegateConnectSessions;
  let server: ConnectServer;
  let submitted: SignedDelegateReq[];

  before(async () => {
    browser = await launchBrowser();
    mkdirSync(SHOTS, { recursive: true });
  });
  after(async () => {
    await browser?.close();
  });
  beforeEach(async () => {
    sb = await startAvantisV2Sandbox();
    submitted = [];
    sessions = createDelegateConnectSessions();
    server = await createConnectServer({
      port: 0,
      sessions,
      logger: silentLogger(),
      submit: (signed) => {
        submitted.push(signed);
        // The doubles' ledger stands in for setDelegateWithSig landing on chain.
        const message = decodeIntent('DelegateReq', signed.encodedIntent);
        sb.ledger.setDelegate(message.trader, message.delegate, message.expiry);
        return Promise.resolve({ ok: true });
      },
    });
  });
  afterEach(async () => {
    await server.close();
    await sb.close();
  });

  function open() {
    return sessions.open({ trader: trader.address, delegate: delegate.address, domain: sb.txBuilder.domains.trading, expirySeconds: BigInt(Math.floor(Date.now() / 1000) + 30 * 86_400) });
  }

  async function newPage(options: { wallet?: typeof trader; telegram?: boolean; dark?: boolean } = {}): Promise<{ page: Page; requests: string[]; calls: WalletCall[]; telegram: () => Promise<string[]> }> {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 1, colorScheme: options.dark ? 'dark' : 'light' });
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    const calls: WalletCall[] = [];
    const wallet = options.wallet;
    if (wallet) {
      await page.exposeFunction('__testWallet', async (method: string, paramsJson: string) => {
        const params = JSON.parse(paramsJson) as unknown[];
        calls.push({ method, params });
        if (method === 'eth_requestAccounts' || method === 'eth_accounts') return { result: [wallet.address] };
        if (method === 'eth_signTypedData_v4') {
          const [address, json] = params as [string, string];
          if (address.toLowerCase() !== wallet.address.toLowerCase()) return { error: { code: 4100, message: 'unknown account' } };
          const typed = JSON.parse(json) as TypedJson;
          return { result: await wallet.sign({ hash: hashTypedData(typed) }) };
        }
        return { error: { code: 4200, message: `unsupported method ${method}` } };
      });
      await page.addInitScript(() => {
        const bridge = (window as unknown as { __testWallet: (m: string, p: string) => Promise<{ result?: unknown; error?: { code: number; message: string } }> }).__testWallet;
        (window as unknown as { ethereum: unknown }).ethereum = {
          isTestWallet: true,
          request: async ({ method, params }: { method: string; params?: unknown[] }) => {
            const answer = await bridge(method, JSON.stringify(params ?? []));
            if (answer.error) throw Object.assign(new Error(answer.error.message), { code: answer.error.code });
            return answer.result;
          },
        };
      });
    }
    if (options.telegram) {
      await page.addInitScript(() => {
        const seen: string[] = [];
        (window as unknown as { __tgSeen: string[] }).__tgSeen = seen;
        (window as unknown as { Telegram: unknown }).Telegram = { WebApp: { ready: () => seen.push('ready'), expand: () => seen.push('expand') } };
      });
    }
    return { page, requests, calls, telegram: () => page.evaluate(() => (window as unknown as { __tgSeen?: string[] }).__tgSeen ?? []) };
  }

  const onlyServer = (requests: string[]) => {
    const outside = requests.filter((r) => !r.startsWith(server.url));
    assert.deepEqual(outside, [], `requests left the server: ${outside.join(', ')}`);
  };

  it('signs with the injected wallet, shows "registered", and submits exactly the typed data shown', async () => {
    const { token, session } = open();
    const { page, requests, calls, telegram } = await newPage({ wallet: trader, telegram: true });
    try {
      await page.goto(server.linkFor(token));
      await page.locator('#f-trader', { hasText: trader.address }).waitFor();
      assert.deepEqual(await telegram(), ['ready', 'expand'], 'Mini App: ready() and expand() called');
      assert.equal(await page.locator('#f-delegate').textContent(), delegate.address);
      assert.match((await page.locator('#f-cannot').textContent()) ?? '', /withdraw.*approve USDC.*add or remove delegates/);
      assert.match((await page.locator('#f-can').textContent()) ?? '', /open, close and increase/);
      assert.match((await page.locator('#f-funds').textContent()) ?? '', /back to your wallet/);
      assert.equal(await page.locator('#f-tos').textContent(), session.message.tnc);
      assert.match((await page.locator('#f-expiry-rel').textContent()) ?? '', /in (29|30) days/);
      assert.equal(await page.locator('#no-wallet').isHidden(), true);
      await page.screenshot({ path: join(SHOTS, 'wallet-1-request.png'), fullPage: true });

      await page.locator('#typed-box summary').click();
      const shown = JSON.parse((await page.locator('#typed').textContent()) ?? '') as TypedJson;
      await page.screenshot({ path: join(SHOTS, 'wallet-2-typed-data.png'), fullPage: true });

      await page.locator('#sign-wallet').click();
      await page.locator('#progress[data-state="registered"]').waitFor({ timeout: 10_000 });
      assert.match((await page.locator('#progress-text').textContent()) ?? '', /Registered ✓/);
      assert.equal(await page.locator('#sign-box').isHidden(), true);
      await page.screenshot({ path: join(SHOTS, 'wallet-3-registered.png'), fullPage: true });

      assert.deepEqual(calls.map((c) => c.method), ['eth_requestAccounts', 'eth_signTypedData_v4']);
      const signedJson = JSON.parse(calls[1]!.params[1] as string) as TypedJson;
      assert.deepEqual(signedJson, shown, 'the wallet signed exactly the typed data the page showed');
      assert.equal(submitted.length, 1);
      const signed = submitted[0]!;
      assert.equal(hashTypedData(shown), signed.digest, 'the shown data hashes to the digest the server verified');
      assert.equal(signed.digest, intentDigest(session.domain, 'DelegateReq', session.message));
      assert.equal((await recoverAddress({ hash: signed.digest, signature: signed.signature })).toLowerCase(), trader.address.toLowerCase());
      assert.deepEqual(decodeIntent('DelegateReq', signed.encodedIntent), session.message);
      assert.equal(sb.ledger.delegation(trader.address, delegate.address).isEnabled, true);

      // A reload shows the used link, not a second signing form.
      await page.reload();
      await page.locator('#link-problem[data-kind="registered"]').waitFor();
      assert.match((await page.locator('#link-problem-title').textContent()) ?? '', /Already registered/);
      onlyServer(requests);
    } finally {
      await page.close();
    }
  });

  it('takes a signature made elsewhere and pasted (no wallet in the browser; dark scheme)', async () => {
    const { token, session } = open();
    const { page, requests } = await newPage({ dark: true });
    try {
      await page.goto(server.linkFor(token));
      await page.locator('#f-trader', { hasText: trader.address }).waitFor();
      assert.equal(await page.locator('#no-wallet').isVisible(), true, 'says no wallet was found');
      assert.equal(await page.locator('#sign-wallet').isHidden(), true);
      const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      assert.equal(bg, 'rgb(17, 19, 24)', 'dark scheme follows prefers-color-scheme');

      // A malformed paste is refused on the page, before anything is sent.
      await page.locator('#paste-sig').fill('0x1234');
      await page.locator('#submit-paste').click();
      await page.locator('#progress[data-state="refused"]').waitFor();
      assert.equal(submitted.length, 0);

      // Made elsewhere: any wallet signing the same typed data (here viem's signTypedData in Node).
      const signature = await trader.signTypedData({ domain: session.domain, types: { DelegateReq: INTENT_TYPES.DelegateReq }, primaryType: 'DelegateReq', message: session.message });
      await page.locator('#paste-sig').fill(`  ${signature}\n`);
      await page.screenshot({ path: join(SHOTS, 'paste-1-filled.png'), fullPage: true });
      await page.locator('#submit-paste').click();
      await page.locator('#progress[data-state="registered"]').waitFor({ timeout: 10_000 });
      await page.screenshot({ path: join(SHOTS, 'paste-2-registered.png'), fullPage: true });
      assert.equal(submitted.length, 1);
      assert.equal(submitted[0]!.signature, signature);
      onlyServer(requests);
    } finally {
      await page.close();
    }
  });

  it('refuses clearly when the wallet is on another account, and neither signs nor sends anything', async () => {
    const { token } = open();
    const { page, requests, calls } = await newPage({ wallet: stranger });
    try {
      await page.goto(server.linkFor(token));
      await page.locator('#f-trader', { hasText: trader.address }).waitFor();
      await page.locator('#sign-wallet').click();
      await page.locator('#progress[data-state="refused"]').waitFor({ timeout: 10_000 });
      const text = (await page.locator('#progress-text').textContent()) ?? '';
      assert.match(text, new RegExp(`connected as ${stranger.address}`));
      assert.match(text, new RegExp(`this link is for ${trader.address}`));
      assert.match(text, /Nothing was signed or sent/);
      await page.screenshot({ path: join(SHOTS, 'wrong-account.png'), fullPage: true });
      assert.deepEqual(calls.map((c) => c.method), ['eth_requestAccounts'], 'no signature was asked for');
      assert.equal(submitted.length, 0);
      assert.equal(await page.locator('#sign-wallet').isEnabled(), true, 'the trader can switch account and try again');

      // A signature by the wrong key pasted anyway is refused by the server with the reason.
      const forged = await stranger.sign({ hash: `0x${'ab'.repeat(32)}` });
      await page.locator('#paste-sig').fill(forged);
      await page.locator('#submit-paste').click();
      await page.locator('#progress-text', { hasText: 'Refused:' }).waitFor();
      assert.match((await page.locator('#progress-text').textContent()) ?? '', /not by your wallet/);
      assert.equal(submitted.length, 0);
      onlyServer(requests);
    } finally {
      await page.close();
    }
  });

  it('explains an unknown link instead of showing a form (expired and used links: see connect-server.test.ts)', async () => {
    const { page, requests } = await newPage();
    try {
      await page.goto(`${server.url}/connect/${'x'.repeat(43)}`);
      await page.locator('#link-problem').waitFor();
      assert.match((await page.locator('#link-problem-text').textContent()) ?? '', /not valid.*new one/);
      assert.equal(await page.locator('#request').isHidden(), true);
      await page.screenshot({ path: join(SHOTS, 'unknown-link.png'), fullPage: true });
      onlyServer(requests);
    } finally {
      await page.close();
    }
  });
});
