import assert from 'node:assert/strict';
import type { Address, Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { V2IntentMismatchError, V2ServiceError } from '../../../../src/infra/chain/avantis-v2/errors.ts';
import { createGaslessMarketRoute, type GaslessMarketRoute, type MarketOpen } from '../../../../src/infra/chain/avantis-v2/gasless-market.ts';
import { BatchedMarketClient, randomNonce, TxBuilderClient, type ExecuteBatchedBody } from '../../../../src/infra/chain/avantis-v2/http-client.ts';
import { createIntentStore, type IntentStore, type IntentStoreOptions } from '../../../../src/infra/chain/avantis-v2/intent-store.ts';
import { LEASE_NAME, leaseFence, type Fence } from '../../../../src/infra/db/fence.ts';
import { startAvantisV2Sandbox, type AvantisV2Sandbox, type InMemoryExecutor } from '../../../../src/sandbox/avantis-v2/index.ts';
import { silentLogger } from '../../../helpers/common.ts';
import { waitFor } from '../../../helpers/runtime.ts';
import { createTestPostgres, type TestDatabase } from '../../../helpers/db.ts';

/**
 * The gasless market route end to end against the loopback doubles and real PostgreSQL: a market
 * open and close run once whatever happens between the steps (a crash after signing, a crash
 * while the stream runs), and what the services refuse ends the action with a reason a trader
 * can read, without a second nonce or a second signature.
 */

const fast = { timeoutMs: 2_000, retries: 2, backoffMs: 10, maxBackoffMs: 40 } as const;
const PRICE = 3_000n * 10n ** 10n;

describe('v2 gasless market route (batched-market, intent store)', function () {
  this.timeout(60_000);
  let pg: TestDatabase;
  let fence: Fence;
  let sb: AvantisV2Sandbox;
  const trader = privateKeyToAccount(generatePrivateKey());
  const delegate = privateKeyToAccount(generatePrivateKey());
  let signed: Hex[];
  /** Every body POSTed to batched-market, as it left. */
  let posted: ExecuteBatchedBody[];
  const recording: typeof fetch = async (input, init) => {
    if (String(input instanceof Request ? input.url : input).endsWith('/market/execute-batched') && typeof init?.body === 'string') posted.push(JSON.parse(init.body) as ExecuteBatchedBody);
    return fetch(input, init);
  };

  before(async () => {
    pg = await createTestPostgres('v2gasless');
  });
  after(async () => {
    await pg.destroy();
  });
  beforeEach(async () => {
    await pg.db.sql('delete from v2_intent_events');
    await pg.db.sql('delete from v2_intents');
    await pg.db.sql('delete from engine_lease');
    await pg.db.sql(`insert into engine_lease (name, epoch, holder, expires_at) values (?, 1, 'engine-a', now() + interval '1 hour')`, [LEASE_NAME]);
    fence = leaseFence(pg.db, 1);
    sb = await startAvantisV2Sandbox({ stepMs: 2 });
    (sb.executor as InMemoryExecutor).setPrice(1n, PRICE);
    sb.ledger.setDelegate(trader.address, delegate.address, BigInt(Math.floor(Date.now() / 1000) + 3600));
    signed = [];
    posted = [];
  });
  afterEach(async () => {
    await sb.close();
  });

  /** A route over a fresh store and fresh clients: what a (re)started engine builds. */
  function routeOf(
    options: { store?: IntentStore; storeOptions?: IntentStoreOptions; lifetimeMs?: number; nonceUnused?: (signer: Address, nonce: bigint) => Promise<boolean>; fetch?: typeof fetch } = {},
  ): { route: GaslessMarketRoute; store: IntentStore; txBuilder: TxBuilderClient } {
    const store = options.store ?? createIntentStore(pg.db, fence, options.storeOptions);
    const txBuilder = new TxBuilderClient({ baseUrl: sb.txBuilderUrl, meta: { chainId: 8453 }, ...fast });
    const route = createGaslessMarketRoute({
      store,
      txBuilder,
      market: new BatchedMarketClient({ gatewayUrl: sb.gatewayUrl, ...fast, replayIntervalMs: 10, replayForMs: 3_000, fetch: options.fetch ?? recording }),
      signDigest: async (signer, digest) => {
        assert.equal(signer, delegate.address.toLowerCase(), 'signed by the delegate');
        const signature = await delegate.sign({ hash: digest });
        signed.push(signature);
        return signature;
      },
      nonceUnused: options.nonceUnused ?? (() => Promise.resolve(true)),
      logger: silentLogger(),
      ...(options.lifetimeMs === undefined ? {} : { lifetimeMs: options.lifetimeMs }),
    });
    return { route, store, txBuilder };
  }

  const open = (actionId: string, openPrice = '3000'): MarketOpen => ({
    kind: 'open',
    actionId,
    signer: delegate.address,
    request: { trader: trader.address, pairIndex: 1, side: 'long', collateralUsdc: '100', leverage: '10', openPrice, slippagePercent: '1' },
  });

  /** A store that dies (throws, as a process killed there would stop) right before the named step. */
  function dyingBefore(step: 'recordSubmitted' | 'recordAccepted', store: IntentStore): IntentStore {
    return {
      ...store,
      [step]: () => Promise.reject(new Error(`SIGKILL before ${step}`)),
    };
  }

  it('opens and closes a position, each once; running the same action again returns its outcome and sends nothing', async () => {
    const { route, store } = routeOf();
    const events: string[] = [];
    const opened = await route.execute(open('p1:open'), { onEvent: (e) => events.push(e.type) });
    assert.equal(opened.outcome, 'executed');
    assert.deepEqual(events, ['MarketOrderAccepted', 'MarketOrderInitiated', 'MarketOrderExecuted']);
    const [position] = sb.ledger.positions(trader.address);
    assert.ok(position, 'the trader has the position');
    assert.equal(position.collateral, 100_000_000n);

    const again = await route.execute(open('p1:open', '3010'));
    assert.equal(again.outcome, 'executed');
    assert.equal(sb.gateway.submissions.length, 1, 'a second execute of the same action sends nothing');
    assert.equal(signed.length, 1, 'and signs nothing');

    const closed = await route.execute({
      kind: 'close',
      actionId: 'p1:close',
      signer: delegate.address,
      request: { trader: trader.address, pairIndex: 1, tradeIndex: Number(position.index), collateralToCloseUsdc: '100', expectedPrice: '3000', openTimestamp: Number(position.openedAt) },
    });
    assert.equal(closed.outcome, 'executed');
    assert.equal(sb.ledger.positions(trader.address).length, 0, 'the position is closed');
    assert.equal((await store.find('p1:close'))!.status, 'executed');
  });

  it('killed after signing, before submitting: the restarted engine submits the SAME bytes, once, at the price it had signed', async () => {
    const first = routeOf();
    await assert.rejects(routeOf({ store: dyingBefore('recordSubmitted', first.store) }).route.execute(open('p2:open')), /SIGKILL/);
    assert.equal(sb.gateway.submissions.length, 0, 'nothing reached the service');
    const stored = (await first.store.find('p2:open'))!;
    assert.equal(stored.status, 'signed');

    // The restart: new store, new clients, and a price feed that moved meanwhile.
    const restarted = routeOf();
    const outcome = await restarted.route.execute(open('p2:open', '3050'));
    assert.equal(outcome.outcome, 'executed');
    assert.equal(signed.length, 1, 'never signed again');
    assert.equal(sb.gateway.submissions.length, 1, 'submitted once');
    assert.equal(posted.length, 1);
    assert.equal(posted[0]!.erc712.userSignature, stored.signature, 'the stored signature');
    assert.equal(posted[0]!.erc712.userIntent, stored.encodedIntent, 'the stored intent');
    assert.equal(sb.ledger.positions(trader.address)[0]!.collateral, 100_000_000n);
    assert.equal((await restarted.store.find('p2:open'))!.submissions, 1);
  });

  it('killed while the stream runs: the restarted engine replays by tracking id, stores each event once, and never resends', async () => {
    const first = routeOf();
    const stop = new AbortController();
    await assert.rejects(first.route.execute(open('p3:open'), { signal: stop.signal, onEvent: (e) => e.type === 'MarketOrderInitiated' && stop.abort(new Error('SIGKILL mid-stream')) }));
    const stored = (await first.store.find('p3:open'))!;
    assert.equal(stored.status, 'accepted');
    assert.ok(stored.trackingId);

    const restarted = routeOf();
    const events: string[] = [];
    const outcome = await restarted.route.resume('p3:open', { onEvent: (e) => events.push(`${e.type}/${e.via}`) });
    assert.equal(outcome?.outcome, 'executed');
    assert.deepEqual(events, ['MarketOrderExecuted/replay'], 'only what the first run had not stored');
    assert.deepEqual((await restarted.store.events('p3:open')).map((e) => e.type), ['MarketOrderAccepted', 'MarketOrderInitiated', 'MarketOrderExecuted']);
    assert.equal(sb.gateway.submissions.length, 1, 'never resent');
    assert.equal(sb.ledger.positions(trader.address).length, 1);
  });

  it('a tampered tx-builder answer is refused before signing: nothing signed, nothing sent, the action ends abandoned', async () => {
    const { route, store } = routeOf();
    sb.txBuilder.tamper = (data) => {
      (data.message as { _t: { leverage: string } })._t.leverage = '500000000000';
    };
    await assert.rejects(route.execute(open('p4:open')), (e) => e instanceof V2IntentMismatchError && e.field === 'message._t.leverage');
    assert.equal(signed.length, 0);
    assert.equal(sb.gateway.submissions.length, 0);
    assert.equal((await store.find('p4:open'))!.status, 'abandoned');
  });

  it('rate limited while building: a retryable error and no nonce spent; the next attempt opens with the nonce reserved first', async () => {
    await sb.close();
    sb = await startAvantisV2Sandbox({ stepMs: 2, rateLimit: { budget: 2, windowMs: 400 } });
    (sb.executor as InMemoryExecutor).setPrice(1n, PRICE);
    sb.ledger.setDelegate(trader.address, delegate.address, BigInt(Math.floor(Date.now() / 1000) + 3600));
    const { route, store, txBuilder } = routeOf();
    await txBuilder.meta(); // read once at start; then another caller spends the budget
    await new TxBuilderClient({ baseUrl: sb.txBuilderUrl, ...fast }).meta();
    await assert.rejects(route.execute(open('p5:open')), (e) => e instanceof V2ServiceError && e.v2Code === 'V2_RATE_LIMITED' && e.retryable);
    const reserved = (await store.find('p5:open'))!;
    assert.equal(reserved.status, 'reserved');
    await new Promise((r) => setTimeout(r, 450));
    assert.equal((await route.execute(open('p5:open'))).outcome, 'executed');
    assert.equal((await store.find('p5:open'))!.nonce, reserved.nonce, 'the same nonce');
  });

  it('an upstream error at submission leaves the same bytes to submit again; a persistent one is retryable, not a failure', async () => {
    const { route, store } = routeOf();
    sb.gateway.failNextSubmission(503, 4); // the first POST and the client's three retries
    await assert.rejects(route.execute(open('p6:open')), (e) => e instanceof V2ServiceError && e.v2Code === 'V2_UPSTREAM_ERROR' && e.retryable);
    assert.equal((await store.find('p6:open'))!.status, 'submitted');
    const outcome = await route.execute(open('p6:open'));
    assert.equal(outcome.outcome, 'executed');
    assert.equal(signed.length, 1);
    assert.equal((await store.find('p6:open'))!.submissions, 2);
    assert.equal(new Set(posted.map((b) => b.erc712.userSignature)).size, 1, 'every POST carried the same signature');
  });

  it('an expired deadline: refused by the service (rejected, InvalidDeadline), or expired by recovery before anything is sent', async () => {
    // The service checks the deadline to the second: a 1 ms lifetime is past once the second turns.
    const late = routeOf({ lifetimeMs: 1, storeOptions: { deadlineMarginMs: 60_000 } });
    const dying0 = routeOf({ store: dyingBefore('recordSubmitted', late.store), lifetimeMs: 1 });
    await assert.rejects(dying0.route.execute(open('p7:open')), /SIGKILL/);
    await new Promise((r) => setTimeout(r, 1_100));
    const refused = await late.route.resume('p7:open');
    assert.ok(refused);
    assert.equal(refused.outcome, 'rejected');
    assert.match(refused.outcome === 'rejected' ? refused.detail : '', /InvalidDeadline/);

    // Signed, then the process died, and came back after the deadline (and its margin) passed.
    const dying = routeOf({ lifetimeMs: 1 });
    await assert.rejects(routeOf({ store: dyingBefore('recordSubmitted', dying.store), lifetimeMs: 1 }).route.execute(open('p8:open')), /SIGKILL/);
    await new Promise((r) => setTimeout(r, 5));
    const before = sb.gateway.submissions.length;
    const expired = await routeOf({ storeOptions: { deadlineMarginMs: 0 } }).route.resume('p8:open');
    assert.equal(expired?.outcome, 'expired');
    assert.equal(sb.gateway.submissions.length, before, 'the expired bytes were never sent');
  });

  it('a nonce spent elsewhere ends the order failed with the reason; a resubmission refused for its nonce asks the chain and finds its own first copy executed', async () => {
    const spent = randomNonce();
    const tx = new TxBuilderClient({ baseUrl: sb.txBuilderUrl, ...fast });
    const intent = await tx.openIntent({ trader: trader.address, pairIndex: 1, side: 'long', orderType: 'market', collateralUsdc: '50', leverage: '5', openPrice: '3000', slippagePercent: '1', nonce: spent, deadlineMs: BigInt(Date.now() + 60_000) });
    const market = new BatchedMarketClient({ gatewayUrl: sb.gatewayUrl, ...fast });
    for await (const e of market.submit({ orderType: 0, erc712: { userIntent: intent.encodedIntent!, userSignature: await delegate.sign({ hash: intent.digest }) } })) void e;

    const { route } = routeOf({ storeOptions: { nonce: () => spent } });
    const failed = await route.execute(open('p9:open'));
    assert.equal(failed.outcome, 'failed');
    assert.match(failed.outcome === 'failed' ? failed.detail : '', /InvalidNonce/);

    // Our own order was taken but the answer was lost; the same bytes sent again hit the spent nonce.
    const answerLost: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (!String(input instanceof Request ? input.url : input).endsWith('/market/execute-batched')) return response;
      await response.body?.cancel();
      throw new TypeError('fetch failed: socket hang up');
    };
    const first = routeOf({ fetch: answerLost });
    await assert.rejects(first.route.execute(open('p10:open')), /outcome is unknown/);
    const stored = (await first.store.find('p10:open'))!;
    assert.equal(stored.status, 'submitted');
    await waitFor(() => sb.ledger.positions(trader.address).length === 2, 'the lost order to execute');
    const outcome = await routeOf({ nonceUnused: () => Promise.resolve(false) }).route.execute(open('p10:open'));
    assert.equal(outcome.outcome, 'executed', 'the nonce is spent on chain: our first copy ran');
    assert.equal(sb.ledger.positions(trader.address).length, 2, 'one position per order, never two for p10');
  });
});
