import type { Address, Hex, LocalAccount, NonceManager, TransactionSerializable } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { hexToBytes } from 'viem';
import { BadInputError, type VantaError } from '../../errors.ts';
import { registerSecretHex } from '../logger.ts';
import { Secret } from '../secret.ts';
import { KeyError } from './errors.ts';
import { openSigner } from './signer-scope.ts';

/**
 * Wallet keys, envelope-encrypted. A wallet's secp256k1 key is generated here,
 * sealed at once by a KeyCipher (Vault transit or the local AES-GCM store)
 * with the user id bound in, and only the ciphertext leaves. To sign, the
 * ciphertexts are opened in one batch, handed to the caller as signers for
 * the length of one callback, and dropped when it settles: callers never
 * hold a plaintext key.
 */

/** What a keystore returns for a new wallet; the plaintext key never leaves `createWallet`. */
export interface EncryptedWallet {
  readonly address: Address;
  readonly ciphertext: string;
  readonly keyVersion: number;
}

/** A stored wallet key, as the signing path needs it. */
export interface SealedKey {
  readonly userId: string;
  /** The address stored with it: the opened key must match, or it is refused. */
  readonly address: Address;
  readonly ciphertext: string;
}

/** A viem account that signs only while its `withSigners` callback runs. */
export type WalletSigner = LocalAccount;

export interface SignerSet {
  /** Signers by user id, for every key that opened. */
  readonly signers: ReadonlyMap<string, WalletSigner>;
  /** Why a key did not open, by user id; the other users sign regardless. */
  readonly failures: ReadonlyMap<string, VantaError>;
  /** The signer of one user, or that user's failure thrown. */
  get(userId: string): WalletSigner;
}

export type ItemResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: VantaError };

export interface KeyVersionInfo {
  readonly latestVersion: number;
  readonly minDecryptionVersion: number;
}

export interface KeyStoreHealth {
  readonly ok: boolean;
  readonly kind: 'vault' | 'local';
  /** One line for /readyz and the operator. */
  readonly detail: string;
  readonly latestVersion: number | null;
}

/**
 * The encryption backend. It seals and opens bytes bound to a user and knows
 * nothing of Ethereum; results come per item, in input order.
 */
export interface KeyCipher {
  readonly kind: 'vault' | 'local';
  seal(userId: string, plaintext: Uint8Array): Promise<{ readonly ciphertext: string; readonly keyVersion: number }>;
  open(items: readonly { readonly userId: string; readonly ciphertext: string }[]): Promise<ItemResult<Uint8Array>[]>;
  rewrap(items: readonly { readonly userId: string; readonly ciphertext: string }[]): Promise<ItemResult<{ readonly ciphertext: string; readonly keyVersion: number }>[]>;
  /** Adds a key version; new seals use it. Answers the new latest version. */
  rotate(): Promise<number>;
  /** Refuses to open ciphertexts older than `version` from now on. */
  setMinDecryptionVersion(version: number): Promise<void>;
  versions(): Promise<KeyVersionInfo>;
  /** The key version a ciphertext was sealed with; throws KEY_CIPHERTEXT_INVALID on a malformed one. */
  versionOf(ciphertext: string): number;
  health(): Promise<KeyStoreHealth>;
  close(): Promise<void>;
}

export interface WithSignersOptions {
  /** Shared per-address nonce manager (viem), so the user actor's sends get consecutive nonces. */
  readonly nonceManager?: NonceManager;
}

export interface KeyStore extends Omit<KeyCipher, 'seal' | 'open'> {
  createWallet(userId: string): Promise<EncryptedWallet>;
  /**
   * Opens the keys in one batch, runs `fn` with their signers, then drops the
   * key material whatever `fn` did. A failure of the whole batch (Vault
   * unreachable, sealed, denied) throws before `fn` runs.
   */
  withSigners<T>(keys: readonly SealedKey[], fn: (signers: SignerSet) => Promise<T>, options?: WithSignersOptions): Promise<T>;
  /** Opens one key, signs one transaction, drops the key. */
  signTransaction(key: SealedKey, transaction: TransactionSerializable): Promise<Hex>;
  /**
   * Opens one key, signs one 32-byte digest as it is (no EIP-191 prefix), drops the key. Answers
   * 65 bytes r‖s‖v with v = 27 or 28, as viem's `account.sign({ hash })` does: the signature an
   * EIP-712 intent takes (AVANTIS-V2.md §8.6). Sign only digests computed locally from a message
   * you checked: a digest could be anything, a transaction's included.
   */
  signHash(key: SealedKey, hash: Hex): Promise<Hex>;
}

export function createKeyStore(cipher: KeyCipher): KeyStore {
  async function createWallet(userId: string): Promise<EncryptedWallet> {
    requireUserId(userId);
    const key = new Secret(generatePrivateKey());
    const forget = registerSecretHex(key.reveal());
    const bytes = hexToBytes(key.reveal());
    try {
      const { address } = privateKeyToAccount(key.reveal());
      const sealed = await cipher.seal(userId, bytes);
      return { address, ciphertext: sealed.ciphertext, keyVersion: sealed.keyVersion };
    } finally {
      bytes.fill(0);
      forget();
    }
  }

  async function withSigners<T>(keys: readonly SealedKey[], fn: (signers: SignerSet) => Promise<T>, options: WithSignersOptions = {}): Promise<T> {
    const unique = dedupe(keys);
    const opened = await cipher.open(unique.map((k) => ({ userId: k.userId, ciphertext: k.ciphertext })));
    const signers = new Map<string, WalletSigner>();
    const failures = new Map<string, VantaError>();
    const releases: (() => void)[] = [];
    try {
      unique.forEach((key, i) => {
        const result = opened[i];
        if (!result?.ok) {
          failures.set(key.userId, result?.error ?? new KeyError('KEY_DECRYPT_FAILED', `No result for user ${key.userId}'s key.`, { userId: key.userId }));
          return;
        }
        const signer = openSigner(key, result.value, options.nonceManager);
        if (signer.ok) {
          signers.set(key.userId, signer.signer);
          releases.push(signer.release);
        } else {
          failures.set(key.userId, signer.error);
        }
      });
      return await fn(toSignerSet(signers, failures));
    } finally {
      for (const release of releases) release();
      for (const result of opened) if (result.ok) result.value.fill(0);
    }
  }

  return {
    kind: cipher.kind,
    createWallet,
    withSigners,
    signTransaction: (key, transaction) => withSigners([key], (set) => set.get(key.userId).signTransaction(transaction)),
    async signHash(key, hash) {
      // Checked before the key is opened: a bad digest costs no decrypt.
      requireHash(hash);
      return withSigners([key], (set) => signDigest(set.get(key.userId), hash));
    },
    rewrap: (items) => cipher.rewrap(items),
    rotate: () => cipher.rotate(),
    setMinDecryptionVersion: (version) => cipher.setMinDecryptionVersion(version),
    versions: () => cipher.versions(),
    versionOf: (ciphertext) => cipher.versionOf(ciphertext),
    health: () => cipher.health(),
    close: () => cipher.close(),
  };
}

/** Builds the set handed to a `withSigners` callback. */
export function toSignerSet(signers: ReadonlyMap<string, WalletSigner>, failures: ReadonlyMap<string, VantaError>): SignerSet {
  return {
    signers,
    failures,
    get(userId) {
      const signer = signers.get(userId);
      if (signer) return signer;
      throw failures.get(userId) ?? new BadInputError(`No key was requested for user ${userId} in this signing batch.`, { userId });
    },
  };
}

/** A 32-byte digest signed by a signer of a `withSigners` callback: r‖s‖v, v 27/28. */
export async function signDigest(signer: WalletSigner, hash: Hex): Promise<Hex> {
  requireHash(hash);
  if (!signer.sign) throw new KeyError('KEYSTORE_CONFIG', `The signer of ${signer.address} cannot sign a raw digest; it is not a keystore signer.`, { address: signer.address });
  const signature = await signer.sign({ hash });
  // viem serialises v as 27/28; anything else would be refused by the contracts (§8.6).
  if (!/^0x[0-9a-f]{128}(1b|1c)$/i.test(signature)) throw new KeyError('KEYSTORE_CONFIG', `The signer of ${signer.address} answered a signature that is not 65 bytes r‖s‖v with v 27 or 28; nothing was signed for use.`, { address: signer.address });
  return signature;
}

/** A 32-byte hex digest, or BadInputError before any key is opened. */
function requireHash(hash: unknown): asserts hash is Hex {
  if (typeof hash !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(hash)) throw new BadInputError('A digest to sign is exactly 32 bytes of hex (0x and 64 hex digits).', { field: 'hash' });
}

function dedupe(keys: readonly SealedKey[]): SealedKey[] {
  const byUser = new Map<string, SealedKey>();
  for (const key of keys) {
    requireUserId(key.userId);
    const seen = byUser.get(key.userId);
    if (seen && seen.ciphertext !== key.ciphertext) throw new BadInputError(`Two different keys were given for user ${key.userId} in one signing batch.`, { userId: key.userId });
    byUser.set(key.userId, key);
  }
  return [...byUser.values()];
}

function requireUserId(userId: string): void {
  if (typeof userId !== 'string' || userId.length === 0 || userId.length > 200) throw new BadInputError('A wallet needs a user id of 1 to 200 characters.');
}
