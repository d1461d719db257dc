/**
 * Blitz relays carried out on the devnet (ChainRelayExecutor, wired by startAvantisV2DevnetSandbox):
 * delegate registration for a bot-created wallet — real delegate keys and wallets over
 * PostgreSQL, the engine's clients — registers the delegate in the TradingV2 facet ON CHAIN, an
 * intent that delegate signs then executes on chain through batched-market, and a relay carrying
 * anything but setDelegateWithSig to the TradingRouter is refused with nothing sent.
 *
 * The 7702 envelope is checked by the double, not run by the delegate's EOA (the devnet has no
 * smart-account template): the relayer account sends setDelegateWithSig itself (chain-relays.ts).
 */
import assert from 'node:assert/strict';
import { encodeFunctionData, parseEther, type Address, type Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount, type PrivateKeyAccount } from 'viem/accounts';
import { createDelegateRegistration, type DelegateRegistration } from '../../../src/actors/delegate-registration.ts';
import type { BlitzRelayStatus, BlitzTxParams } from '../../../src/infra/chain/avantis-v2/blitz-client.ts';
import { DelegateCalldataClient } from '../../../src/infra/chain/avantis-v2/delegate-calldata-client.ts';
import { BatchedMarketClient, BlitzClient, TxBuilderClient, type BatchedMarketEvent } from '../../../src/infra/chain/avantis-v2/http-client.ts';
import { createIntentStore } from '../../../src/infra/chain/avantis-v2/intent-store.ts';
import { randomNonce } from '../../../src/infra/chain/avantis-v2/intents.ts';
import { decodeExecuteCalldata, executeCalldata, executeNonce, executeTypedData, GELATO_DELEGATION_TEMPLATE, relayTxParams, type SmartAccountCall } from '../../../src/infra/chain/avantis-v2/smart-account.ts';
import { LEASE_NAME, leaseFence } from '../../../src/infra/db/fence.ts';
import { abiOf } from '../../../src/infra/devnet/artifacts.ts';
import { upgradeSimulatorToV2 } from '../../../src/infra/devnet/deploy.ts';
import { createKeyedLock } from '../../../src/infra/keyed-lock.ts';
import { createDelegateKeys, type DelegateKeys } from '../../../src/infra/keys/delegate-keys.ts';
import { createWallets, type Wallets } from '../../../src/infra/keys/wallets.ts';
import { startAvantisV2DevnetSandbox, type AvantisV2Sandbox } from '../../../src/sandbox/avantis-v2/index.ts';
import { silentLogger } from '../../helpers/common.ts';
import { createTestPostgres, type TestDatabase } from '../../helpers/db.ts';
import { ETH, LEVERAGE, USDC, PRICE, useSimulator, type SimFixture } from '../../infra/devnet/fixture.ts';
import { localFixture, type KeyStoreFixture } from '../../infra/keys/support.ts';

const fast = { timeoutMs: 10_000, retries: 0, backoffMs: 10, maxBackoffMs: 40 } as const;

async function collect(events: AsyncIterable<BatchedMarketEvent>): Promise<BatchedMarketEvent[]> {
  const out: BatchedMarketEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}

describe('blitz relays on the devnet: delegate registration through the relayer double, then delegate-signed trading', function () {
  this.timeout(60_000);
  let f: SimFixture;
  useSimulator((fixture) => (f = fixture));

  let pg: TestDatabase;
  let keys: KeyStoreFixture;
  before(async function () {
    await upgradeSimulatorToV2({ publicClient: f.clients.publicClient, wallet: f.clients.wallet(f.deployer), logger: silentLogger() }, f.deployment);
    pg = await createTestPostgres('blitz_devnet');
    keys = await localFixture();
  });
  after(async function () {
    await keys?.close();
    await pg?.destroy();
  });

  let tg = 70_000;
  let sb: AvantisV2Sandbox;
  let tx: TxBuilderClient;
  let blitz: BlitzClient;
  let market: BatchedMarketClient;
  let wallets: Wallets;
  let delegates: DelegateKeys;
  let reg: DelegateRegistration;
  const relayed: BlitzTxParams[] = [];
  // The executor's operator, which also relays (the default wiring, as in the running sandbox).
  const operator = () => f.keeperAddress;

  beforeEach(async function () {
    tg += 1;
    relayed.length = 0;
    await pg.db.sql('delete from engine_lease');
    await pg.db.sql(`insert into engine_lease (name, epoch, holder, expires_at) values (?, 1, 'engine-a', now() + interval '1 hour')`, [LEASE_NAME]);
    sb = await startAvantisV2DevnetSandbox({ publicClient: f.clients.publicClient, operator: f.clients.wallet(operator()), deployment: f.deployment, pricePollMs: 0 }, { stepMs: 1 });
    const chainId = f.deployment.chainId;
    tx = new TxBuilderClient({ baseUrl: sb.txBuilderUrl, meta: { chainId }, ...fast });
    blitz = new BlitzClient({ gatewayUrl: sb.gatewayUrl, ...fast });
    market = new BatchedMarketClient({ gatewayUrl: sb.gatewayUrl, ...fast, replayIntervalMs: 20, replayForMs: 5_000 });
    wallets = createWallets({ db: pg.db, keystore: keys.keystore, logger: silentLogger() });
    const lock = createKeyedLock();
    delegates = createDelegateKeys({ wallets, lock, logger: silentLogger() });
    reg = createDelegateRegistration({
      txBuilder: tx,
      calldata: new DelegateCalldataClient({ baseUrl: sb.txBuilderUrl, ...fast }),
      relayer: { relay: (params, wallet) => (relayed.push(params), blitz.relay(params, wallet)), relayStatus: (id) => blitz.relayStatus(id) },
      store: createIntentStore(pg.db, leaseFence(pg.db, 1)),
      wallets,
      delegates,
      lock,
      logger: silentLogger(),
      pollIntervalMs: 10,
    });
    await f.setPrice(ETH, PRICE('3000'));
  });
  afterEach(async function () {
    await sb.close();
  });

  const delegationOnChain = async (trader: Address, delegate: Address) =>
    (await f.clients.publicClient.readContract({ address: f.deployment.trading, abi: abiOf('TradingV2'), functionName: 'multipleDelegations', args: [trader, delegate] })) as readonly [boolean, bigint];
  const sentNothing = async (what: string, run: () => Promise<void>) => {
    const nonce = await f.clients.publicClient.getTransactionCount({ address: operator() });
    const block = await f.clients.publicClient.getBlockNumber({ cacheTime: 0 });
    await run();
    await sb.gateway.relaysSettled();
    assert.equal(await f.clients.publicClient.getTransactionCount({ address: operator() }), nonce, `${what}: the relayer sent nothing`);
    const now = await f.clients.publicClient.getBlockNumber({ cacheTime: 0 });
    if (now !== block) {
      const b = await f.clients.publicClient.getBlock({ blockNumber: now, includeTransactions: true });
      assert.fail(`${what}: block ${now} was mined with ${JSON.stringify(b.transactions.map((t) => [t.from, t.to, t.input.slice(0, 10)]))}`);
    }
  };
  async function settled(requestId: string): Promise<BlitzRelayStatus & { error?: string }> {
    for (let i = 0; i < 200; i++) {
      const status = await blitz.relayStatus(requestId);
      // The client keeps status and receipt; the double's `error` text is read from the double.
      const outcome = sb.gateway.relayOutcome(requestId);
      if (status.status !== 'Inflight') return { ...status, ...(outcome?.status === 'Failed' ? { error: outcome.error } : {}) };
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return assert.fail('the relay never settled');
  }
  /** A bot-created trader wallet with USDC approved to TradingStorage (sent from it, impersonated on anvil). */
  async function fundedTrader(): Promise<Address> {
    const trader = (await wallets.create(`user:${tg}`)).address;
    await f.clients.testClient.impersonateAccount({ address: trader });
    await f.clients.testClient.setBalance({ address: trader, value: parseEther('1') });
    await f.fund(trader, USDC('3000'));
    return trader;
  }

  it('registers the bot wallet’s delegate ON CHAIN through blitz; the delegate’s OpenTradeReq then executes on chain; the tx-builder reads the chain', async function () {
    const trader = await fundedTrader();
    assert.equal((await reg.checkDelegation(tg)).state, 'missing');

    const result = await reg.registerDelegate(tg);
    const delegate = (await delegates.delegateOf(tg))!;
    assert.equal(result.state, 'active');
    assert.equal(relayed.length, 1);
    assert.equal(relayed[0]!.transactionType, 4, 'relayed from the delegate’s 7702 account');
    assert.equal(relayed[0]!.to, delegate);

    // The facet holds the delegation, with the signed expiry; the relayer sent it, the delegate's EOA sent nothing.
    const [isEnabled, expiry] = await delegationOnChain(trader, delegate);
    assert.equal(isEnabled, true);
    assert.equal(expiry, result.expiry);
    const logs = await f.clients.publicClient.getContractEvents({ address: f.deployment.trading, abi: abiOf('TradingV2'), eventName: 'DelegateSet', args: { trader }, fromBlock: 0n });
    assert.equal(logs.length, 1);
    const sent = await f.clients.publicClient.getTransaction({ hash: logs[0]!.transactionHash });
    assert.equal(sent.from, operator().toLowerCase(), 'sent by the relayer account');
    assert.equal(sent.to, f.deployment.trading.toLowerCase(), 'to the TradingRouter');
    assert.equal(await f.clients.publicClient.getTransactionCount({ address: delegate }), 0);

    // An OpenTradeReq signed by the delegate key executes on chain for the trader.
    const intent = await tx.openIntent({ trader, pairIndex: 0, side: 'long', orderType: 'market', collateralUsdc: '1000', leverage: '10', openPrice: '3000', slippagePercent: '1', nonce: randomNonce() });
    const signed = await delegates.signIntent(tg, intent);
    const events = await collect(market.submit({ orderType: 0, erc712: { userIntent: signed.encodedIntent, userSignature: signed.signature } }));
    assert.deepEqual(events.map((e) => e.type), ['MarketOrderAccepted', 'MarketOrderInitiated', 'MarketOrderExecuted']);
    const exec = events.at(-1)!.payload as { transactionHash: Hex; t: { index: string } };
    assert.equal((await f.clients.publicClient.getTransactionReceipt({ hash: exec.transactionHash })).status, 'success');
    const trade = await f.reads.openTrade(trader, ETH, BigInt(exec.t.index));
    assert.equal(trade.trader, trader);
    assert.equal(trade.leverage, LEVERAGE('10'));
    assert.equal(await f.usdc(trader), USDC('2000'), 'the collateral came from the trader');

    // /v2/delegation answers the chain: a removal sent by the trader directly shows at once.
    await f.call(trader, 'TradingV2', f.deployment.trading, 'removeDelegate', [delegate]);
    assert.equal((await reg.checkDelegation(tg)).state, 'missing');
    assert.equal(sb.ledger.delegation(trader, delegate).isEnabled, false, 'the Ledger mirror follows');
  });

  it('refuses, with nothing sent, a relay carrying anything but setDelegateWithSig to the TradingRouter, a forged envelope, and a replay', async function () {
    const trader = await fundedTrader();
    await reg.registerDelegate(tg);
    const delegate = (await delegates.delegateOf(tg))!;
    const chainId = f.deployment.chainId;
    const router = f.deployment.trading;
    const account: PrivateKeyAccount = privateKeyToAccount(generatePrivateKey());
    const other: PrivateKeyAccount = privateKeyToAccount(generatePrivateKey());
    let salt = 0;
    /** A 7702 relay from `account`, built as delegate-keys.ts does but with any calls. */
    const envelope = async (calls: SmartAccountCall[], o: { executeSigner?: PrivateKeyAccount; template?: Address } = {}): Promise<BlitzTxParams> => {
      const nonce = executeNonce(Date.now(), salt++);
      const authorization = await account.signAuthorization({ address: o.template ?? GELATO_DELEGATION_TEMPLATE, chainId, nonce: 0 });
      const signature = await (o.executeSigner ?? account).signTypedData(executeTypedData(account.address, chainId, calls, nonce));
      return relayTxParams(account.address, chainId, executeCalldata(calls, nonce, signature), authorization);
    };
    const removeDelegate = encodeFunctionData({ abi: abiOf('TradingV2'), functionName: 'removeDelegate', args: [delegate] });
    const approve = encodeFunctionData({ abi: abiOf('SimUSDC'), functionName: 'approve', args: [account.address, 1n] });
    const [registration] = relayed;
    // A genuine setDelegateWithSig (the one just registered), for the envelope and target cases.
    const genuine = decodeExecuteCalldata(registration!.data).calls[0]!;

    const cases: [string, BlitzTxParams, RegExp][] = [
      ['removeDelegate to the TradingRouter', await envelope([{ to: router, value: 0n, data: removeDelegate }]), /relays only setDelegateWithSig/],
      ['an ERC-20 approve to USDC', await envelope([{ to: f.deployment.usdc, value: 0n, data: approve }]), /only to the TradingRouter/],
      ['setDelegateWithSig to another contract', await envelope([{ to: f.deployment.usdc, value: 0n, data: genuine.data }]), /only to the TradingRouter/],
      ['setDelegateWithSig plus removeDelegate', await envelope([genuine, { to: router, value: 0n, data: removeDelegate }]), /relays only setDelegateWithSig/],
      ['an Execute signed by another key', await envelope([genuine], { executeSigner: other }), /Execute signature/],
      ['an authorization for another template', await envelope([genuine], { template: other.address }), /not the template/],
      ['a type-2 removeDelegate', { to: router, data: removeDelegate, value: '0', gasLimit: '2000000', chainId, transactionType: 2 }, /relays only setDelegateWithSig/],
      ['the registration relayed again', registration!, /InvalidNonce|used already/],
      // A valid envelope of another account around the same setDelegateWithSig: the contract's own check refuses it (simulated, not sent).
      ['the registration’s call in a fresh envelope', await envelope([genuine]), /would revert: InvalidNonce/],
    ];
    for (const [what, params, why] of cases) {
      await sentNothing(what, async () => {
        const status = await settled(await blitz.relay(params, params.to));
        assert.equal(status.status, 'Failed', what);
        assert.equal(status.receipt, null, what);
        assert.match(status.error ?? '', why, what);
      });
    }
    assert.equal((await delegationOnChain(trader, delegate))[0], true, 'the registration stands');
  });
});
