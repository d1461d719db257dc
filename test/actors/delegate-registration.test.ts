import assert from 'node:assert/strict';
import { decodeFunctionData, recoverAddress, type Address, type Hex } from 'viem';
import { createDelegateRegistration, type DelegateRegistration, type DelegateRegistrationDeps, type RegistrationStep } from '../../src/actors/delegate-registration.ts';
import { BlitzClient, TxBuilderClient } from '../../src/infra/chain/avantis-v2/http-client.ts';
import type { BlitzTxParams, BlitzRelayStatus } from '../../src/infra/chain/avantis-v2/blitz-client.ts';
import { DelegateCalldataClient } from '../../src/infra/chain/avantis-v2/delegate-calldata-client.ts';
import { V2IntentMismatchError } from '../../src/infra/chain/avantis-v2/errors.ts';
import { createIntentStore } from '../../src/infra/chain/avantis-v2/intent-store.ts';
import { decodeIntent, intentDigest } from '../../src/infra/chain/avantis-v2/intents.ts';
import { decodeExecuteCalldata } from '../../src/infra/chain/avantis-v2/smart-account.ts';
import { LEASE_NAME, leaseFence, type Fence } from '../../src/infra/db/fence.ts';
import { createKeyedLock } from '../../src/infra/keyed-lock.ts';
import { createDelegateKeys, type DelegateKeys } from '../../src/infra/keys/delegate-keys.ts';
import { createWallets, type Wallets } from '../../src/infra/keys/wallets.ts';
import { applyCall, applyRelay, type RelayChainOptions, type RelayEffect } from '../../src/sandbox/avantis-v2/relay-chain.ts';
import { MAINNET_ADDRESSES, startAvantisV2Sandbox, type AvantisV2Sandbox } from '../../src/sandbox/avantis-v2/index.ts';
import { silentLogger } from '../helpers/common.ts';
import { createTestPostgres, type TestDatabase } from '../helpers/db.ts';
import { localFixture, type KeyStoreFixture } from '../infra/keys/support.ts';

/**
 * Delegate registration for a wallet Vanta created, end to end against real PostgreSQL (the intent
 * store, the wallets) and the loopback v2 doubles. The gateway double accepts blitz relays without
 * executing them, so `ChainRelayer` sends each relay to it and then applies what the chain would
 * do (src/sandbox/avantis-v2/relay-chain.ts: authorization, Execute signature, setDelegateWithSig
 * with the trader's signature, deadline and nonce) to the doubles' ledger that /v2/delegation reads.
 */
class ChainRelayer {
  readonly relays: { txParams: BlitzTxParams; wallet: Address; effects: RelayEffect[] | null; requestId: string }[] = [];
  readonly #reverted = new Set<string>();
  readonly client: BlitzClient;
  readonly chain: RelayChainOptions;
  constructor(client: BlitzClient, chain: RelayChainOptions) {
    this.client = client;
    this.chain = chain;
  }

  async relay(txParams: BlitzTxParams, wallet: Address): Promise<string> {
    const requestId = await this.client.relay(txParams, wallet);
    let effects: RelayEffect[] | null = null;
    try {
      effects = await applyRelay(this.chain, txParams);
    } catch {
      this.#reverted.add(requestId);
    }
    this.relays.push({ txParams, wallet, effects, requestId });
    return requestId;
  }

  async relayStatus(requestId: string): Promise<BlitzRelayStatus> {
    const status = await this.client.relayStatus(requestId);
    if (status.status === 'Finalised' && this.#reverted.has(requestId)) return { status: 'Finalised', receipt: { ...status.receipt, status: 'reverted' } };
    return status;
  }

  /** The (signature, encodedIntent) of each relayed setDelegateWithSig. */
  registrations(): { signature: Hex; encodedIntent: Hex }[] {
    return this.relays.flatMap((r) =>
      decodeExecuteCalldata(r.txParams.data).calls.map((c) => {
        const { args } = decodeFunctionData({ abi: [{ type: 'function', name: 'setDelegateWithSig', stateMutability: 'nonpayable', inputs: [{ name: 's', type: 'bytes' }, { name: 'i', type: 'bytes' }], outputs: [] }] as const, data: c.data });
        return { signature: args[0], encodedIntent: args[1] };
      }),
    );
  }
}

describe('delegate registration (bot-created wallet) against PostgreSQL and the v2 doubles', function () {
  this.timeout(60_000);
  let pg: TestDatabase;
  let keys: KeyStoreFixture;
  let sb: AvantisV2Sandbox;
  let fence: Fence;
  let wallets: Wallets;
  let relayer: ChainRelayer;
  let chain: RelayChainOptions;
  let tg = 90_000;
  const fast = { timeoutMs: 2_000, retries: 2, backoffMs: 5, maxBackoffMs: 20 } as const;

  before(async () => {
    pg = await createTestPostgres('delegate_reg');
    keys = await localFixture();
  });
  after(async () => {
    await keys.close();
    await pg.destroy();
  });
  beforeEach(async () => {
    tg += 1;
    await pg.db.sql('delete from engine_lease');
    await pg.db.sql(`insert into engine_lease (name, epoch, holder, expires_at) values (?, 1, 'engine-a', now() + interval '1 hour')`, [LEASE_NAME]);
    fence = leaseFence(pg.db, 1);
    sb = await startAvantisV2Sandbox({ stepMs: 1 });
    chain = { chainId: 8453, tradingDomain: sb.txBuilder.domains.trading, tradingRouter: MAINNET_ADDRESSES.tradingRouter, ledger: sb.ledger };
    relayer = new ChainRelayer(new BlitzClient({ gatewayUrl: sb.gatewayUrl, ...fast }), chain);
    wallets = createWallets({ db: pg.db, keystore: keys.keystore, logger: silentLogger() });
  });
  afterEach(async () => {
    await sb.close();
  });

  /** A new instance over the same database and doubles: what a restarted process builds. */
  function instance(overrides: Partial<DelegateRegistrationDeps> = {}): { reg: DelegateRegistration; delegates: DelegateKeys; signs: { n: number } } {
    const lock = createKeyedLock();
    const fresh = createWallets({ db: pg.db, keystore: keys.keystore, logger: silentLogger() });
    const signs = { n: 0 };
    const delegates = createDelegateKeys({ wallets: fresh, lock, logger: silentLogger() });
    const reg = createDelegateRegistration({
      txBuilder: new TxBuilderClient({ baseUrl: sb.txBuilderUrl, meta: { chainId: 8453 }, ...fast }),
      calldata: new DelegateCalldataClient({ baseUrl: sb.txBuilderUrl, ...fast }),
      relayer,
      store: createIntentStore(pg.db, fence),
      // Counts the trader's signatures: a resumed instance must not sign again.
      wallets: { find: (u) => fresh.find(u), signHash: (u, h) => ((signs.n += 1), fresh.signHash(u, h)) },
      delegates,
      lock,
      logger: silentLogger(),
      pollIntervalMs: 5,
      ...overrides,
    });
    return { reg, delegates, signs };
  }
  const crashAt = (at: RegistrationStep) => (step: RegistrationStep) => {
    if (step === at) throw new Error(`simulated crash after ${step}`);
  };
  const rowsOf = () => pg.db.sql<{ action_id: string; status: string; signature: string | null; submissions: number }>("select action_id, status, signature, submissions from v2_intents where action_id like ? order by action_id", [`delegate-set:${tg}:%`]);

  it('registers the delegate end to end: DelegateReq signed by the TRADER, relayed from the delegate’s 7702 account, confirmed by /v2/delegation', async () => {
    const trader = await wallets.create(`user:${tg}`);
    const { reg, delegates, signs } = instance();
    const before = await reg.checkDelegation(tg);
    assert.equal(before.state, 'missing');
    assert.match(before.message, /\/connect/);

    const result = await reg.registerDelegate(tg);
    const delegate = (await delegates.delegateOf(tg))!;
    assert.equal(result.state, 'active');
    assert.equal(result.delegate, delegate);
    assert.equal(signs.n, 1);
    assert.equal(relayer.relays.length, 1);
    const [relay] = relayer.relays;
    assert.equal(relay!.wallet, delegate, 'relayed from the delegate’s own account');
    assert.equal(relay!.txParams.transactionType, 4);
    assert.deepEqual(relay!.effects?.map((e) => e.kind), ['delegate-set']);
    const [registration] = relayer.registrations();
    const message = decodeIntent('DelegateReq', registration!.encodedIntent);
    assert.equal(await recoverAddress({ hash: intentDigest(chain.tradingDomain, 'DelegateReq', message), signature: registration!.signature }), trader.address, 'trader-only kind: the trader signed');
    assert.equal(sb.ledger.delegation(trader.address, delegate).isEnabled, true);
    assert.deepEqual((await rowsOf()).map((r) => [r.action_id, r.status]), [[`delegate-set:${tg}:1`, 'executed']]);

    const after = await reg.checkDelegation(tg);
    assert.equal(after.state, 'active');
    assert.equal(after.renewSoon, false);
    // Again: already active, nothing built, signed or relayed.
    assert.equal((await reg.registerDelegate(tg)).state, 'active');
    assert.equal(signs.n, 1);
    assert.equal(relayer.relays.length, 1);
  });

  it('two concurrent calls register once', async () => {
    await wallets.create(`user:${tg}`);
    const { reg, signs } = instance();
    const [a, b] = await Promise.all([reg.registerDelegate(tg), reg.registerDelegate(tg)]);
    assert.equal(a.state, 'active');
    assert.equal(b.state, 'active');
    assert.equal(relayer.relays.length, 1);
    assert.equal(signs.n, 1);
    assert.equal((await rowsOf()).length, 1);
  });

  it('a crash after recordSigned: a fresh instance submits the SAME signature, never signs again, and the chain sees one registration', async () => {
    await wallets.create(`user:${tg}`);
    const first = instance({ onStep: crashAt('signed') });
    await assert.rejects(first.reg.registerDelegate(tg), /simulated crash after signed/);
    const [stored] = await rowsOf();
    assert.equal(stored!.status, 'signed');
    assert.equal(relayer.relays.length, 0, 'nothing left the process');
    assert.equal((await first.reg.checkDelegation(tg)).state, 'pending');

    const second = instance();
    const result = await second.reg.registerDelegate(tg);
    assert.equal(result.state, 'active');
    assert.equal(second.signs.n, 0, 'the resumed instance did not sign');
    assert.equal(relayer.relays.length, 1);
    assert.equal(relayer.registrations()[0]!.signature, stored!.signature, 'byte-identical signature');
    assert.deepEqual((await rowsOf()).map((r) => [r.status, r.submissions]), [['executed', 1]]);
  });

  it('a crash after recordSubmitted resubmits the same bytes once; a crash after the relay polls it, never relays again', async () => {
    await wallets.create(`user:${tg}`);
    await assert.rejects(instance({ onStep: crashAt('submitted') }).reg.registerDelegate(tg), /after submitted/);
    assert.equal(relayer.relays.length, 0);
    const resumed = instance({ onStep: crashAt('accepted') });
    await assert.rejects(resumed.reg.registerDelegate(tg), /after accepted/);
    assert.equal(relayer.relays.length, 1);
    const last = instance();
    assert.equal((await last.reg.registerDelegate(tg)).state, 'active');
    assert.equal(relayer.relays.length, 1, 'an accepted relay is polled, not sent again');
    assert.deepEqual((await rowsOf()).map((r) => [r.status, r.submissions]), [['executed', 2]]);
    assert.equal(last.signs.n + resumed.signs.n, 0);
  });

  it('refuses a tampered delegate-set answer before signing, first or second build', async () => {
    await wallets.create(`user:${tg}`);
    const { reg, signs } = instance();
    const longer = (data: Record<string, unknown>) => ((data['message'] as Record<string, unknown>)['expiry'] = '99999999999');
    sb.txBuilder.tamper = longer;
    await assert.rejects(reg.registerDelegate(tg), V2IntentMismatchError);
    assert.equal((await rowsOf()).length, 0, 'nothing reserved');
    // Tampered on the build with the stored nonce: the row stays reserved, unsigned.
    const second = instance({ onStep: (step) => void (step === 'reserved' && (sb.txBuilder.tamper = longer)) });
    await assert.rejects(second.reg.registerDelegate(tg), V2IntentMismatchError);
    assert.deepEqual((await rowsOf()).map((r) => [r.status, r.signature]), [['reserved', null]]);
    assert.equal(signs.n + second.signs.n, 0, 'nothing was signed');
    assert.equal(relayer.relays.length, 0);
    // A clean answer then finishes it.
    assert.equal((await instance().reg.registerDelegate(tg)).state, 'active');
  });

  it('tells an expired delegation apart, and revocation removes it (the trader sends /v2/delegate/remove)', async () => {
    const trader = await wallets.create(`user:${tg}`);
    const { reg, delegates } = instance();
    await reg.registerDelegate(tg);
    const delegate = (await delegates.delegateOf(tg))!;
    sb.ledger.setDelegate(trader.address, delegate, BigInt(Math.floor(Date.now() / 1000) - 60));
    const expired = await reg.checkDelegation(tg);
    assert.equal(expired.state, 'expired');
    assert.match(expired.message, /expired on .* UTC.*\/connect/);

    const call = (await reg.revocationCall(tg))!;
    assert.equal(call.from, trader.address);
    assert.equal(call.to, MAINNET_ADDRESSES.tradingRouter);
    // The delegate cannot revoke itself for the trader: from its account it only touches its own delegations.
    await applyCall(chain, delegate, call);
    assert.notEqual((await reg.checkDelegation(tg)).state, 'missing');
    await applyCall(chain, trader.address, call);
    const after = await reg.checkDelegation(tg);
    assert.equal(after.state, 'missing');
    assert.equal(await reg.revocationCall(tg + 100_000).catch(() => 'none'), null);
  });

  it('refuses a trader without a Vanta wallet, telling them what to do', async () => {
    const { reg } = instance();
    await assert.rejects(reg.registerDelegate(tg), (e: unknown) => (e as { reason?: string }).reason === 'DELEGATE_NO_TRADER_WALLET' && /\/start/.test((e as Error).message));
    assert.equal(relayer.relays.length, 0);
  });
});
