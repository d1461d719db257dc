import { bytesToHex, type NonceManager, type PrivateKeyAccount } from 'viem';
import { privateKeyToAccount, toAccount } from 'viem/accounts';
import { registerSecretHex } from '../logger.ts';
import { Secret } from '../secret.ts';
import { KeyError } from './errors.ts';
import type { SealedKey, WalletSigner } from './keystore.ts';

/**
 * Turns opened key bytes into a signer that works until `release()`. The
 * viem account holding the key lives in one closure slot; release empties the
 * slot and forgets the hex in the logger, so after the `withSigners` callback
 * the key is unreachable (JavaScript cannot wipe a string, but nothing refers
 * to it any more) and a signer kept by mistake throws KEY_RELEASED.
 */
export function openSigner(
  key: SealedKey,
  bytes: Uint8Array,
  nonceManager: NonceManager | undefined,
): { ok: true; signer: WalletSigner; release: () => void } | { ok: false; error: KeyError } {
  if (bytes.length !== 32) {
    return { ok: false, error: new KeyError('KEY_DECRYPT_FAILED', `User ${key.userId}'s stored key opened to ${bytes.length} bytes, not 32; the ciphertext does not hold a wallet key.`, { userId: key.userId }) };
  }
  // The hex lives only inside this Secret and the viem account built from it.
  const secret = new Secret(bytesToHex(bytes));
  const forget = registerSecretHex(secret.reveal());
  let account: PrivateKeyAccount | null = privateKeyToAccount(secret.reveal());
  const release = () => {
    account = null;
    forget();
  };
  if (account.address.toLowerCase() !== key.address.toLowerCase()) {
    release();
    return {
      ok: false,
      error: new KeyError('KEY_DECRYPT_FAILED', `User ${key.userId}'s stored key does not belong to the stored address ${key.address}; the wallet row was tampered with. Do not sign; restore the row from backup.`, {
        userId: key.userId,
        address: key.address,
      }),
    };
  }
  const live = (): PrivateKeyAccount => {
    if (account === null) throw new KeyError('KEY_RELEASED', `User ${key.userId}'s signer was used after its withSigners callback ended; sign inside the callback.`, { userId: key.userId });
    return account;
  };
  // async, so a released signer rejects like any other signing failure instead of throwing synchronously.
  const signer = toAccount({
    address: account.address,
    ...(nonceManager ? { nonceManager } : {}),
    sign: async (parameters) => live().sign(parameters),
    signAuthorization: async (parameters) => live().signAuthorization(parameters),
    signMessage: async (parameters) => live().signMessage(parameters),
    signTransaction: async (transaction, options) => live().signTransaction(transaction, options),
    signTypedData: async (parameters) => live().signTypedData(parameters),
  });
  return { ok: true, signer, release };
}
