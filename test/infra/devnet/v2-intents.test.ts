/**
 * The simulator's v2 TradingRouter surface (AVANTIS-V2.md §4, §8, §9.5, §13), on anvil: EIP-712
 * domain, delegates with expiry, `setDelegateWithSig`, the nonce bitmap, and signed OpenTradeReq /
 * CloseTradeReq executed by a third account (the operator service) through the same storage,
 * math and keeper flow as v1. Intents are built, hashed and encoded by the project's own
 * TypeScript (src/infra/chain/avantis-v2), whose digests are proven by the golden vectors.
 */
import assert from 'node:assert/strict';
import { encodeFunctionData, getAddress, toEventSelector, toFunctionSelector, type AbiEvent, type AbiFunction, type Address, type Hex, type TransactionReceipt } from 'viem';
import { mnemonicToAccount, type HDAccount } from 'viem/accounts';
import {
  closeTradeMessage,
  decodeIntent,
  delegateMessage,
  domainSeparator,
  encodeIntent,
  openTradeMessage,
  prepareIntent,
  randomNonce,
  TOS_AVANTIS,
  TOS_VERANTA,
  type IntentDomain,
  type LocalIntent,
} from '../../../src/infra/chain/avantis-v2/intents.ts';
import type { IntentPrimaryType } from '../../../src/infra/chain/avantis-v2/intent-types.ts';
import { detectProtocolVersion } from '../../../src/infra/chain/avantis/detect.ts';
import { abiOf } from '../../../src/infra/devnet/artifacts.ts';
import { upgradeSimulatorToV2 } from '../../../src/infra/devnet/deploy.ts';
import { silentLogger } from '../../helpers/common.ts';
import { ETH, LEVERAGE, PERCENT, PRICE, USDC, eventsOf, useSimulator, type SimFixture } from './fixture.ts';

const V2_MARKET_ORDER_INITIATED = '0xdf4eefe414d2dc9d6c031eb82661052d92b0a4f41e6b8a291d45045a000b90a3';
const ANVIL_MNEMONIC = 'test test test test test test test test test test test junk';
const v2Abi = abiOf('TradingV2');

interface InitiatedV2 {
  trader: Address;
  pairIndex: bigint;
  open: boolean;
  orderId: bigint;
  isBuy: boolean;
  initialPosToken: bigint;
  minLeverage: bigint;
  maxLeverage: bigint;
  wantedPrice: bigint;
}

describe('devnet Avantis simulator: v2 intents, delegates and nonces', function () {
  let f: SimFixture;
  useSimulator((fixture) => (f = fixture));

  /** anvil's accounts are the default mnemonic's: their keys sign the intents here. */
  const keys = new Map<string, HDAccount>();
  let facet: Address;
  before(async function () {
    // Pure v1 until gov upgrades it, like mainnet on 2026-08-12 (same address, same storage).
    assert.equal((await detectProtocolVersion(f.clients.publicClient, f.deployment.trading)).version, 'v1');
    facet = await upgradeSimulatorToV2({ publicClient: f.clients.publicClient, wallet: f.clients.wallet(f.deployer), logger: silentLogger() }, f.deployment);
    for (let i = 0; i < 10; i++) {
      const account = mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: i });
      keys.set(account.address.toLowerCase(), account);
    }
  });
  const keyOf = (address: Address): HDAccount => {
    const key = keys.get(address.toLowerCase());
    if (!key) throw new Error(`no key for ${address}`);
    return key;
  };

  const trader = () => f.traders[0] as Address;
  const delegate = () => f.traders[1] as Address;
  const stranger = () => f.traders[2] as Address;
  const relayer = () => f.traders[3] as Address; // the operator service: submits, never signs

  const domain = async (): Promise<IntentDomain> => ({ name: 'AvantisTrading', version: '1', chainId: await f.clients.publicClient.getChainId(), verifyingContract: f.deployment.trading });
  const now = async (): Promise<bigint> => (await f.clients.publicClient.getBlock()).timestamp;
  const deadlineIn = async (seconds: bigint): Promise<bigint> => ((await now()) + seconds) * 1000n;

  async function sign<P extends IntentPrimaryType>(intent: LocalIntent<P>, signer: Address): Promise<Hex> {
    return keyOf(signer).sign({ hash: intent.digest });
  }

  const v2 = (from: Address, functionName: string, args: readonly unknown[]) => f.call(from, 'TradingV2', f.deployment.trading, functionName, args);
  const read = <T>(functionName: string, args: readonly unknown[]) =>
    f.clients.publicClient.readContract({ address: f.deployment.trading, abi: v2Abi, functionName, args }) as Promise<T>;

  async function delegateIntent(opts: { signer?: Address; expiry?: bigint; nonce?: bigint; deadlineMs?: bigint; tnc?: string } = {}) {
    const message = delegateMessage({
      trader: trader(),
      delegate: delegate(),
      expirySeconds: opts.expiry ?? (await now()) + 86_400n,
      tnc: opts.tnc ?? TOS_VERANTA,
      deadlineMs: opts.deadlineMs ?? (await deadlineIn(120n)),
      nonce: opts.nonce ?? randomNonce(),
    });
    const intent = prepareIntent(await domain(), 'DelegateReq', message);
    return { intent, signature: await sign(intent, opts.signer ?? trader()) };
  }

  async function registerDelegate(expiry?: bigint): Promise<void> {
    const { intent, signature } = await delegateIntent(expiry === undefined ? {} : { expiry });
    await v2(relayer(), 'setDelegateWithSig', [signature, intent.encodedIntent]);
  }

  async function openIntent(opts: { signer?: Address; nonce?: bigint; deadlineMs?: bigint; collateral?: bigint } = {}) {
    const message = openTradeMessage({
      trader: trader(),
      pairIndex: ETH,
      buy: true,
      orderType: 0n,
      collateral: opts.collateral ?? USDC('1000'),
      openPrice: PRICE('3000'),
      leverage: LEVERAGE('10'),
      tp: 0n,
      sl: 0n,
      slippageP: PERCENT('1'),
      deadlineMs: opts.deadlineMs ?? (await deadlineIn(120n)),
      nonce: opts.nonce ?? randomNonce(),
    });
    const intent = prepareIntent(await domain(), 'OpenTradeReq', message);
    return { intent, signature: await sign(intent, opts.signer ?? delegate()) };
  }

  async function closeIntent(opts: { signer?: Address; forTrader?: Address; openTimestamp?: bigint; amount?: bigint } = {}) {
    const owner = opts.forTrader ?? trader();
    const trade = await f.reads.openTrade(trader(), ETH, 0n);
    const message = closeTradeMessage({
      trader: owner,
      pairIndex: ETH,
      index: 0n,
      openTimestamp: opts.openTimestamp ?? trade.positionSizeUSDC, // the simulator's "last change" time (v1 quirk)
      amount: opts.amount ?? trade.initialPosToken,
      wantedPrice: PRICE('3000'),
      deadlineMs: await deadlineIn(120n),
      nonce: randomNonce(),
    });
    const intent = prepareIntent(await domain(), 'CloseTradeReq', message);
    return { intent, signature: await sign(intent, opts.signer ?? delegate()) };
  }

  const submitOpen = (i: { intent: LocalIntent<'OpenTradeReq'>; signature: Hex }) => v2(relayer(), 'executeOpenTradeIntent', [i.intent.encodedIntent, i.signature]);
  const submitClose = (i: { intent: LocalIntent<'CloseTradeReq'>; signature: Hex }) => v2(relayer(), 'executeCloseTradeIntent', [i.intent.encodedIntent, i.signature]);

  async function fillPending(): Promise<void> {
    const keeper = f.keeper();
    await keeper.tick();
    await keeper.stop();
  }

  function initiated(receipt: TransactionReceipt): InitiatedV2 {
    const [event] = eventsOf<InitiatedV2>(receipt, v2Abi, 'MarketOrderInitiated');
    assert.ok(event, 'a v2 MarketOrderInitiated');
    assert.equal(event.address, f.deployment.trading.toLowerCase(), 'emitted by the TradingRouter (Trading)');
    return event.args;
  }

  async function openForTrader(): Promise<void> {
    await f.fund(trader(), USDC('3000'));
    await f.setPrice(ETH, PRICE('3000'));
    await registerDelegate();
    await submitOpen(await openIntent());
    await fillPending();
  }

  it('declares the documented v2 MarketOrderInitiated (13 fields, topic0 0xdf4eefe4…90a3) and keeps Trading exactly v1', function () {
    const events = v2Abi.filter((i): i is AbiEvent => i.type === 'event' && i.name === 'MarketOrderInitiated');
    assert.equal(events.length, 1);
    assert.equal(events[0]!.inputs.length, 13);
    assert.equal(toEventSelector(events[0]!), V2_MARKET_ORDER_INITIATED);
    const setDelegateWithSig = v2Abi.find((i): i is AbiFunction => i.type === 'function' && i.name === 'setDelegateWithSig');
    assert.equal(toFunctionSelector(setDelegateWithSig!), '0xf4ec01eb');
    // The v1 artifact declares none of the v2 overloads (abi-parity.test.ts checks the rest).
    const v1Names = abiOf('Trading').filter((i) => i.type === 'function').map((i) => (i as { name: string }).name);
    for (const name of ['setDelegateWithSig', 'multipleDelegations', 'nonceBitmap', 'DOMAIN_SEPARATOR', 'executeOpenTradeIntent']) assert.ok(!v1Names.includes(name), name);
  });

  it('is seen as v2 by the deployment check once upgraded (it answers nonceBitmap at the Trading address)', async function () {
    const verdict = await detectProtocolVersion(f.clients.publicClient, f.deployment.trading);
    assert.equal(verdict.version, 'v2');
    assert.equal(await read<bigint>('nonceBitmap', [trader(), 0n]), 0n);
  });

  it('has the EIP-712 domain AvantisTrading / 1 / chainId / Trading address, as the TypeScript computes it', async function () {
    assert.equal(await read<Hex>('DOMAIN_SEPARATOR', []), domainSeparator(await domain()));
  });

  it('registers a delegate from the trader\'s signed DelegateReq relayed by a third account (either ToS), and only the trader can remove it', async function () {
    const expiry = (await now()) + 3600n;
    const { intent, signature } = await delegateIntent({ expiry });
    await v2(relayer(), 'setDelegateWithSig', [signature, intent.encodedIntent]);
    assert.deepEqual(await read('multipleDelegations', [trader(), delegate()]), [true, expiry]);
    assert.deepEqual(await read('multipleDelegations', [relayer(), delegate()]), [false, 0n], 'the relayer gained nothing');

    // The nonce is spent in the SIGNER's (the trader's) bitmap.
    const nonce = (decodeIntent('DelegateReq', intent.encodedIntent!) as { nonce: bigint }).nonce;
    const word = await read<bigint>('nonceBitmap', [trader(), nonce >> 8n]);
    assert.equal((word >> (nonce & 255n)) & 1n, 1n);

    const avantis = await delegateIntent({ tnc: TOS_AVANTIS, expiry: expiry + 1n });
    await v2(relayer(), 'setDelegateWithSig', [avantis.signature, avantis.intent.encodedIntent]);
    assert.deepEqual(await read('multipleDelegations', [trader(), delegate()]), [true, expiry + 1n]);

    await v2(trader(), 'removeDelegate', [delegate()]);
    assert.deepEqual(await read('multipleDelegations', [trader(), delegate()]), [false, 0n]);
  });

  it('refuses a DelegateReq signed by anyone but the trader, past its deadline, reused, or with another ToS text', async function () {
    const byDelegate = await delegateIntent({ signer: delegate() });
    await assert.rejects(v2(relayer(), 'setDelegateWithSig', [byDelegate.signature, byDelegate.intent.encodedIntent]), /InvalidSigner/);
    const late = await delegateIntent({ deadlineMs: ((await now()) - 5n) * 1000n });
    await assert.rejects(v2(relayer(), 'setDelegateWithSig', [late.signature, late.intent.encodedIntent]), /InvalidDeadline/);

    const once = await delegateIntent();
    await v2(relayer(), 'setDelegateWithSig', [once.signature, once.intent.encodedIntent]);
    await assert.rejects(v2(relayer(), 'setDelegateWithSig', [once.signature, once.intent.encodedIntent]), /InvalidNonce/);

    // A ToS text the TypeScript refuses to build: encode and sign it by hand.
    const message = { ...(decodeIntent('DelegateReq', once.intent.encodedIntent!) as object), tnc: `${TOS_VERANTA} `, nonce: randomNonce() } as never;
    const odd = { ...prepareIntent(await domain(), 'DelegateReq', message), encodedIntent: encodeIntent('DelegateReq', message) };
    await assert.rejects(v2(relayer(), 'setDelegateWithSig', [await sign(odd, trader()), odd.encodedIntent]), /InvalidTnc/);
  });

  it('opens a position for the trader from an OpenTradeReq signed by the delegate: collateral from the trader, keeper fill, v2 event', async function () {
    await f.fund(trader(), USDC('3000'));
    await f.setPrice(ETH, PRICE('3000'));
    await registerDelegate();
    const delegateUsdc = await f.usdc(delegate());
    const total = await f.usdcTotal();

    const receipt = await submitOpen(await openIntent());
    const topics = receipt.logs.filter((l) => l.address === f.deployment.trading.toLowerCase()).map((l) => l.topics[0]);
    assert.ok(topics.includes(V2_MARKET_ORDER_INITIATED), 'the documented v2 topic0');
    const event = initiated(receipt);
    assert.equal(event.trader, trader());
    assert.equal(event.open, true);
    assert.equal(event.initialPosToken, USDC('1000'));
    assert.equal(event.minLeverage, LEVERAGE('10'));
    assert.equal(await f.usdc(trader()), USDC('2000'), 'collateral taken from the trader');
    assert.equal(await f.usdc(delegate()), delegateUsdc);

    await fillPending();
    const trade = await f.reads.openTrade(trader(), ETH, 0n);
    assert.equal(trade.trader, trader());
    assert.equal(trade.leverage, LEVERAGE('10'));
    assert.ok(trade.initialPosToken > 0n && trade.initialPosToken < USDC('1000'), 'collateral less the v1 opening fee');
    assert.equal(await f.usdcTotal(), total);
    const books = await f.storageBooks();
    assert.equal(books.held, books.booked);
  });

  it('closes it from a CloseTradeReq signed by the delegate and pays the TRADER, never the delegate or the relayer', async function () {
    await openForTrader();
    const [traderBefore, delegateBefore, relayerBefore] = await Promise.all([f.usdc(trader()), f.usdc(delegate()), f.usdc(relayer())]);
    const receipt = await submitClose(await closeIntent());
    const event = initiated(receipt);
    assert.equal(event.open, false);
    assert.equal(event.wantedPrice, PRICE('3000'));
    await fillPending();
    assert.equal((await f.reads.openTrade(trader(), ETH, 0n)).leverage, 0n, 'closed');
    assert.ok((await f.usdc(trader())) > traderBefore, 'the trader is paid');
    assert.equal(await f.usdc(delegate()), delegateBefore);
    assert.equal(await f.usdc(relayer()), relayerBefore);
  });

  it('refuses a stale _openTimestamp (PositionMismatch) and a close signed for the delegate itself', async function () {
    await openForTrader();
    const before = await Promise.all([f.usdc(trader()), f.usdc(delegate()), f.usdcTotal()]);
    await assert.rejects(submitClose(await closeIntent({ openTimestamp: 1n })), /PositionMismatch/);
    // The delegate names itself as the trader: it has no such position, and signs for nobody else.
    await assert.rejects(submitClose(await closeIntent({ forTrader: delegate() })), /NO_TRADE/);
    assert.deepEqual(await Promise.all([f.usdc(trader()), f.usdc(delegate()), f.usdcTotal()]), before, 'nothing moved');
    assert.equal((await f.reads.tradeInfo(trader(), ETH, 0n)).beingMarketClosed, false);
  });

  it('refuses a reused nonce (InvalidNonce) and an expired deadline (InvalidDeadline)', async function () {
    await f.fund(trader(), USDC('3000'));
    await f.setPrice(ETH, PRICE('3000'));
    await registerDelegate();
    const nonce = randomNonce();
    await submitOpen(await openIntent({ nonce }));
    await assert.rejects(submitOpen(await openIntent({ nonce })), /InvalidNonce/, 'same signer, same nonce, other message');
    await assert.rejects(submitOpen(await openIntent({ deadlineMs: ((await now()) - 1n) * 1000n })), /InvalidDeadline/);
    assert.equal(await f.usdc(trader()), USDC('2000'), 'only the first open took collateral');
  });

  it('refuses a stranger\'s signature, a removed delegate, an expired delegate, and a tampered intent', async function () {
    await f.fund(trader(), USDC('3000'));
    await f.setPrice(ETH, PRICE('3000'));
    await assert.rejects(submitOpen(await openIntent({ signer: stranger() })), /InvalidSigner/);

    // Tampered after signing: the collateral changed, so the signature recovers someone else.
    await registerDelegate();
    const signed = await openIntent();
    const message = decodeIntent('OpenTradeReq', signed.intent.encodedIntent!);
    const tampered = encodeIntent('OpenTradeReq', { ...message, _t: { ...message._t, positionSizeUSDC: USDC('2000') } });
    await assert.rejects(v2(relayer(), 'executeOpenTradeIntent', [tampered, signed.signature]), /InvalidSigner/);

    const pendingBeforeRemoval = await openIntent();
    await v2(trader(), 'removeDelegate', [delegate()]);
    await assert.rejects(submitOpen(pendingBeforeRemoval), /InvalidSigner/, 'removal invalidates pending intents');

    await registerDelegate((await now()) + 60n);
    const beforeExpiry = await openIntent({ deadlineMs: await deadlineIn(3600n) });
    await f.clients.testClient.increaseTime({ seconds: 120 });
    await f.mine(1);
    await assert.rejects(submitOpen(beforeExpiry), /InvalidSigner/, 'an expired delegate');
    assert.equal(await f.usdc(trader()), USDC('3000'), 'nothing moved');
    // The trader's own key still works.
    await submitOpen(await openIntent({ signer: trader(), deadlineMs: await deadlineIn(3600n) }));
    assert.equal(await f.usdc(trader()), USDC('2000'));
  });

  it('never lets a delegate add delegates for the trader, move the trader\'s USDC, or be paid', async function () {
    await openForTrader();
    const usdcBefore = await Promise.all([f.usdc(trader()), f.usdc(delegate()), f.usdc(stranger())]);
    const tradingAbi = abiOf('Trading');

    // setDelegate only ever affects msg.sender's own delegations.
    const expiry = (await now()) + 3600n;
    await v2(delegate(), 'setDelegate', [stranger(), expiry]);
    assert.deepEqual(await read('multipleDelegations', [trader(), stranger()]), [false, 0n]);
    assert.deepEqual(await read('multipleDelegations', [delegate(), stranger()]), [true, expiry]);
    // Nor through delegatedAction on the trader's behalf (the v2 entry points refuse to run inside it).
    const addForTrader = encodeFunctionData({ abi: v2Abi, functionName: 'setDelegate', args: [stranger(), expiry] });
    await assert.rejects(f.call(delegate(), 'Trading', f.deployment.trading, 'delegatedAction', [trader(), addForTrader]), /NOT_ALLOWED_IN_DELEGATION/);
    const removeForTrader = encodeFunctionData({ abi: v2Abi, functionName: 'removeDelegate', args: [delegate()] });
    await assert.rejects(f.call(delegate(), 'Trading', f.deployment.trading, 'delegatedAction', [trader(), removeForTrader]), /NOT_ALLOWED_IN_DELEGATION/);
    // Nor by signing a DelegateReq in the trader's name.
    const forged = await delegateIntent({ signer: delegate() });
    await assert.rejects(v2(relayer(), 'setDelegateWithSig', [forged.signature, forged.intent.encodedIntent]), /InvalidSigner/);

    // USDC: the allowance is the trader's to TradingStorage; only Trading may move it, only from/to the trader.
    await assert.rejects(f.call(delegate(), 'SimUSDC', f.deployment.usdc, 'transferFrom', [trader(), delegate(), USDC('1')]));
    await assert.rejects(f.call(delegate(), 'TradingStorage', f.deployment.tradingStorage, 'transferUSDC', [trader(), delegate(), USDC('1')]));
    // A v2 delegate may run v1 calls through delegatedAction; a margin withdrawal still pays the trader.
    const withdraw = encodeFunctionData({ abi: tradingAbi, functionName: 'updateMargin', args: [ETH, 0n, 1, USDC('100'), await f.priceUpdateData(ETH), 0] });
    await f.call(delegate(), 'Trading', f.deployment.trading, 'delegatedAction', [trader(), withdraw], 1n);
    assert.equal(await f.usdc(trader()), usdcBefore[0] + USDC('100'));
    assert.equal(await f.usdc(delegate()), usdcBefore[1]);
    assert.equal(await f.usdc(stranger()), usdcBefore[2]);
  });

  it('keeps the facet unusable on its own (only through Trading), and only gov can set it', async function () {
    assert.equal(getAddress(await f.clients.publicClient.readContract({ address: f.deployment.trading, abi: abiOf('Trading'), functionName: 'v2Facet' }) as Address), getAddress(facet));
    await assert.rejects(f.call(relayer(), 'TradingV2', facet, 'setDelegate', [stranger(), (await now()) + 60n]), /OnlyViaRouter/);
    await assert.rejects(f.call(trader(), 'Trading', f.deployment.trading, 'setV2Facet', [trader()]), /GOV_ONLY/);
  });
});
