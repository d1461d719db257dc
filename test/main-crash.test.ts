/**
 * The sandbox (`npm start`) against what a laptop does to it: the engine killed alone, its whole
 * process group killed, a kill in the middle of a chain save, Ctrl-C, a lost state file. Each run
 * is the real engine as a child process on its own DATA_DIR; orders go through the real order
 * path (position actor → order gateway → outbox pipeline → devnet keeper).
 *
 * Every crash lands right after the database recorded a new chain fact (an order's open
 * transaction mined, the position waiting for its fill), the moment a chain that lags the
 * database would show. After each, the restart must come back on a chain holding everything the
 * database remembers, or refuse with a message naming the fix.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, watch } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Address, Hex } from 'viem';
import type { OrderGateway } from '../src/actors/order-gateway.ts';
import { createDatabase } from '../src/infra/db/database.ts';
import { createDevnetClients } from '../src/infra/devnet/clients.ts';
import type { AvantisDeployment } from '../src/infra/devnet/deploy.ts';
import { createSimReads } from '../src/infra/devnet/sim-reads.ts';
import { silentLogger } from './helpers/common.ts';
import { testSystem, topState, waitFor } from './helpers/runtime.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const USER = 'user:601';

interface Engine {
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[];
  readonly inspectorUrl: string;
  readonly rpcUrl: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `node src/main.ts` as `npm start` runs it, in its own process group (like a terminal's job). */
function spawnEngine(dataDir: string): { child: ChildProcess; lines: Record<string, unknown>[]; exited: Engine['exited']; onLine: (fn: (l: Record<string, unknown>) => void) => void } {
  const child = spawn(process.execPath, [MAIN], {
    detached: true,
    env: { PATH: process.env['PATH'] ?? '', DATA_DIR: dataDir, OPS_PORT: '0', INSPECTOR_PORT: '0', SANDBOX_CHAT_PORT: '0', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: Record<string, unknown>[] = [];
  const listeners: ((l: Record<string, unknown>) => void)[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      entry = { msg: line };
    }
    lines.push(entry);
    for (const fn of listeners) fn(entry);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { child, lines, exited, onLine: (fn) => listeners.push(fn) };
}

async function startEngine(dataDir: string): Promise<Engine> {
  const { child, lines, exited, onLine } = spawnEngine(dataDir);
  const urls: Record<string, string> = {};
  await new Promise<void>((resolve, reject) => {
    void exited.then(({ code, signal }) => {
      reject(new Error(`the engine exited (${code ?? signal}) before it was running: ${fatalMessage(lines) || 'no fatal line'}`));
    });
    onLine((entry) => {
      if (entry['component'] === 'inspector-http' && typeof entry['url'] === 'string') urls['inspector'] = entry['url'];
      if (entry['msg'] === 'Devnet running' && typeof entry['rpcUrl'] === 'string') urls['rpc'] = entry['rpcUrl'];
      if (entry['msg'] === 'Vanta is running') resolve();
    });
  });
  return { child, lines, exited, inspectorUrl: urls['inspector']!, rpcUrl: urls['rpc']! };
}

/** An engine that must refuse to start: resolves with its exit code and log (or stops it, if it started anyway). */
async function refusedStart(dataDir: string): Promise<{ code: number | null; started: boolean; lines: Record<string, unknown>[] }> {
  const { child, lines, exited, onLine } = spawnEngine(dataDir);
  let started = false;
  onLine((entry) => {
    if (entry['msg'] === 'Vanta is running') {
      started = true;
      process.kill(-child.pid!, 'SIGINT');
    }
  });
  const { code } = await exited;
  return { code, started, lines };
}

function fatalMessage(lines: readonly Record<string, unknown>[]): string {
  const msg = lines.find((l) => l['level'] === 60)?.['msg'];
  return typeof msg === 'string' ? msg : '';
}

async function actorState(engine: Engine, id: string): Promise<string | undefined> {
  const body = (await (await fetch(`${engine.inspectorUrl}/api/actors`)).json()) as { actors: { id: string; state: unknown }[] };
  const actor = body.actors.find((a) => a.id === id);
  return actor ? topState({ value: actor.state }) : undefined;
}

/** Waits until the actor is in one of `states` ('a|b'). */
async function waitForState(engine: Engine, id: string, states: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = await actorState(engine, id);
    if (now !== undefined && states.split('|').includes(now)) return;
    if (Date.now() > deadline) throw new Error(`${id} is ${now ?? 'absent'}, not ${states}, after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Every live anvil serving this DATA_DIR's chain, found by its command line or its environment. */
function sandboxAnvils(dataDir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'latin1');
      if (!cmdline.includes('anvil')) continue;
      const environ = readFileSync(`/proc/${entry}/environ`, 'latin1');
      if (!cmdline.includes(dataDir) && !environ.includes(dataDir)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      if (stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z') continue;
      pids.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours
    }
  }
  return pids;
}

/** A gateway that never sends: seeding leaves the order exactly where a trader's request leaves it. */
function neverSubmits(): OrderGateway {
  const never = <T>() => new Promise<T>(() => {});
  return { submitOpen: never, followOpen: never, submitClose: never, followClose: never, watchTrade: never };
}

/** Adds a trader's market order to a stopped sandbox's database, as the bot front end will. */
async function placeOrder(dataDir: string, positionId: string): Promise<void> {
  const db = await createDatabase({ target: { kind: 'pglite', dir: join(dataDir, 'pglite') }, logger: silentLogger() });
  try {
    const runtime = testSystem(db, { orders: neverSubmits(), fillTimeoutMs: 120_000 });
    await runtime.boot();
    if (!runtime.get(USER)) runtime.spawn(USER, { input: { telegramId: 601, maxOpenPositions: 10 } });
    runtime.send(USER, { type: 'order.requested', positionId, pair: 'ETH/USD', pairIndex: 0, side: 'long', collateral: '50', leverage: 5 });
    await waitFor(() => runtime.get(`position:${positionId}`) !== undefined, `position:${positionId}`, 10_000);
    await runtime.flushed();
    await runtime.stop();
  } finally {
    await db.close();
  }
}

interface Ledger {
  readonly wallets: Address[];
  readonly mined: { id: string; hash: Hex; block: bigint; wallet: Address; nonce: number }[];
  readonly positions: Record<string, { value: string; tradeIndex: number | null }>;
}

/** What the database of a stopped sandbox remembers about the chain. */
async function readLedger(dataDir: string): Promise<Ledger> {
  const db = await createDatabase({ target: { kind: 'pglite', dir: join(dataDir, 'pglite') }, logger: silentLogger() });
  try {
    const wallets = await db.sql<{ address: string }>('select address from wallets');
    const mined = await db.sql<{ id: string; mined_hash: string; block_number: string; wallet: string; nonce: string }>(
      "select id, mined_hash, block_number, wallet, nonce from tx_intents where status = 'mined' order by block_number",
    );
    const positions = await db.sql<{ id: string; snapshot: { value: unknown; context: { tradeIndex?: number | null } } }>("select id, snapshot from actor_snapshots where kind = 'position'");
    return {
      wallets: wallets.map((w) => w.address as Address),
      mined: mined.map((m) => ({ id: m.id, hash: m.mined_hash as Hex, block: BigInt(m.block_number), wallet: m.wallet as Address, nonce: Number(m.nonce) })),
      positions: Object.fromEntries(positions.map((p) => [p.id, { value: topState(p.snapshot) ?? '', tradeIndex: p.snapshot.context.tradeIndex ?? null }])),
    };
  } finally {
    await db.close();
  }
}

/** The restarted chain holds every fact the database remembered before the restart. */
async function assertChainHolds(engine: Engine, dataDir: string, ledger: Ledger): Promise<void> {
  const clients = createDevnetClients(engine.rpcUrl, 31337);
  const { publicClient } = clients;
  assert.ok(ledger.mined.length > 0, 'the database remembers mined transactions');
  for (const m of ledger.mined) {
    const receipt = await publicClient.getTransactionReceipt({ hash: m.hash }).catch(() => null);
    assert.ok(receipt, `${m.id} (${m.hash}, block ${m.block}) is mined according to the database but missing from the restarted chain`);
    assert.equal(receipt.blockNumber, m.block, `${m.id} is in the block the database recorded`);
  }
  for (const wallet of ledger.wallets) {
    const used = ledger.mined.filter((m) => m.wallet.toLowerCase() === wallet.toLowerCase());
    const nonce = await publicClient.getTransactionCount({ address: wallet });
    assert.ok(nonce >= used.length, `wallet ${wallet}: ${used.length} transactions mined according to the database, ${nonce} on the chain`);
    assert.ok((await publicClient.getBalance({ address: wallet })) > 0n, `wallet ${wallet} still has its test ETH`);
  }
  // Open positions are trades on chain (a fill the last save missed is filled again by the keeper).
  const deployment = JSON.parse(readFileSync(join(dataDir, 'devnet', 'deployment.json'), 'utf8')) as AvantisDeployment;
  const reads = createSimReads(publicClient, deployment);
  const trader = ledger.wallets[0]!;
  for (const [id, p] of Object.entries(ledger.positions)) {
    if (p.value !== 'open' || p.tradeIndex === null) continue;
    await waitFor(async () => (await reads.openTrade(trader, 0n, BigInt(p.tradeIndex!))).leverage > 0n, `${id}'s trade on the restarted chain`, 10_000);
  }
}

async function killAndWait(engine: Engine, target: 'engine' | 'group'): Promise<void> {
  if (target === 'engine') engine.child.kill('SIGKILL');
  else process.kill(-engine.child.pid!, 'SIGKILL');
  const { signal } = await engine.exited;
  assert.equal(signal, 'SIGKILL');
}

describe('npm start survives what a laptop does to it (crashes, Ctrl-C, a lost state file)', function () {
  this.timeout(180_000);
  const dirs: string[] = [];
  const engines: Engine[] = [];
  const track = (engine: Engine) => (engines.push(engine), engine);
  const sandboxDir = (label: string) => {
    const dir = mkdtempSync(join(tmpdir(), `vanta-crash-${label}-`));
    dirs.push(dir);
    return dir;
  };
  afterEach(async () => {
    // Whatever a failed case left behind must not leak into the next one.
    for (const engine of engines.splice(0)) {
      if (engine.child.exitCode === null && engine.child.signalCode === null) {
        process.kill(-engine.child.pid!, 'SIGKILL');
        await engine.exited;
      }
    }
    for (const dir of dirs) for (const pid of sandboxAnvils(dir)) process.kill(pid, 'SIGKILL');
  });
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  /** A sandbox whose first order has just been mined: the outbox says so, the fill is pending. */
  async function orderJustMined(label: string): Promise<{ dataDir: string; engine: Engine }> {
    const dataDir = sandboxDir(label);
    await placeOrder(dataDir, 'o1');
    const engine = track(await startEngine(dataDir));
    // The keeper may fill it before we look: either way the open was recorded as mined just now.
    await waitForState(engine, 'position:o1', 'awaitingFill|open');
    return { dataDir, engine };
  }

  /** Restarts after a crash and checks the chain against what the database held before it. */
  async function restartHolds(dataDir: string, expectMined: string): Promise<Engine> {
    const ledger = await readLedger(dataDir);
    assert.ok(ledger.mined.some((m) => m.id === expectMined), `the database recorded ${expectMined} as mined`);
    const engine = track(await startEngine(dataDir));
    await assertChainHolds(engine, dataDir, ledger);
    await waitForState(engine, 'position:o1', 'open');
    return engine;
  }

  async function stopWithCtrlC(engine: Engine): Promise<{ code: number | null; ms: number }> {
    const started = Date.now();
    process.kill(-engine.child.pid!, 'SIGINT');
    const { code } = await engine.exited;
    return { code, ms: Date.now() - started };
  }

  /** The kernel kills anvil when its parent dies, a moment after the parent is gone. */
  async function anvilGone(dataDir: string): Promise<void> {
    const started = Date.now();
    while (sandboxAnvils(dataDir).length > 0) {
      assert.ok(Date.now() - started < 2_000, `anvil kept running after the engine was killed (pids ${sandboxAnvils(dataDir).join(', ')})`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('SIGKILL of the engine alone: anvil dies with it, and the restart is on a chain holding every mined transaction', async () => {
    const { dataDir, engine } = await orderJustMined('alone');
    await killAndWait(engine, 'engine');
    await anvilGone(dataDir);
    const again = await restartHolds(dataDir, 'position:o1:open');
    assert.equal((await stopWithCtrlC(again)).code, 0);
  });

  it('SIGKILL of the whole process group right after an order was mined: the restart has that order on chain', async () => {
    const { dataDir, engine } = await orderJustMined('group');
    await killAndWait(engine, 'group');
    await anvilGone(dataDir);
    const again = await restartHolds(dataDir, 'position:o1:open');
    assert.equal((await stopWithCtrlC(again)).code, 0);
  });

  it('SIGKILL in the middle of a chain save: the state file is whole and the restart holds every mined transaction', async () => {
    const { dataDir, engine } = await orderJustMined('mid-save');
    // Kill the group the moment the next save starts writing (anvil-state.json or its temp file).
    let fired = false;
    const watcher = watch(join(dataDir, 'devnet'), (_event, name) => {
      if (!fired && name?.startsWith('anvil-state.json')) {
        fired = true;
        process.kill(-engine.child.pid!, 'SIGKILL');
      }
    });
    try {
      await engine.exited;
    } finally {
      watcher.close();
    }
    assert.ok(fired, 'killed during a save');
    const torn = readdirSync(join(dataDir, 'devnet')).filter((n) => n.includes('.tmp-'));
    console.log(`      ${torn.length ? `the kill landed mid-write (${torn.join(', ')} left behind)` : 'the save finished its rename before the kill landed'}`);
    const again = await restartHolds(dataDir, 'position:o1:open');
    for (const name of torn) assert.equal(existsSync(join(dataDir, 'devnet', name)), false, `the restart removed the half-written ${name}`);
    assert.equal((await stopWithCtrlC(again)).code, 0);
  });

  it('Ctrl-C (SIGINT to the process group) exits 0 within about 2 s with the database closed, every time', async () => {
    const dataDir = sandboxDir('ctrl-c');
    const stops: number[] = [];
    for (let round = 0; round < 3; round++) {
      const engine = track(await startEngine(dataDir));
      // At a different moment of the price simulator's cycle each time.
      await new Promise((r) => setTimeout(r, 300 + Math.random() * 1_200));
      const { code, ms } = await stopWithCtrlC(engine);
      stops.push(ms);
      const done = engine.lines.find((l) => l['msg'] === 'Shut down');
      assert.equal(code, 0, `round ${round}: exit code after ${ms} ms (${JSON.stringify(done ?? engine.lines.slice(-3))})`);
      assert.ok(ms < 2_500, `round ${round}: stopped in ${ms} ms`);
      assert.ok(done, 'the shutdown finished');
      assert.deepEqual(done['failed'], [], 'every resource closed');
      assert.ok((done['closed'] as string[]).includes('database'), 'the database was closed');
      assert.deepEqual(sandboxAnvils(dataDir), [], 'anvil stopped with it');
    }
    console.log(`      stop times after SIGINT: ${stops.join(', ')} ms`);
    assert.ok(Math.max(...stops) < 2_500, `every stop within ~2 s (${stops.join(', ')} ms)`);
  });

  it('a missing state file with a non-empty database is refused with the fix; putting the file back brings the sandbox back', async () => {
    const { dataDir, engine } = await orderJustMined('missing');
    assert.equal((await stopWithCtrlC(engine)).code, 0);
    const stateFile = join(dataDir, 'devnet', 'anvil-state.json');
    const ledger = await readLedger(dataDir);
    renameSync(stateFile, `${stateFile}.bak`);
    const refused = await refusedStart(dataDir);
    assert.equal(refused.started, false, 'a fresh chain was started under the old wallets and orders');
    assert.notEqual(refused.code, 0);
    const fatal = fatalMessage(refused.lines);
    assert.match(fatal, new RegExp(`${stateFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is missing, but the database has 1 wallet and \\d+ transactions`));
    assert.match(fatal, /Restore .* from a backup, or start a fresh sandbox: stop the engine and delete /);
    assert.equal(existsSync(stateFile), false, 'no fresh chain was saved in its place');
    assert.deepEqual(sandboxAnvils(dataDir), []);

    renameSync(`${stateFile}.bak`, stateFile);
    const again = track(await startEngine(dataDir));
    await assertChainHolds(again, dataDir, ledger);
    assert.equal((await stopWithCtrlC(again)).code, 0);
  });
});
