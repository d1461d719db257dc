import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLocalKeyStore } from '../../src/infra/keys/local-keystore.ts';
import { createWallets } from '../../src/infra/keys/wallets.ts';
import { silentLogger } from '../helpers/common.ts';
import { createTestPostgres, type TestDatabase } from '../helpers/db.ts';

const SCRIPT = fileURLToPath(new URL('../../scripts/rotate-keys.ts', import.meta.url));

describe('npm run keys:rotate (operator command)', function () {
  this.timeout(60_000);
  let pg: TestDatabase;
  const dataDir = mkdtempSync(join(tmpdir(), 'vanta-rotate-'));
  before(async () => {
    pg = await createTestPostgres('rotate');
  });
  after(async () => {
    await pg.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('rotates the local key, rewraps every wallet, and signing still works afterwards', async () => {
    const keystore = await createLocalKeyStore({ dataDir, mode: 'sandbox', allowInLive: false, logger: silentLogger() });
    const wallets = createWallets({ db: pg.db, keystore, logger: silentLogger() });
    for (let i = 0; i < 7; i++) await wallets.create(`rot-${i}`);
    await keystore.close();

    const run = spawnSync(process.execPath, [SCRIPT, '--batch', '3'], { env: { PATH: process.env['PATH'] ?? '', DATABASE_URL: pg.url, DATA_DIR: dataDir }, encoding: 'utf8', timeout: 45_000 });
    assert.equal(run.status, 0, run.stderr);
    const lines = run.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(lines.filter((l) => l['msg'] === 'Rewrapped a batch').map((l) => l['remaining']), [4, 1, 0]);
    assert.equal(lines.find((l) => l['msg'] === 'Key rotation finished')?.['outcome'], 'done');
    const versions = await pg.db.sql<{ key_version: number }>('select distinct key_version from wallets');
    assert.deepEqual(versions.map((v) => v.key_version), [2]);

    const reopened = await createLocalKeyStore({ dataDir, mode: 'sandbox', allowInLive: false, logger: silentLogger() });
    const signer = createWallets({ db: pg.db, keystore: reopened, logger: silentLogger() });
    const raw = await signer.signTransaction('rot-3', { type: 'eip1559', chainId: 8453, nonce: 0, to: '0x000000000000000000000000000000000000dEaD', value: 1n, gas: 21_000n, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n });
    assert.match(raw, /^0x02/);
    await reopened.close();
  });
});
