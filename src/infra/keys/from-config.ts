import type { Config } from '../config.ts';
import type { Database } from '../db/database.ts';
import type { Logger } from '../logger.ts';
import { KeyError } from './errors.ts';
import type { KeyStore } from './keystore.ts';
import { createLocalKeyStore } from './local-keystore.ts';
import { createVaultClient, type VaultAuth } from './vault-client.ts';
import { createWalletRepository } from './wallet-repository.ts';
import { createVaultKeyStore } from './vault-keystore.ts';

/**
 * Who the keystore is for. The engine seals and opens with VAULT_TOKEN or
 * AppRole (policy vanta-engine: encrypt, decrypt, read). The rotation command
 * rotates, rewraps and retires with VAULT_OPERATOR_TOKEN (policy
 * vanta-rotation), and never falls back to the engine's credentials: they
 * cannot rotate, and an engine token that could would break least privilege.
 */
export type KeyStorePurpose = 'engine' | 'rotation';

/**
 * The keystore the configuration asks for: Vault transit when VAULT_ADDR is
 * set (AppRole preferred over a static token, since it renews itself), the
 * local store otherwise. For the composition root and the rotation command.
 * `db` is the database whose `wallets` the keystore seals: with the local
 * store, a missing master key file is only recreated while it holds none.
 */
export async function createKeyStoreFromConfig(config: Pick<Config, 'mode' | 'dataDir' | 'vault' | 'keystore'>, logger: Logger, db: Database, purpose: KeyStorePurpose = 'engine'): Promise<KeyStore> {
  if (config.keystore.kind === 'local') {
    const wallets = createWalletRepository(db);
    return createLocalKeyStore({ dataDir: config.dataDir, mode: config.mode, allowInLive: config.keystore.allowLocalInLive, logger, countWallets: () => wallets.count() });
  }
  const { addr, namespace, transitKey } = config.vault;
  const auth = purpose === 'rotation' ? rotationAuth(config) : engineAuth(config);
  if (addr === null) throw new KeyError('KEYSTORE_CONFIG', 'The Vault keystore needs VAULT_ADDR.');
  const client = createVaultClient({ endpoint: addr, auth, namespace, logger });
  try {
    return await createVaultKeyStore({ client, keyName: transitKey, logger });
  } catch (error) {
    client.close();
    throw error;
  }
}

/**
 * Why the rotation command cannot run with this configuration, or null when
 * it can: checked before it opens the database or calls Vault.
 */
export function rotationConfigProblem(config: Pick<Config, 'vault' | 'keystore'>): string | null {
  if (config.keystore.kind !== 'vault' || config.vault.operatorToken !== null) return null;
  return (
    'rotating the Vault transit key needs the operator token: set VAULT_OPERATOR_TOKEN to a token with the vanta-rotation policy ' +
    '(deploy/vault/vanta-rotation.hcl), e.g. VAULT_OPERATOR_TOKEN=$(vault token create -policy=vanta-rotation -ttl=1h -field=token). ' +
    "The engine's VAULT_TOKEN (or AppRole) may only encrypt and decrypt, so it is never used for this. See docs/operations-keys.md."
  );
}

function engineAuth(config: Pick<Config, 'vault'>): VaultAuth {
  const { appRole, token } = config.vault;
  if (appRole) return { kind: 'approle', roleId: appRole.roleId, secretId: appRole.secretId };
  if (token) return { kind: 'token', token };
  throw new KeyError('KEYSTORE_CONFIG', 'VAULT_ADDR is set but Vault has no credentials: set VAULT_TOKEN, or VAULT_ROLE_ID and VAULT_SECRET_ID.');
}

function rotationAuth(config: Pick<Config, 'vault' | 'keystore'>): VaultAuth {
  const problem = rotationConfigProblem(config);
  if (problem !== null || config.vault.operatorToken === null) throw new KeyError('KEYSTORE_CONFIG', problem ?? 'VAULT_OPERATOR_TOKEN is not set.');
  return { kind: 'token', token: config.vault.operatorToken };
}
