import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Address } from 'viem';
import { txFixture, type TxFixture } from './support.ts';

const WORKER = fileURLToPath(new URL('./fixtures/tx-crash-worker.ts', import.meta.url));

function run(f: TxFixture, mode: 'submit' | 'recover', userId: string, from: Address, crashAt: string): Promise<{ code: number | null; signal: string | null; lines: Record<string, unknown>[] }> {
  const args = [WORKER, mode, f.sim.anvil.rpcUrl, String(f.sim.anvil.chainId), f.pg.url, f.keyDir, userId, from, f.sim.deployment.trading, crashAt];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal, lines: out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) }));
  });
}

describe('transaction pipeline across a crash (kill -9 at every step)', function () {
  this.timeout(120_000);
  let f: TxFixture;
  before(async () => {
    f = await txFixture();
  });
  after(async () => {
    await f.close();
  });

  const cases: { step: string; automine: boolean }[] = [
    { step: 'reserved', automine: true },
    { step: 'signed', automine: true },
    { step: 'broadcast', automine: false },
    { step: 'broadcast', automine: true },
    { step: 'mined', automine: true },
  ];
  for (const { step, automine } of cases) {
    it(`killed right after "${step}"${automine ? '' : ' (not yet mined)'}: one order on chain, no stuck nonce`, async () => {
      const userId = `crash-${step}-${automine ? 'auto' : 'manual'}`;
      const from = await f.trader(userId);
      const startNonce = await f.sim.clients.publicClient.getTransactionCount({ address: from });
      await f.sim.clients.testClient.setAutomine(automine);
      const crashed = await run(f, 'submit', userId, from, step);
      assert.equal(crashed.signal, 'SIGKILL', `the worker died at the chosen step (exit ${crashed.code}: ${JSON.stringify(crashed.lines)})`);
      if (!automine) {
        await f.sim.clients.testClient.mine({ blocks: 1 });
        await f.sim.clients.testClient.setAutomine(true);
      }
      const recovered = await run(f, 'recover', userId, from, 'none');
      assert.equal(recovered.code, 0);
      assert.deepEqual(recovered.lines.at(-1), { first: 'mined', second: 'mined' });
      assert.equal((await f.pendingOrders(from)).length, 2, 'order-1 exactly once, then order-2');
      assert.equal(await f.sim.clients.publicClient.getTransactionCount({ address: from }), startNonce + 2, 'two transactions, no gap, nothing stuck');
      const rows = await f.pg.db.sql<{ id: string; status: string }>(`select id, status from tx_intents where user_id = ? order by id`, [userId]);
      assert.deepEqual(rows, [
        { id: `${userId}:order-1:open`, status: 'mined' },
        { id: `${userId}:order-2:open`, status: 'mined' },
      ]);
    });
  }
});
