import type { Logger } from 'pino';
import type { VantaError } from '../../errors.ts';
import { KeyError, VaultError } from './errors.ts';
import { createKeyStore, type ItemResult, type KeyCipher, type KeyStore } from './keystore.ts';
import type { BatchItem, Sealed, VaultClient } from './vault-client.ts';
import { classifyItemError } from './vault-errors.ts';

/**
 * Wallet keys sealed by Vault transit: one derived aes256-gcm96 key, the
 * user id as base64 derivation context (so each user's key is different and
 * a ciphertext does not open under another user), batches for many users at
 * once. Vault holds the key-encryption key; we hold only `vault:v<N>:`
 * ciphertexts.
 */

export interface VaultKeyStoreOptions {
  readonly client: VaultClient;
  readonly keyName: string;
  readonly logger: Logger;
  /** Items per Vault batch call (default 250): bounds request size and Vault's per-call latency. */
  readonly maxBatch?: number;
}

const KEY_TYPE = 'aes256-gcm96';
const CIPHERTEXT = /^vault:v([1-9]\d{0,8}):[A-Za-z0-9+/]+={0,2}$/;

/**
 * Logs in, makes sure the transit key exists and is derived (creating it on
 * first use when the token may: root or a development token; the engine's
 * least-privilege token may not, and is told how to create it), and returns
 * the keystore. A key that exists but is not derived is refused: it would not
 * bind ciphertexts to users.
 */
export async function createVaultKeyStore(options: VaultKeyStoreOptions): Promise<KeyStore> {
  const { client, keyName } = options;
  const maxBatch = options.maxBatch ?? 250;
  await client.start();
  await ensureKey(client, keyName, options.logger);
  const context = (userId: string) => Buffer.from(userId, 'utf8').toString('base64');

  /** Sends items in chunks of maxBatch; answers per item, in order. */
  async function chunked<I, O>(items: readonly I[], send: (chunk: readonly I[]) => Promise<O[]>): Promise<O[]> {
    const out: O[] = [];
    for (let i = 0; i < items.length; i += maxBatch) out.push(...(await send(items.slice(i, i + maxBatch))));
    return out;
  }

  const cipher: KeyCipher = {
    kind: 'vault',
    async seal(userId, plaintext) {
      const [result] = await client.encrypt(keyName, [{ input: Buffer.from(plaintext).toString('base64'), context: context(userId) }]);
      if (!result?.ok) throw new KeyError('KEY_DECRYPT_FAILED', `Vault did not seal user ${userId}'s new key: ${result?.error ?? 'no result'}. Nothing was stored; try again.`, { userId });
      return result.value;
    },
    async open(items) {
      const valid = validate(items);
      const answers = await chunked(valid.ok, (chunk) => client.decrypt(keyName, chunk.map((i) => ({ input: i.ciphertext, context: context(i.userId) }))));
      const opened = new Map(valid.ok.map((item, i) => [item, toItem(item.userId, answers[i], (b64) => Buffer.from(b64, 'base64'))]));
      return items.map((item) => valid.bad.get(item) ?? opened.get(item) ?? missing(item.userId));
    },
    async rewrap(items) {
      const valid = validate(items);
      const answers = await chunked(valid.ok, (chunk) => client.rewrap(keyName, chunk.map((i) => ({ input: i.ciphertext, context: context(i.userId) }))));
      const rewrapped = new Map(valid.ok.map((item, i) => [item, toItem(item.userId, answers[i], (s: Sealed) => s)]));
      return items.map((item) => valid.bad.get(item) ?? rewrapped.get(item) ?? missing(item.userId));
    },
    async rotate() {
      await client.rotateKey(keyName);
      const info = await readKey(client, keyName);
      options.logger.info({ key: keyName, key_version: info.latestVersion }, 'Rotated the Vault transit key');
      return info.latestVersion;
    },
    async setMinDecryptionVersion(version) {
      await client.setMinDecryptionVersion(keyName, version);
    },
    async versions() {
      const info = await readKey(client, keyName);
      return { latestVersion: info.latestVersion, minDecryptionVersion: info.minDecryptionVersion };
    },
    versionOf(ciphertext) {
      const match = CIPHERTEXT.exec(ciphertext);
      if (!match) throw invalidCiphertext(null);
      return Number(match[1]);
    },
    async health() {
      const h = await client.health();
      if (!h.reachable) return { ok: false, kind: 'vault', detail: `Vault at ${client.endpoint} is unreachable`, latestVersion: null };
      if (h.sealed) return { ok: false, kind: 'vault', detail: `Vault at ${client.endpoint} is sealed; unseal it`, latestVersion: null };
      if (!h.initialized) return { ok: false, kind: 'vault', detail: `Vault at ${client.endpoint} is not initialised`, latestVersion: null };
      try {
        const info = await readKey(client, keyName);
        return { ok: true, kind: 'vault', detail: `Vault ${h.version ?? ''} transit key ${keyName} version ${info.latestVersion}`.replace('  ', ' '), latestVersion: info.latestVersion };
      } catch (error) {
        return { ok: false, kind: 'vault', detail: (error as VantaError).message, latestVersion: null };
      }
    },
    close() {
      client.close();
      return Promise.resolve();
    },
  };
  return createKeyStore(cipher);
}

async function ensureKey(client: VaultClient, keyName: string, logger: Logger): Promise<void> {
  let info = await client.readKey(keyName);
  if (info === null) {
    try {
      await client.createKey(keyName, { type: KEY_TYPE, derived: true });
    } catch (error) {
      if (!(error instanceof VaultError) || error.code !== 'VAULT_PERMISSION_DENIED') throw error;
      throw new KeyError(
        'KEYSTORE_CONFIG',
        `The Vault transit key ${keyName} does not exist, and this token may not create it (the engine's policy, deploy/vault/vanta-engine.hcl, only encrypts, decrypts and reads). Create it once with an operator or root token: vault write -f transit/keys/${keyName} derived=true type=${KEY_TYPE} (compose's vault-init does), or check VAULT_TRANSIT_KEY.`,
      );
    }
    logger.info({ key: keyName }, 'Created the Vault transit key for wallet keys');
    info = await readKey(client, keyName);
  }
  if (!info.derived || info.type !== KEY_TYPE) {
    throw new KeyError(
      'KEYSTORE_CONFIG',
      `The Vault transit key ${keyName} is ${info.type}${info.derived ? '' : ', not derived'}; wallet keys need a derived ${KEY_TYPE} key so each ciphertext is bound to its user. Set VAULT_TRANSIT_KEY to a new name and Vanta creates one.`,
    );
  }
}

async function readKey(client: VaultClient, keyName: string) {
  const info = await client.readKey(keyName);
  if (info === null) throw new VaultError('VAULT_NOT_FOUND', `The Vault transit key ${keyName} has disappeared; restore it (transit/restore) or every stored wallet is lost.`, 404);
  return info;
}

interface Item {
  readonly userId: string;
  readonly ciphertext: string;
}

/** Malformed ciphertexts are answered locally, so one bad row cannot fail the whole Vault batch. */
function validate(items: readonly Item[]): { ok: Item[]; bad: Map<Item, ItemResult<never>> } {
  const ok: Item[] = [];
  const bad = new Map<Item, ItemResult<never>>();
  for (const item of items) {
    if (typeof item.ciphertext === 'string' && CIPHERTEXT.test(item.ciphertext)) ok.push(item);
    else bad.set(item, { ok: false, error: invalidCiphertext(item.userId) });
  }
  return { ok, bad };
}

function toItem<T, U>(userId: string, answer: BatchItem<T> | undefined, convert: (value: T) => U): ItemResult<U> {
  if (answer === undefined) return missing(userId);
  if (answer.ok) return { ok: true, value: convert(answer.value) };
  const kind = classifyItemError(answer.error);
  const said = answer.error.replace(/\s+/g, ' ').slice(0, 160);
  if (kind === 'retired') {
    return {
      ok: false,
      error: new KeyError('KEY_VERSION_RETIRED', `User ${userId}'s key is sealed with a transit key version below min_decryption_version ("${said}"); it was not rewrapped in time. Lower min_decryption_version on the transit key, rewrap, then raise it again.`, { userId }),
    };
  }
  if (kind === 'invalid') return { ok: false, error: invalidCiphertext(userId) };
  return {
    ok: false,
    error: new KeyError('KEY_DECRYPT_FAILED', `Vault could not open user ${userId}'s key ("${said}"): it was sealed for another user, altered, or under another transit key. It was not used.`, { userId }),
  };
}

function missing(userId: string): ItemResult<never> {
  return { ok: false, error: new KeyError('KEY_DECRYPT_FAILED', `Vault returned no result for user ${userId}'s key.`, { userId }) };
}

function invalidCiphertext(userId: string | null): KeyError {
  const whose = userId === null ? 'A stored key' : `User ${userId}'s stored key`;
  return new KeyError('KEY_CIPHERTEXT_INVALID', `${whose} is not a Vault transit ciphertext (expected vault:v<N>:<base64>); it was not used. Check that the wallet row was written by this keystore.`, userId === null ? {} : { userId });
}
