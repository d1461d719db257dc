import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { LeaseHeldError } from '../../../src/errors.ts';
import { createDatabase } from '../../../src/infra/db/database.ts';
import { silentLogger } from '../../helpers/common.ts';

const HOLDER = fileURLToPath(new URL('./fixtures/hold-embedded.ts', import.meta.url));
const ACTORS = fileURLToPath(new URL('../../../scripts/actors.ts', import.meta.url));
const MAIN = fileURLToPath(new URL('../../../src/main.ts', import.meta.url));

/** A second process holding the embedded database of DATA_DIR `dataDir`, as a running engine would. */
async function hold(dataDir: string): Promise<{ child: ChildProcess; pid: number; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [HOLDER, join(dataDir, 'pglite')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const pid = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`holder exited with ${code}`)));
    lines.once('line', (line) => resolve((JSON.parse(line) as { open: number }).open));
  });
  return {
    child,
    pid,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.stdin.end();
      }),
  };
}

describe('the embedded database: one process per DATA_DIR', function () {
  this.timeout(60_000);
  let dataDir: string;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'vanta-embedded-lock-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('refuses a second process at once with LEASE_HELD naming the holder, and touches nothing', async () => {
    const holder = await hold(dataDir);
    try {
      const started = performance.now();
      await assert.rejects(createDatabase({ target: { kind: 'pglite', dir: join(dataDir, 'pglite') }, logger: silentLogger() }), (err: unknown) => {
        assert.ok(err instanceof LeaseHeldError);
        assert.equal(err.code, 'LEASE_HELD');
        assert.match(err.message, new RegExp(`in use by another process: pid ${holder.pid} on ${hostname()}.*nothing was opened or changed.*Stop that process first`));
        return true;
      });
      assert.ok(performance.now() - started < 1_000, 'refused at once, not after a timeout');

      // The operator command and a second engine are refused the same way, before anything else.
      const env = { PATH: process.env['PATH'] ?? '', DATA_DIR: dataDir, LOG_LEVEL: 'info', OPS_PORT: '0', INSPECTOR_PORT: '0', SANDBOX_CHAT_PORT: '0' };
      const actors = spawnSync(process.execPath, [ACTORS, 'summary'], { env, encoding: 'utf8', timeout: 30_000 });
      assert.equal(actors.status, 1);
      assert.match(actors.stderr, new RegExp(`actors: The embedded database .* is in use by another process: pid ${holder.pid}`));
      const engine = spawnSync(process.execPath, [MAIN], { env, encoding: 'utf8', timeout: 30_000 });
      assert.equal(engine.status, 1);
      assert.match(engine.stdout, new RegExp(`"code":"LEASE_HELD".*pid ${holder.pid}`));
      assert.doesNotMatch(engine.stdout, /Devnet running/, 'the second engine started nothing');
      assert.ok(!existsSync(join(dataDir, 'devnet')));
    } finally {
      await holder.stop();
    }
    // The holder's database is intact and the lock went with it.
    assert.ok(!existsSync(join(dataDir, 'pglite.lock')));
    const db = await createDatabase({ target: { kind: 'pglite', dir: join(dataDir, 'pglite') }, logger: silentLogger() });
    try {
      const rows = await db.sql<{ subject: string }>(`select subject from audit_log where action = 'held'`);
      assert.deepEqual(rows, [{ subject: String(holder.pid) }]);
    } finally {
      await db.close();
    }
  });

  it('replaces the stale lock of a process that died without closing (kill -9)', async () => {
    const holder = await hold(dataDir);
    const lock = join(dataDir, 'pglite.lock');
    const content = readFileSync(lock, 'utf8');
    await new Promise((resolve) => {
      holder.child.once('exit', resolve);
      holder.child.kill('SIGKILL');
    });
    assert.equal(readFileSync(lock, 'utf8'), content, 'a killed process leaves its lock behind');
    const db = await createDatabase({ target: { kind: 'pglite', dir: join(dataDir, 'pglite') }, logger: silentLogger() });
    try {
      assert.match(readFileSync(lock, 'utf8'), new RegExp(`"pid":${process.pid}`));
    } finally {
      await db.close();
    }
    assert.ok(!existsSync(lock), 'closing releases it');
  });

  it('respects a lock written on another host (a shared volume) and says which file to delete', async () => {
    writeFileSync(join(dataDir, 'pglite.lock'), JSON.stringify({ pid: 1, host: 'some-other-host', startTicks: null, since: '2026-12-01T00:00:00.000Z', command: 'src/main.ts', token: 'x' }));
    await assert.rejects(createDatabase({ target: { kind: 'pglite', dir: join(dataDir, 'pglite') }, logger: silentLogger() }), (err: unknown) => {
      assert.ok(err instanceof LeaseHeldError);
      assert.match(err.message, /pid 1 on some-other-host .* If host some-other-host no longer runs Vanta on this directory, delete .*pglite\.lock/);
      return true;
    });
  });
});
