import assert from 'node:assert/strict';
import { createVaultDouble, type VaultDouble } from '../../helpers/vault-double.ts';

interface VaultBody {
  data?: { ciphertext?: string; plaintext?: string; key_version?: number; latest_version?: number; derived?: boolean; batch_results?: unknown[] };
  errors?: string[];
  warnings?: string[];
  auth?: { lease_duration: number };
  sealed?: boolean;
}

/** The double answers as Vault's API documentation says, so the client is tested against Vault's contract. */
describe('Vault double: documented HTTP behaviour', function () {
  let vault: VaultDouble;
  const call = async (method: string, path: string, body?: unknown, token: string | null = vault.rootToken) => {
    const response = await fetch(`${vault.url}/v1/${path}`, {
      method,
      headers: { ...(token ? { 'X-Vault-Token': token } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : null) as VaultBody };
  };
  const b64 = (s: string) => Buffer.from(s).toString('base64');

  before(async () => {
    vault = await createVaultDouble();
    await call('POST', 'transit/keys/k', { type: 'aes256-gcm96', derived: true });
  });
  after(async () => {
    await vault.close();
  });

  it('wraps answers in the standard envelope', async () => {
    const { status, body } = await call('GET', 'transit/keys/k');
    assert.equal(status, 200);
    assert.deepEqual(Object.keys(body).sort(), ['auth', 'data', 'lease_duration', 'lease_id', 'renewable', 'request_id', 'warnings', 'wrap_info']);
    assert.equal(body.data!.latest_version, 1);
    assert.equal(body.data!.derived, true);
  });

  it('answers errors with {"errors": [...]} and the documented status codes', async () => {
    assert.deepEqual(await call('GET', 'transit/keys/k', undefined, null), { status: 403, body: { errors: ['permission denied'] } });
    assert.deepEqual(await call('GET', 'transit/keys/k', undefined, 'hvs.not-a-real-token-000000'), { status: 403, body: { errors: ['permission denied'] } });
    assert.deepEqual(await call('GET', 'transit/keys/missing'), { status: 404, body: { errors: [] } });
    assert.equal((await call('GET', 'nothing/here')).status, 404);
    assert.equal((await call('DELETE', 'transit/encrypt/k')).status, 405);
    const noContext = await call('POST', 'transit/encrypt/k', { plaintext: b64('x') });
    assert.equal(noContext.status, 400);
    assert.match(noContext.body.errors![0]!, /^missing 'context' for key derivation/);
    assert.deepEqual(await call('POST', 'transit/keys/k/config', { min_decryption_version: 5 }), { status: 400, body: { errors: ['cannot set min decryption version of 5, latest key version is 1'] } });
    assert.deepEqual(await call('POST', 'transit/keys/k2', { type: 'secp256k1' }), { status: 400, body: { errors: ['unknown key type "secp256k1"'] } });
  });

  it('reports batch failures per item: 400 by default, partial_failure_response_code when asked', async () => {
    const good = await call('POST', 'transit/encrypt/k', { plaintext: b64('secret'), context: b64('alice') });
    const ciphertext = good.body.data!.ciphertext!;
    assert.match(ciphertext, /^vault:v1:/);
    const batch_input = [{ ciphertext, context: b64('alice') }, { ciphertext, context: b64('bob') }, { ciphertext: 'nope', context: b64('alice') }];
    const mixed = await call('POST', 'transit/decrypt/k', { batch_input });
    assert.equal(mixed.status, 400);
    assert.deepEqual(mixed.body.data!.batch_results, [{ plaintext: b64('secret') }, { error: 'cipher: message authentication failed' }, { error: 'invalid ciphertext: no prefix' }]);
    assert.equal((await call('POST', 'transit/decrypt/k', { batch_input, partial_failure_response_code: 207 })).status, 207);
    assert.equal((await call('POST', 'transit/decrypt/k', { batch_input: batch_input.slice(1), partial_failure_response_code: 207 })).status, 400, 'all failed: 400 regardless');
  });

  it('enforces min_decryption_version and rewraps onto the latest version', async () => {
    const v1 = (await call('POST', 'transit/encrypt/k', { plaintext: b64('p'), context: b64('u') })).body.data!.ciphertext!;
    await call('POST', 'transit/keys/k/rotate', {});
    const rewrapped = await call('POST', 'transit/rewrap/k', { ciphertext: v1, context: b64('u') });
    assert.equal(rewrapped.body.data!.key_version, 2);
    assert.equal((await call('POST', 'transit/keys/k/config', { min_decryption_version: 2 })).status, 200);
    assert.deepEqual(await call('POST', 'transit/decrypt/k', { ciphertext: v1, context: b64('u') }), { status: 400, body: { errors: ['ciphertext or signature version is disallowed by policy (too old)'] } });
    const back = await call('POST', 'transit/decrypt/k', { ciphertext: rewrapped.body.data!.ciphertext, context: b64('u') });
    assert.equal(back.body.data!.plaintext, b64('p'));
  });

  it('answers 503 "Vault is sealed" when sealed, while health and seal-status still answer', async () => {
    vault.seal();
    try {
      assert.deepEqual(await call('GET', 'transit/keys/k'), { status: 503, body: { errors: ['Vault is sealed'] } });
      const health = await call('GET', 'sys/health', undefined, null);
      assert.equal(health.status, 503);
      assert.equal(health.body.sealed, true);
      const seal = await call('GET', 'sys/seal-status', undefined, null);
      assert.equal(seal.status, 200);
      assert.equal(seal.body.sealed, true);
    } finally {
      vault.unseal();
    }
    assert.equal((await call('GET', 'sys/health', undefined, null)).status, 200);
  });

  it('caps renew-self at the max TTL and refuses an expired token', async () => {
    const token = vault.issueToken({ ttlSeconds: 1, maxTtlSeconds: 1 });
    const renewed = await call('POST', 'auth/token/renew-self', { increment: '60s' }, token);
    assert.equal(renewed.status, 200);
    assert.ok(renewed.body.auth!.lease_duration <= 1);
    assert.match(renewed.body.warnings![0]!, /exceeded the effective max_ttl/);
    await new Promise((r) => setTimeout(r, 1_100));
    assert.equal((await call('GET', 'auth/token/lookup-self', undefined, token)).status, 403);
  });

  it('enforces ACL policies for every token but root: capability per path, create vs update, allowed_parameters', async () => {
    vault.writePolicy(
      'narrow',
      `# a comment
      path "transit/encrypt/k" { capabilities = ["update"] }
      path "transit/keys/+" { capabilities = ["read"] }
      path "transit/keys/k/config" {
        capabilities = ["update"]
        allowed_parameters = { "min_decryption_version" = [] }
      }`,
    );
    const token = vault.issueToken({ ttlSeconds: 600, maxTtlSeconds: 600, policies: ['narrow'] });
    const denied = { status: 403, body: { errors: ['permission denied'] } };
    assert.match((await call('POST', 'transit/encrypt/k', { plaintext: b64('x'), context: b64('alice') }, token)).body.data!.ciphertext!, /^vault:v\d+:/);
    assert.equal((await call('GET', 'transit/keys/k', undefined, token)).status, 200);
    assert.equal((await call('GET', 'transit/keys/missing', undefined, token)).status, 404, 'read is granted, so a missing key is a 404');
    assert.deepEqual(await call('POST', 'transit/encrypt/absent', { plaintext: b64('x'), context: b64('a') }, token), denied, 'encrypting under a missing key needs create');
    assert.equal(vault.key('absent'), null);
    assert.deepEqual(await call('POST', 'transit/decrypt/k', { ciphertext: 'vault:v1:AAAA', context: b64('a') }, token), denied);
    assert.deepEqual(await call('POST', 'transit/keys/k/rotate', {}, token), denied);
    assert.deepEqual(await call('POST', 'transit/keys/k/config', { exportable: true }, token), denied, 'a parameter the rule does not allow');
    assert.equal((await call('POST', 'transit/keys/k/config', { min_decryption_version: 1 }, token)).status, 200);
    assert.deepEqual(await call('GET', 'auth/token/lookup-self', undefined, token), denied, 'without the default policy the token cannot even look itself up');
    assert.deepEqual(await call('GET', 'nothing/here', undefined, token), denied, 'the ACL is checked before routing');
    const withDefault = vault.issueToken({ ttlSeconds: 600, maxTtlSeconds: 600, policies: ['default', 'narrow'] });
    assert.equal((await call('GET', 'auth/token/lookup-self', undefined, withDefault)).status, 200);
    assert.throws(() => vault.writePolicy('bad', 'path "x" { capabilities = ["read"] max_ttl = "1h" }'), /unsupported field max_ttl/);
  });
});
