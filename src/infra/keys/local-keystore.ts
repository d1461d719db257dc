import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Mode } from '../config.ts';
import { KeyError } from './errors.ts';
import { createKeyStore, type ItemResult, type KeyCipher, type KeyStore } from './keystore.ts';
import { corruptFile, createMasterKeys, MASTER_KEY_FILE, missingFile, readMasterKeys, stampOf, updateMasterKeys, type LoadedMasterKeys } from './master-key-file.ts';

/**
 * The embedded keystore: AES-256-GCM under versioned master keys kept in a
 * 0600 file under DATA_DIR. Ciphertexts read `local:v<N>:<base64(iv|tag|ct)>`
 * and bind the user id as additional authenticated data, so a ciphertext
 * moved to another user's row does not open. Rotation adds a version; rewrap
 * moves ciphertexts onto it; raising the minimum retires the old ones, as
 * with Vault transit.
 *
 * The file is shared with other processes (`npm run keys:rotate` rotates
 * while the engine runs), so this keystore never trusts its copy blindly:
 * - before sealing or opening it checks, with one stat, whether the file was
 *   replaced since it read it, and reads it again if so: new wallets are
 *   sealed with the newest version and a raised minimum is honoured;
 * - a ciphertext of a version it does not hold makes it read the file again
 *   before giving up, whatever the stat said;
 * - `versions()` always reads the file: it is what callers check a new
 *   wallet's version against before storing it (wallets.ts);
 * - its own changes are read-modify-writes of the file on disk under a
 *   cross-process lock (master-key-file.ts), never of its copy.
 * If the file becomes unreadable while running, the keys already read keep
 * signing, no new wallet is sealed, and `health()` says what to restore.
 */

export { MASTER_KEY_FILE } from './master-key-file.ts';

export interface LocalKeyStoreOptions {
  readonly dataDir: string;
  readonly mode: Mode;
  /** ALLOW_LOCAL_KEYSTORE_IN_LIVE: the operator knowingly keeps keys outside Vault in live mode. */
  readonly allowInLive: boolean;
  readonly logger: Logger;
  /**
   * How many wallets the database holds. When the master key file is
   * missing, a new one is created only if this answers 0: a new key would
   * orphan every stored wallet. The engine and the rotation command pass it
   * (from-config.ts); leave it out only for a throwaway DATA_DIR with no
   * database behind it (tests, benches).
   */
  readonly countWallets?: () => Promise<number>;
}

const PREFIX = /^local:v([1-9]\d{0,8}):([A-Za-z0-9+/]+={0,2})$/;
const IV_BYTES = 12;
const TAG_BYTES = 16;

export async function createLocalKeyStore(options: LocalKeyStoreOptions): Promise<KeyStore> {
  if (options.mode === 'live' && !options.allowInLive) {
    throw new KeyError('KEYSTORE_CONFIG', 'Live mode keeps wallet keys under Vault transit: set VAULT_ADDR with VAULT_TOKEN or VAULT_ROLE_ID/VAULT_SECRET_ID (or, knowingly, ALLOW_LOCAL_KEYSTORE_IN_LIVE=true).');
  }
  const path = join(options.dataDir, MASTER_KEY_FILE);
  let state: LoadedMasterKeys = await loadOrCreate(path, options);
  /** Why the file on disk could not be read lately, for health(); null when it could. */
  let problem: string | null = null;

  const refresher = createRefresher(async (force) => {
    try {
      if (!force && (await stampOf(path)) === state.stamp) {
        problem = null;
        return;
      }
      const loaded = await readMasterKeys(path);
      if (!loaded) throw missingFile(path);
      state = loaded;
      problem = null;
    } catch (error) {
      const message = error instanceof KeyError ? error.message : `The master key file ${path} cannot be read: ${(error as Error).message}`;
      if (message !== problem) options.logger.error({ path, err: { message } }, 'Cannot read the master key file; signing goes on with the keys already read');
      problem = message;
    }
  });

  let writes: Promise<unknown> = Promise.resolve();
  /** This process's own writes one at a time (the file lock orders them against other processes). */
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = writes.then(fn, fn);
    writes = next.catch(() => undefined);
    return next;
  };
  const keyOf = (version: number): Buffer | null => {
    const b64 = state.keys.keys[String(version)];
    return b64 === undefined ? null : Buffer.from(b64, 'base64');
  };
  /** A ciphertext of a version this copy of the file does not hold: the file may have a newer one. */
  const unknownVersion = (ciphertext: string): boolean => {
    const match = typeof ciphertext === 'string' ? PREFIX.exec(ciphertext) : null;
    return match !== null && keyOf(Number(match[1])) === null;
  };
  const freshFor = async (items: readonly { readonly ciphertext: string }[]) => {
    await refresher.refresh(false);
    if (items.some((item) => unknownVersion(item.ciphertext))) await refresher.refresh(true);
  };
  const sealCurrent = (userId: string, plaintext: Uint8Array): ItemResult<{ ciphertext: string; keyVersion: number }> => {
    const version = state.keys.current;
    const key = keyOf(version);
    if (!key) return { ok: false, error: corruptFile(path, `version ${version} is current but has no key`) };
    return { ok: true, value: { ciphertext: encrypt(key, version, userId, plaintext), keyVersion: version } };
  };

  const cipher: KeyCipher = {
    kind: 'local',
    async seal(userId, plaintext) {
      await refresher.refresh(false);
      // A wallet sealed now would live only as long as this process's copy of the keys.
      if (problem !== null) throw new KeyError('KEYSTORE_CONFIG', `${problem} No new wallet is created until it is back.`, { userId });
      const sealed = sealCurrent(userId, plaintext);
      if (!sealed.ok) throw sealed.error;
      return sealed.value;
    },
    async open(items) {
      await freshFor(items);
      return items.map((item) => openOne(item.userId, item.ciphertext));
    },
    async rewrap(items) {
      await freshFor(items);
      return items.map((item): ItemResult<{ ciphertext: string; keyVersion: number }> => {
        const opened = openOne(item.userId, item.ciphertext);
        if (!opened.ok) return opened;
        try {
          return sealCurrent(item.userId, opened.value);
        } finally {
          opened.value.fill(0);
        }
      });
    },
    rotate: () =>
      serial(async () => {
        let version = 0;
        await updateMasterKeys(path, (file) => {
          version = Math.max(...Object.keys(file.keys).map(Number)) + 1;
          return { ...file, current: version, keys: { ...file.keys, [String(version)]: randomBytes(32).toString('base64') } };
        });
        await refresher.refresh(true);
        options.logger.info({ key_version: version }, 'Rotated the local master key');
        return version;
      }),
    setMinDecryptionVersion: (version) =>
      serial(async () => {
        await updateMasterKeys(path, (file) => {
          if (!Number.isInteger(version) || version < 1 || version > file.current) {
            throw new KeyError('KEYSTORE_CONFIG', `min_decryption_version must be between 1 and the current version ${file.current}, not ${version}.`);
          }
          return { ...file, minDecryptionVersion: version };
        });
        await refresher.refresh(true);
      }),
    async versions() {
      await refresher.refresh(true);
      if (problem !== null) throw new KeyError('KEYSTORE_CONFIG', problem);
      return { latestVersion: state.keys.current, minDecryptionVersion: state.keys.minDecryptionVersion };
    },
    versionOf: (ciphertext) => parse(ciphertext, null).version,
    async health() {
      await refresher.refresh(false);
      if (problem !== null) return { ok: false, kind: 'local', detail: problem, latestVersion: state.keys.current };
      return { ok: true, kind: 'local', detail: `local keystore at ${path}, key version ${state.keys.current}`, latestVersion: state.keys.current };
    },
    close: () => writes.then(() => refresher.idle()),
  };

  function openOne(userId: string, ciphertext: string): ItemResult<Uint8Array> {
    try {
      const { version, payload } = parse(ciphertext, userId);
      const minimum = state.keys.minDecryptionVersion;
      if (version < minimum) {
        return {
          ok: false,
          error: new KeyError('KEY_VERSION_RETIRED', `User ${userId}'s key is sealed with local key version ${version}, below the minimum ${minimum}; it was not rewrapped in time. Lower minDecryptionVersion in ${path} to recover it, then rewrap.`, {
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

/**
 * Runs `load` so that a caller's refresh always starts after the caller
 * asked: one that arrives while a read is under way waits for the next read
 * (joined by everyone else arriving meanwhile) instead of taking an answer
 * that may predate it. Reads never overlap, so an older read cannot
 * overwrite a newer one.
 */
function createRefresher(load: (force: boolean) => Promise<void>) {
  let running: Promise<void> | null = null;
  let queued: { force: boolean; promise: Promise<void> } | null = null;
  const start = (force: boolean): Promise<void> => {
    const run = load(force).finally(() => {
      if (running === run) running = null;
    });
    running = run;
    return run;
  };
  return {
    refresh(force: boolean): Promise<void> {
      if (queued) {
        queued.force ||= force;
        return queued.promise;
      }
      if (!running) return start(force);
      const next: { force: boolean; promise: Promise<void> } = { force, promise: Promise.resolve() };
      next.promise = running.then(() => {
        queued = null;
        return start(next.force);
      });
      queued = next;
      return next.promise;
    },
    async idle(): Promise<void> {
      while (running || queued) await (queued?.promise ?? running);
    },
  };
}

async function loadOrCreate(path: string, options: LocalKeyStoreOptions): Promise<LoadedMasterKeys> {
  const existing = await readMasterKeys(path);
  if (existing) return existing;
  const stored = (await options.countWallets?.()) ?? 0;
  if (stored > 0) {
    throw new KeyError(
      'KEYSTORE_CONFIG',
      `The master key file ${path} is missing, but the database holds ${stored} wallet${stored === 1 ? '' : 's'} sealed under a master key. Vanta will not create a new key: it would orphan every one of them. Restore ${path} from its backup (mode 0600, owned by the user Vanta runs as; see docs/operations-keys.md, "Backing up the master key") and start again.`,
      { path, wallets: stored },
    );
  }
  if (options.mode === 'live') options.logger.warn({ path }, 'Creating a local master key file in live mode (ALLOW_LOCAL_KEYSTORE_IN_LIVE=true); back it up now');
  const { created } = await createMasterKeys(path);
  if (created) options.logger.info({ path }, 'Created the local master key file; back it up apart from the database (docs/operations-keys.md)');
  const loaded = await readMasterKeys(path);
  if (!loaded) throw missingFile(path);
  return loaded;
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
