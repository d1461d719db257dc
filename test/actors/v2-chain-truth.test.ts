import assert from 'node:assert/strict';
import type { PublicClient } from 'viem';
import { createGaslessOrderGateway, type GaslessOrderGateway } from '../../src/actors/order-gateway-v2.ts';
import type { ActorRuntime } from '../../src/actors/runtime.ts';
import { createGaslessMarketRoute } from '../../src/infra/chain/avantis-v2/gasless-market.ts';
import { BatchedMarketClient, randomNonce, TxBuilderClient } from '../../src/infra/chain/avantis-v2/http-client.ts';
import { createIntentStore } from '../../src/infra/chain/avantis-v2/intent-store.ts';
import { ensureUsdcAllowance } from '../../src/infra/chain/tx/allowance.ts';
import { usdc } from '../../src/infra/chain/avantis/units.ts';
import { OWNED_OUTRIGHT } from '../../src/infra/db/fence.ts';
import { upgradeSimulatorToV2 } from '../../src/infra/devnet/deploy.ts';
import { startAvantisV2DevnetSandbox, type AvantisV2Sandbox } from '../../src/sandbox/avantis-v2/index.ts';
import { silentLogger } from '../helpers/common.ts';
import { devnetGateway } from '../helpers/devnet-gateway.ts';
import { SENT_KINDS, TEST_LIMITS, testSystem, textSink, topState, waitFor } from '../helpers/runtime.ts';
import { txFixture, type TxFixture } from '../infra/chain/tx/support.ts';
import { PRICE } from '../infra/devnet/fixture.ts';

/**
 * On Avantis v2 the chain still acts on its own: a position opened through the gasless route (a
 * delegate-signed intent that batched-market executes on the devnet) is liquidated by the keeper,
 * and the position actor learns it from the chain — the same follow as v1 (the v2 facet keeps
 * v1's storage and events; ASSUMED for mainnet, ADR 0019) — and tells the trader.
 */
describe('v2 positions follow the chain: a liquidation on its own', function () {
  this.timeout(120_000);
  let f: TxFixture;
  let sb: AvantisV2Sandbox;
  let runtime: ActorRuntime | null = null;

  before(async () => {
    f = await txFixture();
    const gov = f.sim.clients.wallet(f.sim.deployer);
    await upgradeSimulatorToV2({ publicClient: f.sim.clients.publicClient, wallet: gov, logger: silentLogger() }, f.sim.deployment);
    // The keeper runs on its own account; the doubles' executor needs another operator.
    const operator = f.sim.traders[5]!;
    await f.sim.call(f.sim.deployer, 'Trading', f.sim.deployment.trading, 'updateOperator', [operator, true]);
    sb = await startAvantisV2DevnetSandbox({ publicClient: f.sim.clients.publicClient, operator: f.sim.clients.wallet(operator), deployment: f.sim.deployment, pricePollMs: 100 }, { stepMs: 1 });
  });
  after(async () => {
    await runtime?.stop();
    await sb?.close();
    await f?.close();
  });

  it('a v2 position the keeper liquidates is closed with its outcome, and the trader is told', async () => {
    const keeper = f.sim.keeper();
    keeper.start();
    try {
      const trader = await f.trader('user:701');
      const delegate = (await f.wallets.create('delegate:701')).address;
      const txBuilder = new TxBuilderClient({ baseUrl: sb.txBuilderUrl, meta: { chainId: f.sim.deployment.chainId }, timeoutMs: 5_000 });
      // The trader (its key in our keystore) signs the DelegateReq; anyone may relay it (§9.5).
      const { timestamp } = await f.sim.clients.publicClient.getBlock();
      const delegation = await txBuilder.delegateSetIntent({ trader, delegate, expirySeconds: Number(timestamp + 86_400n), nonce: randomNonce() });
      await f.sim.call(f.sim.traders[6]!, 'TradingV2', f.sim.deployment.trading, 'setDelegateWithSig', [await f.wallets.signHash('user:701', delegation.digest), delegation.encodedIntent]);

      const pipeline = f.pipeline();
      const v1 = devnetGateway({ clients: f.sim.clients, chainId: f.sim.anvil.chainId, deployment: f.sim.deployment, wallets: f.wallets, pipeline, minter: f.sim.deployer });
      let gateway: GaslessOrderGateway | null = null;
      const route = createGaslessMarketRoute({
        store: createIntentStore(f.pg.db, OWNED_OUTRIGHT),
        txBuilder,
        market: new BatchedMarketClient({ gatewayUrl: sb.gatewayUrl, timeoutMs: 5_000, replayIntervalMs: 50, replayForMs: 20_000 }),
        signDigest: (signer, digest) => f.wallets.signHash(gateway!.keyIdOf(signer), digest),
        nonceUnused: () => Promise.resolve(true),
        logger: silentLogger(),
      });
      const client = f.sim.clients.publicClient as unknown as PublicClient;
      gateway = createGaslessOrderGateway({
        route,
        traderOf: () => Promise.resolve(trader),
        delegateOf: () => Promise.resolve({ address: delegate, keyId: 'delegate:701' }),
        prepareOpen: async (order, owner) => void (await ensureUsdcAllowance({ client, pipeline }, { orderId: `position:${order.positionId}`, userId: order.owner, owner, usdc: f.sim.deployment.usdc, spender: f.sim.deployment.tradingStorage, amount: usdc(order.collateral) })),
        priceOf: () => Promise.resolve(PRICE('3000')),
        blockNumber: () => client.getBlockNumber(),
        limits: TEST_LIMITS,
        watchTrade: (p, hooks) => v1.watchTrade(p, hooks),
        logger: silentLogger(),
      });
      const told: string[] = [];
      runtime = testSystem(f.pg.db, { orders: gateway, fillTimeoutMs: 60_000, notices: textSink(told, { except: SENT_KINDS }) });
      await runtime.boot();
      runtime.spawn('user:701', { input: { telegramId: 701, maxOpenPositions: 3 } });
      runtime.send('user:701', { type: 'order.requested', positionId: 'v2liq', pair: 'ETH/USD', pairIndex: 0, side: 'long', collateral: '100', leverage: 10 });
      const state = () => topState(runtime!.get('position:v2liq')?.getSnapshot() as { value?: unknown } | undefined);
      await waitFor(() => state() === 'open', 'the v2 fill', 30_000);
      const [open] = await f.pg.db.sql<{ status: string; signer: string }>(`select status, signer from v2_intents where action_id = 'position:v2liq:open'`);
      assert.deepEqual(open, { status: 'executed', signer: delegate.toLowerCase() }, 'opened by a delegate-signed intent');

      await f.sim.setPrice(0n, PRICE('2500'));
      await waitFor(() => !runtime!.ids().includes('position:v2liq'), 'the liquidation to reach the position', 30_000);
      await runtime.flushed();
      const [row] = await f.pg.db.sql<{ status: string; snapshot: { value: unknown; context: Record<string, unknown> } }>(`select status, snapshot from actor_snapshots where id = 'position:v2liq'`);
      assert.deepEqual([row!.status, row!.snapshot.value, row!.snapshot.context['closedBy']], ['done', 'closed', 'liquidation']);
      await waitFor(() => told.some((t) => /v2liq.*was liquidated/.test(t)), 'the trader to be told', 5_000);
    } finally {
      await keeper.stop();
    }
  });
});
