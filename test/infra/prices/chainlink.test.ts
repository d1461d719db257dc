import assert from 'node:assert/strict';
import type { PublicClient } from 'viem';
import { BadInputError } from '../../../src/errors.ts';
import { discoverChainlinkFeeds, readChainlink, startChainlinkPoller, type ChainlinkObservation } from '../../../src/infra/prices/chainlink.ts';
import { createAvantisProtocol } from '../../../src/infra/chain/avantis/protocol.ts';
import { systemClock } from '../../../src/infra/clock.ts';
import { silentLogger } from '../../helpers/common.ts';
import { startSimulator, type SimFixture } from '../devnet/fixture.ts';
import { avantisAddressesOf } from '../../../src/infra/devnet/deploy.ts';

describe('Chainlink reader', function () {
  this.timeout(30_000);
  let f: SimFixture;
  let client: PublicClient;
  before(async () => {
    f = await startSimulator();
    client = f.clients.publicClient;
  });
  after(async () => {
    await f.close();
  });
  const eth = () => ({ pair: 'ETH/USD', address: f.deployment.pairs[0]!.chainlinkFeed });
  const setRaw = async (answer: bigint, updatedAt: bigint) => {
    await f.call(f.deployer, 'SimChainlinkAggregator', eth().address, 'setAnswer', [answer, updatedAt]);
  };

  it('reads the answer as a decimal string with its update time', async () => {
    const { timestamp } = await f.clients.publicClient.getBlock();
    await setRaw(315_012_345_678n, timestamp);
    const observation = await readChainlink(client, eth(), 8, Date.now());
    assert.deepEqual(observation, { pair: 'ETH/USD', price: '3150.12345678', publishTime: Number(timestamp) * 1000 });
  });

  it('refuses a non-positive answer and an update time in the future', async () => {
    const { timestamp } = await f.clients.publicClient.getBlock();
    await setRaw(0n, timestamp);
    await assert.rejects(readChainlink(client, eth(), 8, Date.now()), (e: unknown) => e instanceof BadInputError && /non-positive/.test(e.message));
    await setRaw(-5n, timestamp);
    await assert.rejects(readChainlink(client, eth(), 8, Date.now()), BadInputError);
    await setRaw(300_000_000_000n, BigInt(Math.floor(Date.now() / 1000) + 3_600));
    await assert.rejects(readChainlink(client, eth(), 8, Date.now()), (e: unknown) => e instanceof BadInputError && /impossible update time/.test(e.message));
  });

  it('discovers each listed pair\'s feed from the protocol itself (PairStorage)', async () => {
    const d = f.deployment;
    const protocol = createAvantisProtocol(
      { version: 'v1', chainId: f.anvil.chainId, addresses: avantisAddressesOf(d) },
      { client },
    );
    const feeds = await discoverChainlinkFeeds(protocol.reads);
    const expected = d.pairs.filter((p) => p.name !== '').map((p) => ({ pair: p.name, pairIndex: p.index, address: p.chainlinkFeed.toLowerCase() }));
    assert.deepEqual(feeds.map((x) => ({ ...x, address: x.address.toLowerCase() })), expected);
    assert.ok(feeds.length >= 8);
  });

  it('polls, reports a price once per round, and keeps going past a bad answer', async () => {
    const { timestamp } = await f.clients.publicClient.getBlock();
    await setRaw(300_000_000_000n, timestamp);
    const seen: ChainlinkObservation[] = [];
    const poller = startChainlinkPoller({ client, feeds: [eth()], intervalMs: 30, clock: systemClock, logger: silentLogger(), onPrice: (o) => seen.push(o) });
    try {
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(seen.length, 1, 'an unchanged round is not reported again');
      await setRaw(-1n, timestamp + 1n);
      await new Promise((r) => setTimeout(r, 150));
      assert.equal(seen.length, 1, 'a bad answer is never reported');
      await setRaw(301_000_000_000n, timestamp + 2n);
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(seen.map((o) => o.price), ['3000', '3010']);
    } finally {
      poller.stop();
    }
  });
});
