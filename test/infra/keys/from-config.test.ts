import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../src/infra/config.ts';
import { createKeyStoreFromConfig } from '../../../src/infra/keys/from-config.ts';
import { silentLogger } from '../../helpers/common.ts';
import { createVaultDouble } from '../../helpers/vault-double.ts';

describe('Keystore from configuration', function () {
  it('uses Vault with AppRole when VAULT_ADDR and role credentials are set', async () => {
    const vault = await createVaultDouble();
    vault.addAppRole({ roleId: 'r', secretId: 's', tokenTtlSeconds: 600, tokenMaxTtlSeconds: 3600 });
    try {
      const keystore = await createKeyStoreFromConfig(loadConfig({ VAULT_ADDR: vault.url, VAULT_ROLE_ID: 'r', VAULT_SECRET_ID: 's', VAULT_TRANSIT_KEY: 'cfg-key' }), silentLogger());
      assert.equal(keystore.kind, 'vault');
      assert.equal(vault.key('cfg-key')?.derived, true);
      assert.equal(vault.requestCount('/auth/approle/login'), 1);
      await keystore.close();
    } finally {
      await vault.close();
    }
  });

  it('uses the local store under DATA_DIR when VAULT_ADDR is not set', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vanta-cfg-keys-'));
    try {
      const keystore = await createKeyStoreFromConfig(loadConfig({ DATA_DIR: dir }), silentLogger());
      assert.equal(keystore.kind, 'local');
      assert.equal((await keystore.createWallet('u')).keyVersion, 1);
      await keystore.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
