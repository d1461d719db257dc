import assert from 'node:assert/strict';
import { VantaError } from '../../../src/errors.ts';
import type { EncryptedWallet, SealedKey } from '../../../src/infra/keys/keystore.ts';
import { createVaultClient } from '../../../src/infra/keys/vault-client.ts';
import { createVaultKeyStore } from '../../../src/infra/keys/vault-keystore.ts';
import { Secret } from '../../../src/infra/secret.ts';
import { silentLogger } from '../../helpers/common.ts';
import { createVaultDouble } from '../../helpers/vault-double.ts';
import { signerOf, transferTx, userIds, vaultFixture, type KeyStoreFixture } from './support.ts';

describe('Vault transit keystore', function () {
  let fx: KeyStoreFixture;
  const sealed = (userId: string, w: EncryptedWallet): SealedKey => ({ userId, address: w.address, ciphertext: w.ciphertext });
  const vault = () => fx.vault!;

  before(async () => {
    fx = await vaultFixture({ maxBatch: 5 });
  });
  after(async () => {
    await fx.close();
  });

  it('creates a derived aes256-gcm96 transit key on first use', () => {
    assert.deepEqual(vault().key('vanta-wallets'), { type: 'aes256-gcm96', derived: true, latestVersion: 1, minDecryptionVersion: 1 });
  });

  it('decrypts many users in batches of maxBatch, not one request each', async () => {
    const users = userIds(12);
    const keys = await Promise.all(users.map(async (u) => sealed(u, await fx.keystore.createWallet(u))));
    vault().resetCounts();
    const addresses = await fx.keystore.withSigners(keys, (set) => Promise.resolve(users.map((u) => set.get(u).address)));
    assert.deepEqual(addresses, keys.map((k) => k.address));
    assert.equal(vault().requestCount('/transit/decrypt/'), 3, '12 keys in batches of 5');
    vault().resetCounts();
    for (const key of keys) await fx.keystore.signTransaction(key, transferTx());
    assert.equal(vault().requestCount('/transit/decrypt/'), 12);
  });

  it("maps Vault's per-item batch errors to typed errors and still signs the rest", async () => {
    const [good, short, tooNew] = userIds(3);
    const wallet = await fx.keystore.createWallet(good!);
    const keys = [sealed(good!, wallet), { userId: short!, address: wallet.address, ciphertext: 'vault:v1:AAAA' }, { userId: tooNew!, address: wallet.address, ciphertext: wallet.ciphertext.replace('vault:v1:', 'vault:v99:') }];
    vault().resetCounts();
    const out = await fx.keystore.withSigners(keys, async (set) => ({ signer: await signerOf(await set.get(good!).signTransaction(transferTx())), failures: [...set.failures].map(([u, e]) => [u, e.code]) }));
    assert.equal(out.signer, wallet.address);
    assert.deepEqual(out.failures, [
      [short!, 'KEY_CIPHERTEXT_INVALID'],
      [tooNew!, 'KEY_CIPHERTEXT_INVALID'],
    ]);
    assert.equal(vault().requestCount('/transit/decrypt/'), 1, 'one batch carried all three; Vault answered 400 with per-item results');
  });

  it('refuses to sign while Vault is sealed, loses nothing, and signs again once unsealed', async () => {
    const [user] = userIds(1);
    const wallet = await fx.keystore.createWallet(user!);
    vault().seal();
    try {
      const error = await fx.keystore.signTransaction(sealed(user!, wallet), transferTx()).then(
        () => assert.fail('signed while sealed'),
        (e: unknown) => e as VantaError,
      );
      assert.equal(error.code, 'VAULT_SEALED');
      assert.equal(error.retryable, true);
      assert.match(error.message, /sealed.*[Uu]nseal it/);
      await assert.rejects(fx.keystore.createWallet(`${user!}-x`), { code: 'VAULT_SEALED' });
      assert.equal((await fx.keystore.health()).ok, false);
    } finally {
      vault().unseal();
    }
    assert.equal(await signerOf(await fx.keystore.signTransaction(sealed(user!, wallet), transferTx())), wallet.address);
    assert.equal((await fx.keystore.health()).ok, true);
  });

  it('refuses to sign while Vault is unreachable and recovers when it returns', async () => {
    const [user] = userIds(1);
    const wallet = await fx.keystore.createWallet(user!);
    await vault().stop();
    try {
      await assert.rejects(fx.keystore.signTransaction(sealed(user!, wallet), transferTx()), (e: unknown) => {
        assert.ok(e instanceof VantaError);
        assert.equal(e.code, 'VAULT_UNAVAILABLE');
        assert.equal(e.retryable, true);
        assert.match(e.message, /Cannot reach Vault at http:\/\/127\.0\.0\.1:\d+ \(E[A-Z]+\)/);
        return true;
      });
      assert.deepEqual(await fx.keystore.health(), { ok: false, kind: 'vault', detail: `Vault at ${vault().url} is unreachable`, latestVersion: null });
    } finally {
      await vault().start();
    }
    assert.equal(await signerOf(await fx.keystore.signTransaction(sealed(user!, wallet), transferTx())), wallet.address);
  });

  it('maps 500, a malformed answer and a short batch to typed errors', async () => {
    const [user] = userIds(1);
    const key = sealed(user!, await fx.keystore.createWallet(user!));
    vault().respondOnce('/transit/decrypt/vanta-wallets', 500, { errors: ['1 error occurred:\n\t* internal error\n\n'] });
    await assert.rejects(fx.keystore.signTransaction(key, transferTx()), { code: 'VAULT_UNAVAILABLE', retryable: true });
    vault().respondOnce('/transit/decrypt/vanta-wallets', 200, { data: { batch_results: 'nope' } });
    await assert.rejects(fx.keystore.signTransaction(key, transferTx()), { code: 'VAULT_BAD_RESPONSE' });
    vault().respondOnce('/transit/decrypt/vanta-wallets', 200, { data: { batch_results: [] } });
    await assert.rejects(fx.keystore.signTransaction(key, transferTx()), { code: 'VAULT_BAD_RESPONSE' });
    vault().respondOnce('/transit/encrypt/vanta-wallets', 200, { data: { batch_results: [{ ciphertext: 'plain', key_version: 1 }] } });
    await assert.rejects(fx.keystore.createWallet(`${user!}-y`), { code: 'VAULT_BAD_RESPONSE' });
    vault().respondOnce('/transit/decrypt/vanta-wallets', 429, { errors: ['rate limit quota exceeded'] });
    await assert.rejects(fx.keystore.signTransaction(key, transferTx()), { code: 'VAULT_UNAVAILABLE', retryable: true });
    // And the next call is fine: nothing was changed.
    assert.equal(await signerOf(await fx.keystore.signTransaction(key, transferTx())), key.address);
  });

  it('refuses a transit key that is not derived', async () => {
    const double = await createVaultDouble();
    try {
      const client = createVaultClient({ endpoint: double.url, auth: { kind: 'token', token: new Secret(double.rootToken) }, logger: silentLogger() });
      await client.start();
      await client.createKey('plain', { type: 'aes256-gcm96', derived: false });
      await assert.rejects(createVaultKeyStore({ client, keyName: 'plain', logger: silentLogger() }), { code: 'KEYSTORE_CONFIG', message: /not derived/ });
      client.close();
    } finally {
      await double.close();
    }
  });

  it('answers a bad token with VAULT_PERMISSION_DENIED and never prints the token', async () => {
    const double = await createVaultDouble();
    try {
      const token = double.issueToken({ ttlSeconds: 600, maxTtlSeconds: 600 });
      const client = createVaultClient({ endpoint: double.url, auth: { kind: 'token', token: new Secret(token) }, logger: silentLogger() });
      const keystore = await createVaultKeyStore({ client, keyName: 'k', logger: silentLogger() });
      const [user] = userIds(1);
      const wallet = await keystore.createWallet(user!);
      double.revokeToken(token);
      const error = await keystore.signTransaction(sealed(user!, wallet), transferTx()).then(
        () => assert.fail('signed with a revoked token'),
        (e: unknown) => e as VantaError,
      );
      assert.equal(error.code, 'VAULT_PERMISSION_DENIED');
      assert.match(error.message, /token is valid, not expired or revoked/);
      const everything = `${error.message} ${JSON.stringify(error)} ${String(error.stack)}`;
      assert.ok(!everything.includes(token), 'the token is not in the error');
      assert.ok(!everything.includes(wallet.ciphertext), 'the ciphertext is not in the error');
      await keystore.close();
    } finally {
      await double.close();
    }
  });
});
