import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import type { VantaError } from '../../../src/errors.ts';
import { withWalletInsertLock } from '../../../src/infra/keys/key-version-lock.ts';
import type { KeyStore } from '../../../src/infra/keys/keystore.ts';
import { createLocalKeyStore } from '../../../src/infra/keys/local-keystore.ts';
import { runKeyRotation, type KeyRotationOptions } from '../../../src/infra/keys/rotation.ts';
import { createKeyRotationMetrics, type KeyRotationMetrics } from '../../../src/infra/keys/rotation-metrics.ts';
import { createWalletRepository } from '../../../src/infra/keys/wallet-repository.ts';
import { createWallets, type Wallets } from '../../../src/infra/keys/wallets.ts';
import { silentLogger } from '../../helpers/common.ts';
import { createTestPglite, createTestPostgres, type TestDatabase } from '../../helpers/db.ts';
import { fixtures, signerOf, transferTx, userIds, type KeyStoreFixture } from './support.ts';

for (const kind of ['local', 'vault'] as const) {
  describe(`Key rotation job (${kind})`, function () {
    let tdb: TestDatabase;
    let fx: KeyStoreFixture;
    let wallets: Wallets;
    let registry: Registry;
    let metrics: KeyRotationMetrics;

    before(async () => {
      tdb = await createTestPostgres(`keys_rotation_${kind}`);
    });
    after(async () => {
      await tdb.destroy();
    });
    beforeEach(async () => {
      await tdb.db.sql('delete from wallets');
      await tdb.db.sql('delete from key_rotations');
      fx = await fixtures[kind]();
      wallets = createWallets({ db: tdb.db, keystore: fx.keystore, logger: silentLogger() });
      registry = new Registry();
      metrics = createKeyRotationMetrics(registry);
    });
    afterEach(async () => {
      await fx.close();
    });

    const rotation = (extra: Partial<KeyRotationOptions> = {}): KeyRotationOptions => ({ db: tdb.db, keystore: fx.keystore, logger: silentLogger(), metrics, actor: 'admin:test', batchSize: 7, ...extra });
    const metric = async (name: string) => (await registry.getSingleMetric(name)!.get()).values[0]?.value;
    const signAll = (users: readonly string[], nonce: number) =>
      wallets.withSigners(users, async (set) => {
        assert.deepEqual([...set.failures].map(([u, e]) => `${u}: ${e.code}`), []);
        return Promise.all(users.map(async (u) => ({ expected: set.get(u).address, actual: await signerOf(await set.get(u).signTransaction(transferTx(nonce))) })));
      });

    it('rewraps every wallet while they keep signing, then retires the old version', async () => {
      const users = userIds(30);
      for (const u of users) await wallets.create(u);
      const before = await tdb.db.sql<{ user_id: string; ciphertext: string; address: string }>('select user_id, ciphertext, address from wallets order by user_id');

      let rotating = true;
      let rounds = 0;
      const signing = (async () => {
        while (rotating || rounds < 2) {
          for (const r of await signAll(users, rounds)) assert.equal(r.actual, r.expected);
          rounds += 1;
          await sleep(20); // a user signs now and then, not in a busy loop that starves the rotation
        }
      })();
      let midway: { v1: number; v2: number } | null = null;
      const onBatch = async (p: { rewrapped: number }) => {
        if (midway !== null || p.rewrapped < 14) return;
        // Half the wallets are on each version now: every one of them signs.
        const rows = await tdb.db.sql<{ key_version: number }>('select key_version from wallets');
        midway = { v1: rows.filter((r) => r.key_version === 1).length, v2: rows.filter((r) => r.key_version === 2).length };
        for (const r of await signAll(users, 50)) assert.equal(r.actual, r.expected);
      };
      const result = await runKeyRotation(rotation({ onBatch })).finally(() => (rotating = false));
      await signing;
      assert.deepEqual(midway, { v1: 16, v2: 14 });
      assert.ok(rounds >= 2, `signed ${rounds} rounds around the rotation`);

      assert.deepEqual(result, { outcome: 'done', resumed: false, toVersion: 2, rewrapped: 30, failed: 0, remaining: 0 });
      const [left] = await tdb.db.sql<{ n: string }>('select count(*) as n from wallets where key_version < 2');
      assert.equal(Number(left!.n), 0, 'no ciphertext of the old version remains');
      const after = await tdb.db.sql<{ ciphertext: string }>('select ciphertext from wallets');
      assert.ok(after.every((w) => fx.keystore.versionOf(w.ciphertext) === 2));
      assert.deepEqual(await fx.keystore.versions(), { latestVersion: 2, minDecryptionVersion: 2 });

      // An old-version ciphertext (say, from a backup) no longer opens.
      const old = before[0]!;
      await assert.rejects(fx.keystore.signTransaction({ userId: old.user_id, address: old.address as `0x${string}`, ciphertext: old.ciphertext }, transferTx()), (e: unknown) => (e as VantaError).code === 'KEY_VERSION_RETIRED');
      for (const r of await signAll(users, 99)) assert.equal(r.actual, r.expected);

      assert.equal(await metric('vanta_key_rotation_rewrapped_total'), 30);
      assert.equal(await metric('vanta_key_rotation_remaining'), 0);
      assert.equal(await metric('vanta_key_rotation_target_version'), 2);
      assert.equal(await metric('vanta_key_rotation_running'), 0);
      const audit = await tdb.db.sql<{ action: string; details: { rewrapped?: number } }>("select action, details from audit_log where action like 'keys.rotation.%' order by id desc limit 2");
      assert.deepEqual(audit.map((a) => a.action), ['keys.rotation.completed', 'keys.rotation.started']);
      assert.equal(audit[0]!.details.rewrapped, 30);
      const [row] = await tdb.db.sql<{ status: string; rewrapped: number }>('select status, rewrapped from key_rotations');
      assert.deepEqual({ ...row }, { status: 'done', rewrapped: 30 });
    });

    it('resumes an interrupted rotation without rotating again', async () => {
      const users = userIds(25);
      for (const u of users) await wallets.create(u);
      const stop = new AbortController();
      const first = await runKeyRotation(rotation({ batchSize: 5, signal: stop.signal, onBatch: (p) => void (p.rewrapped >= 10 && stop.abort()) }));
      assert.deepEqual(first, { outcome: 'aborted', resumed: false, toVersion: 2, rewrapped: 10, failed: 0, remaining: 15 });
      assert.deepEqual(await fx.keystore.versions(), { latestVersion: 2, minDecryptionVersion: 1 }, 'the minimum is not raised midway');
      assert.equal(await metric('vanta_key_rotation_remaining'), 15);
      // Half-rotated wallets all sign: old and new versions both open until the end.
      for (const r of await signAll(users, 1)) assert.equal(r.actual, r.expected);

      const second = await runKeyRotation(rotation({ batchSize: 5 }));
      assert.deepEqual(second, { outcome: 'done', resumed: true, toVersion: 2, rewrapped: 15, failed: 0, remaining: 0 });
      assert.deepEqual(await fx.keystore.versions(), { latestVersion: 2, minDecryptionVersion: 2 });
      assert.equal(await metric('vanta_key_rotation_rewrapped_total'), 25);
      const actions = await tdb.db.sql<{ action: string }>("select action from audit_log where action like 'keys.rotation.%' order by id desc limit 4");
      assert.deepEqual(actions.map((a) => a.action), ['keys.rotation.completed', 'keys.rotation.resumed', 'keys.rotation.aborted', 'keys.rotation.started']);
      for (const r of await signAll(users, 2)) assert.equal(r.actual, r.expected);
    });

    it('leaves a wallet it cannot rewrap on its old version and does not retire that version', async () => {
      const users = userIds(6);
      for (const u of users) await wallets.create(u);
      // A row whose ciphertext belongs to another user cannot be rewrapped under its own user id.
      await tdb.db.sql('update wallets set ciphertext = (select ciphertext from wallets where user_id = ?) where user_id = ?', [users[1], users[0]]);
      const result = await runKeyRotation(rotation({ batchSize: 4 }));
      assert.equal(result.outcome, 'incomplete');
      assert.equal(result.rewrapped, 5);
      assert.equal(result.remaining, 1);
      assert.deepEqual(await fx.keystore.versions(), { latestVersion: 2, minDecryptionVersion: 1 });
      assert.equal(await metric('vanta_key_rotation_failed_total'), 1);
      const [row] = await tdb.db.sql<{ status: string; last_error: string }>('select status, last_error from key_rotations');
      assert.equal(row!.status, 'rewrapping');
      assert.match(row!.last_error, /KEY_DECRYPT_FAILED/);
    });

    it('signs with a row read just before the rotation retired its version, by reading it again', async () => {
      const users = userIds(3);
      for (const u of users) await wallets.create(u);
      let raced = false;
      // The real keystore, with a rotation slipped in between the service reading the rows and opening them.
      const racing = {
        ...fx.keystore,
        withSigners: async (...args: Parameters<typeof fx.keystore.withSigners>) => {
          if (!raced) {
            raced = true;
            assert.equal((await runKeyRotation(rotation())).outcome, 'done');
          }
          return fx.keystore.withSigners(...args);
        },
      } as typeof fx.keystore;
      const racingWallets = createWallets({ db: tdb.db, keystore: racing, logger: silentLogger() });
      const signed = await racingWallets.withSigners(users, async (set) => {
        assert.equal(set.failures.size, 0);
        return Promise.all(users.map(async (u) => [set.get(u).address, await signerOf(await set.get(u).signTransaction(transferTx()))]));
      });
      assert.ok(raced);
      for (const [expected, actual] of signed) assert.equal(actual, expected);
    });

    /** The rotation as `npm run keys:rotate` runs it: its own keystore (for local, its own view of the shared file). */
    const operatorKeystore = async (): Promise<{ keystore: KeyStore; close: () => Promise<void> }> => {
      if (kind === 'vault') return { keystore: fx.keystore, close: () => Promise.resolve() };
      const keystore = await createLocalKeyStore({ dataDir: fx.dataDir!, mode: 'sandbox', allowInLive: false, logger: silentLogger() });
      return { keystore, close: () => keystore.close() };
    };

    it('a wallet sealed before the rotation and stored after it retired that version is sealed again with the new one', async () => {
      const users = userIds(5);
      for (const u of users) await wallets.create(u);
      const late = `${users[0]!}-late`;
      // The engine seals the new wallet's key, then stalls before storing it (a GC pause, a slow database)...
      let sealed!: () => void;
      const sealedOnce = new Promise<void>((resolve) => (sealed = resolve));
      let resume!: () => void;
      const stalled = new Promise<void>((resolve) => (resume = resolve));
      const slow: KeyStore = {
        ...fx.keystore,
        createWallet: async (userId: string) => {
          const wallet = await fx.keystore.createWallet(userId);
          sealed();
          await stalled;
          return wallet;
        },
      };
      const creating = createWallets({ db: tdb.db, keystore: slow, logger: silentLogger() }).create(late);
      await sealedOnce;
      // ...while a whole rotation runs: it cannot see the wallet, rewraps the rest and retires version 1.
      const operator = await operatorKeystore();
      const result = await runKeyRotation(rotation({ keystore: operator.keystore }));
      await operator.close();
      assert.equal(result.outcome, 'done');
      assert.deepEqual(await fx.keystore.versions(), { latestVersion: 2, minDecryptionVersion: 2 });
      resume();
      const created = await creating;

      assert.equal(created.keyVersion, 2, 'stored under the version the rotation moved to, not the one it retired');
      const [row] = await tdb.db.sql<{ key_version: number }>('select key_version from wallets where user_id = ?', [late]);
      assert.equal(row!.key_version, 2);
      for (const r of await signAll([...users, late], 7)) assert.equal(r.actual, r.expected);
    });

    it('waits for a wallet being stored under the old version, counts it, and rewraps it before retiring that version', async () => {
      const users = userIds(6);
      for (const u of users) await wallets.create(u);
      const late = `${users[0]!}-late`;
      const sealed = await fx.keystore.createWallet(late);
      assert.equal(sealed.keyVersion, 1);
      const operator = await operatorKeystore();
      let rotating: Promise<Awaited<ReturnType<typeof runKeyRotation>>> | null = null;
      let settled = false;
      // A wallet insert in flight: its transaction holds the lock shared while the rotation runs.
      await withWalletInsertLock(tdb.db, async (tx) => {
        rotating = runKeyRotation(rotation({ keystore: operator.keystore })).finally(() => (settled = true));
        // The rotation rewraps all it can see, then waits for this insert before it counts and retires.
        for (let i = 0; i < 200 && !(await waitingForAdvisoryLock(tdb)); i++) await sleep(10);
        assert.ok(await waitingForAdvisoryLock(tdb), 'the rotation waits for the lock');
        assert.equal(settled, false);
        assert.equal((await fx.keystore.versions()).minDecryptionVersion, 1, 'and has not retired version 1');
        await createWalletRepository(tdb.db).insert(late, sealed, tx.em);
      });
      const result = await rotating!;
      await operator.close();
      assert.equal(result.outcome, 'done');
      assert.equal(result.rewrapped, users.length + 1, 'the late wallet was rewrapped too');
      const [row] = await tdb.db.sql<{ key_version: number }>('select key_version from wallets where user_id = ?', [late]);
      assert.equal(row!.key_version, 2);
      for (const r of await signAll([...users, late], 8)) assert.equal(r.actual, r.expected);
    });

    if (kind === 'vault') {
      it('stops when Vault goes away midway, loses nothing, and resumes when it is back', async () => {
        const users = userIds(20);
        for (const u of users) await wallets.create(u);
        const vault = fx.vault!;
        await assert.rejects(
          runKeyRotation(rotation({ batchSize: 5, onBatch: (p) => (p.rewrapped >= 5 ? vault.stop() : undefined) })),
          (e: unknown) => (e as VantaError).code === 'VAULT_UNAVAILABLE',
        );
        await assert.rejects(signAll(users, 0), (e: unknown) => (e as VantaError).code === 'VAULT_UNAVAILABLE');
        const [row] = await tdb.db.sql<{ status: string; last_error: string }>('select status, last_error from key_rotations');
        assert.equal(row!.status, 'rewrapping');
        assert.match(row!.last_error, /VAULT_UNAVAILABLE/);
        await vault.start();
        const resumed = await runKeyRotation(rotation({ batchSize: 5 }));
        assert.equal(resumed.outcome, 'done');
        assert.equal(resumed.resumed, true);
        assert.equal(vault.key('vanta-wallets')!.latestVersion, 2, 'no second rotation');
        assert.equal(vault.key('vanta-wallets')!.minDecryptionVersion, 2);
        for (const r of await signAll(users, 3)) assert.equal(r.actual, r.expected);
      });
    }
  });
}

async function waitingForAdvisoryLock(tdb: TestDatabase): Promise<boolean> {
  const [row] = await tdb.db.sql<{ n: number }>("select count(*)::int as n from pg_locks where locktype = 'advisory' and not granted and database = (select oid from pg_database where datname = current_database())");
  return (row?.n ?? 0) > 0;
}

describe('Key rotation job on the embedded database (PGlite)', function () {
  it('creates wallets and rotates with the same locks in one PGlite session', async () => {
    const tdb = await createTestPglite('keys_rotation');
    const fx = await fixtures.local();
    try {
      const wallets = createWallets({ db: tdb.db, keystore: fx.keystore, logger: silentLogger() });
      const users = userIds(9);
      await Promise.all(users.map((u) => wallets.create(u)));
      const rotating = runKeyRotation({ db: tdb.db, keystore: fx.keystore, logger: silentLogger(), metrics: createKeyRotationMetrics(new Registry()), actor: 'admin:test', batchSize: 4 });
      const during = await wallets.create(`${users[0]!}-during`);
      const result = await rotating;
      assert.equal(result.outcome, 'done');
      assert.ok(during.keyVersion === 2 || result.rewrapped === users.length + 1, 'the wallet created during the rotation ends on version 2');
      const rows = await tdb.db.sql<{ key_version: number }>('select distinct key_version from wallets');
      assert.deepEqual(rows.map((r) => r.key_version), [2]);
    } finally {
      await fx.close();
      await tdb.destroy();
    }
  });
});
