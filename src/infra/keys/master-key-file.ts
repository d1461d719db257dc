import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { KeyError } from './errors.ts';
import { withFileLock } from './file-lock.ts';

/**
 * The local keystore's master key file, `DATA_DIR/keys/master-keys.json`:
 * versioned AES-256 keys, the current version and the minimum that still
 * opens. It is the state the engine and `npm run keys:rotate` share when the
 * local keystore is used, so:
 * - every write is atomic (a 0600 temp file, fsync, rename over, fsync of the
 *   directory): a reader or a crash sees the old file or the new, never half;
 * - every write is a read-modify-write of the file as it is on disk *now*,
 *   under a lock file that other processes respect, so two writers never
 *   both add "version N+1";
 * - every read carries a stamp of the file it read (device, inode, size,
 *   mtime, ctime from the same open descriptor), so a holder can tell cheaply
 *   whether the file was replaced since.
 */

export const MASTER_KEY_FILE = 'keys/master-keys.json';

const fileSchema = z.object({
  format: z.literal(1),
  current: z.number().int().positive(),
  minDecryptionVersion: z.number().int().positive(),
  keys: z.record(z.string().regex(/^[1-9]\d*$/), z.string().regex(/^[A-Za-z0-9+/]{43}=$/)),
});
export type MasterKeys = z.infer<typeof fileSchema>;

export interface LoadedMasterKeys {
  readonly keys: MasterKeys;
  /** Identifies the file that was read; compare with `stampOf(path)`. */
  readonly stamp: string;
}

/** The file as it is now, or null when there is none. Throws KEYSTORE_CONFIG when it is unsafe or unusable. */
export async function readMasterKeys(path: string): Promise<LoadedMasterKeys | null> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  let text: string;
  let stamp: string;
  try {
    // Stat and read through one descriptor: the stamp is that of the very bytes read, even if the file is replaced meanwhile.
    const info = await handle.stat({ bigint: true });
    if ((info.mode & 0o077n) !== 0n) {
      throw new KeyError('KEYSTORE_CONFIG', `The master key file ${path} is readable by other users (mode ${(info.mode & 0o777n).toString(8)}); run chmod 600 ${path} and restart.`);
    }
    stamp = stampFrom(info);
    text = await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
  return { keys: parseMasterKeys(path, text), stamp };
}

/** The stamp of the file at `path` now, or null when there is none. */
export async function stampOf(path: string): Promise<string | null> {
  try {
    return stampFrom(await stat(path, { bigint: true }));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** Creates a fresh file with version 1, unless another process created one first: answers the file that is there. */
export async function createMasterKeys(path: string): Promise<{ readonly keys: MasterKeys; readonly created: boolean }> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  return withFileLock(lockPath(path), { what: `the master key file ${path}` }, async () => {
    const existing = await readMasterKeys(path);
    if (existing) return { keys: existing.keys, created: false };
    const fresh: MasterKeys = { format: 1, current: 1, minDecryptionVersion: 1, keys: { '1': randomBytes(32).toString('base64') } };
    await writeAtomically(path, fresh);
    return { keys: fresh, created: true };
  });
}

/**
 * Applies `change` to the file as it is on disk, under the cross-process
 * lock, and writes the result atomically. `change` may throw to refuse.
 */
export async function updateMasterKeys(path: string, change: (current: MasterKeys) => MasterKeys): Promise<MasterKeys> {
  return withFileLock(lockPath(path), { what: `the master key file ${path}` }, async () => {
    const current = await readMasterKeys(path);
    if (!current) throw missingFile(path);
    const next = fileSchema.parse(change(current.keys));
    await writeAtomically(path, next);
    return next;
  });
}

export function corruptFile(path: string, why: string): KeyError {
  return new KeyError('KEYSTORE_CONFIG', `The master key file ${path} is unusable: ${why}. Restore it from backup; do not delete it, or every wallet it seals is lost.`);
}

export function missingFile(path: string): KeyError {
  return new KeyError('KEYSTORE_CONFIG', `The master key file ${path} has disappeared. Restore it from its backup (docs/operations-keys.md, "Backing up the master key") before Vanta restarts, or every wallet it seals is lost.`);
}

function parseMasterKeys(path: string, text: string): MasterKeys {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw corruptFile(path, 'it is not JSON');
  }
  const parsed = fileSchema.safeParse(json);
  if (!parsed.success) throw corruptFile(path, `${parsed.error.issues[0]?.path.join('.') ?? 'root'} ${parsed.error.issues[0]?.message ?? 'is invalid'}`);
  if (parsed.data.keys[String(parsed.data.current)] === undefined) throw corruptFile(path, `version ${parsed.data.current} is current but has no key`);
  return parsed.data;
}

function stampFrom(info: { dev: bigint; ino: bigint; size: bigint; mtimeNs: bigint; ctimeNs: bigint }): string {
  return `${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
}

function lockPath(path: string): string {
  return `${path}.lock`;
}

/** Write a sibling file with mode 0600, flush it, rename it over, flush the directory: a crash leaves the old file or the new, never half. */
async function writeAtomically(path: string, content: MasterKeys): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  const handle = await open(temp, 'wx', 0o600);
  try {
    try {
      await handle.writeFile(`${JSON.stringify(content, null, 2)}\n`, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await chmod(temp, 0o600);
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  // The rename itself is durable only once the directory entry is on disk.
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
