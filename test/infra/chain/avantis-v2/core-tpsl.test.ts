import assert from 'node:assert/strict';
import type { Address, Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { createTpSlRoute, V2TpSlNotVisibleError, V2TpSlOutcomeUnknownError, type TpSlRoute, type TpSlUpdate } from '../../../../src/infra/chain/avantis-v2/core-tpsl.ts';
import { V2IntentMismatchError, V2ServiceError } from '../../../../src/infra/chain/avantis-v2/errors.ts';
import { createGaslessMarketRoute } from '../../../../src/infra/chain/avantis-v2/gasless-market.ts';
import { BatchedMarketClient, CoreApiClient, randomNonce, TxBuilderClient } from '../../../../src/infra/chain/avantis-v2/http-client.ts';
import { createIntentStore, type IntentStore, type IntentStoreOptions } from '../../../../src/infra/chain/avantis-v2/intent-store.ts';
import { LEASE_NAME, leaseFence, type Fence } from '../../../../src/infra/db/fence.ts';
import { startAvantisV2Sandbox, type AvantisV2Sandbox, type InMemoryExecutor } from '../../../../src/sandbox/avantis-v2/index.ts';
import { silentLogger } from '../../../helpers/common.ts';
import { createTestPostgres, type TestDatabase } from '../../../helpers/db.ts';

/**
 * The whole-position TP/SL route end to end against the loopback doubles (tx-builder, core API)
 * and real PostgreSQL: the update is signed once and PUT as the same bytes whatever happens
 * between the steps, its effect is confirmed on `/user-data`, and what the services refuse ends
 * the action with their words, without a second nonce or a second signature.
 */

const fast = { timeoutMs: 2_000, retries: 2, backoffMs: 10, maxBackoffMs: 40 } as const;
const PRICE = 3_000n * 10n ** 10n;
const TP_RAW = '35000000000000';
const SL_RAW = '25000000000000';

interface PutBody {
  readonly userIntent: Hex;
  readonly signedMessage: Hex;
}

describe('v2 whole-position TP/SL route (core API, intent store)', function () {
  this.timeout(60_000);
  let pg: TestDatabase;
  let fence: Fence;
  let sb: AvantisV2Sandbox;
  const trader = privateKeyToAccount(generatePrivateKey());
  const delegate = privateKeyToAccount(generatePrivateKey());
  let signed: Hex[];
  /** Every TP/SL PUT that left the process, with its URL path. */
  let puts: { path: string; body: PutBody }[];
  const isPut = (input: Parameters<typeof fetch>[0], init?: RequestInit): boolean => init?.method === 'PUT' && String(input instanceof Request ? input.url : input).includes('/core/price-triggers/');
  const recording: typeof fetch = async (input, init) => {
    if (isPut(input, init) && typeof init?.body === 'string') puts.push({ path: new URL(String(input instanceof Request ? input.url : input)).pathname, body: JSON.parse(init.body) as PutBody });
    return fetch(input, init);
  };
  const nonceUnusedOnLedger = (signer: Address, nonce: bigint): Promise<boolean> => Promise.resolve(!sb.ledger.isNonceUsed(signer, nonce));

  before(async () => {
    pg = await createTestPostgres('v2coretpsl');
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
    await startSandbox();
  });
  afterEach(async () => {
    await sb.close();
  });

  async function startSandbox(rateLimit?: { budget: number; windowMs: number }): Promise<void> {
    sb = await startAvantisV2Sandbox({ stepMs: 2, ...(rateLimit === undefined ? {} : { rateLimit }) });
    (sb.executor as InMemoryExecutor).setPrice(1n, PRICE);
    sb.ledger.setDelegate(trader.address, delegate.address, BigInt(Math.floor(Date.now() / 1000) + 3600));
    signed = [];
    puts = [];
  }

  async function sign(digest: Hex): Promise<Hex> {
    const signature = await delegate.sign({ hash: digest });
    signed.push(signature);
    return signature;
  }

  /** A route over a fresh store and fresh clients: what a (re)started engine builds. */
  function routeOf(
    options: { store?: IntentStore; storeOptions?: IntentStoreOptions; lifetimeMs?: number; nonceUnused?: (signer: Address, nonce: bigint) => Promise<boolean>; fetch?: typeof fetch; now?: () => number } = {},
  ): { route: TpSlRoute; store: IntentStore; txBuilder: TxBuilderClient } {
    const store = options.store ?? createIntentStore(pg.db, fence, options.storeOptions);
    const txBuilder = new TxBuilderClient({ baseUrl: sb.txBuilderUrl, meta: { chainId: 8453 }, ...fast });
    const route = createTpSlRoute({
      store,
      txBuilder,
      core: new CoreApiClient({ gatewayUrl: sb.gatewayUrl, ...fast, fetch: options.fetch ?? recording }),
      signDigest: async (signer, digest) => {
        assert.equal(signer, delegate.address.toLowerCase(), 'signed by the delegate');
        return sign(digest);
      },
      nonceUnused: options.nonceUnused ?? nonceUnusedOnLedger,
      logger: silentLogger(),
      confirmIntervalMs: 10,
      confirmForMs: 500,
      ...(options.lifetimeMs === undefined ? {} : { lifetimeMs: options.lifetimeMs }),
      ...(options.now === undefined ? {} : { now: options.now }),
    });
    return { route, store, txBuilder };
  }

  /** Opens the position the TP/SL is for, through batched-market (the gasless market route). */
  async function openPosition(): Promise<number> {
    const route = createGaslessMarketRoute({
      store: createIntentStore(pg.db, fence),
      txBuilder: new TxBuilderClient({ baseUrl: sb.txBuilderUrl, meta: { chainId: 8453 }, ...fast }),
      market: new BatchedMarketClient({ gatewayUrl: sb.gatewayUrl, ...fast, replayIntervalMs: 10, replayForMs: 3_000 }),
      signDigest: (_signer, digest) => delegate.sign({ hash: digest }),
      nonceUnused: nonceUnusedOnLedger,
      logger: silentLogger(),
    });
    const opened = await route.execute({
      kind: 'open',
      actionId: `open:${randomNonce()}`,
      signer: delegate.address,
      request: { trader: trader.address, pairIndex: 1, side: 'long', collateralUsdc: '100', leverage: '10', openPrice: '3000', slippagePercent: '1' },
    });
    assert.equal(opened.outcome, 'executed');
    return Number(sb.ledger.positions(trader.address).at(-1)!.index);
  }

  const tpsl = (actionId: string, tradeIndex: number, takeProfit = '3500', stopLoss = '2500'): TpSlUpdate => ({
    actionId,
    signer: delegate.address,
    request: { trader: trader.address, pairIndex: 1, tradeIndex, takeProfit, stopLoss },
  });

  /** A store that dies (throws, as a process killed there would stop) right before the named step. */
  function dyingBefore(step: 'recordSubmitted' | 'recordAccepted' | 'recordEvent', store: IntentStore): IntentStore {
    return { ...store, [step]: () => Promise.reject(new Error(`SIGKILL before ${step}`)) };
  }

  async function userTpSl(index: number): Promise<{ tp: unknown; sl: unknown }> {
    const data = await new CoreApiClient({ gatewayUrl: sb.gatewayUrl, ...fast }).userData(trader.address);
    const p = data.positions.find((x) => x['pairIndex'] === '1' && x['index'] === String(index))!;
    return { tp: p['tp'], sl: p['sl'] };
  }

  it('sets the TP/SL once and it shows on /user-data; the same action id again returns its outcome and sends nothing', async () => {
    const index = await openPosition();
    const { route, store } = routeOf();
    const outcome = await route.update(tpsl('t1', index));
    assert.equal(outcome.outcome, 'executed');
    assert.deepEqual(outcome.outcome === 'executed' ? outcome.seen : null, { tp: TP_RAW, sl: SL_RAW });
    assert.equal(outcome.outcome === 'executed' ? outcome.globalId : '', `global-tp-${trader.address}-1-${index}`);
    assert.deepEqual(await userTpSl(index), { tp: TP_RAW, sl: SL_RAW });
    assert.equal(puts.length, 1);
    assert.equal(puts[0]!.path, `/core/price-triggers/global-tp-${trader.address}-1-${index}`);
    const stored = (await store.find('t1'))!;
    assert.equal(stored.status, 'executed');
    assert.equal(stored.trackingId, `core:global-tp-${trader.address}-1-${index}:${stored.digest}`);
    assert.deepEqual((await store.events('t1')).map((e) => e.type), ['GlobalTpSlAccepted', 'GlobalTpSlConfirmed']);

    const again = await routeOf().route.update(tpsl('t1', index, '3600'));
    assert.equal(again.outcome, 'executed', 'the stored outcome; the new price is not a new decision under the same id');
    assert.equal(puts.length, 1, 'nothing sent again');
    assert.equal(signed.length, 1, 'nothing signed again');
    assert.deepEqual(await userTpSl(index), { tp: TP_RAW, sl: SL_RAW });
  });

  it('killed after the signature was stored: a restarted engine PUTs the SAME bytes, once', async () => {
    const index = await openPosition();
    const first = routeOf();
    await assert.rejects(routeOf({ store: dyingBefore('recordSubmitted', first.store) }).route.update(tpsl('t2', index)), /SIGKILL/);
    assert.equal(puts.length, 0, 'nothing reached the core API');
    const stored = (await first.store.find('t2'))!;
    assert.equal(stored.status, 'signed');

    const outcome = await routeOf().route.resume('t2');
    assert.equal(outcome?.outcome, 'executed');
    assert.equal(signed.length, 1, 'never signed again');
    assert.equal(puts.length, 1, 'PUT once');
    assert.equal(puts[0]!.body.signedMessage, stored.signature, 'the stored signature');
    assert.equal(puts[0]!.body.userIntent, stored.encodedIntent, 'the stored intent');
    assert.deepEqual(await userTpSl(index), { tp: TP_RAW, sl: SL_RAW });
    assert.equal((await first.store.find('t2'))!.submissions, 1);
  });

  it('killed after the 2xx, before it was recorded: the same bytes again are refused for their nonce, and the spent nonce proves the first copy ran', async () => {
    const index = await openPosition();
    const first = routeOf();
    await assert.rejects(routeOf({ store: dyingBefore('recordAccepted', first.store) }).route.update(tpsl('t3', index)), /SIGKILL/);
    assert.equal((await first.store.find('t3'))!.status, 'submitted');
    assert.deepEqual(await userTpSl(index), { tp: TP_RAW, sl: SL_RAW }, 'the first PUT was taken');

    const outcome = await routeOf().route.update(tpsl('t3', index));
    assert.equal(outcome.outcome, 'executed');
    assert.match(outcome.detail, /nonce is spent/);
    assert.equal(puts.length, 2);
    assert.equal(new Set(puts.map((p) => p.body.signedMessage)).size, 1, 'both PUTs carried the same signature');
    assert.equal(signed.length, 1);

    // Killed after the acceptance was recorded: recovery reads /user-data, it never PUTs again.
    const second = routeOf();
    await assert.rejects(routeOf({ store: dyingBefore('recordEvent', second.store) }).route.update(tpsl('t4', index, '3700', '2600')), /SIGKILL/);
    assert.equal((await second.store.find('t4'))!.status, 'accepted');
    const resumed = await routeOf().route.resume('t4');
    assert.equal(resumed?.outcome, 'executed');
    assert.deepEqual(resumed?.outcome === 'executed' ? resumed.seen : null, { tp: '37000000000000', sl: '26000000000000' });
    assert.equal(puts.length, 3, 'one PUT for t4');
  });

  it('rate limited while building: a retryable error and nothing signed; the next attempt uses the nonce reserved first', async () => {
    await sb.close();
    await startSandbox({ budget: 2, windowMs: 400 });
    const index = await openPosition(); // meta + the open intent: the whole budget
    await new Promise((r) => setTimeout(r, 450));
    const { route, store, txBuilder } = routeOf();
    await txBuilder.meta(); // read once at start; then another caller spends the rest of the budget
    await new TxBuilderClient({ baseUrl: sb.txBuilderUrl, ...fast }).meta();
    await assert.rejects(route.update(tpsl('t5', index)), (e) => e instanceof V2ServiceError && e.v2Code === 'V2_RATE_LIMITED' && e.retryable);
    const reserved = (await store.find('t5'))!;
    assert.equal(reserved.status, 'reserved');
    assert.equal(signed.length, 0);
    await new Promise((r) => setTimeout(r, 450));
    assert.equal((await route.update(tpsl('t5', index))).outcome, 'executed');
    assert.equal((await store.find('t5'))!.nonce, reserved.nonce, 'the same nonce');
    assert.equal(puts.length, 1);
  });

  it('an upstream error at the PUT (503, retries exhausted) leaves the same bytes to send again; then it executes once', async () => {
    // The gateway double has no failure injection for the core API: the 503s are injected here.
    const index = await openPosition();
    let failures = 3; // the first PUT and the client's two retries
    const flaky: typeof fetch = async (input, init) => {
      if (isPut(input, init) && failures > 0) {
        failures--;
        if (typeof init?.body === 'string') puts.push({ path: 'refused', body: JSON.parse(init.body) as PutBody });
        return new Response(JSON.stringify({ statusCode: 503, message: 'Upstream unavailable', error: 'Service Unavailable' }), { status: 503, headers: { 'content-type': 'application/json' } });
      }
      return recording(input, init);
    };
    const { route, store } = routeOf({ fetch: flaky });
    await assert.rejects(route.update(tpsl('t6', index)), (e) => e instanceof V2ServiceError && e.v2Code === 'V2_UPSTREAM_ERROR' && e.retryable);
    assert.equal((await store.find('t6'))!.status, 'submitted');
    const outcome = await route.update(tpsl('t6', index));
    assert.equal(outcome.outcome, 'executed');
    assert.equal(signed.length, 1);
    assert.equal((await store.find('t6'))!.submissions, 2);
    assert.equal(puts.length, 4);
    assert.equal(new Set(puts.map((p) => p.body.signedMessage)).size, 1, 'every PUT carried the same signature');
  });

  it('an expired deadline: refused by the core API (rejected, InvalidDeadline), or expired by recovery before anything is sent', async () => {
    const index = await openPosition();
    // The double checks the deadline to the second: a 1 ms lifetime is past once the second turns.
    const late = routeOf({ lifetimeMs: 1, storeOptions: { deadlineMarginMs: 60_000 } });
    await assert.rejects(routeOf({ store: dyingBefore('recordSubmitted', late.store), lifetimeMs: 1 }).route.update(tpsl('t7', index)), /SIGKILL/);
    await new Promise((r) => setTimeout(r, 1_100));
    const refused = await late.route.resume('t7');
    assert.equal(refused?.outcome, 'rejected');
    assert.match(refused?.detail ?? '', /InvalidDeadline/);
    assert.equal((await late.store.find('t7'))!.status, 'rejected');

    const dying = routeOf({ lifetimeMs: 1 });
    await assert.rejects(routeOf({ store: dyingBefore('recordSubmitted', dying.store), lifetimeMs: 1 }).route.update(tpsl('t8', index)), /SIGKILL/);
    await new Promise((r) => setTimeout(r, 5));
    const before = puts.length;
    const expired = await routeOf({ storeOptions: { deadlineMarginMs: 0 } }).route.resume('t8');
    assert.equal(expired?.outcome, 'expired');
    assert.equal(puts.length, before, 'the expired bytes were never sent');
    assert.deepEqual(await userTpSl(index), { tp: '0', sl: '0' }, 'the position is unchanged');
  });

  it('a nonce spent elsewhere is refused by the core API (rejected, InvalidNonce); a refused resubmission with an unused nonce stays undecided', async () => {
    const index = await openPosition();
    const spent = randomNonce();
    const tx = new TxBuilderClient({ baseUrl: sb.txBuilderUrl, ...fast });
    const other = await tx.tpslUpdateIntent({ trader: trader.address, pairIndex: 1, tradeIndex: index, takeProfit: '4000', stopLoss: '2000', nonce: spent, deadlineMs: BigInt(Date.now() + 60_000) });
    await new CoreApiClient({ gatewayUrl: sb.gatewayUrl, ...fast }).putGlobalTpSl('tp', trader.address, 1, index, other.encodedIntent!, await delegate.sign({ hash: other.digest }));

    const { route, store } = routeOf({ storeOptions: { nonce: () => spent } });
    const refused = await route.update(tpsl('t9', index));
    assert.equal(refused.outcome, 'rejected');
    assert.match(refused.detail, /InvalidNonce/);
    assert.equal((await store.find('t9'))!.status, 'rejected');
    assert.deepEqual(await userTpSl(index), { tp: '40000000000000', sl: '20000000000000' }, 'the other update stands');

    // A second submission refused while the chain says the nonce is unused: the first copy may
    // still run, so nothing is decided before the deadline.
    const second = routeOf({ storeOptions: { nonce: () => spent + 1n } });
    await assert.rejects(routeOf({ store: dyingBefore('recordAccepted', second.store) }).route.update(tpsl('t10', index)), /SIGKILL/);
    await assert.rejects(routeOf({ nonceUnused: () => Promise.resolve(true) }).route.update(tpsl('t10', index)), (e) => e instanceof V2TpSlOutcomeUnknownError && e.retryable);
    assert.equal((await second.store.find('t10'))!.status, 'submitted');
  });

  it('accepted (2xx) but never on the position: retryable while the deadline runs, then failed; never PUT again', async () => {
    const index = await openPosition();
    // A core API that answers 2xx and then never executes it (the double always executes: faked here).
    const swallowing: typeof fetch = async (input, init) => {
      if (!isPut(input, init)) return fetch(input, init);
      if (typeof init?.body === 'string') puts.push({ path: 'swallowed', body: JSON.parse(init.body) as PutBody });
      return new Response(JSON.stringify({ success: true }), { status: 200, headers: { 'content-type': 'application/json' } });
    };
    const { route, store } = routeOf({ fetch: swallowing });
    await assert.rejects(route.update(tpsl('t12', index)), (e) => e instanceof V2TpSlNotVisibleError && e.retryable);
    assert.equal((await store.find('t12'))!.status, 'accepted');
    const later = await routeOf({ now: () => Date.now() + 10 * 60_000 }).route.resume('t12');
    assert.equal(later?.outcome, 'failed');
    assert.match(later?.detail ?? '', /never showed/);
    assert.equal(puts.length, 1, 'the accepted update was never sent again');
    assert.deepEqual((await store.events('t12')).map((e) => e.type), ['GlobalTpSlAccepted', 'GlobalTpSlNotSeen']);
  });

  it('a tampered tx-builder answer is refused before signing: nothing signed, nothing sent, the action ends abandoned', async () => {
    const index = await openPosition();
    const { route, store } = routeOf();
    sb.txBuilder.tamper = (data) => {
      (data.message as { _newSl: string })._newSl = '1';
    };
    await assert.rejects(route.update(tpsl('t11', index)), (e) => e instanceof V2IntentMismatchError && e.field === 'message._newSl');
    assert.equal(signed.length, 0);
    assert.equal(puts.length, 0);
    assert.equal((await store.find('t11'))!.status, 'abandoned');
    assert.equal((await route.update(tpsl('t11', index))).outcome, 'abandoned', 'and stays so');
  });
});
