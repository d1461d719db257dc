import assert from 'node:assert/strict';
import { createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import type { Database } from '../../../src/infra/db/database.ts';
import { MASTER_KEY_FILE } from '../../../src/infra/keys/local-keystore.ts';
import { runKeyRotation } from '../../../src/infra/keys/rotation.ts';
import { createKeyRotationMetrics } from '../../../src/infra/keys/rotation-metrics.ts';
import { createWallets } from '../../../src/infra/keys/wallets.ts';
import { captureLogger } from '../../helpers/common.ts';
import { createTestPostgres, type TestDatabase } from '../../helpers/db.ts';
import type { VaultDouble } from '../../helpers/vault-double.ts';
import { fixtures, transferTx, userIds, type KeyStoreFixture } from './support.ts';

/**
 * The promise of the design: plaintext keys never reach the database or the
 * logs. The keys are recovered here independently of our code (Vault's own
 * decrypt endpoint; the master key file and node:crypto) and then searched
 * for, as hex and as base64, in every text and JSON column of every table and
 * in every captured log line.
 */
for (const kind of ['local', 'vault'] as const) {
  describe(`No plaintext key at rest or in logs (${kind})`, function () {
    let tdb: TestDatabase;
    let fx: KeyStoreFixture;
    const capture = captureLogger('trace');

    before(async () => {
      tdb = await createTestPostgres(`keys_leak_${kind}`);
      fx = await fixtures[kind]({ logger: capture.logger });
    });
    after(async () => {
      await fx.close();
      await tdb.destroy();
    });

    it('finds no generated private key in any table, column or log line', async () => {
      const log = capture.logger;
      const wallets = createWallets({ db: tdb.db, keystore: fx.keystore, logger: log });
      const users = userIds(8);
      for (const u of users) await wallets.create(u);
      await wallets.withSigners(users, async (set) => {
        // Careless logging of what a caller holds: signers, the whole set, a signature.
        log.info({ signers: [...set.signers.values()], set }, 'holding signers');
        for (const [i, u] of users.entries()) log.debug({ user: u, signed: await set.get(u).signTransaction(transferTx(i)) }, 'signed');
      });
      const registry = new Registry();
      await runKeyRotation({ db: tdb.db, keystore: fx.keystore, logger: log, metrics: createKeyRotationMetrics(registry), actor: 'admin:test', batchSize: 3 });
      if (fx.vault) {
        fx.vault.seal();
        await assert.rejects(wallets.signTransaction(users[0]!, transferTx()), { code: 'VAULT_SEALED' });
        fx.vault.unseal();
      }
      await assert.rejects(wallets.signTransaction('nobody', transferTx()), { code: 'WALLET_NOT_FOUND' });

      const rows = await tdb.db.sql<{ user_id: string; ciphertext: string }>('select user_id, ciphertext from wallets');
      assert.equal(rows.length, users.length);
      const keys = await Promise.all(rows.map((r) => recoverKey(fx, r.user_id, r.ciphertext)));
      const needles = keys.flatMap((k) => [k.toString('hex'), k.toString('base64').replace(/=+$/, '')]);

      const dump = await dumpTextColumns(tdb.db);
      assert.ok(dump.columns >= 10, `scanned ${dump.columns} columns`);
      const logText = capture.text();
      assert.ok(logText.includes('Created a wallet') && logText.includes('holding signers'), 'the logs were captured');
      const metricsText = await registry.metrics();
      for (const needle of needles) {
        assert.ok(!dump.text.toLowerCase().includes(needle.toLowerCase()), 'a plaintext key is in the database');
        assert.ok(!logText.toLowerCase().includes(needle.toLowerCase()), 'a plaintext key is in the logs');
        assert.ok(!metricsText.includes(needle), 'a plaintext key is in the metrics');
      }
    });

    it('would find a key that did leak (the scan is not blind)', async () => {
      const canary = randomBytes(32).toString('hex');
      await tdb.db.audit({ actor: 'test', action: 'canary', details: { note: `0x${canary}` } });
      assert.ok((await dumpTextColumns(tdb.db)).text.includes(canary));
    });
  });
}

/** Every text, varchar, json and jsonb column of every table in the public schema, concatenated. */
async function dumpTextColumns(db: Database): Promise<{ text: string; columns: number }> {
  const columns = await db.sql<{ table_name: string; column_name: string }>(
    "select table_name, column_name from information_schema.columns where table_schema = 'public' and data_type in ('text', 'character varying', 'json', 'jsonb', 'bytea', 'ARRAY')",
  );
  const parts: string[] = [];
  for (const c of columns) {
    const values = await db.sql<{ v: string | null }>(`select "${c.column_name}"::text as v from "${c.table_name}"`);
    for (const { v } of values) if (v !== null) parts.push(v);
  }
  return { text: parts.join('\n'), columns: columns.length };
}

/** The plaintext key, recovered without our keystore code. */
async function recoverKey(fx: KeyStoreFixture, userId: string, ciphertext: string): Promise<Buffer> {
  if (fx.vault) return vaultDecrypt(fx.vault, userId, ciphertext);
  const file = JSON.parse(readFileSync(join(fx.dataDir!, MASTER_KEY_FILE), 'utf8')) as { keys: Record<string, string> };
  const [, version, body] = /^local:v(\d+):(.+)$/.exec(ciphertext)!;
  const bytes = Buffer.from(body!, 'base64');
  const gcm = createDecipheriv('aes-256-gcm', Buffer.from(file.keys[version!]!, 'base64'), bytes.subarray(0, 12));
  gcm.setAAD(Buffer.from(`vanta:wallet-key:${userId}`));
  gcm.setAuthTag(bytes.subarray(12, 28));
  const key = Buffer.concat([gcm.update(bytes.subarray(28)), gcm.final()]);
  assert.equal(key.length, 32);
  return key;
}

async function vaultDecrypt(vault: VaultDouble, userId: string, ciphertext: string): Promise<Buffer> {
  const response = await fetch(`${vault.url}/v1/transit/decrypt/vanta-wallets`, {
    method: 'POST',
    headers: { 'X-Vault-Token': vault.rootToken, 'content-type': 'application/json' },
    body: JSON.stringify({ ciphertext, context: Buffer.from(userId).toString('base64') }),
  });
  assert.equal(response.status, 200);
  const body = (await response.json()) as { data: { plaintext: string } };
  const key = Buffer.from(body.data.plaintext, 'base64');
  assert.equal(key.length, 32);
  return key;
}
