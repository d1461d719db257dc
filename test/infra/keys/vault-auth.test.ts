import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createVaultClient, type VaultClient } from '../../../src/infra/keys/vault-client.ts';
import { createVaultKeyStore } from '../../../src/infra/keys/vault-keystore.ts';
import { Secret } from '../../../src/infra/secret.ts';
import { captureLogger, silentLogger } from '../../helpers/common.ts';
import { createVaultDouble, type VaultDouble } from '../../helpers/vault-double.ts';
import { signerOf, transferTx, userIds } from './support.ts';

async function waitFor(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('Vault auth: AppRole and token, with renewal', function () {
  let vault: VaultDouble;
  const clients: VaultClient[] = [];
  const track = (client: VaultClient) => (clients.push(client), client);

  beforeEach(async () => {
    vault = await createVaultDouble();
    vault.addAppRole({ roleId: 'vanta-role', secretId: 'vanta-secret-id-0123456789', tokenTtlSeconds: 2, tokenMaxTtlSeconds: 3 });
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await vault.close();
  });

  it('logs in with AppRole, renews at about 2/3 of the lease, and logs in again when renewal stops extending', async () => {
    const capture = captureLogger();
    const client = track(createVaultClient({ endpoint: vault.url, auth: { kind: 'approle', roleId: 'vanta-role', secretId: new Secret('vanta-secret-id-0123456789') }, logger: capture.logger }));
    const keystore = await createVaultKeyStore({ client, keyName: 'k', logger: silentLogger() });
    const [user] = userIds(1);
    const wallet = await keystore.createWallet(user!);
    const key = { userId: user!, address: wallet.address, ciphertext: wallet.ciphertext };
    assert.equal(client.tokenState().logins, 1);
    const firstToken = vault.lastLoginToken();
    const started = Date.now();
    // ttl 2 s: renewal near 1.33 s; the token's max TTL (3 s) caps that renewal to 1 s, so a new login follows.
    await waitFor('the first renewal', () => client.tokenState().renewals >= 1);
    const renewedAfter = Date.now() - started;
    assert.ok(renewedAfter > 900 && renewedAfter < 2_000, `renewed after ${renewedAfter} ms`);
    assert.equal(await signerOf(await keystore.signTransaction(key, transferTx())), wallet.address);
    await waitFor('the second login', () => client.tokenState().logins >= 2);
    assert.notEqual(vault.lastLoginToken(), firstToken);
    assert.equal(vault.requestCount('POST /v1/auth/token/renew-self'), 1);
    assert.equal(await signerOf(await keystore.signTransaction(key, transferTx(1))), wallet.address);
    // Past the first token's max TTL, signing still works on the new token.
    await sleep(Math.max(0, 3_100 - (Date.now() - started)));
    assert.equal(await signerOf(await keystore.signTransaction(key, transferTx(2))), wallet.address);
    assert.ok(!capture.text().includes('vanta-secret-id-0123456789'), 'the secret id is not logged');
    assert.ok(!capture.text().includes(firstToken!), 'the token is not logged');
    assert.match(capture.text(), /reached its max TTL; logging in again/);
    await keystore.close();
  });

  it('logs in again and retries once when the AppRole token is revoked', async () => {
    const client = track(createVaultClient({ endpoint: vault.url, auth: { kind: 'approle', roleId: 'vanta-role', secretId: new Secret('vanta-secret-id-0123456789') }, logger: silentLogger() }));
    const keystore = await createVaultKeyStore({ client, keyName: 'k', logger: silentLogger() });
    const [user] = userIds(1);
    const wallet = await keystore.createWallet(user!);
    vault.revokeToken(vault.lastLoginToken()!);
    const signed = await keystore.signTransaction({ userId: user!, address: wallet.address, ciphertext: wallet.ciphertext }, transferTx());
    assert.equal(await signerOf(signed), wallet.address);
    assert.equal(client.tokenState().logins, 2);
    await keystore.close();
  });

  it('refuses bad AppRole credentials with a typed error that does not echo them', async () => {
    const client = track(createVaultClient({ endpoint: vault.url, auth: { kind: 'approle', roleId: 'vanta-role', secretId: new Secret('wrong-secret-id-value') }, logger: silentLogger() }));
    await assert.rejects(createVaultKeyStore({ client, keyName: 'k', logger: silentLogger() }), (e: unknown) => {
      const error = e as Error & { code: string };
      assert.equal(error.code, 'VAULT_BAD_REQUEST');
      assert.match(error.message, /invalid role or secret ID/);
      assert.ok(!error.message.includes('wrong-secret-id-value'));
      return true;
    });
  });

  it('renews a token with a TTL and reports when it reaches its max TTL', async () => {
    const capture = captureLogger();
    const token = vault.issueToken({ ttlSeconds: 2, maxTtlSeconds: 3 });
    const client = track(createVaultClient({ endpoint: vault.url, auth: { kind: 'token', token: new Secret(token) }, logger: capture.logger }));
    await client.start();
    const firstExpiry = client.tokenState().expiresAt!;
    await waitFor('the renewal', () => client.tokenState().renewals >= 1);
    assert.ok(client.tokenState().expiresAt! > firstExpiry, 'the renewal moved the expiry');
    // Renewals go on until Vault caps one at the max TTL (3 s), which is reported.
    await waitFor('the capped renewal', () => /reached its max TTL/.test(capture.text()));
    assert.match(capture.text(), /reached its max TTL and will expire; supply a new VAULT_TOKEN/);
    assert.equal(client.tokenState().logins, 0);
    assert.ok(!capture.text().includes(token));
  });

  it('does not schedule renewal for a token without TTL (root)', async () => {
    const client = track(createVaultClient({ endpoint: vault.url, auth: { kind: 'token', token: new Secret(vault.rootToken) }, logger: silentLogger() }));
    await client.start();
    assert.deepEqual(client.tokenState(), { auth: 'token', expiresAt: null, logins: 0, renewals: 0 });
  });
});
