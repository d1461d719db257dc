import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseEther, type Address, type Hex } from 'viem';
import { OWNER_DIR_ENV, OWNER_PID_ENV, defaultAnvilBinary, startAnvil } from '../../../src/infra/devnet/anvil.ts';
import { createDevnetClients } from '../../../src/infra/devnet/clients.ts';
import { DevnetError } from '../../../src/infra/devnet/errors.ts';
import type { LedgerFacts } from '../../../src/infra/devnet/ledger.ts';
import { findSandboxAnvils, stopLeftoverAnvils } from '../../../src/infra/devnet/leftover-anvil.ts';
import { removeStaleTemps } from '../../../src/infra/devnet/state-file.ts';
import { anvilStateSource, createStateSaver } from '../../../src/infra/devnet/state-saver.ts';
import { startDevnet } from '../../../src/infra/devnet/start-devnet.ts';
import { silentLogger } from '../../helpers/common.ts';

const WORKER = fileURLToPath(new URL('./fixtures/state-worker.ts', import.meta.url));

interface Worker {
  readonly child: ChildProcess;
  /** Resolves with the first line the worker prints whose `at` is `at`. */
  next(at: string): Promise<Record<string, unknown>>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function worker(mode: string, target: string): Worker {
  const child = spawn(process.execPath, [WORKER, mode, target], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: Record<string, unknown>[] = [];
  const listeners: (() => void)[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(JSON.parse(line) as Record<string, unknown>);
    for (const l of listeners) l();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    exited,
    next: (at) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const found = lines.find((l) => l['at'] === at);
          if (found) resolve(found);
        };
        listeners.push(check);
        check();
        void exited.then(({ code, signal }) => reject(new Error(`worker exited (${code ?? signal}) before "${at}"`)));
      }),
  };
}

function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function until(predicate: () => boolean, label: string, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (!predicate()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - started;
}

const tempDirs: string[] = [];
function tempDir(label: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `vanta-${label}-`));
  tempDirs.push(dir);
  return dir;
}

describe('sandbox chain durability', function () {
  this.timeout(60_000);
  after(() => {
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  });

  describe('atomic state file', function () {
    it('a crash between the finished temp file and the rename leaves the previous file whole; the next start removes the temp', async function () {
      const file = path.join(tempDir('atomic'), 'anvil-state.json');
      const w = worker('torn-rename', file);
      await w.next('before-rename');
      assert.equal((await w.exited).signal, 'SIGKILL');
      assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { generation: 1 }, 'the last complete state, untouched');
      const dir = path.dirname(file);
      assert.equal(readdirSync(dir).filter((n) => n.includes('.tmp-')).length, 1, 'the unfinished write is a separate file');
      assert.equal((await removeStaleTemps(file)).length, 1);
      assert.deepEqual(readdirSync(dir), ['anvil-state.json']);
    });

    it('a process killed at random instants while saving never leaves a torn or empty state file, and anvil loads the last one', async function () {
      const dir = tempDir('saveloop');
      const file = path.join(dir, 'anvil-state.json');
      let midWrite = 0;
      for (let round = 0; round < 4; round++) {
        const w = worker('save-loop', dir);
        const { anvilPid } = (await w.next('saving')) as { anvilPid: number };
        if (round % 2 === 0) {
          await new Promise((r) => setTimeout(r, Math.random() * 60));
          w.child.kill('SIGKILL');
        } else {
          // The moment a save opens its temporary file: the kill lands in the middle of the write.
          const watcher = watch(dir, (_event, name) => {
            if (name?.includes('.tmp-')) w.child.kill('SIGKILL');
          });
          await w.exited;
          watcher.close();
        }
        await w.exited;
        if (readdirSync(dir).some((n) => n.includes('.tmp-'))) midWrite += 1;
        if (processAlive(anvilPid)) process.kill(anvilPid, 'SIGKILL'); // only where setpriv is missing
        const state = JSON.parse(readFileSync(file, 'utf8')) as { best_block_number: string | number };
        assert.ok(Number(state.best_block_number) >= 300, `round ${round}: a complete state (block ${state.best_block_number})`);
        await removeStaleTemps(file);
      }
      const best = Number((JSON.parse(readFileSync(file, 'utf8')) as { best_block_number: string | number }).best_block_number);
      const anvil = await startAnvil({ loadStatePath: file });
      try {
        const clients = createDevnetClients(anvil.rpcUrl, anvil.chainId);
        assert.equal(Number(await clients.publicClient.getBlockNumber({ cacheTime: 0 })), best, 'anvil resumes at the saved block');
      } finally {
        await anvil.stop();
      }
      assert.ok(midWrite >= 1, 'at least one kill landed in the middle of a save');
    });
  });

  describe('durableThrough', function () {
    it('resolves only once a saved state holds the block, and that state brings the transaction back', async function () {
      const dir = tempDir('barrier');
      const file = path.join(dir, 'anvil-state.json');
      const anvil = await startAnvil({ ownerDir: dir });
      const clients = createDevnetClients(anvil.rpcUrl, anvil.chainId);
      // Saves nobody waits for are held back a minute: only the barrier can cause this one.
      const saver = createStateSaver({ file, ...anvilStateSource(anvil.rpcUrl), logger: silentLogger() }, { minIntervalMs: 60_000, pollMs: 20 });
      let hash: Hex;
      let block: bigint;
      try {
        await saver.save();
        saver.start();
        const [from, to] = (await clients.accounts()) as [Address, Address];
        hash = await clients.wallet(from).sendTransaction({ to, value: parseEther('1') });
        block = (await clients.publicClient.waitForTransactionReceipt({ hash, timeout: 10_000 })).blockNumber;
        assert.ok(saver.savedThrough < block, 'not saved yet');
        const started = Date.now();
        await saver.durableThrough(block);
        assert.ok(saver.savedThrough >= block);
        assert.ok(Date.now() - started < 2_000, 'a waiter gets a save at once');
      } finally {
        await saver.stop();
        await anvil.stop();
      }
      const restored = await startAnvil({ loadStatePath: file });
      try {
        const receipt = await createDevnetClients(restored.rpcUrl, restored.chainId).publicClient.getTransactionReceipt({ hash });
        assert.equal(receipt.blockNumber, block, 'the transaction is on the restored chain, in the same block');
      } finally {
        await restored.stop();
      }
    });

    it('gives up the last save on stop after its budget, keeping the previous file (a long chain takes seconds to dump)', async function () {
      const file = path.join(tempDir('slow-dump'), 'anvil-state.json');
      let head = 1n;
      let slow = false;
      const saver = createStateSaver(
        {
          file,
          head: () => Promise.resolve(head),
          dump: async () => {
            const block = head;
            if (slow) await new Promise((r) => setTimeout(r, 1_000));
            return { block, json: Buffer.from(JSON.stringify({ best_block_number: Number(block) })) };
          },
          logger: silentLogger(),
        },
        { minIntervalMs: 60_000 },
      );
      await saver.save();
      saver.start();
      head = 2n;
      slow = true;
      const started = Date.now();
      await saver.stop({ finalSave: true, finalSaveBudgetMs: 200 });
      assert.ok(Date.now() - started < 800, `stop took ${Date.now() - started} ms`);
      assert.equal(saver.savedThrough, 1n);
      assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { best_block_number: 1 });
    });

    it('refuses, retryably, when no save can hold the block (anvil is gone)', async function () {
      const dir = tempDir('barrier-dead');
      const anvil = await startAnvil({ ownerDir: dir });
      const saver = createStateSaver({ file: path.join(dir, 'anvil-state.json'), ...anvilStateSource(anvil.rpcUrl), logger: silentLogger() }, { waitTimeoutMs: 300, pollMs: 20 });
      saver.start();
      await anvil.stop();
      await assert.rejects(saver.durableThrough(5n), (err: unknown) => err instanceof DevnetError && err.code === 'DEVNET_STATE_NOT_SAVED' && err.retryable);
      await saver.stop();
    });
  });

  describe('anvil never outlives the engine', function () {
    it('dies with the process that started it, even one killed with SIGKILL', async function () {
      const dir = tempDir('pdeathsig');
      const w = worker('anvil', dir);
      const { anvilPid, diesWithParent } = (await w.next('anvil')) as { anvilPid: number; diesWithParent: boolean };
      if (!diesWithParent) {
        process.kill(anvilPid, 'SIGKILL');
        this.skip(); // no setpriv here: the next test covers what happens then
      }
      assert.ok(processAlive(anvilPid));
      w.child.kill('SIGKILL');
      await w.exited;
      const ms = await until(() => !processAlive(anvilPid), 'anvil to die with its parent', 2_000);
      assert.ok(ms < 1_000, `anvil was gone ${ms} ms after its parent`);
    });

    it('a leftover anvil whose engine is gone is found by its state directory and stopped at the next start', async function () {
      const dir = tempDir('leftover');
      // An orphan, as a killed engine without setpriv leaves it: re-parented, marked with our directory.
      const shell = spawn('sh', ['-c', `"${defaultAnvilBinary()}" --port 0 --silent >/dev/null 2>&1 & echo $!`], {
        env: { ...process.env, [OWNER_DIR_ENV]: path.resolve(dir), [OWNER_PID_ENV]: '999999' },
        stdio: ['ignore', 'pipe', 'ignore'],
        detached: true,
      });
      const pid = Number(await new Promise<string>((resolve) => shell.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()))));
      await until(() => processAlive(pid), 'the orphan to run', 2_000);
      // The shell forked it; until it has exec'd anvil, /proc shows the shell, whose own command line
      // names anvil too: wait for the program itself (argv[0]) to be anvil (a busy machine takes a while).
      await until(() => /anvil$/.test(readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0')[0] ?? ''), 'the orphan to be anvil', 5_000);
      const found = await findSandboxAnvils(dir);
      assert.deepEqual(found.map((a) => [a.pid, a.ownerAlive]), [[pid, false]]);
      assert.deepEqual(await findSandboxAnvils(tempDir('other')), [], 'another directory has none');
      assert.equal(await stopLeftoverAnvils(dir, silentLogger()), 1);
      assert.equal(processAlive(pid), false, 'stopped before the state is loaded');
    });

    it("refuses to start on a state directory whose engine is still running, and leaves that engine's anvil alone", async function () {
      const dir = tempDir('in-use');
      const anvil = await startAnvil({ ownerDir: dir });
      try {
        await assert.rejects(stopLeftoverAnvils(dir, silentLogger()), (err: unknown) => err instanceof DevnetError && err.code === 'DEVNET_IN_USE' && err.message.includes(String(process.pid)));
        assert.ok(processAlive(anvil.pid));
      } finally {
        await anvil.stop();
      }
    });
  });

  describe('restored chain against the database', function () {
    const empty: LedgerFacts = { walletCount: 0, transactionCount: 0, wallets: [], usedNonces: [], latestMined: [] };
    const ledger = (facts: Partial<LedgerFacts>) => ({ read: () => Promise.resolve({ ...empty, ...facts }) });
    const resetHint = 'delete the test directory';

    it('refuses a missing state file when the database remembers the chain, naming the file and the fix', async function () {
      const dir = tempDir('missing');
      await assert.rejects(startDevnet({ logger: silentLogger(), stateDir: dir, resetHint, ledger: ledger({ walletCount: 3, transactionCount: 12 }) }), (err: unknown) => {
        assert.ok(err instanceof DevnetError && err.code === 'DEVNET_STATE_MISSING', String(err));
        assert.match(err.message, /anvil-state\.json is missing, but the database has 3 wallets and 12 transactions/);
        assert.match(err.message, /Restore .*anvil-state\.json from a backup, or start a fresh sandbox: delete the test directory/);
        return true;
      });
      assert.equal(existsSync(path.join(dir, 'deployment.json')), false, 'nothing was started or deployed');
    });

    it('refuses an empty or cut-short state file, saying how to recover', async function () {
      const dir = tempDir('damaged');
      const file = path.join(dir, 'anvil-state.json');
      writeFileSync(file, '');
      await assert.rejects(startDevnet({ logger: silentLogger(), stateDir: dir, resetHint }), (err: unknown) => err instanceof DevnetError && err.code === 'DEVNET_STATE_DAMAGED' && /is empty/.test(err.message));
      writeFileSync(file, '{"block":{"number":"0x1"},"accounts":{');
      await assert.rejects(startDevnet({ logger: silentLogger(), stateDir: dir, resetHint }), (err: unknown) => {
        assert.ok(err instanceof DevnetError && err.code === 'DEVNET_STATE_DAMAGED', String(err));
        assert.match(err.message, /cannot be loaded \(.*EOF.*\)\. Restore it from a backup, or start a fresh sandbox: delete the test directory/);
        return true;
      });
      assert.deepEqual(await findSandboxAnvils(dir), [], 'the refused anvil is not left running');
    });

    it('comes back on the same chain; funds again a wallet the chain never funded; refuses a chain behind the database', async function () {
      this.timeout(120_000);
      const dir = tempDir('restore');
      const first = await startDevnet({ logger: silentLogger(), stateDir: dir, resetHint, ledger: ledger({}) });
      const funded = '0x00000000000000000000000000000000000000f1' as Address;
      const unfunded = '0x00000000000000000000000000000000000000f2' as Address;
      let mint: { hash: Hex; blockNumber: bigint };
      try {
        assert.equal(first.restored, false);
        await first.faucet(funded);
        const latest = await first.clients.publicClient.getBlock({ includeTransactions: true });
        const tx = latest.transactions[0]!;
        mint = { hash: tx.hash, blockNumber: latest.number };
      } finally {
        await first.stop();
      }

      const facts = { walletCount: 2, transactionCount: 1, wallets: [funded, unfunded], latestMined: [{ id: 'faucet-mint', ...mint }] };
      const second = await startDevnet({ logger: silentLogger(), stateDir: dir, resetHint, ledger: ledger(facts) });
      try {
        assert.equal(second.restored, true);
        assert.equal((await second.clients.publicClient.getTransactionReceipt({ hash: mint.hash })).blockNumber, mint.blockNumber);
        assert.equal(await second.clients.publicClient.getBalance({ address: funded }), parseEther('10'));
        assert.equal(await second.clients.publicClient.getBalance({ address: unfunded }), parseEther('10'), 'funded again at start');
      } finally {
        await second.stop();
      }

      const lost = '0x' + 'ab'.repeat(32);
      const behind = { ...facts, latestMined: [{ id: 'position:p1:open', hash: lost as Hex, blockNumber: mint.blockNumber + 1_000_000n }], usedNonces: [{ wallet: funded, nonce: 4 }] };
      await assert.rejects(startDevnet({ logger: silentLogger(), stateDir: dir, resetHint, ledger: ledger(behind) }), (err: unknown) => {
        assert.ok(err instanceof DevnetError && err.code === 'DEVNET_STATE_MISMATCH', String(err));
        assert.match(err.message, /is behind the database \(2 wallets, 1 transaction\)/);
        assert.ok(err.message.includes(`transaction ${lost} (position:p1:open) was mined in block ${mint.blockNumber + 1_000_000n} according to the database, but the chain has no such transaction`));
        assert.ok(err.message.includes(`wallet ${funded} sent 5 transactions according to the database, but only 0 on the chain`));
        assert.match(err.message, /start a fresh sandbox: delete the test directory/);
        return true;
      });
      assert.deepEqual(await findSandboxAnvils(dir), [], 'the refused start stopped its anvil');
    });
  });
});
