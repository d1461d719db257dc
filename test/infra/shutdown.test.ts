import assert from 'node:assert/strict';
import { createShutdown } from '../../src/infra/shutdown.ts';
import { silentLogger } from '../helpers/common.ts';

describe('shutdown registry', () => {
  it('closes every resource in reverse order, once, and aborts its signal first', async () => {
    const shutdown = createShutdown({ logger: silentLogger(), graceMs: 1_000 });
    const closed: string[] = [];
    shutdown.add('db', () => void closed.push('db'));
    shutdown.add('actors', async () => {
      await new Promise((r) => setTimeout(r, 10));
      closed.push(`actors (signal aborted: ${shutdown.signal.aborted})`);
    });
    const removed = shutdown.add('closed early', () => void closed.push('never'));
    removed();
    shutdown.add('http', () => void closed.push('http'));
    const [a, b] = await Promise.all([shutdown.run('test'), shutdown.run('again')]);
    assert.deepEqual([a, b], [0, 0]);
    assert.deepEqual(closed, ['http', 'actors (signal aborted: true)', 'db']);
  });

  it('carries on past a failing close and reports a non-zero exit code', async () => {
    const shutdown = createShutdown({ logger: silentLogger(), graceMs: 1_000 });
    const closed: string[] = [];
    shutdown.add('db', () => void closed.push('db'));
    shutdown.add('broken', () => {
      throw new Error('socket already closed');
    });
    assert.equal(await shutdown.run('test'), 1);
    assert.deepEqual(closed, ['db']);
  });

  it('leaves a hung close behind after its budget and still closes what comes after it (the database)', async () => {
    const shutdown = createShutdown({ logger: silentLogger(), graceMs: 2_000, closeTimeoutMs: 100 });
    const closed: string[] = [];
    shutdown.add('database', () => void closed.push('database'));
    shutdown.add('devnet', () => new Promise(() => {})); // a receipt wait on a node that is gone
    shutdown.add('quick, with its own budget', () => new Promise<void>((r) => setTimeout(r, 150)).then(() => void closed.push('own budget')), { timeoutMs: 1_000 });
    const started = Date.now();
    assert.equal(await shutdown.run('test'), 1, 'a close that had to be left behind is not a clean stop');
    assert.deepEqual(closed, ['own budget', 'database']);
    assert.ok(Date.now() - started < 600, `took ${Date.now() - started} ms`);
  });

  it('gives up after the grace period when a resource hangs', async () => {
    const shutdown = createShutdown({ logger: silentLogger(), graceMs: 50, closeTimeoutMs: 10_000 });
    shutdown.add('hangs', () => new Promise(() => {}));
    const started = Date.now();
    assert.equal(await shutdown.run('test'), 1);
    assert.ok(Date.now() - started < 500);
  });
});
