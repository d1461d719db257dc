import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { getAddress, parseAbiItem, parseEther, parseUnits, type Address, type PublicClient } from 'viem';
import type { Notice, TradingDesk } from '../../src/actors/desk.ts';
import type { ActorRuntime } from '../../src/actors/runtime.ts';
import { createTradingDesk, type TradingDeskDeps } from '../../src/actors/trading-desk.ts';
import { createChainWithdrawalGateway } from '../../src/actors/withdrawal-gateway.ts';
import { BadInputError } from '../../src/errors.ts';
import { createAvantisProtocol } from '../../src/infra/chain/avantis/protocol.ts';
import { systemClock, type Clock } from '../../src/infra/clock.ts';
import { abiOf } from '../../src/infra/devnet/artifacts.ts';
import { sendCall } from '../../src/infra/devnet/clients.ts';
import { avantisAddressesOf } from '../../src/infra/devnet/deploy.ts';
import { createKeyedLock } from '../../src/infra/keyed-lock.ts';
import { createWallets, type Wallets } from '../../src/infra/keys/wallets.ts';
import { discoverChainlinkFeeds, startChainlinkPoller } from '../../src/infra/prices/chainlink.ts';
import type { RiskLimits } from '../../src/machines/risk.ts';
import { priceFeedSystemId } from '../../src/actors/kinds/price-feed.actor.ts';
import { silentLogger } from '../helpers/common.ts';
import { createTestPostgres, type TestDatabase } from '../helpers/db.ts';
import { devnetGateway } from '../helpers/devnet-gateway.ts';
import { manualClock } from '../helpers/manual-clock.ts';
import { testSystem, topState, waitFor } from '../helpers/runtime.ts';
import { createPipeline, txFixture, type TxFixture } from '../infra/chain/tx/support.ts';

/**
 * Withdrawals through the trader's port on the real devnet, real PostgreSQL and the real actor
 * system: the USDC moves exactly once, every refusal says why with the numbers and changes
 * nothing, and in live mode the allowlist's waiting period holds (with a manual clock).
 */
const LIMITS: RiskLimits = { maxLeverage: 50, maxCollateralUsdc: '50000', maxNotionalUsdc: '1000000', maxOpenPositions: 5 };
const TRANSFER = parseAbiItem('event Transfer(address indexed from, address indexed to, uint256 value)');
const HOUR = 3_600_000;

const someAddress = (): Address => getAddress(`0x${randomBytes(20).toString('hex')}`);
/** A checksummed address with letters in it, and the same with one letter's case flipped (a typo the checksum catches). */
const CHECKSUMMED = getAddress('0xabcdef0123456789abcdef0123456789abcdef01');
function mistyped(address: string): string {
  const i = [...address].findIndex((c, k) => k > 1 && /[a-fA-F]/.test(c));
  const c = address[i]!;
  return address.slice(0, i) + (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase()) + address.slice(i + 1);
}

interface Engine {
  readonly runtime: ActorRuntime;
  readonly desk: TradingDesk;
  readonly deps: TradingDeskDeps;
  readonly told: Notice[];
  readonly wallets: Wallets;
  stop(): Promise<void>;
}

describe('withdrawals: the trader’s USDC out of the wallet, exactly once', function () {
  this.timeout(180_000);
  let f: TxFixture;
  const client = () => f.sim.clients.publicClient as unknown as PublicClient;

  /** The engine as main composes it for withdrawals: the runtime with the chain gateways, and the desk. */
  async function engine(o: { mode: 'sandbox' | 'live'; db: TestDatabase['db']; wallets: Wallets; clock: Clock; told?: Notice[] }): Promise<Engine> {
    const pipeline = createPipeline({ db: o.db }, o.wallets, client(), f.sim.anvil.chainId, systemClock);
    const orders = devnetGateway({ clients: f.sim.clients, chainId: f.sim.anvil.chainId, deployment: f.sim.deployment, wallets: o.wallets, pipeline, minter: f.sim.deployer, overrides: { limits: LIMITS } });
    const withdrawals = createChainWithdrawalGateway({ pipeline, wallets: o.wallets, usdc: f.sim.deployment.usdc, logger: silentLogger() });
    const told = o.told ?? [];
    const runtime = testSystem(o.db, {
      orders,
      withdrawals,
      requireWithdrawAllowlist: o.mode === 'live',
      limits: LIMITS,
      notices: (n) => {
        told.push(n);
        return Promise.resolve();
      },
    });
    await runtime.boot();
    // The price feeds as main runs them (orders are quoted against them).
    const feeds = await discoverChainlinkFeeds(createAvantisProtocol({ version: 'v1', chainId: f.sim.anvil.chainId, addresses: avantisAddressesOf(f.sim.deployment) }, { client: client() }).reads);
    for (const feed of feeds) {
      if (!runtime.get(priceFeedSystemId(feed.pair))) runtime.spawn(priceFeedSystemId(feed.pair), { input: { pair: feed.pair, pairIndex: feed.pairIndex, heartbeatMs: 600_000 } });
    }
    const poller = startChainlinkPoller({
      client: client(),
      feeds,
      intervalMs: 100,
      clock: systemClock,
      logger: silentLogger(),
      onPrice: (p) => runtime.send(priceFeedSystemId(p.pair), { type: 'price.observed', price: p.price, publishTime: p.publishTime, source: 'chainlink' }),
    });
    const protocol = createAvantisProtocol({ version: 'v1', chainId: f.sim.anvil.chainId, addresses: avantisAddressesOf(f.sim.deployment) }, { client: client() });
    const faucetAccount = f.sim.traders.at(-1)!;
    const mints = createKeyedLock();
    const deps: TradingDeskDeps = {
      mode: o.mode,
      runtime,
      db: o.db,
      wallets: o.wallets,
      client: client(),
      chainId: f.sim.anvil.chainId,
      protocol,
      limits: LIMITS,
      refusal: null,
      ...(o.mode === 'sandbox'
        ? {
            faucet: async (address: Address) => {
              await mints.run('faucet', () =>
                sendCall(f.sim.clients.publicClient, f.sim.clients.wallet(faucetAccount), { address: f.sim.deployment.usdc, abi: abiOf('SimUSDC'), functionName: 'mint', args: [address, parseUnits('1000', 6)] }),
              );
              await f.sim.clients.testClient.setBalance({ address, value: parseEther('5') });
            },
          }
        : {}),
      tradingControls: () => ({ paused: false, pausedPairs: [] }),
      clock: o.clock,
      logger: silentLogger(),
      withdrawAddressDelayMs: 24 * HOUR,
    };
    return { runtime, desk: createTradingDesk(deps), deps, told, wallets: o.wallets, stop: async () => {
        poller.stop();
        await runtime.stop();
      },
    };
  }

  before(async () => {
    f = await txFixture();
  });
  after(async () => {
    await f?.close();
  });

  const usdcOf = (address: Address) => createAvantisProtocol({ version: 'v1', chainId: f.sim.anvil.chainId, addresses: avantisAddressesOf(f.sim.deployment) }, { client: client() }).reads.usdcBalance(address);
  async function transfersFrom(from: Address): Promise<{ to: Address; value: bigint; hash: string }[]> {
    const logs = await client().getLogs({ address: f.sim.deployment.usdc, event: TRANSFER, args: { from }, fromBlock: 0n });
    return logs.map((l) => ({ to: l.args.to!, value: l.args.value!, hash: l.transactionHash }));
  }
  async function refused(promise: Promise<unknown>, message: RegExp): Promise<string> {
    let text = '';
    await assert.rejects(promise, (err: unknown) => {
      assert.ok(err instanceof BadInputError, `a BadInputError, got ${String(err)}`);
      assert.match(err.message, message);
      text = err.message;
      return true;
    });
    return text;
  }

  describe('sandbox', () => {
    let e: Engine;
    const noticesOf = (telegramId: number, withdrawalId: string) => e.told.filter((n) => n.telegramId === telegramId && n.positionId === withdrawalId);
    const walletOf = async (telegramId: number) => (await f.wallets.find(`user:${telegramId}`))!.address;
    const userContext = (telegramId: number) => (e.runtime.get(`user:${telegramId}`)!.getSnapshot() as { context: Record<string, unknown> }).context;

    before(async () => {
      e = await engine({ mode: 'sandbox', db: f.pg.db, wallets: f.wallets, clock: systemClock });
    });
    after(async () => {
      await e?.stop();
    });

    it('sends exactly the amount, once, and tells the trader it was sent, then done with its transaction', async () => {
      await e.desk.onboard(501);
      const from = await walletOf(501);
      const to = someAddress();
      const before = await usdcOf(from);
      const review = await e.desk.reviewWithdrawal(501, { amount: '25.5', to: to.toLowerCase() });
      assert.deepEqual(review, { amount: '25.5', to, availableUsdc: '1000', network: 'the local sandbox chain' }, 'the address comes back checksummed');
      assert.deepEqual(await e.desk.withdraw(501, 'wd-sand-01', to, '25.5'), { withdrawalId: 'wd-sand-01' });
      const [row] = await f.pg.db.sql<{ parent: string }>("select parent from actor_snapshots where id = 'withdrawal:wd-sand-01'");
      assert.equal(row?.parent, 'user:501', 'durable, as a child of its trader, when withdraw() resolved');
      await waitFor(() => noticesOf(501, 'wd-sand-01').some((n) => n.kind === 'withdrawal.done'), 'the done notice', 30_000);

      assert.equal(await usdcOf(to), parseUnits('25.5', 6), 'the destination received exactly the amount');
      assert.equal(before - (await usdcOf(from)), parseUnits('25.5', 6), 'the wallet paid exactly the amount');
      const transfers = await transfersFrom(from);
      assert.equal(transfers.length, 1, 'one transfer on chain');
      const notices = noticesOf(501, 'wd-sand-01');
      assert.deepEqual(
        notices.map((n) => n.kind),
        ['withdrawal.sent', 'withdrawal.done'],
      );
      assert.equal(notices[1]!.text, `Withdrawal wd-sand-01 is done: 25.5 USDC was sent to ${to}. Transaction ${transfers[0]!.hash}.`);
      assert.deepEqual(await f.pg.db.sql("select id, kind, status from tx_intents where user_id = 'user:501'"), [{ id: 'withdrawal:wd-sand-01', kind: 'withdrawal', status: 'mined' }]);
      assert.deepEqual([userContext(501)['withdrawals'], userContext(501)['recentWithdrawals']], [[], ['wd-sand-01']]);
      assert.equal(e.runtime.get('withdrawal:wd-sand-01'), undefined, 'the withdrawal actor ended');
    });

    it('sends once however many times it is confirmed, and never under another trader’s reference', async () => {
      await e.desk.onboard(502);
      await e.desk.onboard(503);
      const from = await walletOf(502);
      const to = someAddress();
      const results = await Promise.all(Array.from({ length: 5 }, () => e.desk.withdraw(502, 'wd-dup-001', to, '40')));
      assert.deepEqual(results, Array(5).fill({ withdrawalId: 'wd-dup-001' }));
      await waitFor(() => noticesOf(502, 'wd-dup-001').some((n) => n.kind === 'withdrawal.done'), 'the done notice', 30_000);
      // Replayed after it finished, with other numbers even: the same withdrawal, nothing new.
      assert.deepEqual(await e.desk.withdraw(502, 'wd-dup-001', to, '40'), { withdrawalId: 'wd-dup-001' });
      assert.deepEqual(await e.desk.withdraw(502, 'wd-dup-001', someAddress(), '1'), { withdrawalId: 'wd-dup-001' });
      await refused(e.desk.withdraw(503, 'wd-dup-001', to, '40'), /^This withdrawal reference was already used; nothing was sent/);
      assert.deepEqual(
        (await transfersFrom(from)).map((t) => [t.to, t.value]),
        [[to, parseUnits('40', 6)]],
        'one transfer of 40 USDC',
      );
      assert.deepEqual(await transfersFrom(await walletOf(503)), []);
      assert.equal(await usdcOf(to), parseUnits('40', 6));
      assert.ok(!e.told.some((n) => n.telegramId === 502 && /already received/.test(n.text)), 'the repeats were answered by the desk, not refused by the actor');
    });

    it('refuses every bad amount and address with the rule and the numbers, and changes nothing', async () => {
      await e.desk.onboard(504);
      const from = await walletOf(504);
      const to = someAddress();
      const before = { usdc: await usdcOf(from) };
      const amounts: [unknown, RegExp][] = [
        ['abc', /^The amount must be a plain number of USDC such as 25 or 12\.5, without exponents, separators, signs or symbols; "abc" is not one\.$/],
        ['💸💸', /"💸💸" is not one/],
        ['x'.repeat(5000), /"xxxxxxxxxxxxxxxxxxxxxxx…" is not one/],
        ['-5', /^The amount cannot be negative \("-5"\)/],
        ['0', /^The amount must be more than 0 USDC\.$/],
        ['0.000000', /^The amount must be more than 0 USDC\.$/],
        ['NaN', /"NaN" is not one/],
        ['Infinity', /"Infinity" is not one/],
        ['1e30', /"1e30" is not one/],
        ['99999999999999999999', /^"99999999999999999999" is not a realistic amount of USDC\.$/],
        ['1.1234567', /^USDC has at most 6 decimals; "1\.1234567" has 7\.$/],
        ['', /^The amount is missing/],
        [25, /^The amount must be a number of USDC/],
        ['1000.000001', /^1000\.000001 USDC is more than you can withdraw now: 1000 USDC is available\. Nothing was sent\.$/],
        ['5000', /^5000 USDC is more than you can withdraw now: 1000 USDC is available/],
      ];
      const addresses: [unknown, RegExp][] = [
        ['hello', /^"hello" is not an address: a Base address is 0x followed by 40 hexadecimal characters\.$/],
        ['🏦', /^"🏦" is not an address/],
        ['x'.repeat(5000), /^"xxxxxxxxxxxxxxxxxxxxxxx…" is not an address/],
        ['0x1234', /^"0x1234" is not an address/],
        [`${to}00`, /is not an address/],
        ['', /^That is not an address/],
        [mistyped(CHECKSUMMED), /^0x[0-9a-fA-F]{40} has mixed upper and lower case that does not match its checksum \(EIP-55\): it is probably mistyped\./],
        [`0x${'0'.repeat(40)}`, /^That is the zero address: USDC sent there is burnt for good\. Nothing was sent\.$/],
        [from, /is your own Vanta wallet: the USDC is already there\. Nothing was sent\.$/],
        [from.toLowerCase(), /is your own Vanta wallet/],
        [f.sim.deployment.usdc, /is the USDC token contract itself: USDC sent there cannot be recovered\. Nothing was sent\.$/],
        [f.sim.deployment.trading, /is the Avantis Trading contract/],
        [f.sim.deployment.tradingStorage, /is the Avantis TradingStorage contract/],
      ];
      for (const [amount, message] of amounts) {
        const text = await refused(e.desk.reviewWithdrawal(504, { amount: amount as string, to }), message);
        assert.ok(text.length < 300, `a short reply (${text.length} characters)`);
        await refused(e.desk.withdraw(504, 'wd-bad-001', to, amount as string), message);
      }
      for (const [address, message] of addresses) {
        const text = await refused(e.desk.reviewWithdrawal(504, { amount: '10', to: address as string }), message);
        assert.ok(text.length < 300, `a short reply (${text.length} characters)`);
        await refused(e.desk.withdraw(504, 'wd-bad-002', address as string, '10'), message);
      }
      for (const id of ['short', 'has space!', 'x'.repeat(33), "x'; drop table", '']) {
        await refused(e.desk.withdraw(504, id, to, '10'), /^This withdrawal reference is not valid/);
      }
      await refused(e.desk.reviewWithdrawal(590, { amount: '10', to }), /^You have no account yet: send \/start/);
      await refused(e.desk.withdraw(590, 'wd-nobody1', to, '10'), /^You have no account yet: send \/start/);

      // Paper mode sends nothing; an unverified deployment sends nothing.
      const paper = createTradingDesk({ ...e.deps, mode: 'paper' });
      await refused(paper.withdraw(504, 'wd-paper-1', to, '10'), /^Paper mode sends no transactions, so it makes no withdrawals; your funds stay in your wallet\.$/);
      await refused(paper.addWithdrawAddress(504, to), /^Paper mode sends no transactions/);
      assert.match((await paper.allowlist(504)).refusal ?? '', /^Paper mode sends no transactions/);
      await refused(createTradingDesk({ ...e.deps, refusal: 'Avantis v2 is deployed there.' }).withdraw(504, 'wd-v2-0001', to, '10'), /^Withdrawals are refused on this engine for now: Avantis v2 is deployed there\.$/);

      // Suspended by an operator.
      e.runtime.send('user:504', { type: 'account.suspend', by: 'admin:1' });
      await refused(e.desk.withdraw(504, 'wd-susp-01', to, '10'), /^Your account is suspended by an operator, so no withdrawal can be made/);
      e.runtime.send('user:504', { type: 'account.reinstate', by: 'admin:1' });
      await e.runtime.flushed();

      // No ETH for gas.
      const eth = await client().getBalance({ address: from });
      await f.sim.clients.testClient.setBalance({ address: from, value: 0n });
      await refused(e.desk.withdraw(504, 'wd-noeth-1', to, '10'), /^Your wallet holds 0 ETH, and a transfer needs a little ETH for gas\. Deposit some ETH on the local sandbox chain first\. Nothing was sent\.$/);
      await f.sim.clients.testClient.setBalance({ address: from, value: eth });

      const after = userContext(504);
      assert.deepEqual([after['withdrawals'], after['recentWithdrawals']], [[], []], 'no withdrawal was created');
      assert.equal((after['notices'] as { kind: string }[]).filter((n) => n.kind.startsWith('withdrawal.')).length, 0, 'and the actor refused nothing (the desk did)');
      assert.deepEqual(await f.pg.db.sql("select id from actor_snapshots where kind = 'withdrawal' and parent = 'user:504'"), []);
      assert.deepEqual(await f.pg.db.sql("select id from tx_intents where user_id = 'user:504'"), [], 'nothing was signed');
      assert.equal(await usdcOf(from), before.usdc);
      assert.deepEqual(await transfersFrom(from), []);
    });

    it('counts what orders and withdrawals being sent will take, and says so with the numbers', async () => {
      await e.desk.onboard(505);
      const from = await walletOf(505);
      const to = someAddress();
      await waitFor(() => topState(e.runtime.get(priceFeedSystemId('ETH/USD'))?.getSnapshot() as { value?: unknown }) === 'live', 'the ETH/USD feed', 10_000);
      await f.sim.clients.testClient.setAutomine(false);
      try {
        await e.desk.withdraw(505, 'wd-held-01', to, '600');
        // Broadcast, not mined: the trader heard it was sent, and the 600 USDC are spoken for.
        await waitFor(() => noticesOf(505, 'wd-held-01').some((n) => n.kind === 'withdrawal.sent'), 'the sent notice', 20_000);
        assert.equal(topState(e.runtime.get('withdrawal:wd-held-01')?.getSnapshot() as { value?: unknown }), 'confirming');
        await refused(
          e.desk.reviewWithdrawal(505, { amount: '500', to }),
          /^500 USDC is more than you can withdraw now: 400 USDC is available \(1000 USDC in the wallet, 600 USDC for withdrawals being sent\)\. Nothing was sent\.$/,
        );
        await refused(e.desk.quote(505, { pair: 'ETH/USD', side: 'long', collateral: '500', leverage: 2 }), /^Collateral 500 USDC is above your available balance of 400 USDC \(1000 USDC in the wallet, 600 USDC held for orders and withdrawals being sent\)/);
        assert.equal((await e.desk.reviewWithdrawal(505, { amount: '400', to: null })).availableUsdc, '400');
        await f.sim.clients.testClient.mine({ blocks: 1 });
      } finally {
        await f.sim.clients.testClient.setAutomine(true);
      }
      await waitFor(() => noticesOf(505, 'wd-held-01').some((n) => n.kind === 'withdrawal.done'), 'the done notice', 30_000);
      assert.equal((await e.desk.reviewWithdrawal(505, { amount: '400', to: null })).availableUsdc, '400', 'once mined, the balance itself says it');
      assert.equal(await usdcOf(to), parseUnits('600', 6));
      assert.equal((await transfersFrom(from)).length, 1);
    });

    it('fails with the network’s reason in plain words when the transfer cannot be sent, and nothing leaves the wallet', async () => {
      await e.desk.onboard(506);
      const from = await walletOf(506);
      // The desk saw ETH for gas; the node then refuses the transfer for want of it.
      await f.sim.clients.testClient.setBalance({ address: from, value: 1n });
      await e.desk.withdraw(506, 'wd-nogas-1', someAddress(), '10');
      await waitFor(() => noticesOf(506, 'wd-nogas-1').some((n) => n.kind === 'withdrawal.failed'), 'the failed notice', 30_000);
      const failed = noticesOf(506, 'wd-nogas-1').at(-1)!;
      assert.match(failed.text, /^Withdrawal wd-nogas-1 \(10 USDC to 0x[0-9a-fA-F]{4}…[0-9a-fA-F]{4}\) failed: .*(gas|funds).*No USDC left your wallet\.$/i);
      assert.equal(await usdcOf(from), parseUnits('1000', 6));
      assert.deepEqual(await transfersFrom(from), []);
      assert.deepEqual(userContext(506)['withdrawals'], []);
    });

    it('tells the trader the outcome even when the engine stopped between the withdrawal’s end and the trader hearing it', async () => {
      // The crash window: the withdrawal's final row is written, its owner's row (with the news) is not.
      await e.desk.onboard(507);
      const to = someAddress();
      await e.desk.withdraw(507, 'wd-lost-01', to, '15');
      await waitFor(() => noticesOf(507, 'wd-lost-01').some((n) => n.kind === 'withdrawal.done'), 'the done notice', 30_000);
      await e.stop();
      const [row] = await f.pg.db.sql<{ snapshot: { context: Record<string, unknown> } }>("select snapshot from actor_snapshots where id = 'user:507'");
      const context = { ...row!.snapshot.context, withdrawals: ['withdrawal:wd-lost-01'], recentWithdrawals: [], notices: [] };
      await f.pg.db.sql("update actor_snapshots set snapshot = jsonb_set(snapshot, '{context}', ?::jsonb) where id = 'user:507'", [JSON.stringify(context)]);
      e.told.length = 0;
      e = await engine({ mode: 'sandbox', db: f.pg.db, wallets: f.wallets, clock: systemClock, told: e.told });
      await waitFor(() => noticesOf(507, 'wd-lost-01').some((n) => n.kind === 'withdrawal.done'), 'the done notice again, after the restart', 10_000);
      const hash = (await transfersFrom(await walletOf(507)))[0]!.hash;
      assert.match(noticesOf(507, 'wd-lost-01').at(-1)!.text, new RegExp(`is done: 15 USDC was sent to ${to}\\. Transaction ${hash}\\.$`));
      await waitFor(() => (userContext(507)['withdrawals'] as string[]).length === 0, 'the trader to forget it');
      assert.deepEqual(userContext(507)['recentWithdrawals'], ['wd-lost-01']);
      assert.equal((await transfersFrom(await walletOf(507))).length, 1, 'told again, never sent again');
    });
  });

  describe('live: the allowlist and its waiting period', () => {
    let pg: TestDatabase;
    let e: Engine;
    const clock = manualClock(Date.UTC(2026, 11, 5, 12, 0));
    const walletOf = async (telegramId: number) => (await e.wallets.find(`user:${telegramId}`))!.address;

    before(async () => {
      // A database of its own: this engine runs live rules next to the sandbox one.
      pg = await createTestPostgres('withdraw_live');
      const wallets = createWallets({ db: pg.db, keystore: f.keystore, logger: silentLogger() });
      e = await engine({ mode: 'live', db: pg.db, wallets, clock });
    });
    after(async () => {
      await e?.stop();
      await pg?.destroy();
    });

    async function funded(telegramId: number): Promise<Address> {
      await e.desk.onboard(telegramId);
      const address = await walletOf(telegramId);
      await f.sim.call(f.sim.deployer, 'SimUSDC', f.sim.deployment.usdc, 'mint', [address, parseUnits('500', 6)]);
      await f.sim.clients.testClient.setBalance({ address, value: parseEther('1') });
      return address;
    }

    it('refuses an unlisted address and a too-new one, tells the trader when it becomes usable, then sends', async () => {
      const from = await funded(601);
      const to = someAddress();
      assert.deepEqual(await e.desk.allowlist(601), { required: true, delayHours: 24, addresses: [], refusal: null, network: 'chain 31337' });
      await refused(e.desk.reviewWithdrawal(601, { amount: '20', to }), new RegExp(`^${to} is not on your withdrawal allowlist\\. Add it first; a new address can be used only after a waiting period\\. Nothing was sent\\.$`));
      await refused(e.desk.withdraw(601, 'wd-live-01', to, '20'), /is not on your withdrawal allowlist/);

      const added = await e.desk.addWithdrawAddress(601, to.toLowerCase());
      assert.deepEqual(added, { address: to, addedAt: '2026-12-05T12:00:00.000Z', usableFrom: '2026-12-06T12:00:00.000Z', usable: false });
      const notice = e.told.filter((n) => n.telegramId === 601 && n.kind === 'account').at(-1);
      await waitFor(() => e.told.some((n) => n.telegramId === 601 && n.kind === 'account'), 'the account notice');
      assert.equal(
        e.told.filter((n) => n.telegramId === 601 && n.kind === 'account').at(-1)!.text,
        `${to} was added to your withdrawal allowlist. It can receive withdrawals from 2026-12-06 12:00 UTC (24 h after it was added). If you did not add it, contact support at once.`,
      );
      void notice;
      const [audit] = await pg.db.sql<{ actor: string; action: string; subject: string }>("select actor, action, subject from audit_log where action = 'withdraw.address.added'");
      assert.deepEqual(audit, { actor: 'user:601', action: 'withdraw.address.added', subject: to });
      await refused(e.desk.addWithdrawAddress(601, to), new RegExp(`^${to} is already on your allowlist; it can be used from 2026-12-06 12:00 UTC\\.$`));

      await refused(e.desk.withdraw(601, 'wd-live-02', to, '20'), new RegExp(`^${to} was added to your allowlist at 2026-12-05 12:00 UTC and can receive withdrawals from 2026-12-06 12:00 UTC \\(in 24 h\\)\\. Nothing was sent\\.$`));
      clock.advance(24 * HOUR - 60_000);
      await refused(e.desk.withdraw(601, 'wd-live-03', to, '20'), /\(in 1 min\)\. Nothing was sent\.$/);
      assert.deepEqual(await pg.db.sql("select id from tx_intents where user_id = 'user:601'"), [], 'nothing was signed while it waited');
      assert.equal((await e.desk.allowlist(601)).addresses[0]!.usable, false);

      clock.advance(60_000);
      assert.equal((await e.desk.allowlist(601)).addresses[0]!.usable, true);
      await e.desk.withdraw(601, 'wd-live-04', to, '20');
      await waitFor(() => e.told.some((n) => n.positionId === 'wd-live-04' && n.kind === 'withdrawal.done'), 'the done notice', 30_000);
      assert.equal(await usdcOf(to), parseUnits('20', 6));
      assert.deepEqual(
        (await transfersFrom(from)).map((t) => [t.to, t.value]),
        [[to, parseUnits('20', 6)]],
      );
    });

    it('refuses to list the zero address, the trader’s own wallet, a protocol contract or garbage, and keeps at most 20', async () => {
      const from = await funded(602);
      await refused(e.desk.addWithdrawAddress(602, `0x${'0'.repeat(40)}`), /^That is the zero address/);
      await refused(e.desk.addWithdrawAddress(602, from), /is your own Vanta wallet/);
      await refused(e.desk.addWithdrawAddress(602, f.sim.deployment.usdc), /is the USDC token contract itself/);
      await refused(e.desk.addWithdrawAddress(602, '🙂'.repeat(2500)), /is not an address/);
      for (let i = 0; i < 20; i++) await e.desk.addWithdrawAddress(602, someAddress());
      await refused(e.desk.addWithdrawAddress(602, someAddress()), /^Your allowlist already holds 20 addresses, the most allowed\.$/);
      assert.equal((await e.desk.allowlist(602)).addresses.length, 20);
    });

    it('refuses at the actor too: a request that skips the desk cannot reach an unlisted address', async () => {
      await funded(603);
      e.runtime.send('user:603', { type: 'withdrawal.requested', withdrawalId: 'wd-sneak-1', to: someAddress(), amount: '10', at: clock.now() });
      const context = (e.runtime.get('user:603')!.getSnapshot() as { context: { withdrawals: string[] } }).context;
      assert.deepEqual(context.withdrawals, []);
      assert.equal(e.runtime.get('withdrawal:wd-sneak-1'), undefined);
    });
  });
});
