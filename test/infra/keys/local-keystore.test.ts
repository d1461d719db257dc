import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLocalKeyStore, MASTER_KEY_FILE } from '../../../src/infra/keys/local-keystore.ts';
import { silentLogger } from '../../helpers/common.ts';
import { signerOf, transferTx, userIds } from './support.ts';

describe('Local AES-256-GCM keystore', function () {
  let dataDir: string;
  const open = (mode: 'sandbox' | 'paper' | 'live' = 'sandbox', allowInLive = false) => createLocalKeyStore({ dataDir, mode, allowInLive, logger: silentLogger() });

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'vanta-local-keys-'));
  });
  afterEach(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('creates the master key file with mode 0600 on first use and reuses it after a restart', async () => {
    const first = await open();
    const [user] = userIds(1);
    const wallet = await first.createWallet(user!);
    await first.close();
    const path = join(dataDir, MASTER_KEY_FILE);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const second = await open();
    const signed = await second.signTransaction({ userId: user!, address: wallet.address, ciphertext: wallet.ciphertext }, transferTx());
    assert.equal(await signerOf(signed), wallet.address);
    await second.close();
  });

  it('binds the user id as AAD and detects any altered byte', async () => {
    const keystore = await open();
    const [alice, bob] = userIds(2);
    const wallet = await keystore.createWallet(alice!);
    const [moved, tampered] = await keystore.withSigners(
      [{ userId: bob!, address: wallet.address, ciphertext: wallet.ciphertext }],
      async (set) => [set.failures.get(bob!)?.code, (await keystore.withSigners([{ userId: alice!, address: wallet.address, ciphertext: flipLastByte(wallet.ciphertext) }], (s) => Promise.resolve(s.failures.get(alice!)?.code)))],
    );
    assert.equal(moved, 'KEY_DECRYPT_FAILED');
    assert.equal(tampered, 'KEY_DECRYPT_FAILED');
    await keystore.close();
  });

  it('keeps rotation state in the file: versions survive a restart and retired versions stay refused', async () => {
    const keystore = await open();
    const [user] = userIds(1);
    const wallet = await keystore.createWallet(user!);
    assert.equal(await keystore.rotate(), 2);
    await keystore.setMinDecryptionVersion(2);
    await keystore.close();
    const reopened = await open();
    assert.deepEqual(await reopened.versions(), { latestVersion: 2, minDecryptionVersion: 2 });
    await assert.rejects(reopened.signTransaction({ userId: user!, address: wallet.address, ciphertext: wallet.ciphertext }, transferTx()), { code: 'KEY_VERSION_RETIRED' });
    assert.equal((await reopened.createWallet(`${user!}-2`)).keyVersion, 2);
    await assert.rejects(reopened.setMinDecryptionVersion(3), { code: 'KEYSTORE_CONFIG' });
    await reopened.close();
  });

  it('refuses live mode unless ALLOW_LOCAL_KEYSTORE_IN_LIVE, as the config does', async () => {
    await assert.rejects(open('live', false), { code: 'KEYSTORE_CONFIG', message: /ALLOW_LOCAL_KEYSTORE_IN_LIVE/ });
    const allowed = await open('live', true);
    await allowed.close();
  });

  it('refuses a master key file other users can read, or one that is corrupt', async () => {
    await (await open()).close();
    const path = join(dataDir, MASTER_KEY_FILE);
    chmodSync(path, 0o644);
    await assert.rejects(open(), { code: 'KEYSTORE_CONFIG', message: /chmod 600/ });
    chmodSync(path, 0o600);
    const good = readFileSync(path, 'utf8');
    writeFileSync(path, good.replace(/"current": 1/, '"current": 5'));
    await assert.rejects(open(), { code: 'KEYSTORE_CONFIG', message: /version 5 is current but has no key.*Restore it from backup/ });
    writeFileSync(path, '{ not json');
    await assert.rejects(open(), { code: 'KEYSTORE_CONFIG', message: /not JSON/ });
  });

  it('a running keystore follows rotations another process writes to the file: opens new versions, seals with the newest, honours a raised minimum', async () => {
    // Two instances on one DATA_DIR share nothing but the file, as the engine and `npm run keys:rotate` do.
    const engine = await open();
    const operator = await open();
    const [before, after] = userIds(2);
    const old = await engine.createWallet(before!);
    assert.equal(await operator.rotate(), 2);
    const fresh = await operator.createWallet(after!);
    assert.equal(fresh.keyVersion, 2);
    const signed = await engine.signTransaction({ userId: after!, address: fresh.address, ciphertext: fresh.ciphertext }, transferTx());
    assert.equal(await signerOf(signed), fresh.address, 'the engine opens a version it did not know when it started');
    assert.equal((await engine.createWallet(`${after!}-2`)).keyVersion, 2, 'and seals new wallets with it');
    await operator.setMinDecryptionVersion(2);
    assert.deepEqual(await engine.versions(), { latestVersion: 2, minDecryptionVersion: 2 });
    await assert.rejects(engine.signTransaction({ userId: before!, address: old.address, ciphertext: old.ciphertext }, transferTx()), { code: 'KEY_VERSION_RETIRED' });
    await engine.close();
    await operator.close();
  });

  it('concurrent writers in several processes lose no update: every rotation gets its own version', async function () {
    this.timeout(60_000);
    await (await open()).close();
    const worker = fileURLToPath(new URL('./fixtures/rotate-file-worker.ts', import.meta.url));
    const runs = Array.from({ length: 4 }, () => {
      const child = spawn(process.execPath, [worker, dataDir, '8'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      return once(child, 'exit').then(([code]) => {
        assert.equal(code, 0, err);
        return (JSON.parse(out) as { versions: number[] }).versions;
      });
    });
    const given = (await Promise.all(runs)).flat().sort((a, b) => a - b);
    assert.deepEqual(given, Array.from({ length: 32 }, (_, i) => i + 2), 'versions 2..33, each handed out once');
    const file = JSON.parse(readFileSync(join(dataDir, MASTER_KEY_FILE), 'utf8')) as { current: number; keys: Record<string, string> };
    assert.equal(file.current, 33);
    assert.equal(Object.keys(file.keys).length, 33);
    assert.equal(new Set(Object.values(file.keys)).size, 33);
    assert.deepEqual(readdirSync(join(dataDir, 'keys')), ['master-keys.json'], 'no temporary or lock file is left behind');
  });
});

function flipLastByte(ciphertext: string): string {
  const [scheme, version, body] = ciphertext.split(':');
  const bytes = Buffer.from(body!, 'base64');
  bytes[bytes.length - 1]! ^= 1;
  return `${scheme}:${version}:${bytes.toString('base64')}`;
}
