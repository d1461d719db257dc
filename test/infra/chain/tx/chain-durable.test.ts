import assert from 'node:assert/strict';
import { txFixture, type TxFixture } from './support.ts';
import { waitFor } from '../../../helpers/runtime.ts';

/**
 * The sandbox's durability barrier as the pipeline sees it (docs/adr/0011): an outcome is recorded
 * only once the local chain's saved state holds its block, so a crash cannot leave the outbox
 * remembering a transaction the restored chain lacks.
 */
describe('transaction pipeline: waits for the saved chain before recording an outcome', function () {
  this.timeout(60_000);
  let f: TxFixture;
  before(async () => {
    f = await txFixture();
  });
  after(async () => {
    await f.close();
  });

  it('keeps a mined transaction unrecorded until chainDurable resolves for its block', async () => {
    const asked: bigint[] = [];
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const pipeline = f.pipeline({
      chainDurable: (block) => {
        asked.push(block);
        return gate;
      },
    });
    const from = await f.trader('durable-1');
    const outcome = pipeline.execute(f.openIntent('position:d1:open', 'durable-1', from));
    await waitFor(() => asked.length > 0, 'the pipeline to ask for durability', 10_000);
    const receiptBlock = await f.sim.clients.publicClient.getBlockNumber({ cacheTime: 0 });
    assert.equal(asked[0], receiptBlock, 'it asks for the block of the receipt');
    assert.equal((await f.pendingOrders(from)).length, 1, 'mined on chain already');
    const [row] = await f.pg.db.sql<{ status: string }>(`select status from tx_intents where id = 'position:d1:open'`);
    assert.equal(row?.status, 'broadcast', 'but not recorded as mined while the saved chain lacks it');
    open();
    const done = await outcome;
    assert.equal(done.status, 'mined');
    const [after] = await f.pg.db.sql<{ status: string; block_number: string }>(`select status, block_number from tx_intents where id = 'position:d1:open'`);
    assert.deepEqual(after, { status: 'mined', block_number: String(receiptBlock) });
  });
});
