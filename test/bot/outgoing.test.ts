import assert from 'node:assert/strict';
import { Api } from 'grammy';
import { OutgoingLimiter, outgoingLimiter, TELEGRAM_LIMITS } from '../../src/bot/outgoing.ts';
import { startBotApiDouble } from '../../src/sandbox/telegram/bot-api-double.ts';
import { silentLogger } from '../helpers/common.ts';

/** When each call of `chats` (in this order) was let through, in ms since the start. */
async function releaseTimes(limiter: OutgoingLimiter, chats: readonly string[]): Promise<number[]> {
  const started = performance.now();
  return Promise.all(chats.map((chat) => limiter.acquire(chat).then(() => performance.now() - started)));
}

describe('bot/outgoing: calls to Telegram wait their turn under its limits', function () {
  this.timeout(20_000);

  it('a chat gets its burst at once, then one call per interval, in the order they were made', async () => {
    const limiter = new OutgoingLimiter({ perSecond: 1_000, chatBurst: 3, chatIntervalMs: 100 });
    const order: number[] = [];
    const started = performance.now();
    const times = await Promise.all(
      [0, 1, 2, 3, 4].map((n) =>
        limiter.acquire('7').then(() => {
          order.push(n);
          return performance.now() - started;
        }),
      ),
    );
    assert.deepEqual(order, [0, 1, 2, 3, 4]);
    for (const t of times.slice(0, 3)) assert.ok(t < 30, `the burst goes at once (${t} ms)`);
    assert.ok(times[3]! >= 90 && times[3]! < 250, `the 4th waits one interval (${times[3]} ms)`);
    assert.ok(times[4]! >= 190 && times[4]! < 400, `the 5th waits two (${times[4]} ms)`);
    assert.equal(limiter.queued, 0);
  });

  it('one busy chat does not hold the others back; the overall limit holds them all', async () => {
    const limiter = new OutgoingLimiter({ perSecond: 20, chatBurst: 1, chatIntervalMs: 10_000 });
    // Chat A's second call waits 10 s; chat B's call behind it in the queue goes at once.
    const a = limiter.acquire('A');
    const aAgain = limiter.acquire('A');
    const b = await releaseTimes(limiter, ['B']);
    await a;
    assert.ok(b[0]! < 30, `another chat is not queued behind a paced one (${b[0]} ms)`);
    // 20 a second overall: 18 more chats (2 tokens taken) get the rest of the burst, then 50 ms apart.
    const many = await releaseTimes(limiter, Array.from({ length: 24 }, (_, i) => `c${i}`));
    const late = many.filter((t) => t > 40);
    assert.equal(late.length, 6, `the overall burst is spent after 18 more calls (${many.map(Math.round).join(', ')})`);
    assert.ok(Math.max(...many) >= 250 && Math.max(...many) < 600, `then 20 a second (${Math.max(...many)} ms)`);
    limiter.clear(new Error('test over'));
    await assert.rejects(aAgain, /test over/);
  });

  it('a 429 pauses that chat for retry_after; an aborted wait leaves the queue', async () => {
    const limiter = new OutgoingLimiter({ perSecond: 1_000, chatBurst: 5, chatIntervalMs: 10 });
    limiter.pause('9', 300);
    const [paused] = await releaseTimes(limiter, ['9']);
    assert.ok(paused! >= 280, `the chat waits out retry_after (${paused} ms)`);
    limiter.pause('9', 10_000);
    const controller = new AbortController();
    const waiting = limiter.acquire('9', controller.signal);
    assert.equal(limiter.queued, 1);
    controller.abort(new Error('the call gave up'));
    await assert.rejects(waiting, /the call gave up/);
    // Another chat is not affected by either.
    const [other] = await releaseTimes(limiter, ['10']);
    assert.ok(other! < 30);
  });

  it('refuses limits that would never let a call through', () => {
    assert.throws(() => new OutgoingLimiter({ perSecond: 0, chatBurst: 5, chatIntervalMs: 1_000 }), RangeError);
    assert.throws(() => new OutgoingLimiter({ perSecond: 30, chatBurst: 0, chatIntervalMs: 1_000 }), RangeError);
    assert.throws(() => new OutgoingLimiter({ perSecond: 30, chatBurst: 5, chatIntervalMs: Number.NaN }), RangeError);
  });

  it('as a grammY transformer: a burst to one chat is paced under Telegram’s limits and none is refused', async () => {
    // The double's own flood control refuses what Telegram would: a burst over its per-chat limit gets 429.
    const double = await startBotApiDouble({ logger: silentLogger() });
    try {
      const api = new Api(double.token, { apiRoot: double.apiRoot });
      api.config.use(outgoingLimiter(new OutgoingLimiter(TELEGRAM_LIMITS)));
      const user = double.user(77);
      user.send('/start');
      const started = performance.now();
      const sent = await Promise.all(Array.from({ length: 8 }, (_, i) => api.sendMessage(77, `message ${i}`).then((m) => ({ m, at: performance.now() - started }))));
      // Five at once, then about one a second, all in order, and Telegram (the double) refused none.
      assert.deepEqual(
        sent.map((s) => s.m.text),
        Array.from({ length: 8 }, (_, i) => `message ${i}`),
      );
      assert.ok(sent[4]!.at < 500, `the burst goes at once (${sent[4]!.at} ms)`);
      assert.ok(sent[7]!.at >= 2_500, `then about one a second (${sent[7]!.at} ms)`);
      assert.deepEqual(double.floodRefusals(), []);
      double.assertNoViolations();
      // The same burst without the limiter: Telegram (the double) refuses what goes over.
      const bare = new Api(double.token, { apiRoot: double.apiRoot });
      const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => bare.sendMessage(77, `again ${i}`)));
      assert.ok(results.some((r) => r.status === 'rejected' && /429/.test(String(r.reason))), 'without it, some calls are refused with 429');
    } finally {
      await double.close();
    }
  });
});
