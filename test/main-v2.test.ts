import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPublicClient, http, parseAbi, type Address } from 'viem';
import { startEngine, type EngineProcess } from './helpers/engine-process.ts';
import { startBotApiDouble, type BotApiDouble, type ChatEntry } from '../src/sandbox/telegram/bot-api-double.ts';
import { silentLogger } from './helpers/common.ts';
import { createTestPostgres, type TestDatabase } from './helpers/db.ts';

/**
 * `npm start` with SANDBOX_PROTOCOL=v2: the devnet runs Avantis v2's entry points and the v2
 * services are loopback doubles over it. A trader talks to the bot as on Telegram; the bot
 * registers the trader's delegate key (signed by the wallet it created), and the order is a
 * signed intent executed on chain; closing pays the trader. Nothing in the engine branches on the
 * sandbox: it talks to the doubles over HTTP as it would to Avantis's services.
 */

describe('npm start on Avantis v2 (SANDBOX_PROTOCOL=v2): a trade through the chat, gasless, by the delegate key', function () {
  this.timeout(180_000);
  let double: BotApiDouble;
  let pg: TestDatabase;
  let dataDir: string;
  let engine: EngineProcess | null = null;

  before(async () => {
    double = await startBotApiDouble({ logger: silentLogger() });
    pg = await createTestPostgres('main_v2');
    dataDir = mkdtempSync(join(tmpdir(), 'vanta-main-v2-'));
  });
  after(async () => {
    engine?.child.kill('SIGKILL');
    await engine?.exited;
    await double?.close();
    await pg?.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('opens and closes a position through v2; the delegate is registered on chain and the trader is paid', async () => {
    engine = await startEngine({
      VANTA_MODE: 'sandbox',
      SANDBOX_PROTOCOL: 'v2',
      TELEGRAM_API_ROOT: double.apiRoot,
      TELEGRAM_BOT_TOKEN: double.token,
      DATABASE_URL: pg.url,
      DATA_DIR: dataDir,
      OPS_PORT: '0',
      INSPECTOR_PORT: '0',
      SANDBOX_CHAT_PORT: '0',
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'json',
    });
    const trader = double.user(4101, { firstName: 'Vee' });
    const botSays = (pattern: RegExp, timeoutMs = 30_000) => trader.waitFor((m: ChatEntry) => m.from === 'bot' && pattern.test(m.text), timeoutMs);
    trader.send('/start');
    const welcome = await botSays(/Welcome to Vanta/);
    const wallet = /0x[0-9a-fA-F]{40}/.exec(welcome.text)![0] as Address;
    trader.send('long eth 100 10x');
    await botSays(/Review: 🟢 Long ETH\/USD/);
    trader.click('✅ Confirm');
    await botSays(/✅ .*is open/, 60_000);

    const chain = createPublicClient({ transport: http(engine.rpcUrl) });
    const usdc = (JSON.parse(readFileSync(join(dataDir, 'devnet', 'deployment.json'), 'utf8')) as { usdc: Address }).usdc;
    const rows = await pg.db.sql<{ primary_type: string; status: string; signer: string }>(`select primary_type, status, signer from v2_intents order by created_at`);
    const open = rows.find((r) => r.primary_type === 'OpenTradeReq');
    assert.equal(open?.status, 'executed', 'the open went through the v2 intent store');
    assert.notEqual(open?.signer, wallet.toLowerCase(), 'signed by the delegate, not the trader');
    const registered = rows.find((r) => r.primary_type === 'DelegateReq');
    assert.equal(registered?.status, 'executed', 'the delegate was registered with a DelegateReq the trader (its wallet) signed');
    const usdcBefore = await chain.readContract({ address: usdc, abi: parseAbi(['function balanceOf(address) view returns (uint256)']), functionName: 'balanceOf', args: [wallet] });

    trader.send('/positions');
    const list = await botSays(/Your positions \(1\)/);
    const closeLabel = (list.keyboard ?? []).flat().find((b) => b.text.startsWith('✖ Close'))!.text;
    trader.click(closeLabel);
    await botSays(/Close this position\?/);
    trader.click('✅ Yes, close it');
    await botSays(/🏁 .*is closed/, 60_000);
    const usdcAfter = await chain.readContract({ address: usdc, abi: parseAbi(['function balanceOf(address) view returns (uint256)']), functionName: 'balanceOf', args: [wallet] });
    assert.ok(usdcAfter > usdcBefore, `the close paid the trader (${usdcBefore} → ${usdcAfter})`);
    double.assertNoViolations();
  });
});
