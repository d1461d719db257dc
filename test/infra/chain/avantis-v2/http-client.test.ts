import assert from 'node:assert/strict';
import { privateKeyToAccount, generatePrivateKey } from 'viem/accounts';
import type { Hex } from 'viem';
import { V2Error, V2IntentMismatchError, V2ResponseError, V2ServiceError } from '../../../../src/infra/chain/avantis-v2/errors.ts';
import { BatchedMarketClient, BlitzClient, CoreApiClient, randomNonce, TxBuilderClient, V2OrderOutcomeUnknownError, type BatchedMarketEvent, type ExecuteBatchedBody } from '../../../../src/infra/chain/avantis-v2/http-client.ts';
import type { LocalIntent } from '../../../../src/infra/chain/avantis-v2/intents.ts';
import type { InMemoryExecutor} from '../../../../src/sandbox/avantis-v2/index.ts';
import { startAvantisV2Sandbox, type AvantisV2Sandbox } from '../../../../src/sandbox/avantis-v2/index.ts';

const trader = privateKeyToAccount(generatePrivateKey());
const delegate = privateKeyToAccount(generatePrivateKey());
const stranger = privateKeyToAccount(generatePrivateKey());
type Signer = typeof trader;

const fast = { timeoutMs: 2_000, retries: 3, backoffMs: 10, maxBackoffMs: 40 } as const;

async function sign(signer: Signer, intent: Pick<LocalIntent, 'digest'>): Promise<Hex> {
  return signer.sign({ hash: intent.digest });
}

async function collect(events: AsyncIterable<BatchedMarketEvent>): Promise<BatchedMarketEvent[]> {
  const out: BatchedMarketEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}

async function rejects(promise: Promise<unknown>, check: (e: unknown) => void): Promise<void> {
  try {
    await promise;
  } catch (e) {
    check(e);
    return;
  }
  assert.fail('expected a rejection');
}

describe('Avantis v2 HTTP client against the loopback doubles', function () {
  let sb: AvantisV2Sandbox;
  let tx: TxBuilderClient;
  let market: BatchedMarketClient;

  beforeEach(async function () {
    sb = await startAvantisV2Sandbox({ stepMs: 2 });
    (sb.executor as InMemoryExecutor).setPrice(1n, 3_000n * 10n ** 10n);
    sb.ledger.setDelegate(trader.address, delegate.address, BigInt(Math.floor(Date.now() / 1000) + 3600));
    tx = new TxBuilderClient({ baseUrl: sb.txBuilderUrl, meta: { chainId: 8453 }, ...fast });
    market = new BatchedMarketClient({ gatewayUrl: sb.gatewayUrl, ...fast, replayIntervalMs: 10, replayForMs: 2_000 });
  });
  afterEach(async function () {
    await sb.close();
  });

  async function openOrder(signer: Signer, overrides: { deadlineMs?: bigint; nonce?: bigint } = {}): Promise<ExecuteBatchedBody> {
    const intent = await tx.openIntent({ trader: trader.address, pairIndex: 1, side: 'long', orderType: 'market', collateralUsdc: '100', leverage: '10', openPrice: '3000', slippagePercent: '1', nonce: overrides.nonce ?? randomNonce(), deadlineMs: overrides.deadlineMs ?? BigInt(Date.now() + 60_000) });
    return { orderType: 0, erc712: { userIntent: intent.encodedIntent!, userSignature: await sign(signer, intent) } };
  }

  it('reads /v2/meta and a delegation', async function () {
    const meta = await tx.meta();
    assert.equal(meta.chainId, 8453);
    const d = await tx.delegation(trader.address, delegate.address);
    assert.equal(d.canSignIntents, true);
    const none = await tx.delegation(trader.address, stranger.address);
    assert.equal(none.canSignIntents, false);
    const n = await tx.nonce(trader.address);
    assert.equal(typeof n.nonce, 'bigint');
  });

  it('a market open signed by a delegate key streams to MarketOrderExecuted', async function () {
    const events = await collect(market.submit(await openOrder(delegate)));
    assert.deepEqual(events.map((e) => e.type), ['MarketOrderAccepted', 'MarketOrderInitiated', 'MarketOrderExecuted']);
    assert.deepEqual(events.map((e) => e.seq), [1, 2, 3]);
    const executed = events[2]!.payload as { t: { initialPosToken: string; trader: string } };
    assert.equal(executed.t.initialPosToken, '100000000');
    assert.equal(sb.ledger.positions(trader.address).length, 1);
    const positions = await tx.positions(trader.address);
    assert.equal(positions.trades.length, 1);
  });

  it('a disconnect mid-stream is recovered through the tracking-id replay, each event seen once', async function () {
    sb.gateway.dropNextStreamAfter = 1;
    const events = await collect(market.submit(await openOrder(delegate)));
    assert.deepEqual(events.map((e) => e.type), ['MarketOrderAccepted', 'MarketOrderInitiated', 'MarketOrderExecuted']);
    assert.deepEqual(events.map((e) => e.via), ['stream', 'replay', 'replay']);
    assert.equal(sb.gateway.submissions.length, 1, 'the accepted order is never resent');
  });

  it('a slippage decline ends with MarketOrderCanceled', async function () {
    (sb.executor as InMemoryExecutor).setPrice(1n, 3_100n * 10n ** 10n);
    const events = await collect(market.submit(await openOrder(delegate)));
    assert.equal(events.at(-1)!.type, 'MarketOrderCanceled');
  });

  it('rate limiting: the client backs off and succeeds', async function () {
    await sb.close();
    sb = await startAvantisV2Sandbox({ rateLimit: { budget: 1, windowMs: 60 } });
    tx = new TxBuilderClient({ baseUrl: sb.txBuilderUrl, ...fast, retries: 8 });
    await tx.meta();
    const d = await tx.delegation(trader.address, delegate.address);
    assert.equal(d.isEnabled, false);
  });

  it('rate limiting: a budget that stays exhausted surfaces RATE_LIMITED, retryable', async function () {
    await sb.close();
    sb = await startAvantisV2Sandbox({ rateLimit: { budget: 1, windowMs: 60_000 } });
    tx = new TxBuilderClient({ baseUrl: sb.txBuilderUrl, ...fast, retries: 2 });
    await tx.meta();
    await rejects(tx.nonce(trader.address), (e) => {
      assert.ok(e instanceof V2ServiceError);
      assert.equal(e.v2Code, 'V2_RATE_LIMITED');
      assert.equal(e.retryable, true);
    });
    assert.equal(sb.txBuilder.hits.get('/v2/nonce'), 3);
  });

  it('an upstream error is retried; a persistent one surfaces as UPSTREAM_ERROR; geo-restriction stops at once', async function () {
    sb.txBuilder.failNext(2);
    await tx.meta();
    sb.txBuilder.failNext(10);
    await rejects(tx.nonce(trader.address), (e) => {
      assert.ok(e instanceof V2ServiceError);
      assert.equal(e.v2Code, 'V2_UPSTREAM_ERROR');
    });
    sb.txBuilder.geoRestricted = true;
    const before = sb.txBuilder.hits.get('/v2/delegation') ?? 0;
    await rejects(tx.delegation(trader.address, delegate.address), (e) => {
      assert.ok(e instanceof V2ServiceError);
      assert.equal(e.v2Code, 'V2_GEO_RESTRICTED');
      assert.equal(e.retryable, false);
    });
    assert.equal(sb.txBuilder.hits.get('/v2/delegation'), before + 1);
  });

  it('an expired deadline is refused with HTTP 400 before the stream', async function () {
    const body = await openOrder(delegate, { deadlineMs: BigInt(Date.now() - 5_000) });
    await rejects(collect(market.submit(body)), (e) => {
      assert.ok(e instanceof V2ServiceError);
      assert.equal(e.v2Code, 'V2_BAD_REQUEST');
      assert.match(e.message, /InvalidDeadline/);
    });
  });

  it('a reused nonce ends with an InvalidNonce Error event', async function () {
    const nonce = randomNonce();
    const first = await collect(market.submit(await openOrder(delegate, { nonce })));
    assert.equal(first.at(-1)!.type, 'MarketOrderExecuted');
    const second = await collect(market.submit(await openOrder(delegate, { nonce })));
    assert.equal(second.at(-1)!.type, 'Error');
    assert.equal(second.at(-1)!.payload.code, 'InvalidNonce');
  });

  it('a stranger, a removed delegate and an expired delegate are refused', async function () {
    const byStranger = await collect(market.submit(await openOrder(stranger)));
    assert.equal(byStranger.at(-1)!.payload.code, 'InvalidSigner');
    sb.ledger.removeDelegate(trader.address, delegate.address);
    const removed = await collect(market.submit(await openOrder(delegate)));
    assert.equal(removed.at(-1)!.payload.code, 'InvalidSigner');
    sb.ledger.setDelegate(trader.address, delegate.address, BigInt(Math.floor(Date.now() / 1000) - 1));
    const expired = await collect(market.submit(await openOrder(delegate)));
    assert.equal(expired.at(-1)!.payload.code, 'InvalidSigner');
    assert.equal(sb.ledger.positions(trader.address).length, 0);
  });

  it('a tampered tx-builder answer is refused before anything is signed', async function () {
    await tx.meta();
    sb.txBuilder.tamper = (data) => {
      (data.message as { _t: { leverage: string } })._t.leverage = '500000000000';
    };
    await rejects(tx.openIntent({ trader: trader.address, pairIndex: 1, side: 'long', orderType: 'market', collateralUsdc: '100', leverage: '10', openPrice: '3000', slippagePercent: '1' }), (e) => {
      assert.ok(e instanceof V2IntentMismatchError);
      assert.equal(e.field, 'message._t.leverage');
    });
    sb.txBuilder.tamper = (data) => {
      data.digest = `0x${'11'.repeat(32)}`;
    };
    await rejects(tx.delegateSetIntent({ trader: trader.address, delegate: delegate.address, expirySeconds: 1_900_000_000 }), (e) => {
      assert.ok(e instanceof V2IntentMismatchError);
      assert.equal(e.field, 'digest');
    });
  });

  it('garbage bodies surface as clear typed errors', async function () {
    await tx.meta();
    sb.txBuilder.garbageNext('not-json');
    await rejects(tx.nonce(trader.address), (e) => assert.ok(e instanceof V2ResponseError && /not JSON/.test(e.message)));
    sb.txBuilder.garbageNext('wrong-shape');
    await rejects(tx.nonce(trader.address), (e) => assert.ok(e instanceof V2ResponseError && /envelope/.test(e.message)));
    const blitz = new BlitzClient({ gatewayUrl: sb.gatewayUrl, ...fast });
    sb.gateway.garbageNext('wrong-shape');
    await rejects(blitz.relayStatus('x'), (e) => assert.ok(e instanceof V2ResponseError && /unexpected shape/.test(e.message)));
    sb.gateway.garbageNext('not-json');
    await rejects(blitz.relayStatus('x'), (e) => assert.ok(e instanceof V2ResponseError && /not JSON/.test(e.message)));
    sb.gateway.garbageNext('bad-event');
    await rejects(collect(market.submit(await openOrder(delegate))), (e) => assert.ok(e instanceof V2ResponseError && /not JSON/.test(e.message)));
  });

  it('a submission that gets no answer is reported as an unknown outcome and not resent', async function () {
    const dead = new BatchedMarketClient({ gatewayUrl: 'http://127.0.0.1:1', ...fast });
    await rejects(collect(dead.submit(await openOrder(delegate))), (e) => {
      assert.ok(e instanceof V2OrderOutcomeUnknownError);
      assert.equal(e.retryable, false);
    });
  });

  it('core: a delegate-signed global TP/SL is accepted once; its nonce cannot be replayed', async function () {
    await collect(market.submit(await openOrder(delegate)));
    const core = new CoreApiClient({ gatewayUrl: sb.gatewayUrl, ...fast });
    const intent = await tx.tpslUpdateIntent({ trader: trader.address, pairIndex: 1, tradeIndex: 0, takeProfit: '3500', stopLoss: '2500', nonce: randomNonce(), deadlineMs: BigInt(Date.now() + 60_000) });
    const sig = await sign(delegate, intent);
    await core.putGlobalTpSl('tp', trader.address, 1, 0, intent.encodedIntent!, sig);
    const data = await core.userData(trader.address);
    assert.equal(data.positions[0]!.tp, '35000000000000');
    await rejects(core.putGlobalTpSl('tp', trader.address, 1, 0, intent.encodedIntent!, sig), (e) => {
      assert.ok(e instanceof V2Error);
      assert.match(e.message, /InvalidNonce/);
    });
    const bad = await sign(stranger, intent);
    await rejects(core.putGlobalTpSl('sl', trader.address, 1, 0, intent.encodedIntent!, bad), (e) => assert.ok(e instanceof V2Error));
  });

  it('blitz: a relay goes Inflight then Finalised; busy answers 503 and is retried', async function () {
    const blitz = new BlitzClient({ gatewayUrl: sb.gatewayUrl, ...fast });
    const tx4 = { to: delegate.address, data: '0xe9ae5c53' as Hex, value: '0', gasLimit: '2000000', chainId: 8453, transactionType: 4 as const, authorizationList: [{ address: '0x5aF42746a8Af42d8a4708dF238C53F1F71abF0E0', chainId: '8453', nonce: '0' }] };
    const id = await blitz.relay(tx4, delegate.address);
    assert.equal((await blitz.relayStatus(id)).status, 'Inflight');
    const done = await blitz.relayStatus(id);
    assert.equal(done.status, 'Finalised');
    assert.equal(done.receipt?.status, 'success');
    sb.gateway.blitzBusy = true;
    await rejects(blitz.relay(tx4, delegate.address), (e) => {
      assert.ok(e instanceof V2ServiceError);
      assert.equal(e.retryable, true);
    });
  });
});
