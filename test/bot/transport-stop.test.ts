import assert from 'node:assert/strict';
import { Bot } from 'grammy';
import type { VantaContext } from '../../src/bot/context.ts';
import { startBot } from '../../src/bot/transport.ts';
import { startBotApiDouble, type BotApiDouble } from '../../src/sandbox/telegram/bot-api-double.ts';
import { silentLogger } from '../helpers/common.ts';
import { waitFor } from '../helpers/runtime.ts';

/**
 * Stopping the bot (main's shutdown stops it before the actor system): an update still being
 * handled, e.g. a confirmed order on its way to the trader's actor, must finish before the
 * engine is stopped under it.
 */
describe('bot transport: stopping', function () {
  this.timeout(20_000);
  let double: BotApiDouble;

  before(async () => {
    double = await startBotApiDouble({ logger: silentLogger(), chatPage: false });
  });
  after(() => double?.close());

  it('resolves only once the updates being handled are done', async () => {
    const bot = new Bot<VantaContext>(double.token, { client: { apiRoot: double.apiRoot } });
    let started = false;
    let finished = false;
    bot.on('message', async () => {
      started = true;
      await new Promise((resolve) => setTimeout(resolve, 500));
      finished = true;
    });
    const running = await startBot({ bot, notices: () => Promise.resolve() }, { kind: 'polling' }, silentLogger());
    double.user(1001).send('/positions');
    await waitFor(() => started, 'the update to be handled');
    await running.stop();
    assert.equal(finished, true, 'stop() resolved while an update was still being handled');
  });
});
