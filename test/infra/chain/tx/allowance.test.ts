import assert from 'node:assert/strict';
import { erc20Abi, parseEther, parseUnits, type Address } from 'viem';
import { ensureUsdcAllowance } from '../../../../src/infra/chain/tx/allowance.ts';
import { createChainClient } from '../../../../src/infra/chain/rpc.ts';
import { Secret } from '../../../../src/infra/secret.ts';
import { txFixture, type TxFixture } from './support.ts';

describe('USDC allowance', function () {
  this.timeout(60_000);
  let f: TxFixture;
  before(async () => {
    f = await txFixture();
  });
  after(async () => {
    await f.close();
  });

  async function freshUser(userId: string): Promise<Address> {
    const { address } = await f.wallets.create(userId);
    await f.sim.clients.testClient.setBalance({ address, value: parseEther('1') });
    await f.sim.call(f.sim.deployer, 'SimUSDC', f.sim.deployment.usdc, 'mint', [address, parseUnits('1000', 6)]);
    return address;
  }
  const allowance = (owner: Address) =>
    f.sim.clients.publicClient.readContract({ address: f.sim.deployment.usdc, abi: erc20Abi, functionName: 'allowance', args: [owner, f.sim.deployment.tradingStorage] });

  it('approves exactly what the order needs, only when needed, and only once across retries', async () => {
    // Through a client that fails over from a dead URL to the devnet.
    const client = createChainClient({ urls: [new Secret('http://127.0.0.1:9/'), new Secret(f.sim.anvil.rpcUrl)], timeoutMs: 2_000 });
    const pipeline = f.pipeline({ client });
    const owner = await freshUser('allow-1');
    const params = { orderId: 'position:a1', userId: 'allow-1', owner, usdc: f.sim.deployment.usdc, spender: f.sim.deployment.tradingStorage, amount: parseUnits('250', 6) };
    const first = await ensureUsdcAllowance({ client, pipeline }, params);
    assert.notEqual(first, 'sufficient');
    assert.equal(await allowance(owner), parseUnits('250', 6), 'bounded: exactly the order amount, never unlimited');
    assert.equal(await ensureUsdcAllowance({ client, pipeline }, params), 'sufficient');
    assert.equal(await ensureUsdcAllowance({ client, pipeline }, { ...params, orderId: 'position:a2', amount: parseUnits('100', 6) }), 'sufficient');
    const bigger = await ensureUsdcAllowance({ client, pipeline }, { ...params, orderId: 'position:a3', amount: parseUnits('400', 6) });
    assert.notEqual(bigger, 'sufficient');
    assert.equal(await allowance(owner), parseUnits('400', 6));
    assert.equal(await f.sim.clients.publicClient.getTransactionCount({ address: owner }), 2);
  });

  it('refuses a non-positive amount without sending anything', async () => {
    const owner = await freshUser('allow-2');
    const client = f.sim.clients.publicClient as unknown as Parameters<typeof ensureUsdcAllowance>[0]['client'];
    await assert.rejects(ensureUsdcAllowance({ client, pipeline: f.pipeline() }, { orderId: 'x', userId: 'allow-2', owner, usdc: f.sim.deployment.usdc, spender: f.sim.deployment.tradingStorage, amount: 0n }), /must be positive/);
    assert.equal(await f.sim.clients.publicClient.getTransactionCount({ address: owner }), 0);
  });
});
