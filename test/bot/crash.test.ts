import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { createPublicClient, decodeEventLog, http, type Address } from 'viem';
import { abiOf } from '../../src/infra/devnet/artifacts.ts';
import { startEngine, type EngineProcess } from '../helpers/engine-process.ts';
import { startBotApiDouble, type BotApiDouble, type ChatEntry } from '../../src/sandbox/telegram/bot-api-double.ts';
import { silentLogger } from '../helpers/common.ts';
import { createTestPostgres, type TestDatabase } from '../helpers/db.ts';

/**
 * The engine (`node src/main.ts`, the sandbox with PostgreSQL and Redis) is killed with SIGKILL
 * right after a trader confirms an order. Telegram lives outside the engine (the Bot API double
 * runs here, in the test, as Telegram's servers would), so the chat survives the crash. After
 * the restart the order is on chain exactly once and the trader's chat shows how it ended.
 */
const REDIS = 'redis://127.0.0.1:6379/14';

describe('bot: SIGKILL right after a trader confirms an order', function () {
  this.timeout(240_000);
  let double: BotApiDouble;
  let pg: TestDatabase;
  let dataDir: string;
  const engines: EngineProcess[] = [];

  before(async () => {
    double = await startBotApiDouble({ logger: silentLogger() });
    pg = await createTestPostgres('bot_crash');
    dataDir = mkdtempSync(join(tmpdir(), 'vanta-bot-crash-'));
    const redis = new Redis(REDIS);
    await redis.flushdb();
    await redis.quit();
  });
  after(async () => {
    for (const e of engines) e.child.kill('SIGKILL');
    await Promise.all(engines.map((e) => e.exited));
    await double?.close();
    await pg?.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('the order is on chain exactly once after the restart, and the chat shows its outcome', async () => {
    const env = {
      VANTA_MODE: 'sandbox',
      TELEGRAM_API_ROOT: double.apiRoot,
      TELEGRAM_BOT_TOKEN: double.token,
      DATABASE_URL: pg.url,
      REDIS_URL: REDIS,
      DATA_DIR: dataDir,
      OPS_PORT: '0',
      INSPECTOR_PORT: '0',
      SANDBOX_CHAT_PORT: '0',
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'json',
    };
    const first = await startEngine(env);
    engines.push(first);
    const trader = double.user(3001, { firstName: 'Crash' });
    const botSays = (pattern: RegExp, timeoutMs = 30_000) => trader.waitFor((m: ChatEntry) => m.from === 'bot' && pattern.test(m.text), timeoutMs);
    trader.send('/start');
    const welcome = await botSays(/Welcome to Vanta/);
    const wallet = /0x[0-9a-fA-F]{40}/.exec(welcome.text)![0] as Address;
    trader.send('long eth 100 10x');
    const review = await botSays(/Review: 🟢 Long ETH\/USD/);
    const press = trader.click('✅ Confirm');
    await trader.waitForAnswer(press, 10_000);
    first.child.kill('SIGKILL');
    await first.exited;

    const second = await startEngine(env);
    engines.push(second);
    // The trader either sees the order's progress (the confirm got through before the kill), or
    // still sees the review and presses Confirm again, as a trader would: the same order either way.
    const progressed = await botSays(/is open|order accepted|sent/, 8_000).then(
      () => true,
      () => false,
    );
    if (!progressed) {
      const current = trader.messages().find((m) => m.messageId === review.messageId);
      assert.match(current?.text ?? '', /Review/, 'without progress, the review is still there to press again');
      trader.press(review.messageId, (current!.keyboard!.flat().find((b) => b.text === '✅ Confirm') as { callback_data: string }).callback_data);
    }
    await botSays(/✅ .*is open/, 90_000);

    const chain = createPublicClient({ transport: http(second.rpcUrl) });
    // The restarted engine restores the saved chain (no new deployment): the addresses are the first's.
    const logs = await chain.getLogs({ address: first.trading, fromBlock: 0n });
    let opens = 0;
    for (const log of logs) {
      if (!log.topics[1]?.toLowerCase().endsWith(wallet.slice(2).toLowerCase())) continue;
      try {
        const event = decodeEventLog({ abi: abiOf('Trading'), data: log.data, topics: log.topics }) as unknown as { eventName: string; args: { open: boolean } };
        if (event.eventName === 'MarketOrderInitiated' && event.args.open) opens++;
      } catch {
        // another event
      }
    }
    assert.equal(opens, 1, 'exactly one open request reached the chain');
    double.assertNoViolations();
  });
});
