import assert from 'node:assert/strict';
import { recoverAddress, toFunctionSelector, type Address } from 'viem';
import { closeTradeMessage, delegateMessage, prepareIntent, TOS_VERANTA } from '../../../src/infra/chain/avantis-v2/intents.ts';
import { EXECUTE_TYPEHASH, decodeExecuteCalldata, executeDigest } from '../../../src/infra/chain/avantis-v2/smart-account.ts';
import { createKeyedLock } from '../../../src/infra/keyed-lock.ts';
import { createDelegateKeys, delegateUserId, isDelegateUserId, type DelegateKeys } from '../../../src/infra/keys/delegate-keys.ts';
import { DelegateError } from '../../../src/infra/keys/delegate-errors.ts';
import { runKeyRotation } from '../../../src/infra/keys/rotation.ts';
import { createKeyRotationMetrics } from '../../../src/infra/keys/rotation-metrics.ts';
import { createWallets, type Wallets } from '../../../src/infra/keys/wallets.ts';
import { Registry } from 'prom-client';
import { keccak256, toBytes } from 'viem';
import { setDelegateWithSigCalldata } from '../../../src/actors/delegate-connect.ts';
import { silentLogger } from '../../helpers/common.ts';
import { createTestPostgres, type TestDatabase } from '../../helpers/db.ts';
import { fixtures, type KeyStoreFixture } from './support.ts';

/** Delegate keys stored like wallets (both keystores), over real PostgreSQL. */
const ROUTER: Address = '0x44914408af82bC9983bbb330e3578E1105e11d4e';
const DOMAIN = { name: 'AvantisTrading', version: '1', chainId: 8453, verifyingContract: ROUTER } as const;
const TRADER: Address = '0x1111111111111111111111111111111111111111';

for (const kind of ['local', 'vault'] as const) {
  describe(`delegate keys (${kind})`, function () {
    this.timeout(30_000);
    let fx: KeyStoreFixture;
    let tdb: TestDatabase;
    let wallets: Wallets;
    let delegates: DelegateKeys;
    let nextId = 7_000;
    before(async () => {
      fx = await fixtures[kind]();
      tdb = await createTestPostgres(`delegate_keys_${kind}`);
    });
    after(async () => {
      await tdb.destroy();
      await fx.close();
    });
    beforeEach(() => {
      wallets = createWallets({ db: tdb.db, keystore: fx.keystore, logger: silentLogger() });
      delegates = createDelegateKeys({ wallets, lock: createKeyedLock(), logger: silentLogger(), now: () => 1_900_000_000_000, salt: () => 7 });
    });

    it('creates one key per trader, stored as delegate:<id> beside (never instead of) the trader’s user:<id> wallet', async () => {
      const tg = nextId++;
      assert.equal(await delegates.delegateOf(tg), null);
      const trader = await wallets.create(`user:${tg}`);
      const address = await delegates.ensureDelegate(tg);
      assert.equal(await delegates.ensureDelegate(tg), address, 'idempotent');
      assert.equal(await delegates.delegateOf(tg), address);
      assert.notEqual(address, trader.address);
      assert.equal(delegateUserId(tg), `delegate:${tg}`);
      assert.ok(isDelegateUserId(delegateUserId(tg)) && !isDelegateUserId(`user:${tg}`));
      const rows = await tdb.db.sql<{ user_id: string }>('select user_id from wallets where user_id in (?, ?) order by user_id', [`delegate:${tg}`, `user:${tg}`]);
      assert.deepEqual(rows.map((r) => r.user_id), [`delegate:${tg}`, `user:${tg}`]);
      await assert.rejects(delegates.ensureDelegate(0), (e: unknown) => e instanceof DelegateError && e.reason === 'DELEGATE_BAD_TELEGRAM_ID');
    });

    it('creates exactly one key under concurrent calls, in one process and across two (separate locks)', async () => {
      const tg = nextId++;
      const other = createDelegateKeys({ wallets: createWallets({ db: tdb.db, keystore: fx.keystore, logger: silentLogger() }), lock: createKeyedLock(), logger: silentLogger() });
      const addresses = await Promise.all([delegates.ensureDelegate(tg), delegates.ensureDelegate(tg), other.ensureDelegate(tg), other.ensureDelegate(tg)]);
      assert.equal(new Set(addresses).size, 1);
      const [row] = await tdb.db.sql<{ n: string }>('select count(*)::text as n from wallets where user_id = ?', [`delegate:${tg}`]);
      assert.equal(row!.n, '1');
    });

    it('signs trading intents only: a CloseTradeReq yes, a DelegateReq (trader-only) no', async () => {
      const tg = nextId++;
      const address = await delegates.ensureDelegate(tg);
      const close = closeTradeMessage({ trader: TRADER, pairIndex: 1n, index: 0n, openTimestamp: 1n, amount: 1n, wantedPrice: 1n, deadlineMs: 1_900_000_060_000n, nonce: 3n });
      const signed = await delegates.signIntent(tg, { domain: DOMAIN, primaryType: 'CloseTradeReq', message: close });
      assert.equal(signed.digest, prepareIntent(DOMAIN, 'CloseTradeReq', close).digest, 'the digest is recomputed from the intent');
      assert.equal(await recoverAddress({ hash: signed.digest, signature: signed.signature }), address);
      const req = delegateMessage({ trader: TRADER, delegate: address, expirySeconds: 1_900_000_000n, tnc: TOS_VERANTA, deadlineMs: 1_900_000_060_000n, nonce: 1n });
      await assert.rejects(delegates.signIntent(tg, { domain: DOMAIN, primaryType: 'DelegateReq', message: req }), (e: unknown) => e instanceof DelegateError && e.reason === 'DELEGATE_SIGN_REFUSED');
    });

    it('signs a 7702 relay of setDelegateWithSig to the TradingRouter, and refuses any other call (approve, withdraw, transfer, value)', async () => {
      const tg = nextId++;
      const address = await delegates.ensureDelegate(tg);
      assert.equal(keccak256(toBytes('Execute(bytes32 mode,Call[] calls,uint256 nonce)Call(address to,uint256 value,bytes data)')), EXECUTE_TYPEHASH, '§10 typehash');
      assert.equal(toFunctionSelector('execute(bytes32,bytes)'), '0xe9ae5c53');
      const data = setDelegateWithSigCalldata({ signature: `0x${'11'.repeat(64)}1b`, encodedIntent: '0x1234' });
      const relay = await delegates.signRelay(tg, { chainId: 8453, tradingRouter: ROUTER, calls: [{ to: ROUTER, value: 0n, data }] });
      assert.equal(relay.wallet, address);
      assert.equal(relay.txParams.to, address, 'sent to the delegate’s own account');
      assert.equal(relay.txParams.transactionType, 4);
      const decoded = decodeExecuteCalldata(relay.txParams.data);
      assert.equal(decoded.nonce, (1_900_000_000_000n * 1000n + 7n) << 64n);
      assert.equal(await recoverAddress({ hash: executeDigest(address, 8453, decoded.calls, decoded.nonce), signature: decoded.signature }), address);
      const approve = '0x095ea7b3' + '00'.repeat(64);
      const usdc: Address = '0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913';
      const refused = (e: unknown) => e instanceof DelegateError && e.reason === 'DELEGATE_SIGN_REFUSED';
      await assert.rejects(delegates.signRelay(tg, { chainId: 8453, tradingRouter: ROUTER, calls: [{ to: usdc, value: 0n, data: approve as `0x${string}` }] }), refused);
      await assert.rejects(delegates.signRelay(tg, { chainId: 8453, tradingRouter: ROUTER, calls: [{ to: ROUTER, value: 0n, data: approve as `0x${string}` }] }), refused);
      await assert.rejects(delegates.signRelay(tg, { chainId: 8453, tradingRouter: ROUTER, calls: [{ to: ROUTER, value: 1n, data }] }), refused);
      await assert.rejects(delegates.signRelay(tg, { chainId: 8453, tradingRouter: ROUTER, calls: [] }), refused);
      // The module has no transaction or raw-digest signing at all.
      assert.deepEqual(Object.keys(delegates).sort(), ['delegateOf', 'ensureDelegate', 'signIntent', 'signRelay']);
    });

    it('key rotation rewraps delegate keys like wallets, and they still sign as the same address', async () => {
      const tg = nextId++;
      const address = await delegates.ensureDelegate(tg);
      const result = await runKeyRotation({ db: tdb.db, keystore: fx.keystore, logger: silentLogger(), metrics: createKeyRotationMetrics(new Registry()), actor: 'test' });
      assert.equal(result.outcome, 'done');
      const [row] = await tdb.db.sql<{ key_version: number }>('select key_version from wallets where user_id = ?', [`delegate:${tg}`]);
      assert.equal(row!.key_version, result.toVersion);
      const close = closeTradeMessage({ trader: TRADER, pairIndex: 1n, index: 0n, openTimestamp: 1n, amount: 1n, wantedPrice: 1n, deadlineMs: 1_900_000_060_000n, nonce: 4n });
      const signed = await delegates.signIntent(tg, { domain: DOMAIN, primaryType: 'CloseTradeReq', message: close });
      assert.equal(await recoverAddress({ hash: signed.digest, signature: signed.signature }), address);
    });
  });
}
