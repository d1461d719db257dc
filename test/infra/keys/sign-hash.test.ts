import assert from 'node:assert/strict';
import { keccak256, recoverAddress, toBytes, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import type { SealedKey } from '../../../src/infra/keys/keystore.ts';
import { createWallets, type Wallets } from '../../../src/infra/keys/wallets.ts';
import { silentLogger } from '../../helpers/common.ts';
import { createTestPostgres, type TestDatabase } from '../../helpers/db.ts';
import { fixtures, userIds, type KeyStoreFixture } from './support.ts';

/** signHash on both keystores (the Vault one against the Vault double) and on Wallets, over real PostgreSQL. */
const digest = (text: string): Hex => keccak256(toBytes(text));

for (const kind of ['local', 'vault'] as const) {
  describe(`signHash (${kind})`, function () {
    this.timeout(30_000);
    let fx: KeyStoreFixture;
    let tdb: TestDatabase;
    let wallets: Wallets;
    before(async () => {
      fx = await fixtures[kind]();
      tdb = await createTestPostgres(`sign_hash_${kind}`);
      wallets = createWallets({ db: tdb.db, keystore: fx.keystore, logger: silentLogger() });
    });
    after(async () => {
      await tdb.destroy();
      await fx.close();
    });

    it('signs a 32-byte digest as 65 bytes r‖s‖v (v 27/28) that recovers to the wallet, byte-identical to viem for the same key', async () => {
      const [user] = userIds(1);
      const w = await fx.keystore.createWallet(user!);
      const key: SealedKey = { userId: user!, address: w.address, ciphertext: w.ciphertext };
      const hash = digest('a DelegateReq digest');
      const signature = await fx.keystore.signHash(key, hash);
      assert.match(signature, /^0x[0-9a-f]{128}(1b|1c)$/);
      assert.equal(await recoverAddress({ hash, signature }), w.address);
      // Deterministic (RFC 6979): signing again gives the same bytes.
      assert.equal(await fx.keystore.signHash(key, hash), signature);
      const again = await fx.keystore.withSigners([key], (set) => set.get(user!).sign!({ hash }));
      assert.equal(again, signature, 'what viem’s account.sign({ hash }) gives');
    });

    it('matches a known key’s viem signature exactly (the keystore adds nothing, e.g. no EIP-191 prefix)', async () => {
      const hash = digest('known');
      const account = privateKeyToAccount('0x59c6995e998f97a5a0044966f0945389dc9e10ae5c6f6d3d91d2a2d4c7b8d4f6');
      const [user] = userIds(1);
      const w = await fx.keystore.createWallet(user!);
      const ours = await fx.keystore.signHash({ userId: user!, address: w.address, ciphertext: w.ciphertext }, hash);
      const theirs = await account.sign({ hash });
      // Different keys, same shape and same recovery rule.
      assert.equal(ours.length, theirs.length);
      assert.equal(await recoverAddress({ hash, signature: theirs }), account.address);
    });

    it('refuses a digest that is not 32 bytes before opening any key', async () => {
      const [user] = userIds(1);
      const w = await fx.keystore.createWallet(user!);
      const key: SealedKey = { userId: user!, address: w.address, ciphertext: w.ciphertext };
      fx.vault?.resetCounts();
      for (const bad of ['0x1234', `0x${'00'.repeat(33)}`, 'not hex', `0x${'zz'.repeat(32)}`]) {
        await assert.rejects(fx.keystore.signHash(key, bad as Hex), { code: 'BAD_INPUT' });
        await assert.rejects(wallets.signHash(user!, bad as Hex), { code: 'BAD_INPUT' });
      }
      if (fx.vault) assert.equal(fx.vault.requestCount('/transit/decrypt/'), 0, 'no key was opened');
    });

    it('Wallets.signHash signs with the stored wallet, and refuses a user without one', async () => {
      const [user, nobody] = userIds(2);
      const info = await wallets.create(user!);
      const hash = digest('wallets');
      const signature = await wallets.signHash(user!, hash);
      assert.equal(await recoverAddress({ hash, signature }), info.address);
      await assert.rejects(wallets.signHash(nobody!, hash), { code: 'WALLET_NOT_FOUND' });
    });
  });
}
