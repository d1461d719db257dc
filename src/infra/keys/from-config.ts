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
 * The keystore the configuration asks for: Vault transit when VAULT_ADDR is
 * set (AppRole preferred over a static token, since it renews itself), the
 * local store otherwise. For the composition root and the rotation command.
 * `db` is the database whose `wallets` the keystore seals: with the local
 * store, a missing master key file is only recreated while it holds none.
 */
export async function createKeyStoreFromConfig(config: Pick<Config, 'mode' | 'dataDir' | 'vault' | 'keystore'>, logger: Logger, db: Database): Promise<KeyStore> {
  if (config.keystore.kind === 'local') {
    const wallets = createWalletRepository(db);
    return createLocalKeyStore({ dataDir: config.dataDir, mode: config.mode, allowInLive: config.keystore.allowLocalInLive, logger, countWallets: () => wallets.count() });
  }
  const { addr, appRole, token, namespace, transitKey } = config.vault;
  const auth: VaultAuth | null = appRole ? { kind: 'approle', roleId: appRole.roleId, secretId: appRole.secretId } : token ? { kind: 'token', token } : null;
  if (addr === null || auth === null) {
    throw new KeyError('KEYSTORE_CONFIG', 'VAULT_ADDR is set but Vault has no credentials: set VAULT_TOKEN, or VAULT_ROLE_ID and VAULT_SECRET_ID.');
  }
  const client = createVaultClient({ endpoint: addr, auth, namespace, logger });
  try {
    return await createVaultKeyStore({ client, keyName: transitKey, logger });
  } catch (error) {
    client.close();
    throw error;
  }
}
