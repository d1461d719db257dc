import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AdminDesk, TradingDesk } from '../../src/actors/desk.ts';
import { createVantaBot } from '../../src/bot/bot.ts';
import { startBot, startBotWhenReachable } from '../../src/bot/transport.ts';
import { startBotApiDouble } from '../../src/sandbox/telegram/bot-api-double.ts';
import { captureLogger, silentLogger } from '../helpers/common.ts';

/** Only /help is used here: it reads nothing from the engine, so any desk call is a test failure. */
const NO_DESK = new Proxy({}, { get: (_t, name) => (name === 'mode' ? 'sandbox' : () => Promise.reject(new Error(`the desk was called (${String(name)})`))) }) as TradingDesk;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describe('bot/transport: long polling, webhook with secret token, and an unreachable Bot API', function () {
  this.timeout(30_000);

  it('long polling through the runner answers a trader and registers the command menu', async () => {
    const double = await startBotApiDouble({ logger: silentLogger() });
    const vanta = createVantaBot({ token: double.token, apiRoot: double.apiRoot, desk: NO_DESK, admin: null, adminIds: [], mode: 'sandbox', logger: silentLogger(), redis: null });
    const running = await startBot(vanta, { kind: 'polling' }, silentLogger());
    try {
      const reply = await double.user(5).reply('/help', 5_000);
      assert.match(reply.text, /Vanta commands/);
      assert.ok(double.commands().some((c) => c.command === 'positions'));
      double.assertNoViolations();
    } finally {
      await running.stop();
      await double.close();
    }
  });

  it('a webhook gets updates only with Telegram’s secret token; a request without it changes nothing', async () => {
    const double = await startBotApiDouble({ logger: silentLogger() });
    const port = await freePort();
    const vanta = createVantaBot({ token: double.token, apiRoot: double.apiRoot, desk: NO_DESK, admin: null, adminIds: [], mode: 'sandbox', logger: silentLogger(), redis: null });
    const running = await startBot(vanta, { kind: 'webhook', url: `http://127.0.0.1:${port}/telegram`, secret: 'a-secret_token-123', host: '127.0.0.1', port }, silentLogger());
    try {
      const reply = await double.user(6).reply('/help', 5_000);
      assert.match(reply.text, /Vanta commands/);
      const forged = await fetch(`http://127.0.0.1:${port}/telegram`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': 'wrong' },
        body: JSON.stringify({ update_id: 999, message: { message_id: 1, date: 0, chat: { id: 6, type: 'private' }, from: { id: 6, is_bot: false, first_name: 'x' }, text: '/help' } }),
      });
      assert.equal(forged.status, 401);
      const sent = double.user(6).messages().filter((m) => m.from === 'bot').length;
      assert.equal(sent, 1, 'the forged update got no answer');
      double.assertNoViolations();
    } finally {
      await running.stop();
      await double.close();
    }
  });

  it('while the Bot API cannot be reached the engine keeps running and the bot starts once it answers', async () => {
    const port = await freePort();
    const { logger, lines } = captureLogger('warn');
    // No retries inside a call here, so the outage shows at once (the default retries a call 3 times).
    const vanta = createVantaBot({ token: '123456:' + 'a'.repeat(35), apiRoot: `http://127.0.0.1:${port}`, desk: NO_DESK, admin: null as AdminDesk | null, adminIds: [], mode: 'sandbox', logger: silentLogger(), redis: null, apiRetries: 0 });
    const running = startBotWhenReachable(vanta, { kind: 'polling' }, logger, (ms, signal) =>
      new Promise((resolve) => {
        const timer = setTimeout(resolve, Math.min(ms, 100));
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve();
        });
      }),
    );
    const double = await (async () => {
      try {
        for (let i = 0; i < 50 && !lines().some((l) => /cannot be reached/.test(String(l['msg']))); i++) await new Promise((r) => setTimeout(r, 50));
        assert.ok(lines().some((l) => /cannot be reached/.test(String(l['msg']))), 'the outage is logged as a warning');
        return await startBotApiDouble({ logger: silentLogger(), port, token: '123456:' + 'a'.repeat(35) });
      } catch (err) {
        await running.stop();
        throw err;
      }
    })();
    try {
      await running.started;
      const reply = await double.user(7).reply('/help', 5_000);
      assert.match(reply.text, /Vanta commands/);
    } finally {
      await running.stop();
      await double.close();
    }
  });
});
