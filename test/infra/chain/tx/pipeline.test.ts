import assert from 'node:assert/strict';
import { createPublicClient, custom, fallback, http, parseGwei, parseUnits, type PublicClient } from 'viem';
import { VantaError } from '../../../../src/errors.ts';
import { TradeRejectedError } from '../../../../src/infra/chain/avantis/errors.ts';
import { findRevert, rejectionFor } from '../../../../src/infra/chain/avantis/revert.ts';
import { openTradeData, txFixture, type TxFixture } from './support.ts';

describe('transaction pipeline', function () {
  this.timeout(60_000);
  let f: TxFixture;
  let snapshot: `0x${string}`;
  before(async () => {
    f = await txFixture();
  });
  after(async () => {
    await f.close();
  });
  beforeEach(async () => {
    snapshot = await f.sim.clients.testClient.snapshot();
  });
  afterEach(async () => {
    await f.sim.clients.testClient.revert({ id: snapshot });
    await f.sim.clients.testClient.setAutomine(true);
  });

  const nonceOf = (address: `0x${string}`) => f.sim.clients.publicClient.getTransactionCount({ address });

  it('signs, stores, broadcasts and confirms an order; running the same intent again sends nothing new', async () => {
    const pipeline = f.pipeline();
    const from = await f.trader('tx-user-1');
    const outcome = await pipeline.execute(f.openIntent('position:1:open', 'tx-user-1', from));
    assert.equal(outcome.status, 'mined');
    assert.equal((await f.pendingOrders(from)).length, 1);
    const again = await pipeline.execute(f.openIntent('position:1:open', 'tx-user-1', from));
    assert.equal(again.status, 'mined');
    assert.equal(again.status === 'mined' && again.hash, outcome.hash);
    assert.equal(await nonceOf(from), 2, 'approve + one open, nothing else');
    assert.equal((await f.pendingOrders(from)).length, 1);
    const rows = await f.pg.db.sql<{ status: string; mined_hash: string }>(`select status, mined_hash from tx_intents where user_id = 'tx-user-1'`);
    assert.deepEqual(rows, [{ status: 'mined', mined_hash: outcome.hash }]);
  });

  it('refuses an order the contract would revert, with the reason, and reserves nothing', async () => {
    const pipeline = f.pipeline();
    const from = await f.trader('tx-user-2');
    const bad = { ...f.openIntent('position:2:open', 'tx-user-2', from), request: { ...f.openIntent('x', 'x', from).request, data: openTradeData(from, { leverage: parseUnits('500', 10) }) } };
    await assert.rejects(pipeline.execute(bad), (err: unknown) => err instanceof VantaError && err.code === 'TX_SIMULATION_FAILED' && /LEVERAGE_INCORRECT/.test(err.message));
    assert.deepEqual(await f.pg.db.sql(`select id from tx_intents where user_id = 'tx-user-2'`), []);
    assert.equal(await nonceOf(from), 1);
  });

  it('explains a revert in words a trader understands when the protocol adapter is plugged in', async () => {
    const pipeline = f.pipeline({ explainRevert: (error, reason) => rejectionFor(findRevert(error) ?? { kind: 'string', reason }, { minLeverage: parseUnits('1', 10), maxLeverage: parseUnits('75', 10) }) });
    const from = await f.trader('tx-user-2b');
    const bad = { ...f.openIntent('position:2b:open', 'tx-user-2b', from), request: { ...f.openIntent('x', 'x', from).request, data: openTradeData(from, { leverage: parseUnits('500', 10) }) } };
    await assert.rejects(pipeline.execute(bad), (err: unknown) => err instanceof TradeRejectedError && err.message === 'Leverage out of range: this pair allows 1x to 75x.');
  });

  it('keeps nonces right when the wallet also sends from elsewhere', async () => {
    const pipeline = f.pipeline();
    const from = await f.trader('tx-user-3');
    await pipeline.execute(f.openIntent('position:3a:open', 'tx-user-3', from));
    // Someone else sends two transactions from the same wallet.
    for (let i = 0; i < 2; i++) {
      const raw = await f.wallets.signTransaction('tx-user-3', { type: 'eip1559', chainId: f.sim.anvil.chainId, nonce: 2 + i, to: from, value: 1n, gas: 21_000n, maxFeePerGas: parseGwei('10'), maxPriorityFeePerGas: 1n });
      await f.sim.clients.publicClient.sendRawTransaction({ serializedTransaction: raw });
    }
    const outcome = await pipeline.execute(f.openIntent('position:3b:open', 'tx-user-3', from));
    assert.equal(outcome.status, 'mined');
    const nonces = await f.pg.db.sql<{ id: string; nonce: string }>(`select id, nonce from tx_intents where user_id = 'tx-user-3' order by nonce`);
    assert.deepEqual(nonces.map((r) => [r.id, Number(r.nonce)]), [['position:3a:open', 1], ['position:3b:open', 4]]);
  });

  it('speeds up a stuck transaction within the fee cap, and the bumped one confirms', async () => {
    const pipeline = f.pipeline({ speedUpAfterMs: 150 });
    const from = await f.trader('tx-user-4');
    await f.sim.clients.testClient.setAutomine(false);
    const done = pipeline.execute(f.openIntent('position:4:open', 'tx-user-4', from));
    await new Promise((r) => setTimeout(r, 600));
    await f.sim.clients.testClient.mine({ blocks: 1 });
    const outcome = await done;
    assert.equal(outcome.status, 'mined');
    const attempts = await f.pg.db.sql<{ hash: string; max_fee_per_gas: string }>(`select hash, max_fee_per_gas from tx_attempts where intent_id = 'position:4:open' order by created_at`);
    assert.ok(attempts.length >= 2, `expected a speed-up, got ${attempts.length} attempt(s)`);
    // A re-priced attempt is the one mined: the newest, or the one before it when a further
    // speed-up was being signed just as the block came (stored first, then offered: too late).
    const mined = attempts.findIndex((a) => outcome.status === 'mined' && a.hash === outcome.hash);
    assert.ok(mined >= 1 && mined >= attempts.length - 2, `mined attempt ${mined} of ${attempts.length}`);
    assert.ok(BigInt(attempts[mined]!.max_fee_per_gas) > BigInt(attempts[0]!.max_fee_per_gas));
    assert.equal((await f.pendingOrders(from)).length, 1, 'still exactly one order on chain');
  });

  it('does not speed up past the fee cap', async () => {
    const from = await f.trader('tx-user-5');
    const block = await f.sim.clients.publicClient.getBlock();
    const cap = (block.baseFeePerGas ?? 0n) * 2n + 10n;
    const pipeline = f.pipeline({ speedUpAfterMs: 100, fees: { maxFeePerGas: cap, minPriorityFeePerGas: 1n } });
    await f.sim.clients.testClient.setAutomine(false);
    const done = pipeline.execute(f.openIntent('position:5:open', 'tx-user-5', from));
    await new Promise((r) => setTimeout(r, 500));
    await f.sim.clients.testClient.mine({ blocks: 1 });
    assert.equal((await done).status, 'mined');
    const attempts = await f.pg.db.sql<{ max_fee_per_gas: string }>(`select max_fee_per_gas from tx_attempts where intent_id = 'position:5:open'`);
    assert.ok(attempts.every((a) => BigInt(a.max_fee_per_gas) <= cap));
  });

  it('refuses to send when the network fee is above the cap, reserving nothing', async () => {
    const from = await f.trader('tx-user-6');
    const pipeline = f.pipeline({ fees: { maxFeePerGas: 1n, minPriorityFeePerGas: 1n } });
    await assert.rejects(pipeline.execute(f.openIntent('position:6:open', 'tx-user-6', from)), (err: unknown) => err instanceof VantaError && err.code === 'TX_FEE_CAP');
    assert.deepEqual(await f.pg.db.sql(`select id from tx_intents where user_id = 'tx-user-6'`), []);
  });

  it('reports a nonce taken by another transaction as superseded, never as mined', async () => {
    const pipeline = f.pipeline();
    const from = await f.trader('tx-user-7');
    await f.sim.clients.testClient.setAutomine(false);
    await pipeline.submit(f.openIntent('position:7:open', 'tx-user-7', from));
    // Another sender replaces it in the mempool with a higher fee at the same nonce.
    await f.sim.clients.testClient.dropTransaction({ hash: (await f.pg.db.sql<{ hash: `0x${string}` }>(`select hash from tx_attempts where intent_id = 'position:7:open'`))[0]!.hash });
    const raw = await f.wallets.signTransaction('tx-user-7', { type: 'eip1559', chainId: f.sim.anvil.chainId, nonce: 1, to: from, value: 1n, gas: 21_000n, maxFeePerGas: parseGwei('50'), maxPriorityFeePerGas: parseGwei('5') });
    await f.sim.clients.publicClient.sendRawTransaction({ serializedTransaction: raw });
    await f.sim.clients.testClient.mine({ blocks: 1 });
    const outcome = await pipeline.waitForOutcome('position:7:open');
    assert.equal(outcome.status, 'superseded');
    assert.equal((await f.pendingOrders(from)).length, 0);
    // The next order from this wallet is not stuck behind it.
    await f.sim.clients.testClient.setAutomine(true);
    assert.equal((await pipeline.execute(f.openIntent('position:7b:open', 'tx-user-7', from))).status, 'mined');
  });

  it('fails over to the next RPC URL, and turns a malformed RPC answer into a clear error', async () => {
    const from = await f.trader('tx-user-8');
    const dead = 'http://127.0.0.1:9/';
    const failover = createPublicClient({ transport: fallback([http(dead, { retryCount: 0 }), http(f.sim.anvil.rpcUrl)]) }) as PublicClient;
    assert.equal((await f.pipeline({ client: failover }).execute(f.openIntent('position:8:open', 'tx-user-8', from))).status, 'mined');

    const garbage = createPublicClient({
      transport: custom({
        request: async ({ method, params }: { method: string; params?: unknown }) => {
          if (method === 'eth_getTransactionCount') return 'not-a-number';
          return f.sim.clients.publicClient.request({ method, params } as never);
        },
      }),
    }) as PublicClient;
    await assert.rejects(f.pipeline({ client: garbage }).execute(f.openIntent('position:8b:open', 'tx-user-8', from)), (err: unknown) => err instanceof VantaError && err.code === 'RPC_UNAVAILABLE');
    assert.equal((await f.pg.db.sql('select id from tx_intents where id = ?', ['position:8b:open'])).length, 0, 'nothing reserved');
  });
});
