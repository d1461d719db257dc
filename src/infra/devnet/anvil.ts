import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import { DevnetError } from './errors.ts';

/** A running anvil: its JSON-RPC URL, chain id, and the only way to end it. */
export interface Anvil {
  readonly rpcUrl: string;
  readonly chainId: number;
  readonly pid: number;
  /** True when the kernel kills anvil if this process dies, however it dies (setpriv --pdeathsig). */
  readonly diesWithParent: boolean;
  /** Kills the process (SIGTERM, then SIGKILL) and resolves once it has exited. Idempotent. */
  readonly stop: () => Promise<void>;
}

export interface AnvilOptions {
  readonly logger?: Logger;
  /** Default 31337 (anvil's own), so nothing mistakes the devnet for Base. */
  readonly chainId?: number;
  /** Seconds between blocks; omitted = a block per transaction (automine). */
  readonly blockTimeSeconds?: number;
  /** Default: the anvil binary of the `@foundry-rs/anvil-linux-amd64` npm package. */
  readonly binaryPath?: string;
  readonly startupTimeoutMs?: number;
  /**
   * A state file to start from (`--load-state`, anvil's JSON dump format). anvil itself never
   * writes state: its own `--state` writes are not atomic (a crash mid-write leaves a torn file),
   * so the sandbox saves through `anvil_dumpState` instead (see state-saver.ts).
   */
  readonly loadStatePath?: string;
  /**
   * Marks the process as the anvil of this state directory (an environment variable readable in
   * /proc), so a later start can find and stop one left behind (see leftover-anvil.ts).
   */
  readonly ownerDir?: string;
}

/** Environment variables that mark an anvil as a sandbox's: its state directory and its parent. */
export const OWNER_DIR_ENV = 'VANTA_DEVNET_STATE_DIR';
export const OWNER_PID_ENV = 'VANTA_DEVNET_OWNER_PID';

const DEFAULT_CHAIN_ID = 31337;
const STOP_GRACE_MS = 3_000;
const STDERR_TAIL_CHARS = 2_000;

/** The anvil binary shipped in the npm package pinned in package.json. */
export function defaultAnvilBinary(): string {
  const require = createRequire(import.meta.url);
  const packageJson = require.resolve('@foundry-rs/anvil-linux-amd64/package.json');
  return path.join(path.dirname(packageJson), 'bin', 'anvil');
}

/**
 * Starts anvil on 127.0.0.1 at a free port and resolves once `eth_chainId` answers.
 *
 * anvil must never outlive this process, or it would keep a chain running that nobody saves:
 * - the kernel kills it when this process dies, even by SIGKILL (`setpriv --pdeathsig KILL`,
 *   util-linux; without setpriv the next start finds it instead, see leftover-anvil.ts);
 * - it runs in its own process group, so a terminal's Ctrl-C reaches only the engine, which
 *   saves the chain and then stops anvil itself (a Ctrl-C that also hit anvil would kill the
 *   chain under the engine's last receipts and the final save);
 * - it is killed when Node exits without stop().
 */
export async function startAnvil(options: AnvilOptions = {}): Promise<Anvil> {
  const chainId = options.chainId ?? DEFAULT_CHAIN_ID;
  const port = await freePort();
  const args = ['--host', '127.0.0.1', '--port', String(port), '--chain-id', String(chainId), '--silent'];
  if (options.blockTimeSeconds !== undefined) args.push('--block-time', String(options.blockTimeSeconds));
  if (options.loadStatePath !== undefined) args.push('--load-state', options.loadStatePath);

  const binary = options.binaryPath ?? defaultAnvilBinary();
  const setpriv = setprivPath();
  const [command, commandArgs] = setpriv ? [setpriv, ['--pdeathsig', 'KILL', '--', binary, ...args]] : [binary, args];
  const env = { ...process.env, [OWNER_PID_ENV]: String(process.pid), ...(options.ownerDir ? { [OWNER_DIR_ENV]: path.resolve(options.ownerDir) } : {}) };
  const child = spawn(command, commandArgs, { stdio: ['ignore', 'ignore', 'pipe'], detached: true, env });
  const anvilProcess = trackProcess(child);
  const rpcUrl = `http://127.0.0.1:${port}`;
  try {
    await waitForRpc(rpcUrl, chainId, anvilProcess, options.startupTimeoutMs ?? 15_000);
  } catch (error) {
    await anvilProcess.stop();
    throw error;
  }
  if (!setpriv) options.logger?.warn('setpriv (util-linux) was not found: if the engine is killed, anvil keeps running until the next start stops it');
  options.logger?.debug({ rpcUrl, chainId, pid: child.pid, diesWithParent: setpriv !== null }, 'anvil started');
  return { rpcUrl, chainId, pid: child.pid ?? -1, diesWithParent: setpriv !== null, stop: anvilProcess.stop };
}

/** setpriv from util-linux (Debian's base system has it), or null where it is missing. */
function setprivPath(): string | null {
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter).concat('/usr/bin', '/bin')) {
    if (!dir) continue;
    const candidate = path.join(dir, 'setpriv');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

interface TrackedProcess {
  readonly exited: Promise<void>;
  readonly hasExited: () => boolean;
  readonly stderrTail: () => string;
  readonly stop: () => Promise<void>;
}

function trackProcess(child: ChildProcess): TrackedProcess {
  let stderr = '';
  let exitedFlag = false;
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_TAIL_CHARS);
  });
  const exited = new Promise<void>((resolve) => {
    const done = () => {
      exitedFlag = true;
      resolve();
    };
    child.once('exit', done);
    child.once('error', (error) => {
      stderr += `\n${error.message}`;
      done();
    });
  });
  // Last resort against orphans: a synchronous kill when Node exits without stop().
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      if (!exitedFlag) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
        await exited;
        clearTimeout(timer);
      }
      child.stderr?.destroy();
      process.removeListener('exit', killOnExit);
    })();
    return stopping;
  };
  return { exited, hasExited: () => exitedFlag, stderrTail: () => stderr.trim(), stop };
}

async function waitForRpc(rpcUrl: string, chainId: number, child: TrackedProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.hasExited()) {
      throw new DevnetError('DEVNET_START_FAILED', `anvil exited during start-up: ${child.stderrTail() || 'no output'}`);
    }
    const answered = await rpcChainId(rpcUrl);
    if (answered !== null) {
      if (answered !== chainId) throw new DevnetError('DEVNET_START_FAILED', `anvil answered chain id ${answered}, expected ${chainId}`);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new DevnetError('DEVNET_START_FAILED', `anvil did not answer eth_chainId at ${rpcUrl} within ${timeoutMs} ms`, { retryable: true });
}

/** The chain id anvil reports, or null while it is not listening yet. */
async function rpcChainId(rpcUrl: string): Promise<number | null> {
  try {
    const response = await fetch(rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
      signal: AbortSignal.timeout(1_000),
    });
    const body = (await response.json()) as { result?: string };
    return typeof body.result === 'string' ? Number.parseInt(body.result, 16) : null;
  } catch {
    return null;
  }
}

/** Asks the OS for a free loopback port. Another process could take it before anvil binds it;
 * anvil then exits at once and start-up fails with its message rather than hanging. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (address !== null && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
