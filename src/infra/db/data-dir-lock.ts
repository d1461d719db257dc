import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { LeaseHeldError } from '../../errors.ts';

/**
 * One process at a time on the embedded database (DESIGN.md "One owner at a time"). PGlite has
 * no server to arbitrate: two processes opening one directory both succeed and then corrupt it.
 * So, before PGlite opens anything, we create `<dir>.lock` with O_EXCL, holding who we are.
 *
 * - A lock whose process is gone (crash, kill -9) is stale and is replaced; a reused pid is told
 *   apart by the process start time (Linux /proc), so a stranger with our old pid does not count.
 * - Replacing a stale lock goes through a second O_EXCL file (`<lock>.takeover`), so two
 *   processes that both found it stale cannot both win: each re-reads the lock inside it.
 * - A lock written on another host (a shared volume) cannot be checked and is respected; the
 *   message says which file to delete if that host no longer runs Vanta.
 */
export interface DataDirLock {
  readonly path: string;
  /** Removes the lock if it is still ours. Idempotent. */
  release(): void;
}

interface LockOwner {
  readonly pid: number;
  readonly host: string;
  /** Process start time in clock ticks since boot (Linux), to tell a reused pid apart. */
  readonly startTicks: string | null;
  readonly since: string;
  readonly command: string;
  readonly token: string;
}

/** A takeover file older than this belongs to a process that died while replacing a stale lock. */
const TAKEOVER_STALE_MS = 10_000;
/** A lock file without a readable owner this old was left by a crash between create and write. */
const UNREADABLE_STALE_MS = 5_000;

/**
 * Takes the lock for `dir` or throws LeaseHeldError (code LEASE_HELD) naming the process that
 * holds it. `what` names the resource in the message ("the embedded database").
 */
export function lockDataDir(dir: string, what: string): DataDirLock {
  const path = `${dir.replace(/\/+$/, '')}.lock`;
  mkdirSync(dirname(path), { recursive: true });
  const me: LockOwner = {
    pid: process.pid,
    host: hostname(),
    startTicks: startTicksOf(process.pid),
    since: new Date().toISOString(),
    command: process.argv.slice(1).join(' ').slice(0, 200),
    token: randomBytes(8).toString('hex'),
  };
  let last: LockOwner | 'unreadable' = 'unreadable';
  for (let attempt = 0; attempt < 5; attempt++) {
    if (createExclusive(path, me)) return held(path, me);
    const current = readOwner(path);
    if (current === 'missing') continue;
    last = current;
    if (!isStale(path, current)) break;
    replaceStale(path, current, me);
    // Whether we replaced it or someone else did, we hold it only if it now names us.
    if (sameOwner(readOwner(path), me)) return held(path, me);
  }
  throw heldError(what, dir, path, last);
}

function held(path: string, me: LockOwner): DataDirLock {
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.removeListener('exit', release);
    if (sameOwner(readOwner(path), me)) {
      try {
        unlinkSync(path);
      } catch {
        // Already gone: nothing to release.
      }
    }
  };
  // A process that exits without closing the database (process.exit after an error) leaves no lock.
  process.once('exit', release);
  return { path, release };
}

function createExclusive(path: string, owner: LockOwner): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    writeSync(fd, `${JSON.stringify(owner)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return true;
}

function readOwner(path: string): LockOwner | 'missing' | 'unreadable' {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw err;
  }
  try {
    const parsed = JSON.parse(text) as Partial<LockOwner>;
    if (typeof parsed.pid === 'number' && typeof parsed.host === 'string' && typeof parsed.token === 'string') return parsed as LockOwner;
  } catch {
    // Fall through: a file being written this instant, or left half-written by a crash.
  }
  return 'unreadable';
}

function sameOwner(a: LockOwner | 'missing' | 'unreadable', b: LockOwner): boolean {
  return typeof a === 'object' && a.token === b.token;
}

function isStale(path: string, owner: LockOwner | 'unreadable'): boolean {
  if (owner === 'unreadable') return ageMs(path) > UNREADABLE_STALE_MS;
  if (owner.host !== hostname()) return false;
  if (!alive(owner.pid)) return true;
  const ticks = startTicksOf(owner.pid);
  return ticks !== null && owner.startTicks !== null && ticks !== owner.startTicks;
}

function replaceStale(path: string, stale: LockOwner | 'unreadable', me: LockOwner): void {
  const takeover = `${path}.takeover`;
  let fd: number;
  try {
    fd = openSync(takeover, 'wx', 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    if (ageMs(takeover) > TAKEOVER_STALE_MS) unlinkQuietly(takeover);
    return;
  }
  closeSync(fd);
  try {
    // Inside the takeover file nobody else replaces the lock: check it is still the stale one we judged.
    const now = readOwner(path);
    const unchanged = now === 'unreadable' ? stale === 'unreadable' : typeof now === 'object' && typeof stale === 'object' && now.token === stale.token;
    if (now === 'missing' || unchanged) {
      unlinkQuietly(path);
      createExclusive(path, me);
    }
  } finally {
    unlinkQuietly(takeover);
  }
}

function heldError(what: string, dir: string, path: string, owner: LockOwner | 'unreadable'): LeaseHeldError {
  if (owner === 'unreadable') {
    return new LeaseHeldError(`${capitalise(what)} in ${dir} is being opened by another process right now (${path} has no owner yet). Only one process may open it; try again in a few seconds.`, { path });
  }
  const elsewhere = owner.host !== hostname();
  const who = `pid ${owner.pid} on ${owner.host}${owner.command ? ` (${owner.command})` : ''}, since ${owner.since}`;
  const fix = elsewhere
    ? `If host ${owner.host} no longer runs Vanta on this directory, delete ${path}.`
    : `Stop that process first (the engine, npm run actors or npm run keys:rotate), or run engines on PostgreSQL (DATABASE_URL), where a second engine waits as a standby.`;
  return new LeaseHeldError(`${capitalise(what)} in ${dir} is in use by another process: ${who}. Only one process may open it at a time, so nothing was opened or changed. ${fix}`, {
    path,
    pid: owner.pid,
    host: owner.host,
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Field 22 of /proc/<pid>/stat (after the parenthesised command name, which may hold spaces). */
function startTicksOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Gone already.
  }
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
