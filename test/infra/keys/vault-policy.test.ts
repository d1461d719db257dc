import assert from 'node:assert/strict';
import type { VantaError } from '../../../src/errors.ts';
import { createWallets } from '../../../src/infra/keys/wallets.ts';
import { silentLogger } from '../../helpers/common.ts';
import { createTestPostgres, type TestDatabase } from '../../helpers/db.ts';
import { deployPolicy, leastPrivilegeVault, signerOf, transferTx, vaultKeyStoreWith, type LeastPrivilegeVault } from './support.ts';

/** The policies in deploy/vault, enforced by the Vault double: what each token can and cannot do. */
describe('Vault least privilege (deploy/vault policies)', function () {
  let tdb: TestDatabase;
  let lp: LeastPrivilegeVault;
  const denied = (e: unknown) => (e as VantaError).code === 'VAULT_PERMISSION_DENIED';

  before(async () => {
    tdb = await createTestPostgres('keys_policy');
  });
  after(async () => {
    await tdb.destroy();
  });
  beforeEach(async () => {
    lp = await leastPrivilegeVault();
  });
  afterEach(async () => {
    await lp.vault.close();
  });

  it('the engine token starts, creates wallets, signs and reports health with only encrypt, decrypt and read', async () => {
    const engine = await vaultKeyStoreWith(lp.vault, lp.engineToken);
    const wallets = createWallets({ db: tdb.db, keystore: engine, logger: silentLogger() });
    const created = await wallets.create('lp-engine');
    assert.equal(await signerOf(await wallets.signTransaction('lp-engine', transferTx())), created.address);
    assert.equal((await engine.health()).ok, true);
    assert.deepEqual(await engine.versions(), { latestVersion: 1, minDecryptionVersion: 1 });
    await engine.close();
  });

  it('the engine token can neither rotate, reconfigure nor rewrap the key', async () => {
    const engine = await vaultKeyStoreWith(lp.vault, lp.engineToken);
    const wallet = await engine.createWallet('lp-denied');
    await assert.rejects(engine.rotate(), denied);
    await assert.rejects(engine.setMinDecryptionVersion(1), denied);
    await assert.rejects(engine.rewrap([{ userId: 'lp-denied', ciphertext: wallet.ciphertext }]), denied);
    assert.deepEqual(lp.vault.key('vanta-wallets'), { type: 'aes256-gcm96', derived: true, latestVersion: 1, minDecryptionVersion: 1 });
    await engine.close();
  });

  it('the engine does not create a missing key: it says how to, with an operator or root token', async () => {
    const bare = await leastPrivilegeVault({ createKey: false });
    try {
      await assert.rejects(vaultKeyStoreWith(bare.vault, bare.engineToken), {
        code: 'KEYSTORE_CONFIG',
        message: /The Vault transit key vanta-wallets does not exist, and this token may not create it.*vault write -f transit\/keys\/vanta-wallets derived=true type=aes256-gcm96/,
      });
      assert.equal(bare.vault.key('vanta-wallets'), null);
      // A key outside the policy is not even readable: the 403 names the capability and the policy file.
      await assert.rejects(vaultKeyStoreWith(bare.vault, bare.engineToken, 'another-key'), {
        code: 'VAULT_PERMISSION_DENIED',
        message: /its policy allows read on transit\/keys\/another-key \(the engine's policy is deploy\/vault\/vanta-engine\.hcl/,
      });
    } finally {
      await bare.vault.close();
    }
  });

  it('the operator token rotates, rewraps and retires, but never sees a wallet key', async () => {
    const engine = await vaultKeyStoreWith(lp.vault, lp.engineToken);
    const operator = await vaultKeyStoreWith(lp.vault, lp.operatorToken);
    const wallet = await engine.createWallet('lp-operator');
    assert.equal(await operator.rotate(), 2);
    const [rewrapped] = await operator.rewrap([{ userId: 'lp-operator', ciphertext: wallet.ciphertext }]);
    assert.ok(rewrapped?.ok);
    await operator.setMinDecryptionVersion(2);
    assert.deepEqual(await operator.versions(), { latestVersion: 2, minDecryptionVersion: 2 });
    await assert.rejects(operator.withSigners([{ userId: 'lp-operator', address: wallet.address, ciphertext: rewrapped.value.ciphertext }], () => Promise.resolve()), denied);
    await assert.rejects(operator.createWallet('lp-operator-2'), denied);
    // Its config grant covers min_decryption_version only, not making the key exportable or deletable.
    for (const body of [{ exportable: true }, { deletion_allowed: true }, { min_decryption_version: 2, allow_plaintext_backup: true }]) {
      const answer = await fetch(`${lp.vault.url}/v1/transit/keys/vanta-wallets/config`, { method: 'POST', headers: { 'X-Vault-Token': lp.operatorToken, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      assert.equal(answer.status, 403, JSON.stringify(body));
    }
    await operator.close();
    await engine.close();
  });

  it('the policy files name only the paths they need', () => {
    assert.doesNotMatch(deployPolicy('vanta-engine'), /^path "[^"]*(rotate|config|rewrap|export|backup|trim|datakey|\*)[^"]*"/m);
    assert.doesNotMatch(deployPolicy('vanta-rotation'), /^path "transit\/(encrypt|decrypt|export|backup|datakey)[^"]*"|^path "[^"]*\*[^"]*"/m);
  });
});
