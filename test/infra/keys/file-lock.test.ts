import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { withFileLock } from '../../../src/infra/keys/file-lock.ts';

describe('Cross-process lock file (master key file writes)', function () {
  let dir: string;
  let lock: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vanta-lock-'));
    lock = join(dir, 'master-keys.json.lock');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const holder = (pid: number, host = hostname()) => writeFileSync(lock, JSON.stringify({ pid, host, nonce: `n${pid}`, since: '2026-01-01T00:00:00.000Z' }));

  it('lets one holder in at a time and removes the file when done', async () => {
    let inside = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 12 }, () =>
        withFileLock(lock, { what: 'the test file', pollMs: 2 }, async () => {
          inside += 1;
          most = Math.max(most, inside);
          await sleep(3);
          inside -= 1;
        }),
      ),
    );
    assert.equal(most, 1);
    assert.equal(existsSync(lock), false);
  });

  it('takes over a lock left by a process of this host that has died', async () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    holder(dead);
    assert.equal(await withFileLock(lock, { what: 'the test file', timeoutMs: 2_000 }, () => Promise.resolve('in')), 'in');
    assert.deepEqual(readdirSync(dir), []);
  });

  it('waits for a live holder, then says who holds it and what to do', async () => {
    holder(process.pid);
    await assert.rejects(withFileLock(lock, { what: 'the test file', timeoutMs: 150 }, () => Promise.resolve()), {
      code: 'KEYSTORE_CONFIG',
      message: new RegExp(`Cannot lock the test file: process ${process.pid} on ${hostname()} .* holds ${lock}\\. Wait for it .*delete ${lock}`),
    });
    assert.equal(existsSync(lock), true, 'a live holder keeps its lock');
  });

  it('never takes over a lock of another host, which it cannot check', async () => {
    holder(999_999_999, 'some-other-host');
    await assert.rejects(withFileLock(lock, { what: 'the test file', timeoutMs: 100 }, () => Promise.resolve()), { message: /some-other-host/ });
  });

  it('takes over an unreadable lock only once it is old (a holder may be writing it)', async () => {
    writeFileSync(lock, '');
    await assert.rejects(withFileLock(lock, { what: 'the test file', timeoutMs: 100 }, () => Promise.resolve()), { message: /another process holds/ });
    const old = new Date(Date.now() - 120_000);
    utimesSync(lock, old, old);
    await withFileLock(lock, { what: 'the test file', timeoutMs: 1_000 }, () => Promise.resolve());
    assert.deepEqual(readdirSync(dir), []);
  });
});
