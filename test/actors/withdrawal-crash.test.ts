import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getAddress, parseAbiItem, parseEther, parseUnits } from 'viem';
import { createLocalKeyStore } from '../../src/infra/keys/local-keystore.ts';
import type { KeyStore } from '../../src/infra/keys/keystore.ts';
import { createWallets, type Wallets } from '../../src/infra/keys/wallets.ts';
import { silentLogger } from '../helpers/common.ts';
import { createTestPostgres, type TestDatabase } from '../helpers/db.ts';
import { PRICE, startSimulator, type SimFixture } from '../infra/devnet/fixture.ts';
import type { CrashWorkerSetup } from './fixtures/crash-worker.ts';

const WORKER = fileURLToPath(new URL('./fixtures/withdrawal-worker.ts', import.meta.url));
const TRANSFER = parseAbiItem('event Transfer(address indexed from, address indexed to, uint256 value)');

type Line = { recovered?: string[]; accepted?: unknown; survived?: boolean; restored?: string | null; notices?: { kind: string; text: string }[] };

function run(args: readonly string[]): Promise<{ code: number | null; signal: string | null; lines: Line[] }> {
  const child = spawn(process.execPath, [WORKER, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal, lines: out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line) }));
  });
}

/**
 * The engine is killed with SIGKILL right after the withdrawal's transaction intent reaches a
 * durable step (the nonce reserved; the transfer signed but not broadcast; broadcast), then
 * restarted on the same database and chain: the restored withdrawal resumes the same intent, the
 * USDC moves exactly once, and the trader is told the outcome.
 */
describe('withdrawal across a crash (SIGKILL at each step of its transaction, on the devnet)', function () {
  this.timeout(240_000);
  let sim: SimFixture;
  let t: TestDatabase;
  let dir: string;
  let setupFile: string;
  let keystore: KeyStore;
  let wallets: Wallets;

  before(async () => {
    sim = await startSimulator();
    t = await createTestPostgres('withdraw_crash');
    await sim.setPrice(0n, PRICE('3000'));
    dir = mkdtempSync(join(tmpdir(), 'vanta-withdraw-crash-'));
    const setup: CrashWorkerSetup = { pgUrl: t.url, rpcUrl: sim.anvil.rpcUrl, chainId: sim.anvil.chainId, deployment: sim.deployment, keyDir: join(dir, 'keys') };
    setupFile = join(dir, 'setup.json');
    writeFileSync(setupFile, JSON.stringify(setup));
    keystore = await createLocalKeyStore({ dataDir: join(dir, 'keys'), mode: 'sandbox', allowInLive: false, logger: silentLogger() });
    wallets = createWallets({ db: t.db, keystore, logger: silentLogger() });
  });
  after(async () => {
    await keystore?.close();
    await t?.destroy();
    await sim?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const cases = [
    { step: 'reserved', recover: true },
    { step: 'signed', recover: true },
    { step: 'signed', recover: false },
    { step: 'broadcast', recover: true },
  ] as const;
  for (const [i, { step, recover }] of cases.entries()) {
    it(`killed right after "${step}": resumed after the restart${recover ? '' : ' by the withdrawal actor alone (no boot recovery)'}, on chain exactly once, and the trader told`, async () => {
      const telegramId = 900 + i;
      const withdrawalId = `wd-crash-${i}-${step}`;
      const { address: from } = await wallets.create(`user:${telegramId}`);
      await sim.clients.testClient.setBalance({ address: from, value: parseEther('1') });
      await sim.call(sim.deployer, 'SimUSDC', sim.deployment.usdc, 'mint', [from, parseUnits('100', 6)]);
      const to = getAddress(`0x${randomBytes(20).toString('hex')}`);
      const nonce = await sim.clients.publicClient.getTransactionCount({ address: from });

      const crashed = await run(['work', setupFile, String(telegramId), withdrawalId, to, '30', step]);
      assert.equal(crashed.signal, 'SIGKILL', `the engine died at "${step}" (exit ${crashed.code}: ${JSON.stringify(crashed.lines)})`);
      const [intent] = await t.db.sql<{ status: string }>('select status from tx_intents where id = ?', [`withdrawal:${withdrawalId}`]);
      assert.equal(intent?.status, step, `the intent was left ${step}`);
      if (step !== 'broadcast') assert.equal(await sim.clients.publicClient.getTransactionCount({ address: from }), nonce, 'nothing reached the chain before the crash');

      const verified = await run(['verify', setupFile, String(telegramId), withdrawalId, ...(recover ? [] : ['no-recover'])]);
      assert.deepEqual(verified.lines.find((l) => 'recovered' in l)?.recovered ?? [], recover ? [`withdrawal:${withdrawalId}`] : []);
      assert.equal(verified.code, 0, JSON.stringify(verified.lines));
      const restored = verified.lines.find((l) => 'restored' in l)?.restored;
      assert.ok(restored === 'requested' || restored === 'sending' || restored === 'confirming', `restored in flight (${restored})`);
      const notices = verified.lines.find((l) => l.notices)?.notices ?? [];
      const done = notices.find((n) => n.kind === 'withdrawal.done');
      assert.ok(done, `the trader was told it is done (got ${JSON.stringify(notices)})`);

      const transfers = await sim.clients.publicClient.getLogs({ address: sim.deployment.usdc, event: TRANSFER, args: { from }, fromBlock: 0n });
      assert.deepEqual(
        transfers.map((l) => [l.args.to, l.args.value]),
        [[to, parseUnits('30', 6)]],
        'exactly one transfer of 30 USDC',
      );
      assert.match(done.text, new RegExp(`is done: 30 USDC was sent to ${to}\\. Transaction ${transfers[0]!.transactionHash}\\.$`));
      assert.equal(await sim.clients.publicClient.getTransactionCount({ address: from }), nonce + 1, 'one transaction, no gap');
      assert.deepEqual(await t.db.sql('select id, status from tx_intents where user_id = ?', [`user:${telegramId}`]), [{ id: `withdrawal:${withdrawalId}`, status: 'mined' }]);
      const [row] = await t.db.sql<{ status: string; snapshot: { value: unknown } }>('select status, snapshot from actor_snapshots where id = ?', [`withdrawal:${withdrawalId}`]);
      assert.deepEqual([row?.status, row?.snapshot.value], ['done', 'done']);
    });
  }
});

