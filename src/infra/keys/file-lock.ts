import { randomBytes } from 'node:crypto';
import { link, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { KeyError } from './errors.ts';

/**
 * A lock file shared by processes on one host: whoever creates `<path>`
 * with O_EXCL holds it, and writes who it is (pid, host) so a lock left by a
 * process that died can be taken over. Node has no flock(); O_EXCL creation
 * is atomic on local file systems, which is where DATA_DIR lives.
 *
 * Takeover renames the stale file aside first and checks it moved the one it
 * judged stale, so two processes finding the same stale lock do not both
 * delete it and then each other's fresh one. (Three processes racing for a
 * lock whose holder died at that very moment could still both win; the
 * master key file has one writer in practice, `npm run keys:rotate`.)
 */

export interface FileLockOptions {
  /** What the lock guards, for the message when it cannot be had. */
  readonly what: string;
  /** Give up after this long (default 15 s): writers hold it for one file write. */
  readonly timeoutMs?: number;
  readonly pollMs?: number;
}

interface Holder {
  readonly pid: number;
  readonly host: string;
  readonly nonce: string;
  readonly since: string;
}

/** A lock file that cannot be parsed is a holder still writing it, unless it is this old. */
const UNREADABLE_STALE_MS = 60_000;

export async function withFileLock<T>(path: string, options: FileLockOptions, fn: () => Promise<T>): Promise<T> {
  const me: Holder = { pid: process.pid, host: hostname(), nonce: randomBytes(8).toString('hex'), since: new Date().toISOString() };
  await acquire(path, me, options);
  try {
    return await fn();
  } finally {
    await release(path, me);
  }
}

async function acquire(path: string, me: Holder, options: FileLockOptions): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  for (;;) {
    if (await tryCreate(path, me)) return;
    const holder = await readHolder(path);
    if (holder === 'gone') continue;
    if (await isStale(path, holder)) {
      await takeOver(path, holder);
      continue;
    }
    if (Date.now() >= deadline) {
      const who = holder === 'unreadable' ? 'another process' : `process ${holder.pid} on ${holder.host} (since ${holder.since})`;
      throw new KeyError(
        'KEYSTORE_CONFIG',
        `Cannot lock ${options.what}: ${who} holds ${path}. Wait for it (a running npm run keys:rotate?) and try again; if no Vanta process runs on that host any more, delete ${path}.`,
        {},
        { retryable: true },
      );
    }
    await sleep(options.pollMs ?? 25);
  }
}

async function tryCreate(path: string, me: Holder): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    await handle.writeFile(JSON.stringify(me), 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  return true;
}

async function readHolder(path: string): Promise<Holder | 'gone' | 'unreadable'> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw error;
  }
  try {
    const parsed = JSON.parse(text) as Partial<Holder>;
    if (typeof parsed.pid === 'number' && typeof parsed.host === 'string' && typeof parsed.nonce === 'string') return parsed as Holder;
  } catch {
    // A holder between creating the file and writing it, or one that died there.
  }
  return 'unreadable';
}

async function isStale(path: string, holder: Holder | 'unreadable'): Promise<boolean> {
  if (holder === 'unreadable') {
    const info = await stat(path).catch(() => null);
    return info !== null && Date.now() - info.mtimeMs > UNREADABLE_STALE_MS;
  }
  // Only this host's processes can be checked; another host's lock waits for its owner (or the operator).
  return holder.host === hostname() && !alive(holder.pid);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function takeOver(path: string, stale: Holder | 'unreadable'): Promise<void> {
  const aside = `${path}.stale-${randomBytes(4).toString('hex')}`;
  try {
    await rename(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const moved = await readHolder(aside);
  const same = stale === 'unreadable' ? moved === 'unreadable' : typeof moved === 'object' && moved.nonce === stale.nonce;
  // We moved a lock someone took in the meantime: put it back where its holder expects it.
  if (!same) await link(aside, path).catch(() => undefined);
  await unlink(aside).catch(() => undefined);
}

async function release(path: string, me: Holder): Promise<void> {
  const holder = await readHolder(path).catch(() => 'gone' as const);
  if (typeof holder === 'object' && holder.nonce === me.nonce) await unlink(path).catch(() => undefined);
}
