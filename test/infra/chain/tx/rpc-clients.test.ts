import assert from 'node:assert/strict';
import { createChainClients } from '../../../../src/infra/chain/rpc.ts';
import { Secret } from '../../../../src/infra/secret.ts';
import { startAnvil, type Anvil } from '../../../../src/infra/devnet/anvil.ts';
import { loadConfig } from '../../../../src/infra/config.ts';

describe('chain clients for the transaction pipeline', function () {
  this.timeout(30_000);
  let anvil: Anvil;
  before(async () => {
    anvil = await startAnvil();
  });
  after(async () => {
    await anvil.stop();
  });

  it('gives the failover client and one client per URL, each answering for its own node only', async () => {
    const dead = 'http://127.0.0.1:9/';
    const { client, perUrl } = createChainClients({ urls: [new Secret(dead), new Secret(anvil.rpcUrl)], timeoutMs: 2_000 });
    assert.equal(await client.getChainId(), anvil.chainId, 'the fallback client fails over');
    assert.equal(perUrl.length, 2);
    await assert.rejects(perUrl[0]!.getChainId(), 'the dead URL answers for itself: no failover');
    assert.equal(await perUrl[1]!.getChainId(), anvil.chainId);
  });

  it('with one URL, the per-URL list is the client itself', () => {
    const { client, perUrl } = createChainClients({ urls: [new Secret(anvil.rpcUrl)] });
    assert.deepEqual(perUrl, [client]);
  });

  it('TX_SUPERSEDE_AFTER_MS: 30 s unless set', () => {
    assert.equal(loadConfig({}).tx.supersedeAfterMs, 30_000);
    assert.equal(loadConfig({ TX_SUPERSEDE_AFTER_MS: '5000' }).tx.supersedeAfterMs, 5_000);
  });
});
