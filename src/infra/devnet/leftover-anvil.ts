import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { OWNER_DIR_ENV, OWNER_PID_ENV } from './anvil.ts';
import { DevnetError } from './errors.ts';

/**
 * Finds the anvil processes a sandbox left running on a state directory, and stops them before
 * a new one loads the state. anvil normally dies with the engine (setpriv --pdeathsig), but not
 * where setpriv is missing or when the engine died in the instant between spawning anvil and
 * the kernel arming that signal. A leftover anvil would keep serving an old chain nobody saves.
 *
 * The processes are found by the environment the engine gave them (`VANTA_DEVNET_STATE_DIR`,
 * readable in /proc/<pid>/environ for our own processes), not by a pid file: a pid file can be
 * missing (a crash before it is written) or name a recycled pid.
 */
export interface SandboxAnvil {
  readonly pid: number;
  /** The engine that started it, still alive and still its parent: another sandbox is running. */
  readonly ownerAlive: boolean;
  readonly ownerPid: number;
}

const PROC = '/proc';

/** Every live anvil whose environment names this state directory (Linux /proc). */
export async function findSandboxAnvils(stateDir: string, proc = PROC): Promise<SandboxAnvil[]> {
  const marker = `${OWNER_DIR_ENV}=${path.resolve(stateDir)}`;
  let entries: string[];
  try {
    entries = await readdir(proc);
  } catch {
    return []; // no /proc: nothing to find (the anvil binary we ship is Linux-only anyway)
  }
  const found: SandboxAnvil[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    const environ = await readFile(path.join(proc, entry, 'environ'), 'latin1').catch(() => null);
    if (environ === null) continue; // gone, or another user's process
    const vars = environ.split('\0');
    if (!vars.includes(marker)) continue;
    // The mark is inherited by anything anvil's launcher ran in between (setpriv, a shell): only anvil counts.
    const cmdline = await readFile(path.join(proc, entry, 'cmdline'), 'latin1').catch(() => '');
    if (path.basename(cmdline.split('\0')[0] ?? '') !== 'anvil') continue;
    const stat = await readFile(path.join(proc, entry, 'stat'), 'latin1').catch(() => null);
    if (stat === null || processState(stat) === 'Z') continue;
    const ownerPid = Number(vars.find((v) => v.startsWith(`${OWNER_PID_ENV}=`))?.slice(OWNER_PID_ENV.length + 1) ?? -1);
    // The parent pid only stays the engine's while that engine lives: an orphan is re-parented.
    found.push({ pid, ownerPid, ownerAlive: parentPid(stat) === ownerPid });
  }
  return found;
}

/**
 * Stops every orphaned anvil of this state directory (SIGKILL: it holds nothing worth saving,
 * the state file is written by the engine only) and waits until each is gone. Refuses when the
 * anvil's engine is still alive: two sandboxes on one directory would overwrite each other.
 */
export async function stopLeftoverAnvils(stateDir: string, logger: Logger, options: { proc?: string; waitMs?: number } = {}): Promise<number> {
  const proc = options.proc ?? PROC;
  const anvils = await findSandboxAnvils(stateDir, proc);
  const live = anvils.find((a) => a.ownerAlive);
  if (live) {
    throw new DevnetError(
      'DEVNET_IN_USE',
      `Another engine (pid ${live.ownerPid}) is running the sandbox chain in ${stateDir} (its anvil is pid ${live.pid}). Stop that engine first; two engines on one DATA_DIR would overwrite each other's chain.`,
    );
  }
  for (const anvil of anvils) {
    try {
      process.kill(anvil.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + (options.waitMs ?? 5_000);
  for (const anvil of anvils) {
    while (await alive(proc, anvil.pid)) {
      if (Date.now() > deadline) throw new DevnetError('DEVNET_START_FAILED', `A leftover anvil (pid ${anvil.pid}) on ${stateDir} did not stop after SIGKILL. Stop it by hand, then start again.`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  if (anvils.length) {
    logger.warn({ pids: anvils.map((a) => a.pid), stateDir }, 'Stopped an anvil left running by an engine that did not shut down; its chain is reloaded from the saved state');
  }
  return anvils.length;
}

async function alive(proc: string, pid: number): Promise<boolean> {
  const stat = await readFile(path.join(proc, String(pid), 'stat'), 'latin1').catch(() => null);
  return stat !== null && processState(stat) !== 'Z';
}

/** /proc/<pid>/stat is "pid (comm) state ppid …"; comm may hold spaces and parentheses. */
function afterComm(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

function processState(stat: string): string {
  return afterComm(stat)[0] ?? '';
}

function parentPid(stat: string): number {
  return Number(afterComm(stat)[1] ?? -1);
}
