import assert from 'node:assert/strict';
import { createPublicClient, custom, parseUnits, type Address, type PublicClient } from 'viem';
import type { OrderGateway } from '../../src/actors/order-gateway.ts';
import type { ActorRuntime } from '../../src/actors/runtime.ts';
import { silentLogger } from '../helpers/common.ts';
import { devnetGateway } from '../helpers/devnet-gateway.ts';
import { createWallets, type Wallets } from '../../src/infra/keys/wallets.ts';
import { vaultFixture } from '../infra/keys/support.ts';
import { SENT_KINDS, testSystem, textSink, topState, waitFor } from '../helpers/runtime.ts';
import { txFixture, type TxFixture } from '../infra/chain/tx/support.ts';
import { PRICE } from '../infra/devnet/fixture.ts';

describe('order flow: position actors trading on the devnet simulator', function () {
  this.timeout(90_000);
  let f: TxFixture;
  const runtimes: ActorRuntime[] = [];
  before(async () => {
    f = await txFixture();
  });
  after(async () => {
    for (const r of runtimes) await r.stop();
    await f.close();
  });

  function gateway(pipelineClient?: PublicClient, wallets: Wallets = f.wallets): OrderGateway {
    return devnetGateway({
      clients: f.sim.clients,
      chainId: f.sim.anvil.chainId,
      deployment: f.sim.deployment,
      wallets,
      pipeline: f.pipeline({ signer: wallets, ...(pipelineClient ? { client: pipelineClient } : {}) }),
      minter: f.sim.deployer,
    });
  }
  function start(told: string[] = [], orders: OrderGateway = gateway()): ActorRuntime {
    const runtime = testSystem(f.pg.db, { orders, fillTimeoutMs: 60_000, notices: textSink(told, { except: SENT_KINDS }) });
    runtimes.push(runtime);
    return runtime;
  }
  const stateOf = (runtime: ActorRuntime, id: string) => topState(runtime.get(id)?.getSnapshot() as { value?: unknown } | undefined);
  const openRequests = async (trader: Address) =>
    (await f.sim.clients.publicClient.getLogs({ address: f.sim.deployment.trading, fromBlock: 0n })).filter((l) => l.topics[1]?.toLowerCase().endsWith(trader.slice(2).toLowerCase())).length;

  it('opens a market long through the keeper, closes it, and pays the trader out', async () => {
    await f.sim.setPrice(0n, PRICE('3000'));
    const keeper = f.sim.keeper();
    keeper.start();
    const told: string[] = [];
    const runtime = start(told);
    try {
      await runtime.boot();
      runtime.spawn('user:501', { input: { telegramId: 501, maxOpenPositions: 3 } });
      runtime.send('user:501', { type: 'order.requested', positionId: 'o1', pair: 'ETH/USD', pairIndex: 0, side: 'long', collateral: '100', leverage: 10 });
      await waitFor(() => stateOf(runtime, 'position:o1') === 'open', 'the keeper fill', 30_000);
      const wallet = (await f.wallets.find('user:501'))!.address;
      const position = (runtime.get('position:o1')!.getSnapshot() as { context: { openPrice: string; positionCollateral: string; tradeIndex: number } }).context;
      assert.equal(position.tradeIndex, 0);
      assert.ok(Number(position.positionCollateral) < 100 && Number(position.positionCollateral) > 99, 'collateral after the opening fee');
      const usdcBefore = await f.sim.usdc(wallet);

      await f.sim.setPrice(0n, PRICE('3030'));
      runtime.send('position:o1', { type: 'close.requested' });
      await waitFor(() => !runtime.ids().includes('position:o1'), 'the close fill', 30_000);
      await runtime.flushed();
      const rows = await f.pg.db.sql<{ status: string; snapshot: { value: string; context: { payout: string; closePrice: string } } }>('select status, snapshot from actor_snapshots where id = ?', ['position:o1']);
      assert.equal(rows[0]!.status, 'done');
      assert.equal(rows[0]!.snapshot.value, 'closed');
      const payout = parseUnits(rows[0]!.snapshot.context.payout, 6);
      assert.ok(payout > parseUnits('100', 6), 'a 1 % move at 10x is a profit');
      assert.equal(await f.sim.usdc(wallet), usdcBefore + payout, 'the wallet received exactly the payout');
      assert.equal(await openRequests(wallet), 2, 'one open request and one close request, nothing twice');
      await waitFor(() => told.length >= 2, 'the trader to be told (after the durable write)', 5_000);
      assert.equal(told.length, 2);
      assert.equal(told[0], `Order o1 (long ETH/USD) is open at ${position.openPrice}.`);
      assert.equal(told[1], `Order o1 (long ETH/USD) is closed at 3030. ${rows[0]!.snapshot.context.payout} USDC was paid out.`);
    } finally {
      await keeper.stop();
    }
  });

  it('resumes an order waiting for its fill after a restart, without sending it again', async () => {
    await f.sim.setPrice(0n, PRICE('3000'));
    const first = start();
    await first.boot();
    first.spawn('user:502', { input: { telegramId: 502, maxOpenPositions: 3 } });
    first.send('user:502', { type: 'order.requested', positionId: 'o2', pair: 'ETH/USD', pairIndex: 0, side: 'short', collateral: '50', leverage: 5 });
    await waitFor(() => stateOf(first, 'position:o2') === 'awaitingFill', 'the request on chain', 30_000);
    await first.stop();

    const keeper = f.sim.keeper();
    const second = start();
    try {
      await second.boot();
      keeper.start();
      await waitFor(() => stateOf(second, 'position:o2') === 'open', 'the resumed fill', 30_000);
      const wallet = (await f.wallets.find('user:502'))!.address;
      assert.equal(await openRequests(wallet), 1, 'the open request was sent exactly once');
    } finally {
      await keeper.stop();
    }
  });

  it('opens several orders of one new user at once: one wallet, each order approved and sent exactly once', async () => {
    await f.sim.setPrice(0n, PRICE('3000'));
    const keeper = f.sim.keeper();
    keeper.start();
    const runtime = start();
    try {
      await runtime.boot();
      runtime.spawn('user:504', { input: { telegramId: 504, maxOpenPositions: 5 } });
      for (const [id, collateral] of [['c1', '100'], ['c2', '40'], ['c3', '70']] as const) {
        runtime.send('user:504', { type: 'order.requested', positionId: id, pair: 'ETH/USD', pairIndex: 0, side: 'long', collateral, leverage: 5 });
      }
      await waitFor(() => ['c1', 'c2', 'c3'].every((id) => stateOf(runtime, `position:${id}`) === 'open'), 'three fills', 30_000);
      const wallet = (await f.wallets.find('user:504'))!.address;
      assert.equal(await openRequests(wallet), 3);
      const allowance = await f.sim.clients.publicClient.readContract({ address: f.sim.deployment.usdc, abi: [{ type: 'function', name: 'allowance', stateMutability: 'view', inputs: [{ type: 'address' }, { type: 'address' }], outputs: [{ type: 'uint256' }] }], functionName: 'allowance', args: [wallet, f.sim.deployment.tradingStorage] });
      assert.equal(allowance, 0n, 'no allowance left behind: each approval was exactly its order');
    } finally {
      await keeper.stop();
    }
  });

  it('keeps an order whose broadcast failed ambiguously (sent, then the connection dropped) and lands it exactly once', async () => {
    await f.sim.setPrice(0n, PRICE('3000'));
    let dropped = 0;
    const flaky = createPublicClient({
      transport: custom({
        request: async ({ method, params }: { method: string; params?: unknown }) => {
          const answer: unknown = await f.sim.clients.publicClient.request({ method, params } as never);
          // The node took the transaction (the approval, then the open), but the answer never reached us.
          if (method === 'eth_sendRawTransaction' && dropped++ < 2) throw new Error('socket hang up');
          return answer;
        },
      }),
    }) as PublicClient;
    const keeper = f.sim.keeper();
    keeper.start();
    const told: string[] = [];
    const runtime = start(told, gateway(flaky));
    try {
      await runtime.boot();
      runtime.spawn('user:505', { input: { telegramId: 505, maxOpenPositions: 3 } });
      runtime.send('user:505', { type: 'order.requested', positionId: 'f1', pair: 'ETH/USD', pairIndex: 0, side: 'long', collateral: '60', leverage: 4 });
      await waitFor(() => stateOf(runtime, 'position:f1') === 'open', 'the retried order to fill', 30_000);
      const wallet = (await f.wallets.find('user:505'))!.address;
      assert.equal(await openRequests(wallet), 1, 'exactly one open request on chain');
      await waitFor(() => told.length >= 1, 'the trader to be told (after the durable write)', 5_000);
      assert.match(told[0]!, /^Order f1 \(long ETH\/USD\) could not be sent yet and is retried automatically \(nothing is sent twice\)\. The blockchain node did not answer properly/);
    } finally {
      await keeper.stop();
    }
  });

  it('holds orders while Vault is sealed, tells the trader why, and sends them once Vault is back', async () => {
    await f.sim.setPrice(0n, PRICE('3000'));
    const vault = await vaultFixture();
    const vaultWallets = createWallets({ db: f.pg.db, keystore: vault.keystore, logger: silentLogger() });
    const keeper = f.sim.keeper();
    keeper.start();
    const told: string[] = [];
    const runtime = start(told, gateway(undefined, vaultWallets));
    try {
      await runtime.boot();
      runtime.spawn('user:506', { input: { telegramId: 506, maxOpenPositions: 3 } });
      vault.vault!.seal();
      runtime.send('user:506', { type: 'order.requested', positionId: 'v1', pair: 'ETH/USD', pairIndex: 0, side: 'long', collateral: '80', leverage: 3 });
      await waitFor(() => stateOf(runtime, 'position:v1') === 'retryingSubmit', 'the order to wait for Vault', 30_000);
      await waitFor(() => told.length >= 1, 'the trader to be told (after the durable write)', 5_000);
      assert.match(told[0]!, /^Order v1 \(long ETH\/USD\) could not be sent yet and is retried automatically .*Vault at \S+ is sealed.*Unseal it/);
      assert.deepEqual(await f.pg.db.sql(`select id from tx_intents where user_id = 'user:506'`), [], 'nothing reserved or signed while sealed');
      vault.vault!.unseal();
      await waitFor(() => stateOf(runtime, 'position:v1') === 'open', 'the order to go through once Vault is back', 30_000);
      const wallet = (await vaultWallets.find('user:506'))!.address;
      assert.equal(await openRequests(wallet), 1);

      // Sealed again with the wallet in place: now it is the decrypt for signing that waits.
      vault.vault!.seal();
      runtime.send('user:506', { type: 'order.requested', positionId: 'v2', pair: 'ETH/USD', pairIndex: 0, side: 'short', collateral: '60', leverage: 2 });
      await waitFor(() => stateOf(runtime, 'position:v2') === 'retryingSubmit', 'the second order to wait for Vault', 30_000);
      vault.vault!.unseal();
      await waitFor(() => stateOf(runtime, 'position:v2') === 'open', 'the second order once Vault is back', 30_000);
      assert.equal(await openRequests(wallet), 2);
    } finally {
      await keeper.stop();
      await vault.close();
    }
  });

  it('rejects an order the protocol refuses, with the reason, and sends nothing', async () => {
    const told: string[] = [];
    const runtime = start(told);
    await runtime.boot();
    runtime.spawn('user:503', { input: { telegramId: 503, maxOpenPositions: 3 } });
    runtime.send('user:503', { type: 'order.requested', positionId: 'o3', pair: 'ETH/USD', pairIndex: 0, side: 'long', collateral: '100', leverage: 500 });
    await waitFor(() => !runtime.ids().includes('position:o3'), 'the rejection', 30_000);
    await runtime.flushed();
    const rows = await f.pg.db.sql<{ snapshot: { value: string; context: { error: { code: string; message: string } } } }>('select snapshot from actor_snapshots where id = ?', ['position:o3']);
    assert.equal(rows[0]!.snapshot.value, 'rejected');
    assert.match(rows[0]!.snapshot.context.error.message, /LEVERAGE_INCORRECT|Leverage out of range/);
    const wallet = (await f.wallets.find('user:503'))!.address;
    assert.equal(await openRequests(wallet), 0);
    await waitFor(() => told.length >= 1, 'the trader to be told (after the durable write)', 5_000);
    assert.equal(told.length, 1);
    assert.equal(told[0], 'Order o3 (long ETH/USD) was refused before anything was executed. The transaction would fail: LEVERAGE_INCORRECT. Nothing was sent.');
  });
});
