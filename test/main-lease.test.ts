import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createTestPostgres, type TestDatabase } from './helpers/db.ts';
import { sleep, waitFor } from './helpers/runtime.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

interface Engine {
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[];
  opsUrl: string | null;
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
}

/**
 * `node src/main.ts` as an operator starts it, in its own process group (as in its own container:
 * the sandbox's anvil is its child, and a kill of the group kills both).
 */
function startEngine(env: Record<string, string>): Engine {
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env['PATH'] ?? '', OPS_PORT: '0', INSPECTOR_PORT: '0', SANDBOX_CHAT_PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
    detached: true,
  });
  const engine: Engine = {
    child,
    lines: [],
    opsUrl: null,
    exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))),
  };
  createInterface({ input: child.stdout }).on('line', (line) => {
    const entry = JSON.parse(line) as Record<string, unknown>;
    engine.lines.push(entry);
    if (entry['component'] === 'ops-http' && typeof entry['url'] === 'string') engine.opsUrl = entry['url'];
  });
  return engine;
}

const tail = (engine: Engine) => engine.lines.slice(-15).map((l) => `${String(l['level'])} ${String(l['msg'])} ${l['err'] ? JSON.stringify(l['err']).slice(0, 300) : ''}`).join('\n');
const logged = (engine: Engine, pattern: RegExp) => engine.lines.find((l) => pattern.test(String(l['msg'])));
async function readyz(engine: Engine): Promise<{ status: number; body: { status: string; checks: Record<string, { ok: boolean; error?: string }> } }> {
  const response = await fetch(`${engine.opsUrl!}/readyz`);
  return { status: response.status, body: (await response.json()) as never };
}
/** Child processes of `pid` (the sandbox's anvil), from /proc. */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) children.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return children;
}
const alive = (pid: number) => existsSync(`/proc/${pid}`);

function killGroup(engine: Engine, signal: NodeJS.Signals): void {
  try {
    process.kill(-engine.child.pid!, signal);
  } catch {
    // Already gone.
  }
}

describe('two engines on one PostgreSQL database (npm start, sandbox)', function () {
  this.timeout(120_000);
  let t: TestDatabase;
  const dataDir = mkdtempSync(join(tmpdir(), 'vanta-two-mains-'));
  const otherDir = mkdtempSync(join(tmpdir(), 'vanta-two-mains-b-'));
  const engines: Engine[] = [];
  before(async () => {
    t = await createTestPostgres('two_mains');
  });
  after(async () => {
    for (const e of engines) killGroup(e, 'SIGKILL');
    await t.destroy();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(otherDir, { recursive: true, force: true });
  });

  it('the second waits as a standby (in /readyz and the log); killed with SIGKILL, the owner is replaced within 5 s; an owner woken from SIGSTOP after a takeover exits and did nothing', async () => {
    const env = { DATABASE_URL: t.url, DATA_DIR: dataDir };
    const first = startEngine(env);
    engines.push(first);
    await waitFor(() => logged(first, /^Vanta is running$/) !== undefined, 'the first engine to run', 60_000);
    const second = startEngine(env);
    engines.push(second);
    await waitFor(() => logged(second, /^Standby: the engine lease is held by/) !== undefined && second.opsUrl !== null, 'the second engine to wait as a standby', 30_000);

    const standby = await readyz(second);
    assert.equal(standby.status, 503);
    assert.match(standby.body.checks['lease']!.error!, /^standby: lease held by [^ ]+:\d+:[0-9a-f]{6} \(epoch 1\)$/);
    assert.equal((await readyz(first)).status, 200, 'the owner is ready');
    assert.equal(logged(second, /^Devnet running$/), undefined, 'a standby starts nothing that the owner owns');

    // The sandbox chain the standby will resume: wait for anvil to have saved the deployed state.
    const devnet = join(dataDir, 'devnet');
    await waitFor(() => {
      try {
        return statSync(join(devnet, 'anvil-state.json')).mtimeMs > statSync(join(devnet, 'deployment.json')).mtimeMs;
      } catch {
        return false;
      }
    }, 'the devnet state to be saved', 20_000);

    // The engine dies with SIGKILL. Its sandbox chain stands in for an external node here, so it is
    // stopped cleanly (SIGTERM: anvil saves its state whole; killed mid-save, the file is cut short).
    const devnetProcesses = childrenOf(first.child.pid!);
    const killed = performance.now();
    first.child.kill('SIGKILL');
    for (const pid of devnetProcesses) process.kill(pid, 'SIGTERM');
    await waitFor(() => !devnetProcesses.some(alive), 'the first engine\'s devnet to stop', 5_000);
    let ready = false;
    while (!ready && performance.now() - killed < 15_000) {
      ready = (await readyz(second).catch(() => ({ status: 0 }))).status === 200;
      if (!ready) await sleep(50);
    }
    const tookMs = performance.now() - killed;
    assert.ok(ready, `the standby became ready; it says ${JSON.stringify((await readyz(second).catch(() => null))?.body)}, and logged:\n${tail(second)}`);
    assert.ok(tookMs < 5_000, `ready ${Math.round(tookMs)} ms after the owner's SIGKILL`);
    assert.match(String(logged(second, /^Took the engine lease/)?.['msg']), /^Took the engine lease \(epoch 2\)/);
    const restored = logged(second, /^Restored actor tree$/);
    assert.ok(Number(restored?.['restored']) >= 8, 'the price-feed actors of the first engine are restored');

    // A third engine (its own sandbox chain) waits behind the second; the second is paused past its lease.
    const third = startEngine({ DATABASE_URL: t.url, DATA_DIR: otherDir });
    engines.push(third);
    await waitFor(() => logged(third, /^Standby: the engine lease is held by/) !== undefined, 'the third engine to wait', 30_000);
    killGroup(second, 'SIGSTOP');
    await waitFor(() => logged(third, /^Vanta is running$/) !== undefined, 'the third engine to take over', 60_000);
    const before = await t.db.sql<{ id: string; version: number }>(`select id, version from actor_snapshots order by id`);
    killGroup(second, 'SIGCONT');
    const exit = await second.exited;
    assert.equal(exit.code, 75, 'the woken owner exits with EX_TEMPFAIL (restarted, it waits as a standby)');
    assert.ok(logged(second, /lost its lease to another engine: every actor stopped without writing/), 'and says why');
    const third_ready = await readyz(third);
    assert.equal(third_ready.status, 200);
    const rows = await t.db.sql<{ id: string; version: number }>(`select id, version from actor_snapshots order by id`);
    assert.ok(rows.every((r) => (before.find((b) => b.id === r.id)?.version ?? 0) <= r.version), 'nothing went backwards');
    assert.equal(exit.code, 75);
    // A standby stopped while it waits exits cleanly too.
    const fourth = startEngine({ DATABASE_URL: t.url, DATA_DIR: otherDir });
    engines.push(fourth);
    await waitFor(() => logged(fourth, /^Standby: the engine lease is held by/) !== undefined, 'the fourth engine to wait', 30_000);
    killGroup(fourth, 'SIGTERM');
    assert.equal((await fourth.exited).code, 0, 'a standby stopped by SIGTERM exits 0');
    assert.equal(logged(fourth, /^Failed to start/), undefined);

    killGroup(third, 'SIGTERM');
    assert.equal((await third.exited).code, 0, 'a standby-turned-owner shuts down cleanly');
    const lease = await t.db.sql<{ expired: boolean }>(`select expires_at <= now() as expired from engine_lease`);
    assert.deepEqual(lease, [{ expired: true }], 'and hands the lease over at once');
  });
});
