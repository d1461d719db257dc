import assert from 'node:assert/strict';
import { KeyError } from '../../../src/infra/keys/errors.ts';
import type { EncryptedWallet, SealedKey } from '../../../src/infra/keys/keystore.ts';
import { fixtures, signerOf, transferTx, userIds, type KeyStoreFixture } from './support.ts';

/** The KeyStore contract, run against both implementations. */
for (const kind of ['local', 'vault'] as const) {
  describe(`KeyStore contract (${kind})`, function () {
    let fx: KeyStoreFixture;
    const sealed = (userId: string, w: EncryptedWallet): SealedKey => ({ userId, address: w.address, ciphertext: w.ciphertext });

    before(async () => {
      fx = await fixtures[kind]();
    });
    after(async () => {
      await fx.close();
    });

    it('creates a wallet whose ciphertext opens to a key that signs as its address', async () => {
      const [user] = userIds(1);
      const wallet = await fx.keystore.createWallet(user!);
      assert.match(wallet.ciphertext, kind === 'vault' ? /^vault:v1:/ : /^local:v1:/);
      assert.equal(wallet.keyVersion, 1);
      const signed = await fx.keystore.signTransaction(sealed(user!, wallet), transferTx(7));
      assert.equal(await signerOf(signed), wallet.address);
    });

    it("refuses to open a ciphertext under another user's id", async () => {
      const [alice, bob] = userIds(2);
      const wallet = await fx.keystore.createWallet(alice!);
      const result = await fx.keystore.withSigners([{ userId: bob!, address: wallet.address, ciphertext: wallet.ciphertext }], (set) => Promise.resolve(set));
      assert.equal(result.signers.size, 0);
      assert.equal(result.failures.get(bob!)?.code, 'KEY_DECRYPT_FAILED');
      await assert.rejects(fx.keystore.signTransaction({ userId: bob!, address: wallet.address, ciphertext: wallet.ciphertext }, transferTx()), { code: 'KEY_DECRYPT_FAILED' });
    });

    it('gives the same signers from one batch as one by one', async () => {
      const users = userIds(12);
      const wallets = await Promise.all(users.map((u) => fx.keystore.createWallet(u)));
      const keys = users.map((u, i) => sealed(u, wallets[i]!));
      const batched = await fx.keystore.withSigners(keys, (set) => Promise.all(users.map(async (u, i) => ({ address: set.get(u).address, sig: await set.get(u).signTransaction(transferTx(i)) }))));
      const single = await Promise.all(keys.map(async (k, i) => ({ address: k.address, sig: await fx.keystore.signTransaction(k, transferTx(i)) })));
      // secp256k1 signatures are deterministic (RFC 6979): same key and transaction, same bytes.
      assert.deepEqual(batched, single);
      for (const [i, s] of batched.entries()) assert.equal(await signerOf(s.sig), wallets[i]!.address);
    });

    it('signs for the users whose keys open and reports the others per item', async () => {
      const [good, garbled, swapped] = userIds(3);
      const wallet = await fx.keystore.createWallet(good!);
      const other = await fx.keystore.createWallet(swapped!);
      const prefix = kind === 'vault' ? 'vault:v1:' : 'local:v1:';
      const keys: SealedKey[] = [
        sealed(good!, wallet),
        { userId: garbled!, address: wallet.address, ciphertext: `${prefix}not*base64` },
        // The right user's ciphertext under someone else's address: the key opens but is not that address's.
        { userId: swapped!, address: wallet.address, ciphertext: other.ciphertext },
      ];
      const outcome = await fx.keystore.withSigners(keys, async (set) => ({
        signed: await signerOf(await set.get(good!).signTransaction(transferTx())),
        failures: Object.fromEntries([...set.failures].map(([u, e]) => [u, e.code])),
      }));
      assert.equal(outcome.signed, wallet.address);
      assert.deepEqual(outcome.failures, { [garbled!]: 'KEY_CIPHERTEXT_INVALID', [swapped!]: 'KEY_DECRYPT_FAILED' });
    });

    it('makes a signer kept past its callback useless', async () => {
      const [user] = userIds(1);
      const wallet = await fx.keystore.createWallet(user!);
      const leaked = await fx.keystore.withSigners([sealed(user!, wallet)], (set) => Promise.resolve(set.get(user!)));
      await assert.rejects(leaked.signTransaction(transferTx()), (e: unknown) => e instanceof KeyError && e.code === 'KEY_RELEASED');
      await assert.rejects(leaked.signMessage({ message: 'hello' }), { code: 'KEY_RELEASED' });
    });

    it('drops the signers when the callback throws', async () => {
      const [user] = userIds(1);
      const wallet = await fx.keystore.createWallet(user!);
      let kept: { signTransaction: (tx: ReturnType<typeof transferTx>) => Promise<unknown> } | null = null;
      await assert.rejects(
        fx.keystore.withSigners([sealed(user!, wallet)], (set) => {
          kept = set.get(user!);
          return Promise.reject(new Error('caller failed'));
        }),
        /caller failed/,
      );
      await assert.rejects(kept!.signTransaction(transferTx()), { code: 'KEY_RELEASED' });
    });

    it('answers a malformed ciphertext with KEY_CIPHERTEXT_INVALID from versionOf', () => {
      assert.throws(() => fx.keystore.versionOf('plaintext?'), { code: 'KEY_CIPHERTEXT_INVALID' });
      assert.throws(() => fx.keystore.versionOf(''), { code: 'KEY_CIPHERTEXT_INVALID' });
    });

    it('rotates, rewraps onto the new version, and refuses the old version once retired', async () => {
      const [user] = userIds(1);
      const wallet = await fx.keystore.createWallet(user!);
      const before = await fx.keystore.versions();
      const next = await fx.keystore.rotate();
      assert.equal(next, before.latestVersion + 1);
      // Old ciphertexts still open until the minimum is raised.
      assert.equal(await signerOf(await fx.keystore.signTransaction(sealed(user!, wallet), transferTx())), wallet.address);
      const [rewrapped] = await fx.keystore.rewrap([{ userId: user!, ciphertext: wallet.ciphertext }]);
      assert.ok(rewrapped?.ok);
      assert.equal(rewrapped.value.keyVersion, next);
      assert.equal(fx.keystore.versionOf(rewrapped.value.ciphertext), next);
      await fx.keystore.setMinDecryptionVersion(next);
      assert.deepEqual(await fx.keystore.versions(), { latestVersion: next, minDecryptionVersion: next });
      await assert.rejects(fx.keystore.signTransaction(sealed(user!, wallet), transferTx()), { code: 'KEY_VERSION_RETIRED' });
      const fresh = { userId: user!, address: wallet.address, ciphertext: rewrapped.value.ciphertext };
      assert.equal(await signerOf(await fx.keystore.signTransaction(fresh, transferTx())), wallet.address);
      // A rewrap under another user's id fails like a decrypt would.
      const [moved] = await fx.keystore.rewrap([{ userId: `${user!}-other`, ciphertext: rewrapped.value.ciphertext }]);
      assert.equal(moved?.ok, false);
    });

    it('reports health', async () => {
      const health = await fx.keystore.health();
      assert.equal(health.ok, true);
      assert.equal(health.kind, kind);
      assert.ok((health.latestVersion ?? 0) >= 1);
    });
  });
}
