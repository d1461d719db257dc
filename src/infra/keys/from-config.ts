import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { KeyError } from './errors.ts';
import type { KeyStore } from './keystore.ts';
import { createLocalKeyStore } from './local-keystore.ts';
import { createVaultClient, type VaultAuth } from './vault-client.ts';
import { createVaultKeyStore } from './vault-keystore.ts';

/**
 * The keystore the configuration asks for: Vault transit when VAULT_ADDR is
 * set (AppRole preferred over a static token, since it renews itself), the
 * local store otherwise. For the composition root.
 */
export async function createKeyStoreFromConfig(config: Pick<Config, 'mode' | 'dataDir' | 'vault' | 'keystore'>, logger: Logger): Promise<KeyStore> {
  if (config.keystore.kind === 'local') {
    return createLocalKeyStore({ dataDir: config.dataDir, mode: config.mode, allowInLive: config.keystore.allowLocalInLive, logger });
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
