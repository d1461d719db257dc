import { VantaError, type VantaErrorOptions } from '../../errors.ts';

/**
 * Errors of the key layer. Messages name the user id, the key name, the Vault
 * path or the HTTP status, never a token, a plaintext or a ciphertext body, so
 * they are safe to log and to show an operator as they are.
 */

type Details = Readonly<Record<string, string | number | boolean | null>>;

export type VaultErrorCode = 'VAULT_UNAVAILABLE' | 'VAULT_SEALED' | 'VAULT_PERMISSION_DENIED' | 'VAULT_BAD_REQUEST' | 'VAULT_NOT_FOUND' | 'VAULT_BAD_RESPONSE';

/** Vault refused, failed or could not be reached. Nothing was changed on our side. */
export class VaultError extends VantaError {
  override readonly name = 'VaultError';
  declare readonly code: VaultErrorCode;
  /** HTTP status Vault answered with, or null when it did not answer. */
  readonly status: number | null;
  constructor(code: VaultErrorCode, message: string, status: number | null, options: VantaErrorOptions = {}) {
    super(code, message, { ...options, details: { ...options.details, status } });
    this.status = status;
  }
}

export type KeyErrorCode = 'KEY_CIPHERTEXT_INVALID' | 'KEY_DECRYPT_FAILED' | 'KEY_VERSION_RETIRED' | 'KEY_RELEASED' | 'KEYSTORE_CONFIG';

/** A key could not be sealed, opened or used; carries the user id it concerns when there is one. */
export class KeyError extends VantaError {
  override readonly name = 'KeyError';
  declare readonly code: KeyErrorCode;
  constructor(code: KeyErrorCode, message: string, details: Details = {}, options: { retryable?: boolean } = {}) {
    super(code, message, { details, retryable: options.retryable ?? false });
  }
}

export type WalletErrorCode = 'WALLET_EXISTS' | 'WALLET_NOT_FOUND';

export class WalletError extends VantaError {
  override readonly name = 'WalletError';
  declare readonly code: WalletErrorCode;
  constructor(code: WalletErrorCode, userId: string) {
    super(
      code,
      code === 'WALLET_EXISTS'
        ? `User ${userId} already has a wallet; a second one would orphan the first. Use the existing wallet.`
        : `User ${userId} has no wallet yet; create one before signing.`,
      { details: { userId } },
    );
  }
}
