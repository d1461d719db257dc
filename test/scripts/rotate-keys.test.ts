import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createLocalKeyStore } from '../../src/infra/keys/local-keystore.ts';
import { createWallets, type Wallets } from '../../src/infra/keys/wallets.ts';
import { silentLogger } from '../helpers/common.ts';
import { createTestPostgres, type TestDatabase } from '../helpers/db.ts';
import { leastPrivilegeVault, signerOf, transferTx, vaultKeyStoreWith, type LeastPrivilegeVault } from '../infra/keys/support.ts';

const SCRIPT = fileURLToPath(new URL('../../scripts/rotate-keys.ts', import.meta.url));

interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Starts `npm run keys:rotate` as its own process, as an operator would next to a running engine. */
function startCli(args: readonly string[], env: Record<string, string>): { readonly exited: Promise<CliRun>; running: boolean } {
  const child = spawn(process.execPath, [SCRIPT, ...args], { env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const handle = {
    running: true,
    exited: once(child, 'exit').then(([code]) => {
      handle.running = false;
      return { code: code as number | null, stdout, stderr };
    }),
  };
  return handle;
}

const logLines = (stdout: string) => stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

describe('npm run keys:rotate (operator command)', function () {
  this.timeout(90_000);
  let pg: TestDatabase;
  let dataDir: string;
  const openLocal = () => createLocalKeyStore({ dataDir, mode: 'sandbox', allowInLive: false, logger: silentLogger() });

  beforeEach(async () => {
    pg = await createTestPostgres('rotate');
    dataDir = mkdtempSync(join(tmpdir(), 'vanta-rotate-'));
  });
  afterEach(async () => {
    await pg.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('rotates the local key, rewraps every wallet, and signing still works afterwards', async () => {
    const keystore = await openLocal();
    const wallets = createWallets({ db: pg.db, keystore, logger: silentLogger() });
    for (let i = 0; i < 7; i++) await wallets.create(`rot-${i}`);
    await keystore.close();

    const run = spawnSync(process.execPath, [SCRIPT, '--batch', '3'], { env: { PATH: process.env['PATH'] ?? '', DATABASE_URL: pg.url, DATA_DIR: dataDir }, encoding: 'utf8', timeout: 45_000 });
    assert.equal(run.status, 0, run.stderr);
    const lines = logLines(run.stdout);
    assert.deepEqual(lines.filter((l) => l['msg'] === 'Rewrapped a batch').map((l) => l['remaining']), [4, 1, 0]);
    assert.equal(lines.find((l) => l['msg'] === 'Key rotation finished')?.['outcome'], 'done');
    const versions = await pg.db.sql<{ key_version: number }>('select distinct key_version from wallets');
    assert.deepEqual(versions.map((v) => v.key_version), [2]);

    const reopened = await openLocal();
    const signer = createWallets({ db: pg.db, keystore: reopened, logger: silentLogger() });
    const raw = await signer.signTransaction('rot-3', transferTx());
    assert.match(raw, /^0x02/);
    await reopened.close();
  });

  it('keeps a running engine signing and creating wallets while the CLI rotates in another process (local keystore, PostgreSQL)', async () => {
    // The engine: one keystore loaded once, as main.ts holds it, never restarted in this test.
    const engineKeys = await openLocal();
    const engine = createWallets({ db: pg.db, keystore: engineKeys, logger: silentLogger() });
    const users: string[] = [];
    for (let i = 0; i < 150; i++) users.push((await engine.create(`live-${String(i).padStart(3, '0')}`)).userId);

    const cli = startCli(['--batch', '1'], { DATABASE_URL: pg.url, DATA_DIR: dataDir });
    const failures: string[] = [];
    const createdDuring: string[] = [];
    let rounds = 0;
    let mixedRounds = 0;
    while (cli.running) {
      const batch = [...users.slice((rounds * 13) % users.length, ((rounds * 13) % users.length) + 12), ...createdDuring.slice(-3)];
      await signEach(engine, batch, rounds, failures);
      const byVersion = await pg.db.sql<{ key_version: number }>('select distinct key_version from wallets');
      if (byVersion.length > 1) mixedRounds += 1;
      if (rounds % 4 === 0) createdDuring.push((await engine.create(`during-${rounds}`)).userId);
      rounds += 1;
      await sleep(5);
    }
    const run = await cli.exited;
    assert.equal(run.code, 0, run.stderr + run.stdout.slice(-2000));
    assert.equal(logLines(run.stdout).find((l) => l['msg'] === 'Key rotation finished')?.['outcome'], 'done');
    assert.deepEqual(failures, [], 'every signature during the rotation succeeded');
    assert.ok(mixedRounds >= 3, `the engine signed in ${mixedRounds} rounds while wallets were on both versions (of ${rounds})`);
    assert.ok(createdDuring.length >= 2, `${createdDuring.length} wallets were created during the rotation`);

    // Nothing is left on the retired version, wallets created meanwhile included, and the engine knows it.
    assert.deepEqual(await pg.db.sql('select key_version, count(*)::int as n from wallets group by 1'), [{ key_version: 2, n: users.length + createdDuring.length }]);
    assert.deepEqual(await engineKeys.versions(), { latestVersion: 2, minDecryptionVersion: 2 });
    await signEach(engine, [...users, ...createdDuring], 99, failures);
    assert.deepEqual(failures, []);
    // And after a restart, which only has the file.
    const restarted = await openLocal();
    await signEach(createWallets({ db: pg.db, keystore: restarted, logger: silentLogger() }), createdDuring, 100, failures);
    assert.deepEqual(failures, []);
    await restarted.close();
    await engineKeys.close();
  });

  describe('with Vault: the operator token, never the engine one', () => {
    let lp: LeastPrivilegeVault;
    beforeEach(async () => {
      lp = await leastPrivilegeVault();
    });
    afterEach(async () => {
      await lp.vault.close();
    });

    it('rotates with VAULT_OPERATOR_TOKEN while the engine, holding only its own policy, keeps signing', async () => {
      const engineKeys = await vaultKeyStoreWith(lp.vault, lp.engineToken);
      const engine = createWallets({ db: pg.db, keystore: engineKeys, logger: silentLogger() });
      const users: string[] = [];
      for (let i = 0; i < 60; i++) users.push((await engine.create(`vault-${i}`)).userId);

      // The engine's environment plus the operator's token, as in docker compose exec -e VAULT_OPERATOR_TOKEN=… app npm run keys:rotate.
      const cli = startCli(['--batch', '2'], { DATABASE_URL: pg.url, VAULT_ADDR: lp.vault.url, VAULT_TOKEN: lp.engineToken, VAULT_OPERATOR_TOKEN: lp.operatorToken });
      const failures: string[] = [];
      const createdDuring: string[] = [];
      for (let round = 0; cli.running; round++) {
        await signEach(engine, users.slice((round * 7) % 50, ((round * 7) % 50) + 10), round, failures);
        if (round % 3 === 0) createdDuring.push((await engine.create(`vault-during-${round}`)).userId);
        await sleep(5);
      }
      const run = await cli.exited;
      assert.equal(run.code, 0, run.stderr + run.stdout.slice(-2000));
      assert.equal(logLines(run.stdout).find((l) => l['msg'] === 'Key rotation finished')?.['outcome'], 'done');
      assert.deepEqual(failures, []);
      assert.deepEqual(lp.vault.key('vanta-wallets'), { type: 'aes256-gcm96', derived: true, latestVersion: 2, minDecryptionVersion: 2 });
      assert.deepEqual(await pg.db.sql('select key_version, count(*)::int as n from wallets group by 1'), [{ key_version: 2, n: users.length + createdDuring.length }]);
      await signEach(engine, [...users, ...createdDuring], 50, failures);
      assert.deepEqual(failures, []);
      assert.doesNotMatch(run.stdout + run.stderr, new RegExp(`${lp.operatorToken}|${lp.engineToken}`), 'no token in the output');
      await engineKeys.close();
    });

    it('refuses clearly without VAULT_OPERATOR_TOKEN, before touching Vault or the database', async () => {
      lp.vault.resetCounts();
      // Not spawnSync: the Vault double answers from this process's event loop.
      const run = await startCli([], { DATABASE_URL: pg.url, VAULT_ADDR: lp.vault.url, VAULT_TOKEN: lp.engineToken }).exited;
      assert.equal(run.code, 78, run.stdout + run.stderr);
      assert.match(run.stderr, /keys:rotate: .*VAULT_OPERATOR_TOKEN.*vanta-rotation/);
      assert.match(run.stderr, /VAULT_TOKEN .*may only encrypt and decrypt/);
      assert.equal(lp.vault.requestCount(), 0);
      assert.deepEqual(await pg.db.sql('select id from key_rotations'), []);
    });
  });
});

/** Signs one transaction per user and checks who signed it; any failure is recorded, not thrown, so the loop sees them all. */
async function signEach(wallets: Wallets, users: readonly string[], nonce: number, failures: string[]): Promise<void> {
  await wallets.withSigners(users, async (set) => {
    for (const [userId, error] of set.failures) failures.push(`${userId}: ${error.code} ${error.message}`);
    for (const [userId, signer] of set.signers) {
      const signed = await signer.signTransaction(transferTx(nonce));
      if ((await signerOf(signed)) !== signer.address) failures.push(`${userId}: signed by someone else`);
    }
  });
}
