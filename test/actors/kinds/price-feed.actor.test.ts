import assert from 'node:assert/strict';
import type { ActorRuntime } from '../../../src/actors/runtime.ts';
import { captureLogger } from '../../helpers/common.ts';
import { createTestPostgres, type TestDatabase } from '../../helpers/db.ts';
import { manualClock } from '../../helpers/manual-clock.ts';
import { testSystem } from '../../helpers/runtime.ts';

const PAIRS = ['ETH/USD', 'BTC/USD', 'SOL/USD'];
const HEARTBEAT_MS = 10_000;

/**
 * What an operator sees when the engine restarts: the price feeds come back from PostgreSQL with
 * the prices of the last run, and the first fresh prices follow a moment later.
 */
describe('price-feed actors across a restart', function () {
  this.timeout(30_000);
  let t: TestDatabase;
  const running: ActorRuntime[] = [];
  beforeEach(async () => {
    t = await createTestPostgres('price_feed_actor');
  });
  afterEach(async () => {
    for (const r of running.splice(0)) await r.stop();
    await t.destroy();
  });

  const clock = manualClock(1_700_000_000_000);
  const observe = (runtime: ActorRuntime, publishTime: number) => {
    for (const pair of PAIRS) runtime.send(`price-feed:${pair}`, { type: 'price.observed', price: '100.5', publishTime, source: 'chainlink' });
  };

  /** Runs the feeds until they are live, stops the engine, and restarts it `downMs` later. */
  async function restart(downMs: number) {
    const first = testSystem(t.db, { clock });
    running.push(first);
    await first.boot();
    for (const [i, pair] of PAIRS.entries()) first.spawn(`price-feed:${pair}`, { input: { pair, pairIndex: i, heartbeatMs: HEARTBEAT_MS } });
    observe(first, 1_000);
    await first.stop();
    running.splice(running.indexOf(first), 1);
    clock.advance(downMs);
    const log = captureLogger('info');
    const second = testSystem(t.db, { clock, logger: log.logger });
    running.push(second);
    await second.boot();
    clock.advance(0);
    const state = (pair: string) => (second.get(`price-feed:${pair}`)?.getSnapshot() as { value: string } | undefined)?.value;
    const said = () => log.lines().filter((l) => l['kind'] === 'price-feed').map((l) => `${l['level'] === 40 ? 'warn' : 'info'} ${String(l['msg'])} ${String(l['pair'])}`);
    return { second, state, said };
  }

  it('logs no halt and no resume when a feed waits for its first fresh price after a restart', async () => {
    const { second, state, said } = await restart(60_000);
    assert.deepEqual(PAIRS.map(state), ['resuming', 'resuming', 'resuming'], 'the old prices are not traded on');
    observe(second, 2_000);
    assert.deepEqual(PAIRS.map(state), ['live', 'live', 'live']);
    assert.deepEqual(said(), []);
  });

  it('warns once per pair when a restored feed gets no fresh price within a heartbeat of the restart', async () => {
    const { second, state, said } = await restart(60_000);
    second.send('price-feed:ETH/USD', { type: 'price.observed', price: '100.5', publishTime: 2_000, source: 'chainlink' });
    clock.advance(HEARTBEAT_MS);
    assert.deepEqual(PAIRS.map(state), ['stale', 'stale', 'stale']);
    assert.deepEqual(said().sort(), ['warn Trading halted on pair BTC/USD', 'warn Trading halted on pair ETH/USD', 'warn Trading halted on pair SOL/USD']);
  });
});
