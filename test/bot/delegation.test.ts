import assert from 'node:assert/strict';
import { getAddress, type Address, type Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { createDelegateConnectSessions } from '../../src/actors/delegate-connect.ts';
import { createDelegateRegistration } from '../../src/actors/delegate-registration.ts';
import { createDelegationDesk, type RunningDelegationDesk } from '../../src/actors/delegation-desk.ts';
import type { TradingDesk } from '../../src/actors/desk.ts';
import { createVantaBot, type VantaBot } from '../../src/bot/bot.ts';
import { startBot, type RunningBot } from '../../src/bot/transport.ts';
import type { BlitzRelayStatus, BlitzTxParams } from '../../src/infra/chain/avantis-v2/blitz-client.ts';
import { DelegateCalldataClient, removeDelegateCall } from '../../src/infra/chain/avantis-v2/delegate-calldata-client.ts';
import { BlitzClient, TxBuilderClient } from '../../src/infra/chain/avantis-v2/http-client.ts';
import { createIntentStore } from '../../src/infra/chain/avantis-v2/intent-store.ts';
import type { IntentInput, TxOutcome } from '../../src/infra/chain/tx/pipeline.ts';
import { LEASE_NAME, leaseFence } from '../../src/infra/db/fence.ts';
import { createConnectServer, type ConnectServer } from '../../src/infra/http/connect-server.ts';
import { createKeyedLock } from '../../src/infra/keyed-lock.ts';
import { createDelegateKeys } from '../../src/infra/keys/delegate-keys.ts';
import { createWallets, type Wallets } from '../../src/infra/keys/wallets.ts';
import { applyCall, applyRelay, type RelayChainOptions } from '../../src/sandbox/avantis-v2/relay-chain.ts';
import { MAINNET_ADDRESSES, startAvantisV2Sandbox, type AvantisV2Sandbox } from '../../src/sandbox/avantis-v2/index.ts';
import { startBotApiDouble, type BotApiDouble } from '../../src/sandbox/telegram/bot-api-double.ts';
import { trader, type Trader } from '../helpers/bot-chat.ts';
import { silentLogger } from '../helpers/common.ts';
import { createTestPostgres, type TestDatabase } from '../helpers/db.ts';
import { localFixture, type KeyStoreFixture } from '../infra/keys/support.ts';

/**
 * /connect and /disconnect through the real grammY bot and the Bot API double, over the real
 * delegation desk: PostgreSQL (intent store, wallets), the local keystore and the Avantis v2
 * doubles, whose Ledger holds the delegations. What the chain would do with a relay or with the
 * trader's removeDelegate transaction is applied to that Ledger (src/sandbox/avantis-v2/relay-chain.ts).
 */
const RATE = { windowMs: 2_000, limit: 30 } as const;
const FAST = { perSecond: 30, chatBurst: 20, chatIntervalMs: 50 } as const;
const EXPIRED_OR_INVALID = /expired|not valid/i;

interface BotUnderTest {
  readonly double: BotApiDouble;
  readonly vanta: VantaBot;
  readonly running: RunningBot;
  readonly rateLimit: typeof RATE;
}

async function startTestBot(desk: TradingDesk, delegation: RunningDelegationDesk | null, mode: 'live' | 'paper' | 'sandbox'): Promise<BotUnderTest> {
  const double = await startBotApiDouble({ logger: silentLogger(), limits: { flood: { global: { perSecond: 30, burst: 30 }, perChat: { perSecond: 20, burst: 20 } } } });
  const vanta = createVantaBot({ token: double.token, apiRoot: double.apiRoot, desk, admin: null, adminIds: [], mode, logger: silentLogger(), redis: null, delegation, rateLimit: RATE, outgoingLimits: FAST });
  const running = await startBot(vanta, { kind: 'polling' }, silentLogger());
  return { double, vanta, running, rateLimit: RATE };
}

describe('bot: /connect and /disconnect (Avantis v2 trading key)', function () {
  this.timeout(120_000);
  let pg: TestDatabase;
  let keys: KeyStoreFixture;
  let sb: AvantisV2Sandbox;
  let wallets: Wallets;
  let chain: RelayChainOptions;
  let desk: RunningDelegationDesk;
  let server: ConnectServer;
  let v2: BotUnderTest;
  let v1: BotUnderTest;
  let paper: BotUnderTest;
  /** Relays sent to blitz (registrations), and the removeDelegate transactions by outbox intent id. */
  const relays: { txParams: BlitzTxParams; requestId: string }[] = [];
  const executions: string[] = [];
  const sent = new Map<string, TxOutcome>();
  let nextId = 5_000;

  before(async () => {
    pg = await createTestPostgres('bot_delegation');
    keys = await localFixture();
    await pg.db.sql(`insert into engine_lease (name, epoch, holder, expires_at) values (?, 1, 'engine-a', now() + interval '1 hour')`, [LEASE_NAME]);
    sb = await startAvantisV2Sandbox({ stepMs: 1 });
    chain = { chainId: 8453, tradingDomain: sb.txBuilder.domains.trading, tradingRouter: MAINNET_ADDRESSES.tradingRouter, ledger: sb.ledger };
    wallets = createWallets({ db: pg.db, keystore: keys.keystore, logger: silentLogger() });
    const fast = { timeoutMs: 2_000, retries: 2, backoffMs: 5, maxBackoffMs: 20 } as const;
    const blitz = new BlitzClient({ gatewayUrl: sb.gatewayUrl, ...fast });
    const reverted = new Set<string>();
    // The gateway double accepts relays; the chain's half is applied to the Ledger here.
    const relayer = {
      async relay(txParams: BlitzTxParams, wallet: Address): Promise<string> {
        const requestId = await blitz.relay(txParams, wallet);
        relays.push({ txParams, requestId });
        await applyRelay(chain, txParams).catch(() => reverted.add(requestId));
        return requestId;
      },
      async relayStatus(requestId: string): Promise<BlitzRelayStatus> {
        const status = await blitz.relayStatus(requestId);
        return status.status === 'Finalised' && reverted.has(requestId) ? { status: 'Finalised', receipt: { ...status.receipt, status: 'reverted' } } : status;
      },
    };
    // The outbox's promise, kept: one transaction per intent id, however often it is executed.
    const pipeline = {
      async execute(input: IntentInput): Promise<TxOutcome> {
        executions.push(input.id);
        const known = sent.get(input.id);
        if (known) return known;
        await applyCall(chain, input.from, { to: input.request.to, value: input.request.value, data: input.request.data });
        const outcome = { status: 'mined', hash: `0x${sent.size.toString(16).padStart(64, 'a')}`, receipt: { blockNumber: 42n } } as unknown as TxOutcome;
        sent.set(input.id, outcome);
        return outcome;
      },
    };
    const lock = createKeyedLock();
    const delegates = createDelegateKeys({ wallets, lock, logger: silentLogger() });
    const txBuilder = new TxBuilderClient({ baseUrl: sb.txBuilderUrl, meta: { chainId: 8453 }, ...fast });
    const registration = createDelegateRegistration({
      txBuilder,
      calldata: new DelegateCalldataClient({ baseUrl: sb.txBuilderUrl, ...fast }),
      relayer,
      store: createIntentStore(pg.db, leaseFence(pg.db, 1)),
      wallets,
      delegates,
      lock,
      logger: silentLogger(),
      pollIntervalMs: 5,
    });
    const sessions = createDelegateConnectSessions();
    const late: { server?: ConnectServer } = {};
    desk = createDelegationDesk({ registration, delegates, wallets, meta: () => txBuilder.meta(), relayer, pipeline, connect: { sessions, linkFor: (t) => late.server!.linkFor(t) }, logger: silentLogger(), pollIntervalMs: 5 });
    server = await createConnectServer({ port: 0, sessions, submit: (s) => desk.submitOwnWallet(s), logger: silentLogger() });
    late.server = server;
    const trading = {
      mode: 'live',
      onboard: async (id: number) => ({ address: (await wallets.create(`user:${id}`)).address, created: true, mode: 'live' }),
      wallet: async (id: number) => {
        const w = await wallets.find(`user:${id}`);
        return w ? { address: w.address, eth: '0', usdc: '0' } : null;
      },
    } as unknown as TradingDesk;
    v2 = await startTestBot(trading, desk, 'live');
    v1 = await startTestBot(trading, null, 'live');
    paper = await startTestBot(trading, null, 'paper');
  });
  after(async () => {
    for (const b of [v2, v1, paper]) {
      await b?.running.stop();
      await b?.double.close();
    }
    await server?.close();
    await sb?.close();
    await keys?.close();
    await pg?.destroy();
  });

  /** A trader with a Vanta wallet (as after /start). */
  async function withWallet(): Promise<{ t: Trader; address: Address }> {
    const id = (nextId += 1);
    const wallet = await wallets.create(`user:${id}`);
    return { t: trader(v2, id), address: wallet.address };
  }
  const delegateOf = async (id: number): Promise<Address> => (await wallets.find(`delegate:${id}`))!.address;
  const enabled = (traderAddress: Address, delegate: Address) => sb.ledger.delegation(traderAddress, delegate).isEnabled;

  it('on a v1 engine and in paper mode, both commands answer plainly that there is no key to connect', async () => {
    const a = trader(v1, 4001);
    for (const command of ['/connect', '/disconnect', '/connect 0x0000000000000000000000000000000000000001', '/disconnect garbage']) {
      const reply = await a.answer(command);
      assert.match(reply.text, /Avantis v1.*no separate trading key.*Nothing to do/s, command);
      assert.equal(reply.keyboard, undefined, 'no buttons');
    }
    assert.match((await trader(paper, 4002).answer('/connect')).text, /Paper mode sends nothing to the chain/);
    // /help names them, /wallet says nothing about a key where there is none.
    assert.match((await a.answer('/help')).text, /\/connect · \/disconnect/);
  });

  it('/connect explains the key, shows its state, and "Register now" registers it once, even double-clicked', async () => {
    const { t, address } = await withWallet();
    const card = await t.say('/connect', /trading key for your Vanta wallet/);
    assert.match(card.text, /can do[\s\S]*open, close and increase positions[\s\S]*take-profit and stop-loss/);
    assert.match(card.text, /can never do[\s\S]*withdraw anything[\s\S]*approve USDC[\s\S]*add or remove keys/);
    assert.match(card.text, /Avantis contracts enforce this/);
    assert.match(card.text, /Trading key: not registered/);
    assert.match(card.text, new RegExp(address));
    const register = t.dataOf(card.messageId, '✅ Register now');
    const relaysBefore = relays.length;
    // A double click: two presses of the same button at once.
    const [first, second] = await Promise.all([t.user.waitForAnswer(t.user.press(card.messageId, register), 20_000), t.user.waitForAnswer(t.user.press(card.messageId, register), 20_000)]);
    assert.deepEqual([first.text ?? '', second.text ?? ''].sort(), ['Registering…', '⚠️ Already done: this button works once.'].sort());
    const done = await t.shows(card.messageId, /✅ Registered\.[\s\S]*Trading key: active until \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
    assert.equal(relays.length, relaysBefore + 1, 'one registration relayed');
    const delegate = await delegateOf(t.id);
    assert.ok(enabled(address, delegate), 'the Ledger shows the delegate enabled for the Vanta wallet');
    assert.match(done.text, new RegExp(delegate));
    assert.ok(!(done.keyboard ?? []).flat().some((b) => b.text === '✅ Register now'), 'no Register button once active');
    // A replayed press of the old button, later: refused, nothing relayed.
    const replay = await t.press(card.messageId, register, { forge: true });
    assert.match(replay.text ?? '', /Already done|expired/i);
    // /connect again: active, nothing to register.
    const again = await t.say('/connect', /trading key for your Vanta wallet/);
    assert.match(again.text, /Trading key: active until/);
    assert.equal(relays.length, relaysBefore + 1);
    // /wallet carries the line.
    assert.match((await t.say('/wallet', /Your wallet/)).text, /🔑 Trading key: active until \d{4}-\d\d-\d\d/);
  });

  it('refuses garbage, forged, foreign and replayed button data with a clear answer, and changes nothing', async () => {
    const { t, address } = await withWallet();
    const card = await t.say('/connect', /Trading key: not registered/);
    const real = t.dataOf(card.messageId, '✅ Register now');
    const before = relays.length;
    for (const data of ['dg.reg', 'dg.revoke:abc:1', 'k:AAAAAAAAAAAA:0', `${real.slice(0, -1)}9`, 'x'.repeat(65), 'k:💥:0']) {
      const answer = await t.press(card.messageId, data, { forge: true });
      assert.match(answer.text ?? '', EXPIRED_OR_INVALID, data);
    }
    // Someone else's press of this trader's button.
    const mallory = trader(v2, (nextId += 1));
    assert.match((await mallory.press(card.messageId, real, { forge: true })).text ?? '', EXPIRED_OR_INVALID);
    assert.equal(relays.length, before, 'nothing relayed');
    assert.equal(sb.ledger.delegation(address, (await wallets.find(`delegate:${t.id}`))?.address ?? address).isEnabled, false);
    // A garbage address is refused in words.
    assert.match((await t.answer('/connect not-an-address')).text, /not a wallet address/);
    assert.match((await t.answer('/disconnect 0x1234')).text, /not a wallet address/);
    // A trader without a Vanta wallet is told to /start, and offered the own-wallet way.
    const stranger = trader(v2, (nextId += 1));
    assert.match((await stranger.answer('/connect')).text, /send \/start[\s\S]*\/connect 0xYourAddress/);
    assert.match((await stranger.answer('/disconnect')).text, /no Vanta wallet/);
  });

  it('/disconnect asks first, then revokes through the outbox: one transaction, the delegate removed, the outcome in the chat', async () => {
    const { t, address } = await withWallet();
    // Nothing to disconnect yet.
    assert.match((await t.answer('/disconnect')).text, /Nothing to disconnect/);
    await desk.register(t.id);
    const delegate = await delegateOf(t.id);
    assert.ok(enabled(address, delegate));
    // Cancel changes nothing.
    const ask1 = await t.say('/disconnect', /Revoke Vanta’s trading key\?/);
    await t.clickFor('✖ Cancel', /Nothing was revoked/);
    assert.ok(enabled(address, delegate));
    assert.match(t.last(/Nothing was revoked/).text, /stays as it was/);
    assert.equal(t.last(/Nothing was revoked/).messageId, ask1.messageId, 'the question, edited in place');
    // Confirm, double-clicked.
    const ask = await t.say('/disconnect', /Revoke Vanta’s trading key\?/);
    assert.match(ask.text, /removeDelegate[\s\S]*open positions stay open/i);
    const confirm = t.dataOf(ask.messageId, '✅ Yes, revoke');
    const executedBefore = executions.length;
    const answers = await Promise.all([t.user.waitForAnswer(t.user.press(ask.messageId, confirm), 20_000), t.user.waitForAnswer(t.user.press(ask.messageId, confirm), 20_000)]);
    assert.deepEqual(answers.map((a) => a.text ?? '').sort(), ['Revoking…', '⚠️ Already done: this button works once.'].sort());
    const done = await t.shows(ask.messageId, /✅ Revoked: Vanta’s trading key can no longer trade for your wallet/);
    assert.match(done.text, /Transaction 0x[0-9a-f]{64} \(block 42\)/);
    assert.equal(executions.length, executedBefore + 1, 'one removeDelegate sent');
    assert.match(executions.at(-1)!, new RegExp(`^delegate-remove:${t.id}:`));
    assert.equal(enabled(address, delegate), false, 'the Ledger no longer has the delegate');
    // A replay of the confirm: refused, nothing sent.
    assert.match((await t.press(ask.messageId, confirm, { forge: true })).text ?? '', /Already done|expired/i);
    assert.equal(executions.length, executedBefore + 1);
    assert.match((await t.answer('/connect')).text, /Trading key: not registered/);
    assert.match((await t.answer('/disconnect')).text, /Nothing to disconnect/);
  });

  it('an own wallet: /connect 0x… gives a signing page that registers the key for that wallet; /disconnect 0x… shows the exact call', async () => {
    const { t } = await withWallet();
    const own = privateKeyToAccount(generatePrivateKey());
    const linkCard = await t.say(`/connect ${own.address.toLowerCase()}`, /Connect your own wallet/);
    assert.match(linkCard.text, new RegExp(own.address), 'checksummed');
    assert.match(linkCard.text, /Not yet available: Vanta still trades from your Vanta wallet/);
    const url = /(http:\/\/127\.0\.0\.1:\d+\/connect\/[A-Za-z0-9_-]{43})/.exec(linkCard.text)?.[1];
    assert.ok(url, `a link in ${linkCard.text}`);
    const token = url.split('/').at(-1)!;
    const api = `${server.url}/api/connect/${token}`;
    const described = (await (await fetch(api)).json()) as { digest: Hex; facts: { trader: string; delegate: string } };
    const delegate = await delegateOf(t.id);
    assert.equal(described.facts.trader, own.address);
    assert.equal(described.facts.delegate, delegate);
    const signature = await own.sign({ hash: described.digest });
    const posted = await fetch(api, { method: 'POST', headers: { 'content-type': 'application/json', 'x-vanta-connect': '1' }, body: JSON.stringify({ signature }) });
    const outcome = (await posted.json()) as { status?: string };
    assert.equal(posted.status, 200, JSON.stringify(outcome));
    assert.ok(enabled(own.address, delegate), 'the Ledger has the delegate for the own wallet');
    assert.equal((await desk.status(t.id, own.address)).state, 'active');
    // Its own wallet's revocation is a call only that wallet can send: shown exactly.
    const call = await t.say(`/disconnect ${own.address}`, /Revoke Vanta’s key from your own wallet/);
    const expected = removeDelegateCall({ chainId: 8453, addresses: { tradingRouter: MAINNET_ADDRESSES.tradingRouter } } as Parameters<typeof removeDelegateCall>[0], own.address, delegate);
    assert.match(call.text, new RegExp(`To: ${getAddress(expected.to)}`));
    assert.match(call.text, new RegExp(`Data: ${expected.data}`));
    assert.match(call.text, new RegExp(`removeDelegate\\(${delegate}\\)`));
    assert.match(call.text, /Value: 0[\s\S]*Chain id: 8453/);
    // Sent from the own wallet, it removes the key.
    await applyCall(chain, own.address, { to: expected.to, value: 0n, data: expected.data });
    assert.equal(enabled(own.address, delegate), false);
    // The Vanta wallet's own address is not an "own wallet".
    const vanta = (await wallets.find(`user:${t.id}`))!.address;
    assert.match((await t.answer(`/connect ${vanta}`)).text, /That is your Vanta wallet/);
  });
});
