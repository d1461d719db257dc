import type { Address, Hex, TransactionSerializable } from 'viem';
import { BadInputError, type VantaError } from '../../errors.ts';
import type { Database } from '../db/database.ts';
import type { Logger } from '../logger.ts';
import { KeyError, WalletError } from './errors.ts';
import { withWalletInsertLock } from './key-version-lock.ts';
import { signDigest, toSignerSet, type KeyStore, type SealedKey, type SignerSet, type WalletSigner, type WithSignersOptions } from './keystore.ts';
import { createWalletRepository, type WalletRecord, type WalletRepository } from './wallet-repository.ts';

/**
 * Users' wallets: a keystore plus the `wallets` table. This is what the user
 * actors call: create a wallet once, then sign inside `withSigners`, by user id.
 */

export interface WalletInfo {
  readonly userId: string;
  readonly address: Address;
  readonly keyVersion: number;
}

export interface Wallets {
  readonly repository: WalletRepository;
  create(userId: string): Promise<WalletInfo>;
  find(userId: string): Promise<WalletInfo | null>;
  /**
   * Signers for many users from one batch decrypt, alive only while `fn` runs.
   * Users without a wallet, or whose key does not open, are in `failures`.
   */
  withSigners<T>(userIds: readonly string[], fn: (signers: SignerSet) => Promise<T>, options?: WithSignersOptions): Promise<T>;
  signTransaction(userId: string, transaction: TransactionSerializable): Promise<Hex>;
  /** One 32-byte digest signed by the user's key: 65 bytes r‖s‖v, v 27/28 (keystore.ts `signHash`). */
  signHash(userId: string, hash: Hex): Promise<Hex>;
}

export interface WalletsOptions {
  readonly db: Database;
  readonly keystore: KeyStore;
  readonly logger: Logger;
}

export function createWallets(options: WalletsOptions): Wallets {
  const { db, keystore } = options;
  const repository = createWalletRepository(db);

  async function create(userId: string): Promise<WalletInfo> {
    if ((await repository.find([userId])).has(userId)) throw new WalletError('WALLET_EXISTS', userId);
    const row = await sealAndStore(userId);
    await db.audit({ actor: 'keystore', action: 'wallet.created', subject: userId, details: { address: row.address, keystore: keystore.kind, keyVersion: row.keyVersion } });
    options.logger.info({ user_id: userId, address: row.address, key_version: row.keyVersion }, 'Created a wallet');
    return info(row);
  }

  /**
   * Seals a new key and stores it, unless a rotation retired the version it
   * was sealed with in between (see key-version-lock.ts): then that key,
   * never stored nor used, is dropped and a new one sealed with the newest
   * version.
   */
  async function sealAndStore(userId: string): Promise<WalletRecord> {
    for (let attempt = 1; ; attempt += 1) {
      const sealed = await keystore.createWallet(userId);
      const stored = await withWalletInsertLock(db, async (tx) => {
        // Holding the lock, no rotation is between its last count and raising the minimum: this minimum is current.
        const { minDecryptionVersion } = await keystore.versions();
        if (sealed.keyVersion < minDecryptionVersion) return { retiredBelow: minDecryptionVersion };
        return { row: await repository.insert(userId, sealed, tx.em) };
      });
      if ('row' in stored) return stored.row;
      if (attempt >= MAX_SEALS) {
        throw new KeyError(
          'KEY_VERSION_RETIRED',
          `User ${userId}'s new wallet key was sealed ${attempt} times with key version ${sealed.keyVersion}, below the minimum ${stored.retiredBelow}: the keystore does not seal with its newest version. Nothing was stored; check the keystore's versions (VAULT_TRANSIT_KEY, or the master key file) and try again.`,
          { userId, version: sealed.keyVersion },
        );
      }
      options.logger.info({ user_id: userId, key_version: sealed.keyVersion, min_version: stored.retiredBelow }, 'A rotation retired the key version a new wallet was sealed with before it was stored; sealing a new key');
    }
  }

  async function withSigners<T>(userIds: readonly string[], fn: (signers: SignerSet) => Promise<T>, signOptions: WithSignersOptions = {}): Promise<T> {
    const rows = await repository.find(userIds);
    const absent = new Map<string, VantaError>(userIds.filter((u) => !rows.has(u)).map((u) => [u, new WalletError('WALLET_NOT_FOUND', u)]));
    return keystore.withSigners(
      [...rows.values()].map(sealedKey),
      async (first) => {
        // A rotation may have rewrapped a row and retired its old version between our read and the decrypt: read those rows again.
        const retired = [...first.failures].filter(([, e]) => e.code === 'KEY_VERSION_RETIRED').map(([userId]) => userId);
        const fresh = retired.length ? await repository.find(retired) : new Map<string, WalletRecord>();
        const again = [...fresh.values()].filter((r) => r.ciphertext !== rows.get(r.userId)?.ciphertext).map(sealedKey);
        if (again.length === 0) return fn(merge([first], absent));
        return keystore.withSigners(again, (second) => fn(merge([first, second], absent)), signOptions);
      },
      signOptions,
    );
  }

  return {
    repository,
    create,
    async find(userId) {
      const row = (await repository.find([userId])).get(userId);
      return row ? info(row) : null;
    },
    withSigners,
    signTransaction: (userId, transaction) => withSigners([userId], (set) => set.get(userId).signTransaction(transaction)),
    signHash(userId, hash) {
      if (typeof hash !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(hash)) return Promise.reject(new BadInputError('A digest to sign is exactly 32 bytes of hex (0x and 64 hex digits).', { field: 'hash' }));
      return withSigners([userId], (set) => signDigest(set.get(userId), hash));
    },
  };
}

/** A rotation retires a version once per run, so a second seal is enough; a third failing means the keystore is wrong. */
const MAX_SEALS = 3;

/** Later sets win: a retry that opened a key clears the earlier failure. */
function merge(sets: readonly SignerSet[], absent: ReadonlyMap<string, VantaError>): SignerSet {
  const signers = new Map<string, WalletSigner>();
  const failures = new Map<string, VantaError>(absent);
  for (const set of sets) {
    for (const [userId, error] of set.failures) failures.set(userId, error);
    for (const [userId, signer] of set.signers) {
      signers.set(userId, signer);
      failures.delete(userId);
    }
  }
  return toSignerSet(signers, failures);
}

function sealedKey(row: WalletRecord): SealedKey {
  return { userId: row.userId, address: row.address, ciphertext: row.ciphertext };
}

function info(row: WalletRecord): WalletInfo {
  return { userId: row.userId, address: row.address, keyVersion: row.keyVersion };
}
