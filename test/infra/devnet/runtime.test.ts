import assert from 'node:assert/strict';
import type { Address } from 'viem';
import { startAnvil } from '../../../src/infra/devnet/anvil.ts';
import { DevnetError } from '../../../src/infra/devnet/errors.ts';
import { nextPrices, seededRandom } from '../../../src/infra/devnet/price-sim.ts';
import { CHAINLINK_DECIMALS, chainlinkTo1e10, toChainlinkAnswer } from '../../../src/infra/devnet/prices.ts';
import { ETH, LEVERAGE, PRICE, USDC, requestOpen, startSimulator, type SimFixture } from './fixture.ts';

async function answers(rpcUrl: string): Promise<boolean> {
  try {
    await fetch(rpcUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' });
    return true;
  } catch {
    return false;
  }
}

describe('devnet runtime: anvil, price simulator, keeper loop', function () {
  describe('anvil', function () {
    it('starts on a free loopback port, answers eth_chainId, and is gone after stop()', async function () {
      const anvil = await startAnvil({ chainId: 31338 });
      try {
        assert.match(anvil.rpcUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
        assert.equal(anvil.chainId, 31338);
        assert.equal(await answers(anvil.rpcUrl), true);
      } finally {
        await anvil.stop();
      }
      assert.equal(await answers(anvil.rpcUrl), false, 'the port is closed: the process exited');
      await anvil.stop(); // idempotent
    });

    it('fails with a typed error, leaving nothing behind, when anvil cannot start', async function () {
      await assert.rejects(startAnvil({ binaryPath: '/nonexistent/anvil', startupTimeoutMs: 2_000 }), (error: unknown) => error instanceof DevnetError && error.code === 'DEVNET_START_FAILED');
    });
  });

  describe('random walk', function () {
    const start = new Map([
      [0, PRICE('3000')],
      [1, PRICE('60000')],
    ]);

    it('is deterministic for a seed and differs between seeds', function () {
      const walk = (seed: number) => {
        const random = seededRandom(seed);
        let prices = start;
        const path: bigint[] = [];
        for (let i = 0; i < 50; i++) {
          prices = nextPrices(prices, random, 0.01);
          path.push(prices.get(0) ?? 0n, prices.get(1) ?? 0n);
        }
        return path;
      };
      assert.deepEqual(walk(42), walk(42));
      assert.notDeepEqual(walk(42), walk(43));
    });

    it('moves by about the volatility per step, without drift, and never to zero', function () {
      const random = seededRandom(9);
      let prices: ReadonlyMap<number, bigint> = start;
      const logReturns: number[] = [];
      for (let i = 0; i < 4_000; i++) {
        const next = nextPrices(prices, random, 0.002);
        logReturns.push(Math.log(Number(next.get(0)) / Number(prices.get(0))));
        prices = next;
      }
      const mean = logReturns.reduce((a, b) => a + b, 0) / logReturns.length;
      const sd = Math.sqrt(logReturns.reduce((a, b) => a + (b - mean) ** 2, 0) / logReturns.length);
      assert.ok(Math.abs(mean) < 0.0002, `mean log return ${mean}`);
      assert.ok(Math.abs(sd - 0.002) < 0.0002, `step volatility ${sd}`);
      assert.equal(nextPrices(new Map([[0, 1n]]), () => 0.999999, 50).get(0), 1n, 'floored at 1');
    });
  });

  describe('on chain', function () {
    let f: SimFixture;
    before(async function () {
      f = await startSimulator();
    });
    after(async function () {
      await f?.close();
    });

    it('publishes each step to the Chainlink-style feeds, exactly the pure walk for the same seed', async function () {
      const starts = new Map<number, bigint>();
      for (const pair of f.deployment.pairs) starts.set(pair.index, (await f.reads.chainlinkPrice(pair)).price);
      const sim = f.priceSim(5);
      const published = await sim.step();
      await sim.stop();
      assert.deepEqual(published, nextPrices(starts, seededRandom(5), 0.001), 'default volatility 0.1 %');
      for (const pair of f.deployment.pairs) {
        const onChain = (await f.reads.chainlinkPrice(pair)).price;
        assert.equal(onChain, chainlinkTo1e10(toChainlinkAnswer(published.get(pair.index) ?? 0n), CHAINLINK_DECIMALS), pair.name);
        assert.notEqual(onChain, starts.get(pair.index), `${pair.name} moved`);
      }
    });

    it('runs keeper and price loops until stop(), filling orders on its own', async function () {
      const trader = f.traders[0] as Address;
      await f.fund(trader, USDC('1000'));
      await f.setPrice(ETH, PRICE('3000'));
      const keeper = f.keeper();
      const sim = f.priceSim(11);
      keeper.start();
      sim.start();
      try {
        const { orderId } = await requestOpen(f, trader, { buy: true, collateral: USDC('200'), leverage: LEVERAGE('5'), openPrice: PRICE('3000'), slippageP: 5n * 10n ** 10n });
        const deadline = Date.now() + 10_000;
        while ((await f.reads.openTrade(trader, ETH, 0n)).leverage === 0n) {
          assert.ok(Date.now() < deadline, `order ${orderId} was not filled by the running keeper`);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      } finally {
        await Promise.all([keeper.stop(), sim.stop()]);
      }
      const blockAfterStop = await f.clients.publicClient.getBlockNumber({ cacheTime: 0 });
      await new Promise((resolve) => setTimeout(resolve, 600));
      assert.equal(await f.clients.publicClient.getBlockNumber({ cacheTime: 0 }), blockAfterStop, 'no transaction after stop()');
    });

    it('stops at once while its transaction waits for a receipt that will not come', async function () {
      // With mining off, the price simulator's first setAnswer stays pending: the receipt wait
      // that used to keep Ctrl-C hanging for the whole grace period (viem's default is 180 s).
      const { testClient } = f.clients;
      await testClient.setAutomine(false);
      const sim = f.priceSim(3);
      try {
        sim.start();
        const deadline = Date.now() + 10_000;
        while ((await txpoolPending()) === 0) {
          assert.ok(Date.now() < deadline, 'the simulator sent a transaction');
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        const started = Date.now();
        await sim.stop();
        assert.ok(Date.now() - started < 1_000, `stop() took ${Date.now() - started} ms`);
      } finally {
        await testClient.request<{ Method: 'anvil_dropAllTransactions'; Parameters: []; ReturnType: null }>({ method: 'anvil_dropAllTransactions', params: [] });
        await testClient.setAutomine(true);
      }
      assert.equal(await txpoolPending(), 0);

      async function txpoolPending(): Promise<number> {
        const status = await testClient.request<{ Method: 'txpool_status'; Parameters: []; ReturnType: { pending: string } }>({ method: 'txpool_status', params: [] });
        return Number(status.pending);
      }
    });
  });
});
