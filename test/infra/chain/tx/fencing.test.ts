import assert from 'node:assert/strict';
import type { Hex } from 'viem';
import { FencedError } from '../../../../src/errors.ts';
import { createOutbox, type Outbox } from '../../../../src/infra/chain/tx/outbox.ts';
import { leaseFence, LEASE_NAME } from '../../../../src/infra/db/fence.ts';
import { sleep, txFixture, type TxFixture } from './support.ts';

/**
 * The outbox under the engine lease (DESIGN.md "One owner at a time"): an engine that lost its
 * lease (another took over while it was paused) writes nothing to the outbox and broadcasts
 * nothing, not even bytes it signed before; the new owner carries on from what is stored.
 */
describe('transaction pipeline under the engine lease', function () {
  this.timeout(60_000);
  let f: TxFixture;
  let snapshot: Hex;
  before(async () => {
    f = await txFixture();
  });
  after(async () => {
    await f.close();
  });
  beforeEach(async () => {
    snapshot = await f.sim.clients.testClient.snapshot();
    await f.pg.db.sql('delete from engine_lease');
    await f.pg.db.sql(`insert into engine_lease (name, epoch, holder, expires_at) values (?, 1, 'engine-a', now() + interval '1 hour')`, [LEASE_NAME]);
  });
  afterEach(async () => {
    await f.sim.clients.testClient.revert({ id: snapshot });
    await f.sim.clients.testClient.setAutomine(true);
  });

  /** Another engine takes over: the epoch moves on. */
  const takeOver = () => f.pg.db.sql(`update engine_lease set epoch = epoch + 1, holder = 'engine-b' where name = ?`, [LEASE_NAME]);
  const outboxOf = (epoch: number) => createOutbox(f.pg.db, leaseFence(f.pg.db, epoch));
  const isFenced = (err: unknown) => err instanceof FencedError && err.code === 'LEASE_LOST';
  const intentRow = async (id: string) => (await f.pg.db.sql<{ status: string }>('select status from tx_intents where id = ?', [id]))[0];
  const attemptCount = async (id: string) => (await f.pg.db.sql<{ hash: string }>('select hash from tx_attempts where intent_id = ?', [id])).length;
  const pooled = async () => (await f.sim.clients.testClient.getTxpoolStatus()).pending;

  it('a stale owner reserves nothing', async () => {
    const from = await f.trader('fence-1');
    await takeOver();
    const stale = f.pipeline({ outbox: outboxOf(1) });
    await assert.rejects(stale.execute(f.openIntent('position:fence-1:open', 'fence-1', from)), isFenced);
    assert.equal(await intentRow('position:fence-1:open'), undefined);
    assert.equal(await f.sim.clients.publicClient.getTransactionCount({ address: from }), 1, 'only the approval');
  });

  it('an owner paused past its lease: its next step (a speed-up, then recording the receipt) writes and sends nothing', async () => {
    const id = 'position:fence-2:open';
    const from = await f.trader('fence-2');
    const owner = f.pipeline({ outbox: outboxOf(1), speedUpAfterMs: 150 });
    await f.sim.clients.testClient.setAutomine(false);
    await owner.submit(f.openIntent(id, 'fence-2', from));
    assert.equal(await pooled(), 1);
    await takeOver();
    // Stuck long enough for a speed-up: the stale owner must neither store nor broadcast one.
    await assert.rejects(owner.waitForOutcome(id), isFenced);
    assert.equal(await attemptCount(id), 1, 'no new attempt stored');
    assert.equal(await pooled(), 1, 'no new transaction sent');
    await f.sim.clients.testClient.mine({ blocks: 1 });
    await assert.rejects(owner.waitForOutcome(id), isFenced);
    assert.equal((await intentRow(id))?.status, 'broadcast', 'the stale owner did not record the outcome');
    // The new owner settles it from what is stored.
    const outcome = await f.pipeline({ outbox: outboxOf(2) }).waitForOutcome(id);
    assert.equal(outcome.status, 'mined');
    assert.equal((await intentRow(id))?.status, 'mined');
    assert.equal((await f.pendingOrders(from)).length, 1);
  });

  it('the lease lost between storing a signed transaction and broadcasting it: nothing is sent, by the stale owner or its recovery; the new owner sends it', async () => {
    const id = 'position:fence-3:open';
    const from = await f.trader('fence-3');
    const nonce = await f.sim.clients.publicClient.getTransactionCount({ address: from });
    const real = outboxOf(1);
    // The takeover lands right after the signed bytes are stored.
    const outbox: Outbox = {
      ...real,
      async addAttempt(intentId, attempt) {
        const stored = await real.addAttempt(intentId, attempt);
        await takeOver();
        return stored;
      },
    };
    await f.sim.clients.testClient.setAutomine(false);
    const stale = f.pipeline({ outbox });
    await assert.rejects(stale.submit(f.openIntent(id, 'fence-3', from)), isFenced);
    assert.equal((await intentRow(id))?.status, 'signed');
    assert.equal(await pooled(), 0, 'nothing broadcast');
    await assert.rejects(f.pipeline({ outbox: outboxOf(1) }).recover(), isFenced);
    await sleep(100);
    assert.equal(await pooled(), 0, 'a stale recovery broadcasts nothing either');
    await f.sim.clients.testClient.setAutomine(true);
    const owner = f.pipeline({ outbox: outboxOf(2) });
    assert.deepEqual((await owner.recover()).map((i) => i.id), [id]);
    const outcome = await owner.waitForOutcome(id);
    assert.equal(outcome.status, 'mined');
    assert.equal(await attemptCount(id), 1, 'the stored bytes were sent, nothing was signed anew');
    assert.equal(await f.sim.clients.publicClient.getTransactionCount({ address: from }), nonce + 1);
    assert.equal((await f.pendingOrders(from)).length, 1);
  });
});
