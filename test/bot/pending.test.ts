import assert from 'node:assert/strict';
import type { PositionView, TradingDesk } from '../../src/actors/desk.ts';
import { createVantaBot } from '../../src/bot/bot.ts';
import { ANSWER_WITHIN_MS } from '../../src/bot/pending.ts';
import { startBot } from '../../src/bot/transport.ts';
import { BadInputError } from '../../src/errors.ts';
import { startBotApiDouble, type ChatEvent } from '../../src/sandbox/telegram/bot-api-double.ts';
import { silentLogger } from '../helpers/common.ts';

/** A desk whose positions read takes `delayMs` and then answers `outcome`; anything else is a test failure. */
function slowDesk(delayMs: number, outcome: 'none' | 'refused'): TradingDesk {
  const positions = () =>
    new Promise<readonly PositionView[]>((resolve, reject) =>
      setTimeout(() => (outcome === 'none' ? resolve([]) : reject(new BadInputError('The engine is paused for maintenance. Try again in a minute.'))), delayMs),
    );
  return new Proxy({} as TradingDesk, { get: (_t, name) => (name === 'positions' ? positions : () => Promise.reject(new Error(`the desk was called (${String(name)})`))) });
}

/** What the trader's chat shows after /positions: every new message and edit, in order. */
async function positionsShown(desk: TradingDesk): Promise<{ type: string; messageId: number; text: string }[]> {
  const double = await startBotApiDouble({ logger: silentLogger() });
  const vanta = createVantaBot({ token: double.token, apiRoot: double.apiRoot, desk, admin: null, adminIds: [], mode: 'sandbox', logger: silentLogger(), redis: null });
  const running = await startBot(vanta, { kind: 'polling' }, silentLogger());
  const seen: { type: string; messageId: number; text: string }[] = [];
  const stop = double.subscribe((e: ChatEvent) => {
    if ((e.type === 'message' || e.type === 'edited') && e.entry.from === 'bot') seen.push({ type: e.type, messageId: e.entry.messageId, text: e.entry.text });
  });
  try {
    const user = double.user(8);
    user.send('/positions');
    await user.waitFor((m) => m.from === 'bot' && !m.text.startsWith('⏳'), 10_000);
    // Anything that would still come (a late edit) has time to arrive.
    await new Promise((resolve) => setTimeout(resolve, 300));
    double.assertNoViolations();
    return seen;
  } finally {
    stop();
    await running.stop();
    await double.close();
  }
}

describe('bot/pending: a command is answered at once — by its answer, or by a ⏳ message edited to it', function () {
  this.timeout(30_000);

  it('a quick read is sent as the answer itself: one message, no placeholder', async () => {
    const shown = await positionsShown(slowDesk(5, 'none'));
    assert.deepEqual(
      shown.map((s) => [s.type, s.text]),
      [['message', 'You have no open positions or pending orders. Open one with /trade.']],
    );
  });

  it(`a read slower than ${ANSWER_WITHIN_MS} ms shows "⏳ …" by then, edited in place to the answer`, async () => {
    const shown = await positionsShown(slowDesk(ANSWER_WITHIN_MS + 600, 'none'));
    assert.deepEqual(
      shown.map((s) => [s.type, s.text]),
      [
        ['message', '⏳ Reading your positions…'],
        ['edited', 'You have no open positions or pending orders. Open one with /trade.'],
      ],
    );
    assert.equal(shown[0]!.messageId, shown[1]!.messageId);
  });

  it('a slow refusal replaces the placeholder with the reason; a quick one is the reply', async () => {
    const slow = await positionsShown(slowDesk(ANSWER_WITHIN_MS + 600, 'refused'));
    assert.deepEqual(
      slow.map((s) => s.type),
      ['message', 'edited'],
    );
    assert.match(slow[1]!.text, /paused for maintenance/);
    const quick = await positionsShown(slowDesk(5, 'refused'));
    assert.equal(quick.length, 1);
    assert.match(quick[0]!.text, /paused for maintenance/);
  });
});
