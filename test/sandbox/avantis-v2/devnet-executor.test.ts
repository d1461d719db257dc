/**
 * The v2 doubles trading on a real devnet (anvil + the simulator upgraded to v2): intents built by
 * the tx-builder double, signed with anvil's keys, submitted to the batched-market double through
 * the project's own clients, executed on chain by DevnetExecutor. Assertions are what a trader
 * sees: the stream, the trade in TradingStorage, USDC balances, the nonce bitmap.
 */
import assert from 'node:assert/strict';
import { formatUnits, type Address, type Hex } from 'viem';
import { mnemonicToAccount, type HDAccount } from 'viem/accounts';
import { BatchedMarketClient, CoreApiClient, TxBuilderClient, type BatchedMarketEvent, type ExecuteBatchedBody } from '../../../src/infra/chain/avantis-v2/http-client.ts';
import { encodeIntent, randomNonce } from '../../../src/infra/chain/avantis-v2/intents.ts';
import { abiOf } from '../../../src/infra/devnet/artifacts.ts';
import { upgradeSimulatorToV2 } from '../../../src/infra/devnet/deploy.ts';
import { createKeeper } from '../../../src/infra/devnet/keeper.ts';
import { startAvantisV2DevnetSandbox, type AvantisV2Sandbox } from '../../../src/sandbox/avantis-v2/index.ts';
import { silentLogger } from '../../helpers/common.ts';
import { ETH, LEVERAGE, PRICE, USDC, useSimulator, type SimFixture } from '../../infra/devnet/fixture.ts';

const ANVIL_MNEMONIC = 'test test test test test test test test test test test junk';
const fast = { timeoutMs: 10_000, retries: 0, backoffMs: 10, maxBackoffMs: 40 } as const;

async function collect(events: AsyncIterable<BatchedMarketEvent>): Promise<BatchedMarketEvent[]> {
  const out: BatchedMarketEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}

describe('Avantis v2 doubles executing on the devnet (DevnetExecutor)', function () {
  let f: SimFixture;
  useSimulator((fixture) => (f = fixture));

  const keys = new Map<string, HDAccount>();
  before(async function () {
    await upgradeSimulatorToV2({ publicClient: f.clients.publicClient, wallet: f.clients.wallet(f.deployer), logger: silentLogger() }, f.deployment);
    for (let i = 0; i < 10; i++) {
      const account = mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: i });
      keys.set(account.address.toLowerCase(), account);
    }
  });
  const key = (address: Address): HDAccount => keys.get(address.toLowerCase()) ?? assert.fail(`no key for ${address}`);
  const trader = () => f.traders[0] as Address;
  const delegate = () => f.traders[1] as Address;
  const stranger = () => f.traders[2] as Address;
  const relayer = () => f.traders[3] as Address;

  let sb: AvantisV2Sandbox;
  let tx: TxBuilderClient;
  let market: BatchedMarketClient;
  let core: CoreApiClient;
  beforeEach(async function () {
    // A fresh sandbox per test: the fixture rolls the chain back after each one, and the Ledger mirrors it.
    sb = await startAvantisV2DevnetSandbox({ publicClient: f.clients.publicClient, operator: f.clients.wallet(f.keeperAddress), deployment: f.deployment, pricePollMs: 0 }, { stepMs: 1 });
    tx = new TxBuilderClient({ baseUrl: sb.txBuilderUrl, meta: { chainId: f.deployment.chainId }, ...fast });
    market = new BatchedMarketClient({ gatewayUrl: sb.gatewayUrl, ...fast, replayIntervalMs: 20, replayForMs: 5_000 });
    core = new CoreApiClient({ gatewayUrl: sb.gatewayUrl, ...fast });
    await f.fund(trader(), USDC('3000'));
    await f.setPrice(ETH, PRICE('3000'));
    await sb.executor.syncTrader?.(trader()); // nothing yet; proves an empty trader reads empty
  });
  afterEach(async function () {
    await sb.close();
  });

  /** The trader signs a DelegateReq built by the tx-builder; a third account relays it on chain. */
  async function registerDelegate(): Promise<void> {
    const { timestamp } = await f.clients.publicClient.getBlock();
    const intent = await tx.delegateSetIntent({ trader: trader(), delegate: delegate(), expirySeconds: Number(timestamp + 3600n), nonce: randomNonce() });
    await f.call(relayer(), 'TradingV2', f.deployment.trading, 'setDelegateWithSig', [await key(trader()).sign({ hash: intent.digest }), intent.encodedIntent]);
  }

  async function openBody(signer: Address, opts: { nonce?: bigint; collateral?: string } = {}) {
    const intent = await tx.openIntent({ trader: trader(), pairIndex: 0, side: 'long', orderType: 'market', collateralUsdc: opts.collateral ?? '1000', leverage: '10', openPrice: '3000', slippagePercent: '1', nonce: opts.nonce ?? randomNonce() });
    const body: ExecuteBatchedBody = { orderType: 0, erc712: { userIntent: intent.encodedIntent!, userSignature: await key(signer).sign({ hash: intent.digest }) } };
    return { intent, body };
  }

  const types = (events: readonly BatchedMarketEvent[]) => events.map((e) => e.type);
  const last = (events: readonly BatchedMarketEvent[]) => events.at(-1)!.payload as Record<string, unknown>;
  const nonceUsed = async (signer: Address, nonce: bigint): Promise<boolean> => {
    const word = (await f.clients.publicClient.readContract({ address: f.deployment.trading, abi: abiOf('TradingV2'), functionName: 'nonceBitmap', args: [signer, nonce >> 8n] })) as bigint;
    return ((word >> (nonce & 255n)) & 1n) === 1n;
  };
  const tradesOnEth = () => f.clients.publicClient.readContract({ address: f.deployment.tradingStorage, abi: abiOf('TradingStorage'), functionName: 'openTradesCount', args: [trader(), ETH] }) as Promise<bigint>;
  const receipt = (hash: unknown) => f.clients.publicClient.getTransactionReceipt({ hash: hash as Hex });

  it('a delegate-signed open then close run on chain: real hashes, the trade in TradingStorage, and the trader paid what the stream says', async function () {
    await registerDelegate();
    const opened = await collect(market.submit((await openBody(delegate())).body));
    assert.deepEqual(types(opened), ['MarketOrderAccepted', 'MarketOrderInitiated', 'MarketOrderExecuted']);
    assert.equal((await tx.delegation(trader(), delegate())).canSignIntents, true, 'the tx-builder sees the on-chain delegate once it has signed');
    const initiation = await receipt(opened[1]!.payload.transactionHash);
    assert.equal(initiation.status, 'success');
    assert.equal(initiation.to, f.deployment.trading.toLowerCase(), 'the intent went to the TradingRouter');
    const exec = last(opened) as { transactionHash: string; price: string; t: { index: string; initialPosToken: string; leverage: string; timestamp: string } };
    assert.equal((await receipt(exec.transactionHash)).status, 'success');
    assert.notEqual(exec.transactionHash, initiation.transactionHash);

    const trade = await f.reads.openTrade(trader(), ETH, BigInt(exec.t.index));
    assert.equal(trade.trader, trader());
    assert.equal(trade.leverage, LEVERAGE('10'), 'the signed leverage');
    assert.equal(await f.usdc(trader()), USDC('2000'), 'the signed collateral was taken from the trader');
    assert.ok(trade.initialPosToken < USDC('1000') && trade.initialPosToken > USDC('990'), 'collateral less the opening fee');
    assert.equal(exec.t.initialPosToken, trade.initialPosToken.toString(), 'the stream reports the stored collateral');
    assert.equal(exec.price, trade.openPrice.toString());
    // The reads agree with the chain.
    const positions = await tx.positions(trader());
    assert.equal(positions.trades.length, 1);
    const userData = await core.userData(trader());
    assert.equal(userData.positions.length, 1);
    assert.equal(userData.positions[0]!.collateral, trade.initialPosToken.toString());

    // Close all of it, from an intent the tx-builder fills with the position's on-chain open time.
    const before = await f.usdc(trader());
    const closeIntent = await tx.closeIntent({ trader: trader(), pairIndex: 0, tradeIndex: Number(trade.index), collateralToCloseUsdc: formatUnits(trade.initialPosToken, 6), nonce: randomNonce() });
    const closed = await collect(market.submit({ orderType: 1, erc712: { userIntent: closeIntent.encodedIntent!, userSignature: await key(delegate()).sign({ hash: closeIntent.digest }) } }));
    assert.deepEqual(types(closed), ['MarketOrderAccepted', 'MarketOrderInitiated', 'MarketOrderExecuted']);
    const paid = last(closed) as { usdcSentToTrader: string; transactionHash: string };
    assert.ok(BigInt(paid.usdcSentToTrader) > 0n);
    assert.equal((await f.usdc(trader())) - before, BigInt(paid.usdcSentToTrader), 'the balance rose by what the stream reported');
    assert.equal((await receipt(paid.transactionHash)).status, 'success');
    assert.equal((await f.reads.openTrade(trader(), ETH, trade.index)).leverage, 0n, 'closed on chain');
    assert.equal((await tx.positions(trader())).trades.length, 0);
    assert.equal((await core.userData(trader())).positions.length, 0);
  });

  it('a tampered signature, a tampered intent or a non-delegate signer fails on chain and nothing changes', async function () {
    await registerDelegate();
    const usdcBefore = await f.usdc(trader());

    const { intent, body } = await openBody(delegate());
    const sig = body.erc712.userSignature;
    const flipped = `${sig.slice(0, 130)}${sig.endsWith('1b') ? '1c' : '1b'}` as Hex; // v 27 ↔ 28: recovers another address
    const tamperedSig = await collect(market.submit({ ...body, erc712: { ...body.erc712, userSignature: flipped } }));
    // More collateral than was signed, with the original signature.
    const message = intent.message;
    const raised = encodeIntent('OpenTradeReq', { ...message, _t: { ...message._t, positionSizeUSDC: USDC('2000') } });
    const tamperedIntent = await collect(market.submit({ orderType: 0, erc712: { userIntent: raised, userSignature: sig } }));
    const byStranger = await collect(market.submit((await openBody(stranger())).body));

    for (const events of [tamperedSig, tamperedIntent, byStranger]) {
      assert.deepEqual(types(events), ['MarketOrderAccepted', 'Error'], 'refused before any initiation');
      assert.equal(last(events).code, 'InvalidSigner');
    }
    assert.equal(await f.usdc(trader()), usdcBefore, 'no USDC moved');
    assert.equal(await tradesOnEth(), 0n);
    assert.equal(await nonceUsed(delegate(), message._nonce), false, 'the nonce is still free: the genuine intent can still run');
    assert.deepEqual(types(await collect(market.submit(body))), ['MarketOrderAccepted', 'MarketOrderInitiated', 'MarketOrderExecuted']);
  });

  it('a reused nonce is refused by the on-chain bitmap, and the tx-builder then reports it used', async function () {
    await registerDelegate();
    const nonce = randomNonce();
    assert.deepEqual(types(await collect(market.submit((await openBody(delegate(), { nonce })).body))), ['MarketOrderAccepted', 'MarketOrderInitiated', 'MarketOrderExecuted']);
    const afterFirst = await f.usdc(trader());
    assert.equal(await nonceUsed(delegate(), nonce), true);

    const again = await collect(market.submit((await openBody(delegate(), { nonce, collateral: '500' })).body));
    assert.deepEqual(types(again), ['MarketOrderAccepted', 'Error']);
    assert.equal(last(again).code, 'InvalidNonce');
    assert.equal(await f.usdc(trader()), afterFirst, 'no second collateral taken');
    assert.equal(await tradesOnEth(), 1n);
    assert.equal((await tx.nonce(delegate(), nonce)).available, false);
  });

  it('an open the oracle has moved away from is canceled by the contract, with the collateral refunded', async function () {
    const { body } = await openBody(trader()); // the trader's own key, no delegate needed
    await f.setPrice(ETH, PRICE('3300')); // 10 % above the signed 3000 with 1 % slippage
    const events = await collect(market.submit(body));
    assert.deepEqual(types(events), ['MarketOrderAccepted', 'MarketOrderInitiated', 'MarketOrderCanceled']);
    assert.equal((await receipt(last(events).transactionHash)).status, 'success');
    assert.equal(await f.usdc(trader()), USDC('3000'), 'refunded in full');
    assert.equal(await tradesOnEth(), 0n);
    assert.equal(sb.executor.price(ETH), PRICE('3300'), 'price() follows the oracle');
  });

  it('refuses an order by a delegate the trader removed on chain (InvalidSigner); a sync shows the removal', async function () {
    await registerDelegate();
    await sb.executor.syncTrader?.(trader());
    assert.equal((await tx.delegation(trader(), delegate())).isEnabled, true);
    await f.call(trader(), 'TradingV2', f.deployment.trading, 'removeDelegate', [delegate()]);
    const events = await collect(market.submit((await openBody(delegate())).body));
    assert.deepEqual(types(events), ['MarketOrderAccepted', 'Error']);
    assert.equal(last(events).code, 'InvalidSigner');
    await sb.executor.syncTrader?.(trader());
    assert.equal((await tx.delegation(trader(), delegate())).isEnabled, false);
  });

  it('reports the outcome when the devnet keeper loop fills the order first (as in the running sandbox)', async function () {
    // The sandbox runs the keeper on its own account; the executor then needs another operator.
    const operator = f.traders[4] as Address;
    await f.call(f.deployer, 'Trading', f.deployment.trading, 'updateOperator', [operator, true]);
    await sb.close();
    // A long pause after the initiation lets the keeper (polling every 20 ms) fill before the executor does.
    sb = await startAvantisV2DevnetSandbox({ publicClient: f.clients.publicClient, operator: f.clients.wallet(operator), deployment: f.deployment, pricePollMs: 0 }, { stepMs: 800 });
    tx = new TxBuilderClient({ baseUrl: sb.txBuilderUrl, meta: { chainId: f.deployment.chainId }, ...fast });
    market = new BatchedMarketClient({ gatewayUrl: sb.gatewayUrl, ...fast, replayIntervalMs: 20, replayForMs: 5_000 });
    const keeper = createKeeper({ publicClient: f.clients.publicClient, wallet: f.clients.wallet(f.keeperAddress), deployment: f.deployment, logger: silentLogger() }, { pollIntervalMs: 20 });
    keeper.start();
    try {
      const events = await collect(market.submit((await openBody(trader())).body));
      assert.deepEqual(types(events), ['MarketOrderAccepted', 'MarketOrderInitiated', 'MarketOrderExecuted']);
      const fill = await f.clients.publicClient.getTransaction({ hash: last(events).transactionHash as Hex });
      assert.equal(fill.from, f.keeperAddress.toLowerCase(), 'the keeper\'s fill is the one reported');
      assert.equal(await tradesOnEth(), 1n);
      assert.equal((await tx.positions(trader())).trades.length, 1);
    } finally {
      await keeper.stop();
    }
  });
});
