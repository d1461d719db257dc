import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Mode } from '../config.ts';
import { KeyError } from './errors.ts';
import { createKeyStore, type ItemResult, type KeyCipher, type KeyStore } from './keystore.ts';

/**
 * The embedded keystore: AES-256-GCM under versioned master keys kept in a
 * 0600 file under DATA_DIR. Ciphertexts read `local:v<N>:<base64(iv|tag|ct)>`
 * and bind the user id as additional authenticated data, so a ciphertext
 * moved to another user's row does not open. Rotation adds a version; rewrap
 * moves ciphertexts onto it; raising the minimum retires the old ones, as
 * with Vault transit.
 */

export const MASTER_KEY_FILE = 'keys/master-keys.json';

export interface LocalKeyStoreOptions {
  readonly dataDir: string;
  readonly mode: Mode;
  /** ALLOW_LOCAL_KEYSTORE_IN_LIVE: the operator knowingly keeps keys outside Vault in live mode. */
  readonly allowInLive: boolean;
  readonly logger: Logger;
}

const fileSchema = z.object({
  format: z.literal(1),
  current: z.number().int().positive(),
  minDecryptionVersion: z.number().int().positive(),
  keys: z.record(z.string().regex(/^[1-9]\d*$/), z.string().regex(/^[A-Za-z0-9+/]{43}=$/)),
});
type MasterKeyFile = z.infer<typeof fileSchema>;

const PREFIX = /^local:v([1-9]\d{0,8}):([A-Za-z0-9+/]+={0,2})$/;
const IV_BYTES = 12;
const TAG_BYTES = 16;

export async function createLocalKeyStore(options: LocalKeyStoreOptions): Promise<KeyStore> {
  if (options.mode === 'live' && !options.allowInLive) {
    throw new KeyError('KEYSTORE_CONFIG', 'Live mode keeps wallet keys under Vault transit: set VAULT_ADDR with VAULT_TOKEN or VAULT_ROLE_ID/VAULT_SECRET_ID (or, knowingly, ALLOW_LOCAL_KEYSTORE_IN_LIVE=true).');
  }
  const path = join(options.dataDir, MASTER_KEY_FILE);
  let file = await loadOrCreate(path, options);
  let queue: Promise<unknown> = Promise.resolve();
  /** File updates run one at a time, so two rotations cannot both write "version N+1". */
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn, fn);
    queue = next.catch(() => undefined);
    return next;
  };
  const keyOf = (version: number): Buffer | null => {
    const b64 = file.keys[String(version)];
    return b64 === undefined ? null : Buffer.from(b64, 'base64');
  };

  const cipher: KeyCipher = {
    kind: 'local',
    seal(userId, plaintext) {
      const version = file.current;
      const key = keyOf(version);
      if (!key) return Promise.reject(corruptFile(path, `version ${version} is current but has no key`));
      return Promise.resolve({ ciphertext: encrypt(key, version, userId, plaintext), keyVersion: version });
    },
    open(items) {
      return Promise.resolve(items.map((item) => openOne(item.userId, item.ciphertext)));
    },
    rewrap(items) {
      return Promise.resolve(
        items.map((item): ItemResult<{ ciphertext: string; keyVersion: number }> => {
          const opened = openOne(item.userId, item.ciphertext);
          if (!opened.ok) return opened;
          try {
            const version = file.current;
            const key = keyOf(version);
            if (!key) return { ok: false, error: corruptFile(path, `version ${version} is current but has no key`) };
            return { ok: true, value: { ciphertext: encrypt(key, version, item.userId, opened.value), keyVersion: version } };
          } finally {
            opened.value.fill(0);
          }
        }),
      );
    },
    rotate: () =>
      serial(async () => {
        const version = Math.max(...Object.keys(file.keys).map(Number)) + 1;
        const next = { ...file, current: version, keys: { ...file.keys, [String(version)]: randomBytes(32).toString('base64') } };
        await writeAtomically(path, next);
        file = next;
        options.logger.info({ key_version: version }, 'Rotated the local master key');
        return version;
      }),
    setMinDecryptionVersion: (version) =>
      serial(async () => {
        if (!Number.isInteger(version) || version < 1 || version > file.current) {
          throw new KeyError('KEYSTORE_CONFIG', `min_decryption_version must be between 1 and the current version ${file.current}, not ${version}.`);
        }
        const next = { ...file, minDecryptionVersion: version };
        await writeAtomically(path, next);
        file = next;
      }),
    versions: () => Promise.resolve({ latestVersion: file.current, minDecryptionVersion: file.minDecryptionVersion }),
    versionOf: (ciphertext) => parse(ciphertext, null).version,
    health: () => Promise.resolve({ ok: true, kind: 'local', detail: `local keystore at ${path}, key version ${file.current}`, latestVersion: file.current }),
    close: () => queue.then(() => undefined),
  };

  function openOne(userId: string, ciphertext: string): ItemResult<Uint8Array> {
    try {
      const { version, payload } = parse(ciphertext, userId);
      if (version < file.minDecryptionVersion) {
        return {
          ok: false,
          error: new KeyError('KEY_VERSION_RETIRED', `User ${userId}'s key is sealed with local key version ${version}, below the minimum ${file.minDecryptionVersion}; it was not rewrapped in time. Lower minDecryptionVersion in ${path} to recover it, then rewrap.`, {
            userId,
            version,
          }),
        };
      }
      const key = keyOf(version);
      if (!key) return { ok: false, error: new KeyError('KEY_DECRYPT_FAILED', `User ${userId}'s key is sealed with local key version ${version}, which ${path} does not hold; restore the master key file from backup.`, { userId, version }) };
      return { ok: true, value: decrypt(key, userId, payload) };
    } catch (error) {
      if (error instanceof KeyError) return { ok: false, error };
      return {
        ok: false,
        error: new KeyError('KEY_DECRYPT_FAILED', `User ${userId}'s key does not authenticate: it was sealed for another user, altered, or under another master key file. It was not used.`, { userId }),
      };
    }
  }

  return createKeyStore(cipher);
}

function aad(userId: string): Buffer {
  return Buffer.from(`vanta:wallet-key:${userId}`, 'utf8');
}

function encrypt(key: Buffer, version: number, userId: string, plaintext: Uint8Array): string {
  const iv = randomBytes(IV_BYTES);
  const gcm = createCipheriv('aes-256-gcm', key, iv);
  gcm.setAAD(aad(userId));
  const body = Buffer.concat([gcm.update(plaintext), gcm.final()]);
  return `local:v${version}:${Buffer.concat([iv, gcm.getAuthTag(), body]).toString('base64')}`;
}

function decrypt(key: Buffer, userId: string, payload: Buffer): Uint8Array {
  const gcm = createDecipheriv('aes-256-gcm', key, payload.subarray(0, IV_BYTES));
  gcm.setAAD(aad(userId));
  gcm.setAuthTag(payload.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  return Buffer.concat([gcm.update(payload.subarray(IV_BYTES + TAG_BYTES)), gcm.final()]);
}

function parse(ciphertext: string, userId: string | null): { version: number; payload: Buffer } {
  const match = typeof ciphertext === 'string' ? PREFIX.exec(ciphertext) : null;
  const payload = match?.[2] === undefined ? null : Buffer.from(match[2], 'base64');
  if (!match || !payload || payload.length <= IV_BYTES + TAG_BYTES) {
    const whose = userId === null ? 'A stored key' : `User ${userId}'s stored key`;
    throw new KeyError('KEY_CIPHERTEXT_INVALID', `${whose} is not a local keystore ciphertext (expected local:v<N>:<base64>); it was not used. Check that the wallet row was written by this keystore.`, userId === null ? {} : { userId });
  }
  return { version: Number(match[1]), payload };
}

async function loadOrCreate(path: string, options: LocalKeyStoreOptions): Promise<MasterKeyFile> {
  let text: string;
  try {
    const info = await stat(path);
    if ((info.mode & 0o077) !== 0) {
      throw new KeyError('KEYSTORE_CONFIG', `The master key file ${path} is readable by other users (mode ${(info.mode & 0o777).toString(8)}); run chmod 600 ${path} and restart.`);
    }
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    if (options.mode === 'live') options.logger.warn({ path }, 'Creating a local master key file in live mode (ALLOW_LOCAL_KEYSTORE_IN_LIVE=true); back it up now');
    const fresh: MasterKeyFile = { format: 1, current: 1, minDecryptionVersion: 1, keys: { '1': randomBytes(32).toString('base64') } };
    await writeAtomically(path, fresh);
    options.logger.info({ path }, 'Created the local master key file');
    return fresh;
  }
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

function corruptFile(path: string, why: string): KeyError {
  return new KeyError('KEYSTORE_CONFIG', `The master key file ${path} is unusable: ${why}. Restore it from backup; do not delete it, or every wallet it seals is lost.`);
}

/** Write a sibling file with mode 0600, flush it, then rename over: a crash leaves the old file or the new, never half. */
async function writeAtomically(path: string, content: MasterKeyFile): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  const handle = await open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(content, null, 2)}\n`, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  await chmod(temp, 0o600);
  await rename(temp, path);
}
