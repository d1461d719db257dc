import { open, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * Files that must never be seen half-written: the saved chain and its deployment. A crash at any
 * instant leaves either the previous complete file or the new complete file, never a torn or
 * empty one, because the new content goes to a temporary file in the same directory, is flushed
 * to disk (fsync), and only then renamed over the old name (atomic on POSIX), after which the
 * directory itself is flushed so the rename survives a power cut too.
 */
export interface AtomicWriteHooks {
  /** Runs after the temporary file is complete and flushed, before the rename: the crash tests' seam. */
  readonly beforeRename?: (tempPath: string) => Promise<void> | void;
}

const TEMP_MARK = '.tmp-';
let sequence = 0;

export async function writeFileAtomic(file: string, data: string | Uint8Array, hooks: AtomicWriteHooks = {}): Promise<void> {
  const temp = `${file}${TEMP_MARK}${process.pid}-${sequence++}`;
  try {
    const handle = await open(temp, 'w', 0o600);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await hooks.beforeRename?.(temp);
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  await syncDirectory(path.dirname(file));
}

/** Removes temporary files a crash left behind next to `file` (they are incomplete by definition). */
export async function removeStaleTemps(file: string): Promise<string[]> {
  const dir = path.dirname(file);
  const prefix = `${path.basename(file)}${TEMP_MARK}`;
  const names = await readdir(dir).catch(() => [] as string[]);
  const stale = names.filter((n) => n.startsWith(prefix));
  for (const name of stale) await rm(path.join(dir, name), { force: true });
  return stale;
}

export type StateFileStatus = { readonly kind: 'missing' } | { readonly kind: 'empty' } | { readonly kind: 'present'; readonly bytes: number };

/** Whether the saved chain exists, without reading it (it can be hundreds of megabytes). */
export async function stateFileStatus(file: string): Promise<StateFileStatus> {
  const info = await stat(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (info === null) return { kind: 'missing' };
  return info.size === 0 ? { kind: 'empty' } : { kind: 'present', bytes: info.size };
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
