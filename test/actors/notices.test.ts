import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Notice, NoticeSink } from '../../src/actors/desk.ts';
import type { ActorRuntime } from '../../src/actors/runtime.ts';
import { createTestPostgres, type TestDatabase } from '../helpers/db.ts';
import { ordersDouble } from '../helpers/orders-double.ts';
import { noticeLog, sleep, testSystem, topState, waitFor } from '../helpers/runtime.ts';

const WORKER = fileURLToPath(new URL('./fixtures/notice-worker.ts', import.meta.url));

const order = (positionId: string, pair = 'ETH/USD', side: 'long' | 'short' = 'long') => ({
  type: 'order.requested',
  positionId,
  pair,
  pairIndex: pair === 'ETH/USD' ? 0 : 1,
  side,
  collateral: '10',
  leverage: 2,
});

/** The notices a user actor still holds, as stored. */
async function storedNotices(t: TestDatabase, userId: string): Promise<{ id: string; kind: string }[]> {
  const rows = await t.db.sql<{ notices: { id: string; kind: string }[] | null }>(`select snapshot->'context'->'notices' as notices from actor_snapshots where id = ?`, [userId]);
  return rows[0]?.notices ?? [];
}

describe('trader notices: durable, delivered at least once, in order', function () {
  this.timeout(60_000);
  let t: TestDatabase;
  const running: ActorRuntime[] = [];
  const start = (overrides: Parameters<typeof testSystem>[1] = {}) => {
    const runtime = testSystem(t.db, overrides);
    running.push(runtime);
    return runtime;
  };

  beforeEach(async () => {
    t = await createTestPostgres('notices');
  });
  afterEach(async () => {
    for (const r of running.splice(0)) await r.stop();
    await t.destroy();
  });

  it('hands a notice to the sink only once the snapshot holding it is on disk', async () => {
    const seenOnDisk: boolean[] = [];
    const runtime = start({
      notices: async (notice) => {
        const stored = await storedNotices(t, `user:${notice.telegramId}`);
        seenOnDisk.push(stored.some((n) => n.id === notice.id));
      },
    });
    await runtime.boot();
    runtime.spawn('user:5', { input: { telegramId: 5, maxOpenPositions: 1 } });
    // An accepted order (its "sent" notice) and two refused ones.
    for (const id of ['a', 'b', 'c']) runtime.send('user:5', order(id));
    await waitFor(() => seenOnDisk.length === 3, 'the three notices');
    assert.deepEqual(seenOnDisk, [true, true, true]);
  });

  it('survives a crash between the state change and its delivery: the restored engine delivers it (SIGKILL)', async function () {
    const child = spawn(process.execPath, [WORKER, t.url], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout });
    let handed: string[] = [];
    try {
      for await (const line of lines) {
        const parsed = JSON.parse(line) as { durable?: string[] };
        if (parsed.durable) {
          handed = parsed.durable;
          break;
        }
      }
    } finally {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    }
    // The dead engine had started delivering and never finished.
    assert.deepEqual(handed, ['71:n1']);
    assert.deepEqual((await storedNotices(t, 'user:71')).map((n) => n.id), ['n1', 'n2', 'n3']);

    const log = noticeLog();
    const runtime = start({ notices: log.sink });
    await runtime.boot();
    await waitFor(() => log.received.length === 3, 'the restored engine to deliver what the dead one owed');
    assert.deepEqual(
      log.received.map((n) => [n.id, n.telegramId, n.kind, n.positionId]),
      [
        ['n1', 71, 'order.refused', 'k1'],
        ['n2', 71, 'account', null],
        ['n3', 71, 'order.refused', 'k2'],
      ],
    );
    assert.equal(log.received[0]!.text, 'Trading is paused for your account. Send /resume to trade again.');
    await runtime.flushed();
    await waitFor(async () => (await storedNotices(t, 'user:71')).length === 0, 'the delivered notices to be forgotten on disk');
  });

  it('retries a failing sink with backoff, loses nothing, and keeps each trader’s order (the ones behind wait)', async () => {
    const attempts: string[] = [];
    const delivered: Notice[] = [];
    let failuresLeft = new Map<number, number>([
      [1, 4],
      [2, 1],
      [3, 0],
    ]);
    const sink: NoticeSink = async (notice) => {
      attempts.push(`${notice.telegramId}:${notice.id}`);
      await sleep(1);
      const left = failuresLeft.get(notice.telegramId) ?? 0;
      if (left > 0) {
        failuresLeft.set(notice.telegramId, left - 1);
        throw new Error('Telegram did not answer');
      }
      delivered.push(notice);
    };
    const runtime = start({ notices: sink, noticeRetry: { baseMs: 10, maxMs: 40 } });
    await runtime.boot();
    for (const u of [1, 2, 3]) {
      runtime.spawn(`user:${u}`, { input: { telegramId: u, maxOpenPositions: 5 } });
      runtime.send(`user:${u}`, { type: 'trading.pause' });
      for (let i = 1; i <= 5; i++) runtime.send(`user:${u}`, order(`u${u}-${i}`));
    }
    await waitFor(() => delivered.length === 15, 'every notice delivered', 10_000);
    for (const u of [1, 2, 3]) {
      const mine = delivered.filter((n) => n.telegramId === u);
      assert.deepEqual(mine.map((n) => n.id), ['n1', 'n2', 'n3', 'n4', 'n5'], `trader ${u}: each once, in order`);
      assert.deepEqual(mine.map((n) => n.positionId), [1, 2, 3, 4, 5].map((i) => `u${u}-${i}`));
    }
    // Trader 1's first notice failed four times: it was tried five times, and nothing behind it went first.
    const trader1 = attempts.filter((a) => a.startsWith('1:'));
    assert.deepEqual(trader1.slice(0, 6), ['1:n1', '1:n1', '1:n1', '1:n1', '1:n1', '1:n2']);
    failuresLeft = new Map();
    await runtime.flushed();
    await waitFor(async () => (await Promise.all([1, 2, 3].map((u) => storedNotices(t, `user:${u}`)))).every((n) => n.length === 0), 'acks on disk');
  });

  it('gives up on a sink call that hangs and tries again, so one lost answer does not hold a trader’s notices forever', async () => {
    const calls: string[] = [];
    const runtime = start({
      noticeRetry: { baseMs: 10, maxMs: 20, sinkTimeoutMs: 100 },
      notices: (n) => {
        calls.push(n.id);
        return calls.length === 1 ? new Promise<void>(() => {}) : Promise.resolve();
      },
    });
    await runtime.boot();
    runtime.spawn('user:14', { input: { telegramId: 14, maxOpenPositions: 5 } });
    runtime.send('user:14', { type: 'settings.update', defaultLeverage: 0 });
    runtime.send('user:14', { type: 'settings.update', defaultLeverage: 9000 });
    await waitFor(() => calls.length === 3, 'the retry and the next notice', 5_000);
    assert.deepEqual(calls, ['n1', 'n1', 'n2']);
  });

  it('does not deliver a delivered notice again after a clean restart, and does deliver what was still pending', async () => {
    const first = noticeLog();
    const runtime = start({ notices: first.sink });
    await runtime.boot();
    runtime.spawn('user:9', { input: { telegramId: 9, maxOpenPositions: 5 } });
    runtime.send('user:9', { type: 'trading.pause' });
    runtime.send('user:9', order('d1'));
    runtime.send('user:9', order('d2'));
    await waitFor(() => first.received.length === 2, 'delivery');
    await runtime.stop();

    const second = noticeLog();
    const again = start({ notices: second.sink });
    await again.boot();
    again.send('user:9', order('d3'));
    await waitFor(() => second.received.length === 1, 'the new notice');
    await sleep(200);
    assert.deepEqual(second.received.map((n) => [n.id, n.positionId]), [['n3', 'd3']], 'n1 and n2 were not delivered twice');
  });

  it('lets a sink call in flight at a clean stop finish and records it, so it is not delivered again', async () => {
    const calls: string[] = [];
    const runtime = start({ notices: (n) => (calls.push(n.id), sleep(150)) });
    await runtime.boot();
    runtime.spawn('user:12', { input: { telegramId: 12, maxOpenPositions: 5 } });
    runtime.send('user:12', { type: 'settings.update', slippageBps: 5000 });
    await waitFor(() => calls.length === 1, 'the sink to be called');
    await runtime.stop();
    assert.deepEqual(await storedNotices(t, 'user:12'), [], 'the ack was written before the engine stopped');
    const log = noticeLog();
    await start({ notices: log.sink }).boot();
    await sleep(200);
    assert.deepEqual(log.received, []);
  });

  it('tells the trader an order was sent, with its transaction, then that it filled, closed and paid out', async () => {
    const orders = ordersDouble();
    const log = noticeLog();
    const runtime = start({ orders, notices: log.sink });
    await runtime.boot();
    runtime.spawn('user:20', { input: { telegramId: 20, maxOpenPositions: 5 } });
    runtime.send('user:20', { ...order('s1', 'BTC/USD', 'short'), collateral: '150', leverage: 4 });
    await waitFor(() => log.received.length === 1, 'the sent notice');
    orders.fill('s1', '60000.5', '149.2');
    await waitFor(() => topState(runtime.get('position:s1')?.getSnapshot() as never) === 'open', 'the fill');
    runtime.send('position:s1', { type: 'close.requested' });
    await waitFor(() => topState(runtime.get('position:s1')?.getSnapshot() as never) === 'awaitingClose', 'the close request');
    orders.closeFill('s1', '59000', '160.1');
    await waitFor(() => log.received.length === 4, 'every step');
    assert.deepEqual(
      log.received.map((n) => [n.kind, n.text]),
      [
        ['order.sent', `Order s1 (short BTC/USD) was sent to Avantis with 150 USDC at 4x and waits for the keeper to fill it. Transaction 0x${'0'.repeat(64)}.`],
        ['order.filled', 'Order s1 (short BTC/USD) is open at 60000.5.'],
        ['close.sent', `Order s1 (short BTC/USD): the close was sent to Avantis and waits for the keeper to execute it. Transaction 0x${'1'.repeat(64)}.`],
        ['position.closed', 'Order s1 (short BTC/USD) is closed at 59000. 160.1 USDC was paid out.'],
      ],
    );
  });

  it('respects the trader’s muted notices end to end, but never mutes a refusal', async () => {
    const orders = ordersDouble();
    const log = noticeLog();
    const runtime = start({ orders, notices: log.sink });
    await runtime.boot();
    runtime.spawn('user:21', { input: { telegramId: 21, maxOpenPositions: 1 } });
    runtime.send('user:21', { type: 'settings.update', notify: { fills: false, closes: false } });
    runtime.send('user:21', order('m1'));
    runtime.send('user:21', order('m2'));
    await waitFor(() => orders.submitted.length === 1, 'the order');
    orders.fill('m1', '3000');
    await waitFor(() => topState(runtime.get('position:m1')?.getSnapshot() as never) === 'open', 'the fill');
    await sleep(150);
    assert.deepEqual(log.received.map((n) => [n.kind, n.positionId]), [['order.refused', 'm2']]);
  });
});
