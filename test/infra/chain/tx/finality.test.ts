import assert from 'node:assert/strict';
import { parseGwei, toHex, type Hex } from 'viem';
import { VantaError } from '../../../../src/errors.ts';
import type { TxSigner } from '../../../../src/infra/chain/tx/pipeline.ts';
import { proxyClient, sleep, txFixture, waitUntil, type RpcCall, type TxFixture } from './support.ts';

/**
 * An intent is final only when the chain says so: a refused speed-up, a receipt lookup that
 * errors or lags, or one RPC that is behind must never turn a transaction that can still mine
 * (or did mine) into "superseded".
 */
describe('transaction finality', function () {
  this.timeout(60_000);
  let f: TxFixture;
  let snapshot: Hex;
  let baseFee: bigint;
  before(async () => {
    f = await txFixture();
  });
  after(async () => {
    await f.close();
  });
  beforeEach(async () => {
    snapshot = await f.sim.clients.testClient.snapshot();
    baseFee = (await f.sim.clients.publicClient.getBlock()).baseFeePerGas!;
  });
  afterEach(async () => {
    await f.sim.clients.testClient.revert({ id: snapshot });
    await f.sim.clients.testClient.setAutomine(true);
    // A revert keeps anvil's next-block base fee override: a failed test must not leave its own.
    await setNextBaseFee(baseFee);
  });

  const test = () => f.sim.clients.testClient;
  const attemptsOf = (id: string) =>
    f.pg.db.sql<{ hash: Hex; max_fee_per_gas: string; status: string; error: string | null }>(
      'select hash, max_fee_per_gas, status, error from tx_attempts where intent_id = ? order by created_at, hash',
      [id],
    );
  const intentRow = async (id: string) =>
    (await f.pg.db.sql<{ status: string; error: string | null; mined_hash: string | null; gas_limit: string; value: string; nonce: string }>(
      'select status, error, mined_hash, gas_limit, value, nonce from tx_intents where id = ?',
      [id],
    ))[0]!;
  const setNextBaseFee = (wei: bigint) => test().request({ method: 'anvil_setNextBlockBaseFeePerGas', params: [toHex(wei)] } as never);
  /** Our attempt leaves the pool and another transaction from the same wallet takes its nonce. */
  async function takeNonce(userId: string, nonce: number, ourHash: Hex): Promise<Hex> {
    await test().dropTransaction({ hash: ourHash });
    const from = (await f.wallets.find(userId))!.address;
    const raw = await f.wallets.signTransaction(userId, { type: 'eip1559', chainId: f.sim.anvil.chainId, nonce, to: from, value: 1n, gas: 21_000n, maxFeePerGas: parseGwei('50'), maxPriorityFeePerGas: parseGwei('5') });
    const hash = await f.sim.clients.publicClient.sendRawTransaction({ serializedTransaction: raw });
    await test().mine({ blocks: 1 });
    return hash;
  }

  describe('a refused speed-up', () => {
    it('for insufficient funds leaves the intent open; the first attempt mines and the intent ends mined', async () => {
      const id = 'position:fin-1:open';
      const pipeline = f.pipeline({ speedUpAfterMs: 150 });
      const from = await f.trader('fin-1');
      await test().setAutomine(false);
      await pipeline.submit(f.openIntent(id, 'fin-1', from));
      const [first] = await attemptsOf(id);
      const intent = await intentRow(id);
      // Just enough ETH for the first attempt at its max fee: any bump is unaffordable.
      await test().setBalance({ address: from, value: BigInt(intent.gas_limit) * BigInt(first!.max_fee_per_gas) + BigInt(intent.value) });
      const done = pipeline.waitForOutcome(id);
      done.catch(() => {});
      await waitUntil(async () => (await attemptsOf(id)).length >= 2, 'a speed-up was signed');
      await sleep(500);
      assert.equal((await intentRow(id)).status, 'broadcast', 'the first attempt can still mine: the intent stays open');
      // 150 ms between speed-ups, doubled after each refusal: one more at most in 500 ms.
      assert.ok((await attemptsOf(id)).length <= 3, `refused speed-ups back off (${(await attemptsOf(id)).length} attempts)`);
      await test().mine({ blocks: 1 });
      const outcome = await done;
      assert.equal(outcome.status, 'mined');
      assert.equal(outcome.status === 'mined' && outcome.hash, first!.hash, 'the first attempt is the one mined');
      assert.equal((await intentRow(id)).status, 'mined');
      assert.equal((await f.pendingOrders(from)).length, 1);
      const attempts = await attemptsOf(id);
      assert.equal(attempts[0]!.status, 'sent');
      assert.ok(attempts.slice(1).every((a) => a.status === 'refused' && /insufficient funds/i.test(a.error ?? '')), JSON.stringify(attempts.map((a) => [a.status, a.error])));
    });

    it('because its fee is below the base fee leaves the intent open; the first attempt mines when the base fee falls', async () => {
      const id = 'position:fin-2:open';
      const from = await f.trader('fin-2');
      const base = (await f.sim.clients.publicClient.getBlock()).baseFeePerGas!;
      const pipeline = f.pipeline({ speedUpAfterMs: 150, fees: { maxFeePerGas: parseGwei('20'), minPriorityFeePerGas: 1n } });
      await test().setAutomine(false);
      await pipeline.submit(f.openIntent(id, 'fin-2', from));
      const [first] = await attemptsOf(id);
      // The next block's base fee jumps above the cap: no speed-up can be priced high enough.
      await setNextBaseFee(parseGwei('100'));
      const done = pipeline.waitForOutcome(id);
      done.catch(() => {});
      await waitUntil(async () => (await attemptsOf(id)).length >= 2, 'a speed-up was signed');
      await sleep(200);
      assert.equal((await intentRow(id)).status, 'broadcast', 'the first attempt can still mine: the intent stays open');
      await setNextBaseFee(base);
      await test().mine({ blocks: 1 });
      const outcome = await done;
      assert.equal(outcome.status, 'mined');
      assert.equal(outcome.status === 'mined' && outcome.hash, first!.hash);
      assert.equal((await intentRow(id)).status, 'mined');
      const refused = (await attemptsOf(id)).slice(1);
      assert.ok(refused.length >= 1 && refused.every((a) => a.status === 'refused' && /base fee/i.test(a.error ?? '')));
    });
  });

  describe('re-sending', () => {
    it('a transaction a node lost and now refuses on resume stays open (it was sent before); a speed-up gets it mined', async () => {
      const id = 'position:fin-8:open';
      const from = await f.trader('fin-8');
      await test().setAutomine(false);
      await f.pipeline().submit(f.openIntent(id, 'fin-8', from));
      const [first] = await attemptsOf(id);
      // The node forgets it, and the base fee rises above what it offers.
      await test().dropTransaction({ hash: first!.hash });
      await setNextBaseFee(parseGwei('100'));
      const restarted = f.pipeline({ speedUpAfterMs: 150, fees: { maxFeePerGas: parseGwei('500'), minPriorityFeePerGas: 1n } });
      assert.deepEqual((await restarted.recover()).map((i) => i.id), [id]);
      assert.equal((await intentRow(id)).status, 'broadcast', 'a refusal of a transaction a node took before ends nothing');
      assert.equal((await attemptsOf(id))[0]!.status, 'sent');
      await setNextBaseFee(baseFee);
      await test().setAutomine(true);
      const outcome = await restarted.waitForOutcome(id);
      assert.equal(outcome.status, 'mined');
      assert.notEqual(outcome.status === 'mined' && outcome.hash, first!.hash, 'the lost transaction was replaced by a speed-up, which mined');
      assert.equal((await f.pendingOrders(from)).length, 1);
    });

    it('a speed-up whose broadcast failed (no answer) is offered again, not signed anew', async () => {
      const id = 'position:fin-9:open';
      let failNextSend = false;
      const client = proxyClient(f, (call) => {
        if (call.method !== 'eth_sendRawTransaction' || !failNextSend) return undefined;
        failNextSend = false;
        return Promise.reject(new Error('socket hang up'));
      });
      const pipeline = f.pipeline({ client, speedUpAfterMs: 150 });
      const from = await f.trader('fin-9');
      await test().setAutomine(false);
      await pipeline.submit(f.openIntent(id, 'fin-9', from));
      failNextSend = true;
      const done = pipeline.waitForOutcome(id);
      done.catch(() => {});
      await waitUntil(async () => (await attemptsOf(id))[1]?.status === 'sent', 'the speed-up was offered again and taken');
      await test().mine({ blocks: 1 });
      const outcome = await done;
      assert.equal(outcome.status, 'mined');
      const attempts = await attemptsOf(id);
      assert.equal(outcome.status === 'mined' && outcome.hash, attempts[1]!.hash, 'the speed-up that failed to send the first time is the one mined');
    });
  });

  describe('a refused first attempt', () => {
    it('with nothing else in flight ends the intent rejected (nothing executed) and frees its nonce', async () => {
      const id = 'position:fin-6:open';
      const from = await f.trader('fin-6');
      const base = (await f.sim.clients.publicClient.getBlock()).baseFeePerGas!;
      const pipeline = f.pipeline();
      const nonce = await f.sim.clients.publicClient.getTransactionCount({ address: from });
      // The next block's base fee is above what the first attempt offers: the node refuses it.
      await setNextBaseFee(parseGwei('100'));
      const isRejected = (err: unknown) => err instanceof VantaError && err.code === 'TX_REJECTED' && /base fee/.test(err.message);
      await assert.rejects(pipeline.execute(f.openIntent(id, 'fin-6', from)), isRejected);
      assert.equal((await intentRow(id)).status, 'rejected');
      assert.deepEqual((await attemptsOf(id)).map((a) => a.status), ['refused']);
      // Final: asking again neither signs nor sends anything new.
      await assert.rejects(pipeline.execute(f.openIntent(id, 'fin-6', from)), isRejected);
      await assert.rejects(pipeline.waitForOutcome(id), isRejected);
      assert.equal((await attemptsOf(id)).length, 1);
      await setNextBaseFee(base);
      const next = await pipeline.execute(f.openIntent('position:fin-6b:open', 'fin-6', from));
      assert.equal(next.status, 'mined');
      assert.equal(Number((await intentRow('position:fin-6b:open')).nonce), nonce, 'the rejected intent left its nonce free');
    });

    it('answered "nonce too low" is no rejection: the receipts decide (here: superseded by the transaction that took the nonce)', async () => {
      const id = 'position:fin-7:open';
      const from = await f.trader('fin-7');
      let other: Hex | null = null;
      // Someone else takes the nonce between our reservation and our broadcast.
      const signer: TxSigner = {
        async signTransaction(userId, tx) {
          if (other === null) {
            const raw = await f.wallets.signTransaction(userId, { type: 'eip1559', chainId: f.sim.anvil.chainId, nonce: tx.nonce!, to: from, value: 1n, gas: 21_000n, maxFeePerGas: parseGwei('50'), maxPriorityFeePerGas: parseGwei('5') });
            other = await f.sim.clients.publicClient.sendRawTransaction({ serializedTransaction: raw });
          }
          return f.wallets.signTransaction(userId, tx);
        },
      };
      const outcome = await f.pipeline({ signer }).execute(f.openIntent(id, 'fin-7', from));
      assert.equal(outcome.status, 'superseded');
      const row = await intentRow(id);
      assert.equal(row.status, 'superseded');
      assert.match(row.error ?? '', new RegExp(other!, 'i'));
      assert.equal((await f.pendingOrders(from)).length, 0);
    });
  });

  describe('a receipt lookup that lags or errors', () => {
    for (const mode of ['lags behind the nonce count', 'errors'] as const) {
      it(`(${mode}) never makes a mined transaction superseded; it is reported mined once the receipt shows`, async () => {
        const user = `fin-3-${mode === 'errors' ? 'err' : 'lag'}`;
        const id = `position:${user}:open`;
        let degraded = true;
        const client = proxyClient(f, (call) => {
          if (!degraded || call.method !== 'eth_getTransactionReceipt') return undefined;
          return mode === 'errors' ? Promise.reject(new Error('upstream request timed out')) : Promise.resolve(null);
        });
        const pipeline = f.pipeline({ client, supersedeAfterMs: 100 });
        const from = await f.trader(user);
        const done = pipeline.execute(f.openIntent(id, user, from));
        done.catch(() => {});
        // Automine: it is mined at once and the nonce count moves, but no receipt is served yet.
        await sleep(800);
        assert.equal((await intentRow(id)).status, 'broadcast', 'no verdict while receipts are unknown');
        degraded = false;
        const outcome = await done;
        assert.equal(outcome.status, 'mined');
        assert.equal((await intentRow(id)).status, 'mined');
        assert.equal((await f.pendingOrders(from)).length, 1);
      });
    }

    it('without historic state to find the transaction, a receipt lagging less than the supersession wait still ends mined', async () => {
      const id = 'position:fin-3c:open';
      let lagging = true;
      const client = proxyClient(f, (call) => {
        if (isHistoricStateCall(call)) return Promise.reject(new Error('missing trie node'));
        return lagging && call.method === 'eth_getTransactionReceipt' ? Promise.resolve(null) : undefined;
      });
      const pipeline = f.pipeline({ client, supersedeAfterMs: 3_000 });
      const from = await f.trader('fin-3c');
      const done = pipeline.execute(f.openIntent(id, 'fin-3c', from));
      done.catch(() => {});
      await sleep(800);
      assert.equal((await intentRow(id)).status, 'broadcast');
      lagging = false;
      assert.equal((await done).status, 'mined');
    });
  });

  describe('real supersession', () => {
    it('another transaction at our nonce (ours dropped) is reported superseded, with the proof in the intent', async () => {
      const id = 'position:fin-4:open';
      const pipeline = f.pipeline();
      const from = await f.trader('fin-4');
      await test().setAutomine(false);
      const submitted = await pipeline.submit(f.openIntent(id, 'fin-4', from));
      const [ours] = await attemptsOf(id);
      const other = await takeNonce('fin-4', submitted.nonce, ours!.hash);
      const outcome = await pipeline.waitForOutcome(id);
      assert.equal(outcome.status, 'superseded');
      const row = await intentRow(id);
      assert.equal(row.status, 'superseded');
      assert.match(row.error ?? '', new RegExp(other, 'i'), 'the proof names the transaction that used the nonce');
      assert.equal((await f.pendingOrders(from)).length, 0);
    });

    it('with two RPCs where one lags, no superseded verdict until every RPC agrees', async () => {
      const id = 'position:fin-5:open';
      const from = await f.trader('fin-5');
      let behindAt: number | null = null;
      // Neither RPC keeps historic state, so the transaction that took the nonce cannot be looked up:
      // only the wallet's nonce count and our receipts are evidence.
      const pruned = (call: RpcCall) => (isHistoricStateCall(call) ? Promise.reject(new Error('missing trie node')) : undefined);
      const a = proxyClient(f, pruned);
      const b = proxyClient(f, (call) => {
        const refused = pruned(call);
        if (refused || behindAt === null) return refused;
        if (call.method === 'eth_getTransactionCount') return Promise.resolve(toHex(behindAt));
        if (call.method === 'eth_getTransactionReceipt') return Promise.resolve(null);
        return undefined;
      });
      const pipeline = f.pipeline({ client: a, rpcs: [a, b], supersedeAfterMs: 200 });
      await test().setAutomine(false);
      const submitted = await pipeline.submit(f.openIntent(id, 'fin-5', from));
      behindAt = submitted.nonce;
      const [ours] = await attemptsOf(id);
      await takeNonce('fin-5', submitted.nonce, ours!.hash);
      let settled = false;
      const done = pipeline.waitForOutcome(id).finally(() => (settled = true));
      done.catch(() => {});
      await sleep(1_000);
      assert.equal(settled, false, 'no verdict while RPC b has not seen the nonce move');
      assert.equal((await intentRow(id)).status, 'broadcast');
      behindAt = null;
      const outcome = await done;
      assert.equal(outcome.status, 'superseded');
      assert.match((await intentRow(id)).error ?? '', /2 RPCs/);
    });
  });
});

/** A state read at a given block (what a pruned node cannot answer). */
function isHistoricStateCall(call: RpcCall): boolean {
  if (call.method !== 'eth_getTransactionCount') return false;
  const tag = (call.params as unknown[] | undefined)?.[1];
  return tag !== 'latest' && tag !== 'pending';
}
