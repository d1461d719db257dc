import assert from 'node:assert/strict';
import { createPublicClient, custom, decodeEventLog, parseEther, parseUnits, type Address, type PublicClient } from 'viem';
import type { ChainOrderGatewayDeps, OrderGateway } from '../../src/actors/order-gateway.ts';
import type { ActorRuntime } from '../../src/actors/runtime.ts';
import { abiOf } from '../../src/infra/devnet/artifacts.ts';
import type { TxPipeline } from '../../src/infra/chain/tx/pipeline.ts';
import { VantaError } from '../../src/errors.ts';
import { silentLogger } from '../helpers/common.ts';
import { createLogger } from '../../src/infra/logger.ts';

/** CHAIN_TEST_LOG=debug prints the engine's logs while debugging these tests. */
const testLogger = () => (process.env['CHAIN_TEST_LOG'] ? createLogger({ level: process.env['CHAIN_TEST_LOG'], destination: process.stderr }) : silentLogger());
import { devnetGateway } from '../helpers/devnet-gateway.ts';
import { OPEN_GATE, SENT_KINDS, testSystem, textSink, topState, waitFor } from '../helpers/runtime.ts';
import { txFixture, type TxFixture } from '../infra/chain/tx/support.ts';
import { PRICE } from '../infra/devnet/fixture.ts';

/**
 * The chain acts on its own (DESIGN.md "The chain is the truth"): keepers liquidate, operators
 * cancel, slots are reused, and an engine may be down for many blocks behind an RPC that limits
 * log ranges. Each test here drives real position actors on the devnet and fails on the order
 * path of version 2 (see the comment in each).
 */
describe('positions follow the chain: what it does on its own', function () {
  this.timeout(120_000);
  let f: TxFixture;
  const runtimes: ActorRuntime[] = [];
  const keepers: { stop(): Promise<void> }[] = [];
  before(async () => {
    f = await txFixture();
  });
  after(async () => {
    for (const r of runtimes) await r.stop();
    await f.close();
  });
  beforeEach(async () => {
    await f.sim.setPrice(0n, PRICE('3000'));
  });
  // A keeper left running would fill the next test's orders before that test means it to.
  afterEach(async () => {
    for (const k of keepers.splice(0)) await k.stop();
  });

  const d = () => f.sim.deployment;
  const chainClient = () => f.sim.clients.publicClient as unknown as PublicClient;

  function gateway(options: { client?: PublicClient; pipeline?: TxPipeline; priceOf?: ChainOrderGatewayDeps['priceOf'] } & Partial<Pick<ChainOrderGatewayDeps, 'watchPollMs' | 'limits'>> = {}): OrderGateway {
    const { client, pipeline, priceOf, ...overrides } = options;
    return devnetGateway({
      clients: f.sim.clients,
      chainId: f.sim.anvil.chainId,
      deployment: d(),
      wallets: f.wallets,
      pipeline: pipeline ?? f.pipeline(client ? { client } : {}),
      minter: f.sim.deployer,
      logger: testLogger(),
      overrides,
      ...(client ? { client } : {}),
      ...(priceOf ? { priceOf } : {}),
    });
  }
  function start(orders: OrderGateway, told: string[] = []): ActorRuntime {
    const runtime = testSystem(f.pg.db, { orders, fillTimeoutMs: 60_000, notices: textSink(told, { except: SENT_KINDS }), logger: testLogger() });
    runtimes.push(runtime);
    return runtime;
  }
  function keeper() {
    const k = f.sim.keeper();
    keepers.push(k);
    k.start();
    return k;
  }
  const stateOf = (runtime: ActorRuntime, id: string) => topState(runtime.get(id)?.getSnapshot() as { value?: unknown } | undefined);
  const contextOf = (runtime: ActorRuntime, id: string) => (runtime.get(id)!.getSnapshot() as { context: Record<string, unknown> }).context;
  async function row(id: string) {
    const rows = await f.pg.db.sql<{ status: string; snapshot: { value: unknown; context: Record<string, unknown> } }>('select status, snapshot from actor_snapshots where id = ?', [id]);
    return rows[0]!;
  }
  const order = (positionId: string, collateral = '100', leverage = 10, side: 'long' | 'short' = 'long') => ({ type: 'order.requested', positionId, pair: 'ETH/USD', pairIndex: 0, side, collateral, leverage });
  const walletOf = async (user: string) => (await f.wallets.find(user))!.address;
  /** Market requests the wallet sent: opens and closes (MarketOrderInitiated has the trader indexed). */
  async function requests(trader: Address): Promise<{ open: number; close: number }> {
    const logs = await chainClient().getLogs({ address: d().trading, fromBlock: 0n });
    let open = 0;
    let close = 0;
    for (const log of logs) {
      if (!log.topics[1]?.toLowerCase().endsWith(trader.slice(2).toLowerCase())) continue;
      try {
        const event = decodeEventLog({ abi: abiOf('Trading'), data: log.data, topics: log.topics }) as unknown as { eventName: string; args: { open: boolean } };
        if (event.eventName !== 'MarketOrderInitiated') continue;
        if (event.args.open) open += 1;
        else close += 1;
      } catch {
        // other Trading events
      }
    }
    return { open, close };
  }
  const slot = (trader: Address, index = 0n) => f.sim.reads.openTrade(trader, 0n, index);

  it('closes a position the chain liquidated on its own, with the outcome, and tells the trader', async () => {
    keeper();
    const told: string[] = [];
    const runtime = start(gateway(), told);
    await runtime.boot();
    runtime.spawn('user:601', { input: { telegramId: 601, maxOpenPositions: 3 } });
    runtime.send('user:601', order('liq1'));
    await waitFor(() => stateOf(runtime, 'position:liq1') === 'open', 'the fill', 30_000);
    await f.sim.setPrice(0n, PRICE('2500'));
    // Version 2 never looked at an open trade again: the position stayed "open" forever.
    await waitFor(() => !runtime.ids().includes('position:liq1'), 'the liquidation to reach the position', 30_000);
    await runtime.flushed();
    const { status, snapshot } = await row('position:liq1');
    assert.deepEqual([status, snapshot.value, snapshot.context['closedBy'], snapshot.context['payout']], ['done', 'closed', 'liquidation', '0']);
    await waitFor(() => told.some((t) => t.startsWith('Order liq1 (long ETH/USD) was liquidated')), 'the trader to be told', 5_000);
    assert.equal(told.at(-1), `Order liq1 (long ETH/USD) was liquidated at ${String(snapshot.context['closePrice'])}. 0 USDC was paid out.`);
    assert.deepEqual((runtime.get('user:601')!.getSnapshot() as { context: { positions: string[] } }).context.positions, []);
  });

  it('never closes the trade that reused its slot: A is liquidated, B opens at the same index, closing A leaves B alone', async () => {
    const k = keeper();
    const told: string[] = [];
    // A watch that reads rarely, so A has not noticed its liquidation when the trader asks to close it.
    const runtime = start(gateway({ watchPollMs: 600_000 }), told);
    await runtime.boot();
    runtime.spawn('user:602', { input: { telegramId: 602, maxOpenPositions: 3 } });
    runtime.send('user:602', order('A'));
    await waitFor(() => stateOf(runtime, 'position:A') === 'open', 'A filled', 30_000);
    const wallet = await walletOf('user:602');
    assert.equal(contextOf(runtime, 'position:A')['tradeIndex'], 0);
    await f.sim.setPrice(0n, PRICE('2500'));
    await waitFor(async () => (await slot(wallet)).leverage === 0n, 'the keeper to liquidate A', 30_000);
    await f.sim.setPrice(0n, PRICE('2600'));
    runtime.send('user:602', order('B', '50', 5, 'short'));
    await waitFor(() => stateOf(runtime, 'position:B') === 'open', 'B filled', 30_000);
    assert.equal(contextOf(runtime, 'position:B')['tradeIndex'], 0, 'B took the slot A left');
    assert.equal(stateOf(runtime, 'position:A'), 'open', 'A has not noticed yet');
    await k.stop();

    runtime.send('position:A', { type: 'close.requested' });
    await waitFor(() => !runtime.ids().includes('position:A'), 'A to find out how it ended', 30_000);
    // Version 2 sent closeTradeMarket(pair 0, index 0): the keeper would have closed B.
    assert.equal((await requests(wallet)).close, 0, 'no close request was sent for the slot');
    const b = await slot(wallet);
    assert.equal(b.timestamp.toString(), contextOf(runtime, 'position:B')['openedAt'], 'B is still on chain, untouched');
    assert.equal(b.buy, false);
    await runtime.flushed();
    assert.equal((await row('position:A')).snapshot.context['closedBy'], 'liquidation');
    assert.equal(stateOf(runtime, 'position:B'), 'open');
  });

  it('ends an order an operator canceled while it was pending (MarketOpenCanceled from TradingStorage)', async () => {
    const told: string[] = [];
    const runtime = start(gateway(), told);
    await runtime.boot();
    runtime.spawn('user:603', { input: { telegramId: 603, maxOpenPositions: 3 } });
    runtime.send('user:603', order('op1', '80', 4));
    await waitFor(() => stateOf(runtime, 'position:op1') === 'awaitingFill', 'the request on chain', 30_000);
    const wallet = await walletOf('user:603');
    const before = await f.sim.usdc(wallet);
    await f.sim.call(f.sim.keeperAddress, 'Trading', d().trading, 'cancelPendingMarketOrder', [BigInt(String(contextOf(runtime, 'position:op1')['orderId']))]);
    // Version 2 read fills from the callbacks contract only: it waited forever.
    await waitFor(() => !runtime.ids().includes('position:op1'), 'the cancel to reach the position', 30_000);
    await runtime.flushed();
    const { snapshot } = await row('position:op1');
    assert.deepEqual([snapshot.value, snapshot.context['canceledBy']], ['canceled', 'operator']);
    assert.equal(await f.sim.usdc(wallet), before + parseUnits('80', 6), 'the collateral came back');
    await waitFor(() => told.length >= 1, 'the trader to be told', 5_000);
    assert.match(told.at(-1)!, /^Order op1 \(long ETH\/USD\) was canceled by the Avantis operator before it was filled; your collateral was refunded/);
  });

  it('returns to open when its close request is canceled, says so, and closes on the next try', async () => {
    const k = keeper();
    const told: string[] = [];
    const runtime = start(gateway(), told);
    await runtime.boot();
    runtime.spawn('user:604', { input: { telegramId: 604, maxOpenPositions: 3 } });
    runtime.send('user:604', order('cc1', '90', 3));
    await waitFor(() => stateOf(runtime, 'position:cc1') === 'open', 'the fill', 30_000);
    await k.stop();
    runtime.send('position:cc1', { type: 'close.requested' });
    await waitFor(() => stateOf(runtime, 'position:cc1') === 'awaitingClose', 'the close request on chain', 30_000);
    // The operator clears the stuck close: TradingStorage frees the trade and emits nothing.
    await f.sim.call(f.sim.keeperAddress, 'Trading', d().trading, 'cancelPendingMarketOrder', [BigInt(String(contextOf(runtime, 'position:cc1')['closeOrderId']))]);
    // Version 2 waited in awaitingClose forever.
    await waitFor(() => stateOf(runtime, 'position:cc1') === 'open', 'the position back to open', 30_000);
    // The trader hears of it once that state is durable.
    await waitFor(() => /^Order cc1 \(long ETH\/USD\) was not closed: Avantis canceled the close request\. It is still open/.test(told.at(-1) ?? ''), 'the trader to be told', 5_000);
    keeper();
    runtime.send('position:cc1', { type: 'close.requested' });
    await waitFor(() => !runtime.ids().includes('position:cc1'), 'the second close', 30_000);
    const intents = await f.pg.db.sql<{ id: string; status: string }>(`select id, status from tx_intents where id like 'position:cc1:close%' order by id`);
    assert.deepEqual(intents, [
      { id: 'position:cc1:close:1', status: 'mined' },
      { id: 'position:cc1:close:2', status: 'mined' },
    ]);
    assert.deepEqual(await requests(await walletOf('user:604')), { open: 1, close: 2 });
  });

  it('finds a fill after thousands of blocks of downtime through an RPC that refuses log ranges over 100 blocks', async () => {
    const first = start(gateway());
    await first.boot();
    first.spawn('user:605', { input: { telegramId: 605, maxOpenPositions: 3 } });
    first.send('user:605', order('dt1', '70', 2));
    await waitFor(() => stateOf(first, 'position:dt1') === 'awaitingFill', 'the request on chain', 30_000);
    await first.stop();
    // Days go by: the keeper fills the order in the middle of them, nobody is watching.
    await f.sim.mine(600);
    const k = keeper();
    await waitFor(async () => (await f.sim.reads.openTrade(await walletOf('user:605'), 0n, 0n)).leverage !== 0n, 'the keeper fill', 30_000);
    await k.stop();
    await f.sim.mine(400);

    let refused = 0;
    let served = 0;
    const limited = createPublicClient({
      transport: custom({
        request: async ({ method, params }: { method: string; params?: unknown }) => {
          if (method === 'eth_getLogs') {
            const [filter] = params as [{ fromBlock: string; toBlock: string }];
            if (BigInt(filter.toBlock) - BigInt(filter.fromBlock) + 1n > 100n) {
              refused += 1;
              throw new Error('query exceeds max block range 100');
            }
            served += 1;
          }
          return f.sim.clients.publicClient.request({ method, params } as never);
        },
      }, { retryCount: 0 }),
    }) as PublicClient;
    const second = start(gateway({ client: limited }));
    await second.boot();
    // Version 2 asked for every block since the request at once and retried that forever.
    await waitFor(() => stateOf(second, 'position:dt1') === 'open', 'the fill found through the limited RPC', 60_000);
    assert.ok(refused >= 1 && served >= 2, `read in bounded chunks (refused ${refused}, served ${served})`);
  });

  it('sends an order that was signed before a crash even when the price feed is dead afterwards', async () => {
    // First engine: the open is signed and stored, then its broadcast fails (the node went away).
    let sends = 0;
    const dropsTheOpen = createPublicClient({
      transport: custom({
        request: async ({ method, params }: { method: string; params?: unknown }) => {
          // The approval goes through; from then on the node is gone.
          if (method === 'eth_sendRawTransaction' && ++sends >= 2) throw new Error('connect ECONNREFUSED 127.0.0.1:8545');
          return f.sim.clients.publicClient.request({ method, params } as never);
        },
      }),
    }) as PublicClient;
    const first = start(gateway({ client: dropsTheOpen }));
    await first.boot();
    first.spawn('user:606', { input: { telegramId: 606, maxOpenPositions: 3 } });
    first.send('user:606', order('rs1', '60', 3));
    await waitFor(() => stateOf(first, 'position:rs1') === 'retryingSubmit', 'the failed broadcast', 30_000);
    await first.stop();
    const [intent] = await f.pg.db.sql<{ status: string }>(`select status from tx_intents where id = 'position:rs1:open'`);
    assert.equal(intent?.status, 'signed', 'signed and stored, never sent');

    // Second engine: the price feed is down. Version 2 read it before resuming and never sent the order.
    keeper();
    const deadFeed = () => Promise.reject(new VantaError('RPC_UNAVAILABLE', 'The price feed does not answer.', { retryable: true }));
    const second = start(gateway({ priceOf: deadFeed }));
    await second.boot();
    await waitFor(() => stateOf(second, 'position:rs1') === 'open', 'the signed order to go out and fill', 30_000);
    assert.deepEqual(await requests(await walletOf('user:606')), { open: 1, close: 0 });
  });

  it('never lets the next order spend an allowance another order is still waiting on (a lock released by a timeout)', async () => {
    const user = 'user:607';
    const { address: wallet } = await f.wallets.create(user);
    await f.sim.clients.testClient.setBalance({ address: wallet, value: parseEther('5') });
    await f.sim.call(f.sim.deployer, 'SimUSDC', d().usdc, 'mint', [wallet, parseUnits('1000', 6)]);
    const runtime = start(gateway({ pipeline: f.pipeline({ receiptTimeoutMs: 1_000 }) }));
    await runtime.boot();
    runtime.spawn(user, { input: { telegramId: 607, maxOpenPositions: 3 } });
    await f.sim.clients.testClient.setAutomine(false);
    try {
      runtime.send(user, order('al1'));
      // A's approval is broadcast but not mined: its wait times out and releases the wallet's lock.
      await waitFor(() => stateOf(runtime, 'position:al1') === 'retryingSubmit', 'A to time out on its approval', 30_000);
      runtime.send(user, order('al2'));
      await waitFor(() => stateOf(runtime, 'position:al2') === 'retryingSubmit', 'B to wait as well', 30_000);
    } finally {
      await f.sim.clients.testClient.setAutomine(true);
      await f.sim.mine(1);
    }
    keeper();
    // Version 2 let B approve and open on the allowance A was approving for; one of them then
    // found its approval spent and was rejected.
    await waitFor(() => ['al1', 'al2'].every((id) => stateOf(runtime, `position:${id}`) === 'open'), 'both orders to open', 60_000);
    assert.deepEqual(await requests(wallet), { open: 2, close: 0 });
  });

  it('refuses, before signing, an order beyond the risk limits, even one that skipped the user actor', async () => {
    const orders = gateway({ limits: { maxLeverage: 20, maxCollateralUsdc: '500', maxNotionalUsdc: '2000', maxOpenPositions: 5 } });
    const base = { owner: 'user:608', pair: 'ETH/USD', pairIndex: 0, side: 'long' as const, slippageBps: 50, fillTimeoutMs: 60_000 };
    await assert.rejects(orders.submitOpen({ ...base, positionId: 'rk1', collateral: '300', leverage: 10 }, OPEN_GATE), (err: VantaError) => {
      assert.equal(err.code, 'RISK_LIMIT');
      assert.equal(err.message, 'Order refused, nothing was sent: Position size 3000 USDC (300 USDC × 10x) is above the limit of 2000 USDC per order.');
      return true;
    });
    await assert.rejects(orders.submitOpen({ ...base, positionId: 'rk2', collateral: '10', leverage: 21 }, OPEN_GATE), /Leverage 21x is above the limit of 20x/);
    assert.deepEqual(await f.pg.db.sql(`select id from tx_intents where user_id = 'user:608'`), []);
    assert.equal(await f.wallets.find('user:608'), null, 'not even a wallet was made');
  });
});
