import assert from 'node:assert/strict';
import type { Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { FencedError } from '../../../../src/errors.ts';
import { IntentStoreError, type IntentStoreErrorReason } from '../../../../src/infra/chain/avantis-v2/intent-store-errors.ts';
import { createIntentStore, localIntentOf, type IntentFields, type IntentStore, type IntentStoreOptions, type StoredV2Intent } from '../../../../src/infra/chain/avantis-v2/intent-store.ts';
import type { IntentPrimaryType } from '../../../../src/infra/chain/avantis-v2/intent-types.ts';
import { createDatabase, type Database } from '../../../../src/infra/db/database.ts';
import { LEASE_NAME, leaseFence, type Fence } from '../../../../src/infra/db/fence.ts';
import { Secret } from '../../../../src/infra/secret.ts';
import { silentLogger } from '../../../helpers/common.ts';
import { createTestPostgres, type TestDatabase } from '../../../helpers/db.ts';
import { TEST_DOMAIN, TRADER } from './fixtures.ts';

/**
 * The durable v2 intent store against real PostgreSQL (ADR 0016): one nonce per action whatever
 * happens, signed bytes stored once and never replaced, the right next step after a crash at
 * every point, and nothing written by a stale owner or from garbage.
 */

// Hardhat's well-known test keys: never funded anywhere real.
const DELEGATE_KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';
const OTHER_KEY = '0x59c6995e998f97a5a0044966f0945389dc9e10ae5c6f6d3d91d2a2d4c7b8d4f6';
const delegate = privateKeyToAccount(DELEGATE_KEY);
const other = privateKeyToAccount(OTHER_KEY);
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const T0 = 1_900_000_000_000;

const openFields = (collateral = 100_000_000n): IntentFields<'OpenTradeReq'> => ({
  _t: {
    trader: TRADER,
    pairIndex: 1n,
    index: 0n,
    initialPosToken: 0n,
    positionSizeUSDC: collateral,
    openPrice: 35_000_000_000_000n,
    buy: true,
    leverage: 100_000_000_000n,
    tp: 0n,
    sl: 0n,
    timestamp: 0n,
  },
  _type: 0n,
  _slippageP: 10_000_000_000n,
});

describe('v2 intent store', function () {
  this.timeout(60_000);
  let pg: TestDatabase;
  let fence: Fence;
  let clock: number;
  before(async () => {
    pg = await createTestPostgres('v2intents');
  });
  after(async () => {
    await pg.destroy();
  });
  beforeEach(async () => {
    clock = T0;
    await pg.db.sql('delete from v2_intent_events');
    await pg.db.sql('delete from v2_intents');
    await pg.db.sql('delete from engine_lease');
    await pg.db.sql(`insert into engine_lease (name, epoch, holder, expires_at) values (?, 1, 'engine-a', now() + interval '1 hour')`, [LEASE_NAME]);
    fence = leaseFence(pg.db, 1);
  });

  /** A new store object over the same database: what a restarted process gets. */
  const storeOf = (options: IntentStoreOptions = {}, db: Database = pg.db, f: Fence = fence): IntentStore => createIntentStore(db, f, { now: () => clock, ...options });
  const reserveOpen = (store: IntentStore, actionId: string, collateral?: bigint, lifetimeMs = 60_000) =>
    store.reserve({ actionId, signer: delegate.address, domain: TEST_DOMAIN, primaryType: 'OpenTradeReq', fields: openFields(collateral), lifetimeMs });
  const signWith = async <P extends IntentPrimaryType>(intent: StoredV2Intent<P>, account = delegate) => {
    const local = localIntentOf(intent);
    // The EIP-712 digest signed as is (what signTypedData signs; intents.test.ts proves the digests).
    const signature = await account.sign({ hash: local.digest });
    return { digest: local.digest, encodedIntent: local.encodedIntent!, signature };
  };
  const rowsOf = async (actionId: string) => pg.db.sql<{ status: string; signature: string | null; nonce: string; submissions: number }>('select status, signature, nonce::text as nonce, submissions from v2_intents where action_id = ?', [actionId]);
  const rowCount = async () => Number((await pg.db.sql<{ n: string }>('select count(*) as n from v2_intents'))[0]!.n);
  const refusedWith = (reason: IntentStoreErrorReason) => (err: unknown) => {
    assert.ok(err instanceof IntentStoreError, `expected IntentStoreError ${reason}, got ${String(err)}`);
    assert.equal(err.reason, reason);
    assert.ok(err.message.length > 30);
    return true;
  };
  const badInput = (err: unknown) => (err as { code?: string }).code === 'BAD_INPUT';
  const nextOf = async (store: IntentStore, actionId: string) => (await store.pending()).find((p) => p.intent.actionId === actionId)?.next ?? 'none';

  describe('reserve', () => {
    it('the same action reserved again (a restart, a later clock, another lifetime) gets the same nonce, message and deadline', async () => {
      const first = await reserveOpen(storeOf(), 'order:1');
      assert.equal(first.status, 'reserved');
      assert.equal(first.deadlineMs, BigInt(T0 + 60_000));
      assert.equal(first.message._nonce, first.nonce);
      assert.equal(first.message._deadline, first.deadlineMs);
      clock += 30_000;
      const again = await reserveOpen(storeOf(), 'order:1', undefined, 5_000);
      assert.equal(again.nonce, first.nonce);
      assert.equal(again.deadlineMs, first.deadlineMs);
      assert.deepEqual(again.message, first.message);
      assert.equal(await rowCount(), 1);
    });

    it('the same action id with another message is refused, and the stored intent stands', async () => {
      const first = await reserveOpen(storeOf(), 'order:2');
      await assert.rejects(reserveOpen(storeOf(), 'order:2', 200_000_000n), refusedWith('V2_ACTION_CONFLICT'));
      await assert.rejects(
        storeOf().reserve({ actionId: 'order:2', signer: other.address, domain: TEST_DOMAIN, primaryType: 'OpenTradeReq', fields: openFields(), lifetimeMs: 60_000 }),
        refusedWith('V2_ACTION_CONFLICT'),
      );
      assert.equal((await storeOf().find('order:2'))?.nonce, first.nonce);
      assert.equal(await rowCount(), 1);
    });

    it('reserved concurrently from two connections: one row, one nonce for everyone', async () => {
      const second = await createDatabase({ target: { kind: 'postgres', url: new Secret(pg.url), display: 'second' }, logger: silentLogger(), migrate: false });
      try {
        const stores = [storeOf(), storeOf({}, second, leaseFence(second, 1))];
        for (let round = 0; round < 5; round++) {
          const results = await Promise.all(Array.from({ length: 12 }, (_, i) => reserveOpen(stores[i % 2]!, `order:race-${round}`)));
          assert.equal(new Set(results.map((r) => r.nonce)).size, 1, `round ${round}: one nonce`);
          assert.equal((await rowsOf(`order:race-${round}`)).length, 1);
        }
      } finally {
        await second.close();
      }
    });

    it('a (signer, nonce) collision draws another nonce; a source that only collides gives up and writes nothing', async () => {
      const draws = [5n, 5n, 7n];
      const store = storeOf({ nonce: () => draws.shift() ?? 99n });
      assert.equal((await reserveOpen(store, 'order:a')).nonce, 5n);
      assert.equal((await reserveOpen(store, 'order:b')).nonce, 7n);
      await assert.rejects(reserveOpen(storeOf({ nonce: () => 5n }), 'order:c'), refusedWith('V2_NONCE_EXHAUSTED'));
      assert.equal((await rowsOf('order:c')).length, 0);
      // Another signer may use the same number: the bitmap is per signer.
      const forOther = await storeOf({ nonce: () => 5n }).reserve({ actionId: 'order:d', signer: other.address, domain: TEST_DOMAIN, primaryType: 'OpenTradeReq', fields: openFields(), lifetimeMs: 60_000 });
      assert.equal(forOther.nonce, 5n);
    });

    it('many reservations never share a (signer, nonce), and the database itself refuses a duplicate', async () => {
      const store = storeOf();
      const all = await Promise.all(Array.from({ length: 300 }, (_, i) => reserveOpen(store, `order:many-${i}`)));
      assert.equal(new Set(all.map((r) => r.nonce)).size, 300);
      for (const r of all) assert.ok(r.nonce >= 0n && r.nonce < 2n ** 256n);
      await assert.rejects(
        pg.db.sql(`insert into v2_intents (action_id, signer, primary_type, domain, message, nonce, status) select 'dup', signer, primary_type, domain, message, nonce, 'reserved' from v2_intents where action_id = 'order:many-0'`),
        /v2_intents_signer_nonce_uq/,
      );
    });

    it('garbage is refused before anything is written', async () => {
      const store = storeOf();
      const base = { actionId: 'order:g', signer: delegate.address, domain: TEST_DOMAIN, primaryType: 'OpenTradeReq' as const, fields: openFields(), lifetimeMs: 60_000 };
      const bad: unknown[] = [
        { ...base, actionId: '' },
        { ...base, actionId: 'x'.repeat(201) },
        { ...base, signer: '0x1234' },
        { ...base, primaryType: 'NoSuchReq' },
        { ...base, primaryType: 'CancelOffchainOrder', fields: { entityId: 'e' } },
        { ...base, fields: { ...openFields(), _nonce: 1n } },
        { ...base, fields: { ...openFields(), _slippageP: 5 } },
        { ...base, fields: { ...openFields(), _slippageP: -1n } },
        { ...base, fields: { ...openFields(), _type: 256n } },
        { ...base, fields: { ...openFields(), _t: { ...openFields()._t, trader: '0xnothex' } } },
        { ...base, fields: { ...openFields(), extra: 1n } },
        { ...base, lifetimeMs: 0 },
        { ...base, lifetimeMs: undefined },
        { ...base, domain: { ...TEST_DOMAIN, chainId: -1 } },
      ];
      for (const request of bad) await assert.rejects(store.reserve(request as typeof base), badInput, JSON.stringify(request, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
      assert.equal(await rowCount(), 0);
    });
  });

  describe('signing', () => {
    it('stores the signed bytes once; the same bytes again are fine, different ones are refused', async () => {
      const store = storeOf();
      const reserved = await reserveOpen(store, 'order:s1');
      const signed = await signWith(reserved);
      const stored = await store.recordSigned('order:s1', signed);
      assert.equal(stored.status, 'signed');
      assert.equal(stored.signature, signed.signature.toLowerCase());
      // A restart re-signs the stored message: deterministic ECDSA gives the very same bytes.
      assert.deepEqual(await signWith(await storeOf().find('order:s1').then((i) => i!)), signed);
      assert.equal((await storeOf().recordSigned('order:s1', signed)).status, 'signed');
      // Another valid signature of the same digest by the same key (s → n − s): refused all the same.
      const s = BigInt(`0x${signed.signature.slice(66, 130)}`);
      const v = signed.signature.slice(130) === '1b' ? '1c' : '1b';
      const malleated = `${signed.signature.slice(0, 66)}${(SECP256K1_N - s).toString(16).padStart(64, '0')}${v}` as Hex;
      await assert.rejects(store.recordSigned('order:s1', { ...signed, signature: malleated }), refusedWith('V2_INTENT_RESIGNED'));
      await assert.rejects(store.recordSigned('order:s1', await signWith(reserved, other)), refusedWith('V2_INTENT_RESIGNED'));
      assert.equal((await rowsOf('order:s1'))[0]?.signature, signed.signature.toLowerCase());
    });

    it('bytes that are not the stored intent (other key, other digest, other encoding) are refused and nothing is written', async () => {
      const store = storeOf();
      const reserved = await reserveOpen(store, 'order:s2');
      const signed = await signWith(reserved);
      const otherIntent = await reserveOpen(store, 'order:s2-other', 5_000_000n);
      const foreign = await signWith(otherIntent);
      await assert.rejects(store.recordSigned('order:s2', await signWith(reserved, other)), refusedWith('V2_SIGNATURE_MISMATCH'));
      await assert.rejects(store.recordSigned('order:s2', { ...signed, digest: foreign.digest }), refusedWith('V2_SIGNATURE_MISMATCH'));
      await assert.rejects(store.recordSigned('order:s2', { ...signed, encodedIntent: foreign.encodedIntent }), refusedWith('V2_SIGNATURE_MISMATCH'));
      await assert.rejects(store.recordSigned('order:s2', { ...signed, signature: foreign.signature }), refusedWith('V2_SIGNATURE_MISMATCH'));
      assert.deepEqual((await rowsOf('order:s2')).map((r) => [r.status, r.signature]), [['reserved', null]]);
      await assert.rejects(store.recordSigned('order:unknown', signed), refusedWith('V2_ACTION_UNKNOWN'));
    });

    it('garbage bytes (bad hex, wrong lengths, a 66-byte signature, a bad v) are refused and nothing is written', async () => {
      const store = storeOf();
      const signed = await signWith(await reserveOpen(store, 'order:s3'));
      const bad: unknown[] = [
        { ...signed, digest: 'nothex' },
        { ...signed, digest: `${signed.digest}00` },
        { ...signed, digest: signed.digest.slice(0, 64) },
        { ...signed, encodedIntent: '0x' },
        { ...signed, encodedIntent: `${signed.encodedIntent}0` },
        { ...signed, encodedIntent: `0x${'zz'.repeat(32)}` },
        { ...signed, signature: `${signed.signature}1b` },
        { ...signed, signature: signed.signature.slice(0, 130) },
        { ...signed, signature: `${signed.signature.slice(0, 130)}00` },
        { ...signed, signature: 12 },
        null,
      ];
      for (const b of bad) await assert.rejects(store.recordSigned('order:s3', b as typeof signed), badInput, JSON.stringify(b));
      assert.deepEqual((await rowsOf('order:s3')).map((r) => [r.status, r.signature]), [['reserved', null]]);
    });
  });

  describe('recovery after a crash at each step', () => {
    it('pending() says what to do next, from a new store over the same database', async () => {
      const id = 'order:crash';
      const signedBytes = await signWith(await reserveOpen(storeOf(), id));
      assert.equal(await nextOf(storeOf(), id), 'sign', 'crash after reserving');
      await storeOf().recordSigned(id, signedBytes);
      assert.equal(await nextOf(storeOf(), id), 'submit', 'crash after signing, before submitting');
      const submitted = await storeOf().recordSubmitted(id);
      assert.equal(submitted.encodedIntent, signedBytes.encodedIntent.toLowerCase(), 'the stored bytes are what is sent');
      assert.equal(await nextOf(storeOf(), id), 'resubmit', 'crash during the POST, no tracking id');
      assert.equal((await storeOf().recordSubmitted(id)).submissions, 2, 're-submitting the same bytes');
      await storeOf().recordAccepted(id, 'trk-1');
      const [accepted] = (await storeOf().pending()).filter((p) => p.intent.actionId === id);
      assert.deepEqual([accepted?.next, accepted?.intent.trackingId, accepted?.intent.lastSeq], ['replay', 'trk-1', null], 'crash after acceptance');
      await assert.rejects(storeOf().recordSubmitted(id), refusedWith('V2_ACTION_STATE'), 'an accepted order is never resent');
      await storeOf().recordEvent(id, { seq: 1, type: 'MarketOrderAccepted', payload: { trackingId: 'trk-1' } });
      await storeOf().recordEvent(id, { seq: 2, type: 'MarketOrderInitiated', payload: { orderId: '7' } });
      const [streaming] = (await storeOf().pending()).filter((p) => p.intent.actionId === id);
      assert.deepEqual([streaming?.next, streaming?.intent.lastSeq], ['replay', 2], 'crash during the stream: replay after seq 2');
      // A replay delivers seq 2 again, then the terminal.
      await storeOf().recordEvent(id, { seq: 2, type: 'MarketOrderInitiated', payload: { orderId: '7' } });
      const done = await storeOf().recordEvent(id, { seq: 3, type: 'MarketOrderExecuted', payload: { orderId: '7' } }, 'executed');
      assert.equal(done.status, 'executed');
      assert.equal(await nextOf(storeOf(), id), 'none', 'nothing left to do');
      assert.deepEqual((await storeOf().events(id)).map((e) => [e.seq, e.type]), [[1, 'MarketOrderAccepted'], [2, 'MarketOrderInitiated'], [3, 'MarketOrderExecuted']]);
      assert.equal((await rowsOf(id)).length, 1);
    });

    it('refuses out-of-order steps: submitting unsigned bytes, accepting twice under two ids, a conflicting replayed event', async () => {
      const id = 'order:order';
      const reserved = await reserveOpen(storeOf(), id);
      await assert.rejects(storeOf().recordSubmitted(id), refusedWith('V2_ACTION_STATE'));
      await assert.rejects(storeOf().recordAccepted(id, 'trk-x'), refusedWith('V2_ACTION_STATE'));
      await storeOf().recordSigned(id, await signWith(reserved));
      await storeOf().recordSubmitted(id);
      await storeOf().recordAccepted(id, 'trk-2');
      assert.equal((await storeOf().recordAccepted(id, 'trk-2')).status, 'accepted', 'the same acceptance again is fine');
      await assert.rejects(storeOf().recordAccepted(id, 'trk-3'), refusedWith('V2_TRACKING_CONFLICT'));
      await storeOf().recordEvent(id, { seq: 4, type: 'AttemptFailed', payload: { attempt: '1' } });
      await assert.rejects(storeOf().recordEvent(id, { seq: 4, type: 'AttemptFailed', payload: { attempt: '2' } }), refusedWith('V2_EVENT_CONFLICT'));
      await assert.rejects(storeOf().recordEvent(id, { seq: -1, type: 'X', payload: {} }), badInput);
      await storeOf().recordTerminal(id, 'failed', 'HighSlippage');
      await assert.rejects(storeOf().recordTerminal(id, 'executed'), refusedWith('V2_ACTION_STATE'));
      assert.equal((await storeOf().find(id))?.detail, 'HighSlippage');
    });
  });

  describe('expiry', () => {
    it('an overdue signed intent is expired, and its nonce is never given to another action', async () => {
      const id = 'order:late';
      const reserved = await reserveOpen(storeOf(), id);
      await storeOf().recordSigned(id, await signWith(reserved));
      clock = T0 + 60_000 + 1_000;
      assert.equal(await nextOf(storeOf(), id), 'submit', 'within the clock margin it may still execute');
      await assert.rejects(storeOf().expire(id), refusedWith('V2_NOT_EXPIRED'));
      clock = T0 + 60_000 + 120_001;
      assert.equal(await nextOf(storeOf(), id), 'expire');
      assert.equal((await storeOf().expire(id)).status, 'expired');
      assert.equal(await nextOf(storeOf(), id), 'none');
      // A new decision for the same order needs a new action id, and it gets a new nonce even from a source that offers the old one.
      const draws = [reserved.nonce, 42n];
      const retry = await reserveOpen(storeOf({ nonce: () => draws.shift()! }), `${id}:2`);
      assert.equal(retry.nonce, 42n);
    });

    it('an overdue submitted intent needs on-chain proof that its nonce is unused before it expires', async () => {
      const id = 'order:late-sent';
      const reserved = await reserveOpen(storeOf(), id);
      await storeOf().recordSigned(id, await signWith(reserved));
      await storeOf().recordSubmitted(id);
      clock = T0 + 10 * 60_000;
      assert.equal(await nextOf(storeOf(), id), 'reconcile');
      await assert.rejects(storeOf().expire(id), refusedWith('V2_ACTION_STATE'));
      assert.equal((await rowsOf(id))[0]?.status, 'submitted');
      assert.equal((await storeOf().expire(id, { nonceUnusedOnChain: true })).status, 'expired');
    });

    it('an accepted intent never expires from here: its stream decides', async () => {
      const id = 'order:late-accepted';
      const reserved = await reserveOpen(storeOf(), id);
      await storeOf().recordSigned(id, await signWith(reserved));
      await storeOf().recordSubmitted(id);
      await storeOf().recordAccepted(id, 'trk-late');
      clock = T0 + 10 * 60_000;
      assert.equal(await nextOf(storeOf(), id), 'replay');
      await assert.rejects(storeOf().expire(id, { nonceUnusedOnChain: true }), refusedWith('V2_ACTION_STATE'));
    });
  });

  describe('the engine lease', () => {
    const takeOver = () => pg.db.sql(`update engine_lease set epoch = epoch + 1, holder = 'engine-b' where name = ?`, [LEASE_NAME]);
    const isFenced = (err: unknown) => err instanceof FencedError && err.code === 'LEASE_LOST';

    it('a stale owner reserves, signs, submits and ends nothing; the new owner carries on from what is stored', async () => {
      const reserved = await reserveOpen(storeOf(), 'order:f1');
      const signed = await signWith(reserved);
      await takeOver();
      const stale = storeOf();
      await assert.rejects(reserveOpen(stale, 'order:f2'), isFenced);
      assert.equal((await rowsOf('order:f2')).length, 0);
      await assert.rejects(stale.recordSigned('order:f1', signed), isFenced);
      assert.deepEqual((await rowsOf('order:f1')).map((r) => [r.status, r.signature]), [['reserved', null]]);
      await assert.rejects(stale.recordTerminal('order:f1', 'abandoned'), isFenced);
      const owner = storeOf({}, pg.db, leaseFence(pg.db, 2));
      await owner.recordSigned('order:f1', signed);
      await owner.recordSubmitted('order:f1');
      await assert.rejects(stale.recordSubmitted('order:f1'), isFenced);
      await assert.rejects(stale.recordAccepted('order:f1', 'trk-f'), isFenced);
      assert.deepEqual((await rowsOf('order:f1')).map((r) => [r.status, r.submissions]), [['submitted', 1]]);
      await owner.recordAccepted('order:f1', 'trk-f');
      await assert.rejects(stale.recordEvent('order:f1', { seq: 1, type: 'MarketOrderExecuted', payload: {} }, 'executed'), isFenced);
      assert.equal((await owner.events('order:f1')).length, 0);
      assert.equal((await rowsOf('order:f1'))[0]?.status, 'accepted');
    });
  });
});
