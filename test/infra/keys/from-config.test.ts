import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../src/infra/config.ts';
import { createKeyStoreFromConfig } from '../../../src/infra/keys/from-config.ts';
import { MASTER_KEY_FILE } from '../../../src/infra/keys/local-keystore.ts';
import { createWallets } from '../../../src/infra/keys/wallets.ts';
import { silentLogger } from '../../helpers/common.ts';
import { createTestPostgres, type TestDatabase } from '../../helpers/db.ts';
import { createVaultDouble } from '../../helpers/vault-double.ts';
import { leastPrivilegeVault, signerOf, transferTx } from './support.ts';

describe('Keystore from configuration', function () {
  let tdb: TestDatabase;
  before(async () => {
    tdb = await createTestPostgres('keys_from_config');
  });
  after(async () => {
    await tdb.destroy();
  });
  beforeEach(async () => {
    await tdb.db.sql('delete from wallets');
  });

  it('uses Vault with AppRole when VAULT_ADDR and role credentials are set', async () => {
    const vault = await createVaultDouble();
    vault.addAppRole({ roleId: 'r', secretId: 's', tokenTtlSeconds: 600, tokenMaxTtlSeconds: 3600 });
    try {
      const keystore = await createKeyStoreFromConfig(loadConfig({ VAULT_ADDR: vault.url, VAULT_ROLE_ID: 'r', VAULT_SECRET_ID: 's', VAULT_TRANSIT_KEY: 'cfg-key' }), silentLogger(), tdb.db);
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
      const keystore = await createKeyStoreFromConfig(loadConfig({ DATA_DIR: dir }), silentLogger(), tdb.db);
      assert.equal(keystore.kind, 'local');
      assert.equal((await keystore.createWallet('u')).keyVersion, 1);
      await keystore.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps VAULT_OPERATOR_TOKEN secret and for rotation only: the engine keystore never uses it, the rotation keystore never uses anything else', async () => {
    const lp = await leastPrivilegeVault();
    try {
      const env = { VAULT_ADDR: lp.vault.url, VAULT_TOKEN: lp.engineToken, VAULT_OPERATOR_TOKEN: lp.operatorToken };
      const config = loadConfig(env);
      assert.doesNotMatch(JSON.stringify(config), new RegExp(lp.operatorToken));
      const engine = await createKeyStoreFromConfig(config, silentLogger(), tdb.db);
      await assert.rejects(engine.rotate(), { code: 'VAULT_PERMISSION_DENIED' });
      await engine.close();
      const operator = await createKeyStoreFromConfig(config, silentLogger(), tdb.db, 'rotation');
      assert.equal(await operator.rotate(), 2);
      await operator.close();
      await assert.rejects(createKeyStoreFromConfig(loadConfig({ ...env, VAULT_OPERATOR_TOKEN: undefined }), silentLogger(), tdb.db, 'rotation'), { code: 'KEYSTORE_CONFIG', message: /set VAULT_OPERATOR_TOKEN/ });
    } finally {
      await lp.vault.close();
    }
  });

  it('refuses to start when the master key file is missing while wallets exist, and creates no new key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vanta-cfg-keys-'));
    const config = loadConfig({ DATA_DIR: dir });
    const path = join(dir, MASTER_KEY_FILE);
    try {
      const first = await createKeyStoreFromConfig(config, silentLogger(), tdb.db);
      const wallet = await createWallets({ db: tdb.db, keystore: first, logger: silentLogger() }).create('kept');
      await first.close();
      renameSync(path, `${path}.backup`);

      await assert.rejects(createKeyStoreFromConfig(config, silentLogger(), tdb.db), {
        code: 'KEYSTORE_CONFIG',
        message: `The master key file ${path} is missing, but the database holds 1 wallet sealed under a master key. Vanta will not create a new key: it would orphan every one of them. Restore ${path} from its backup (mode 0600, owned by the user Vanta runs as; see docs/operations-keys.md, "Backing up the master key") and start again.`,
      });
      assert.equal(existsSync(path), false, 'no new key was written over the lost one');

      // Restored from its backup, everything opens again.
      renameSync(`${path}.backup`, path);
      const restored = await createKeyStoreFromConfig(config, silentLogger(), tdb.db);
      const signed = await createWallets({ db: tdb.db, keystore: restored, logger: silentLogger() }).signTransaction('kept', transferTx());
      assert.equal(await signerOf(signed), wallet.address);
      await restored.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
