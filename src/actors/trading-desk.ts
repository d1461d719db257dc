/**
 * The engine's side of the TradingDesk port (desk.ts): what a trader may ask, checked here with
 * the numbers in every refusal, decided by the actors, and true to the chain.
 *
 * - Reads come from where the truth is kept: settings and positions from the actors' snapshots,
 *   prices and halts from the price-feed actors, balances and fees from the chain, leverage
 *   bounds and fees from PairStorage (cached, see desk-pairs.ts), finished positions from their
 *   final rows (desk-history.ts).
 * - Writes are one event to one actor, and resolve only once that actor's new state is durable.
 * - A quote uses the protocol's own integer arithmetic (math.ts), so its entry, opening fee and
 *   liquidation price are what the contracts compute for a fill at the current oracle price.
 */
import { formatEther, formatUnits, type Address, type PublicClient } from 'viem';
import type { Logger } from 'pino';
import { BadInputError, PersistConflictError, VantaError } from '../errors.ts';
import { DEFAULT_LIQ_THRESHOLD, fillPrice, liquidationPrice, notional, openFee, storedCollateral } from '../infra/chain/avantis/math.ts';
import type { AvantisProtocol } from '../infra/chain/avantis/protocol.ts';
import { readLiqThreshold } from '../infra/chain/avantis/reads.ts';
import type { PairInfo } from '../infra/chain/avantis/types.ts';
import { formatUnit, parseUnit } from '../infra/chain/avantis/units.ts';
import type { Clock } from '../infra/clock.ts';
import type { Database } from '../infra/db/database.ts';
import { createKeyedLock } from '../infra/keyed-lock.ts';
import type { Wallets } from '../infra/keys/wallets.ts';
import { checkOrderRisk, type RiskLimits } from '../machines/risk.ts';
import type {
  HistoryEntry,
  LimitsView,
  MarketView,
  Mode,
  NotificationPrefs,
  Onboarding,
  OrderDraft,
  PositionView,
  Quote,
  SettingsPatch,
  StatusView,
  TraderSettings,
  TradingDesk,
  WalletView,
} from './desk.ts';
import { createTradeHistory } from './desk-history.ts';
import { leverageNumber, parseCollateral, parseLeverage, parseOrderId, parseSettingsPatch, parseSide, resolvePair, shown } from './desk-input.ts';
import { createPairCatalogue, type PairCatalogue } from './desk-pairs.ts';
import { decimalPrice, positionView, topState, type PositionFacts } from './desk-views.ts';
import { priceFeedSystemId } from './kinds/price-feed.actor.ts';
import { userSystemId } from './kinds/user.actor.ts';
import type { RuntimeHandle } from './runtime.ts';
import { createWithdrawalDesk, type WithdrawalUserFacts } from './withdrawals.ts';

export interface TradingControls {
  /** Every pair paused by an operator. */
  readonly paused: boolean;
  readonly pausedPairs: readonly string[];
}

export interface TradingDeskDeps {
  readonly mode: Mode;
  readonly runtime: Pick<RuntimeHandle, 'spawn' | 'send' | 'get' | 'flushed'>;
  /** For the finished positions' and withdrawals' rows (actor_snapshots), and the audit log. */
  readonly db: Pick<Database, 'sql' | 'audit'>;
  readonly wallets: Pick<Wallets, 'find' | 'create'>;
  /** Reads balances and the block; the protocol's reads go through the same node. */
  readonly client: PublicClient;
  readonly chainId: number;
  readonly protocol: AvantisProtocol;
  readonly limits: RiskLimits;
  /**
   * Why orders are refused although the mode trades (a deployment this build is not verified
   * against); null when they are sent. Paper mode refuses orders by itself.
   */
  readonly refusal: string | null;
  /** Sandbox only: test USDC, then test ETH (a wallet without ETH counts as not funded yet). */
  readonly faucet?: (address: Address) => Promise<void>;
  /** Operator pauses (the controls actor: `() => readTradingControls(runtime)`). */
  readonly tradingControls: () => TradingControls;
  readonly clock: Clock;
  readonly logger: Logger;
  /** How long the pair catalogue is served before it is read again in the background (default 5 min). */
  readonly catalogueTtlMs?: number;
  /** Live: how long a new withdrawal address waits before it can be used (WITHDRAW_ADDRESS_DELAY_HOURS; default 24 h). */
  readonly withdrawAddressDelayMs?: number;
}

/** What the user actor's context holds, read defensively (settings grew fields over versions). */
interface UserFacts extends WithdrawalUserFacts {
  readonly maxOpenPositions?: number;
  readonly settings?: {
    readonly slippageBps?: number;
    readonly defaultLeverage?: number;
    readonly confirmOrders?: boolean;
    readonly notify?: Partial<NotificationPrefs>;
  };
  readonly revision?: number;
  readonly positions?: readonly string[];
  readonly recentOrders?: readonly string[];
}

interface FeedFacts {
  readonly price: string | null;
  readonly publishTime: number | null;
  readonly halted: boolean;
  readonly reason: string | null;
}

interface CheckedOrder {
  readonly quote: Quote;
  readonly userId: string;
  readonly openPositions: number;
}

const DEFAULT_SLIPPAGE_BPS = 50;
const DEFAULT_LEVERAGE = 5;
const HISTORY_MAX = 50;
/** Position states whose collateral has not left the wallet yet: it is spoken for. */
const SENDING = new Set(['submitting', 'retryingSubmit']);

export function createTradingDesk(deps: TradingDeskDeps): TradingDesk {
  const { runtime, protocol, client, limits, mode } = deps;
  const locks = createKeyedLock();
  const history = createTradeHistory(deps.db);
  const catalogue: PairCatalogue = createPairCatalogue({
    clock: deps.clock,
    ttlMs: deps.catalogueTtlMs ?? 5 * 60_000,
    logger: deps.logger,
    load: async () => {
      const [pairs, liqThreshold] = await Promise.all([protocol.reads.pairs(), readLiqThreshold(client, { addresses: protocol.addresses })]);
      return { pairs, liqThreshold };
    },
  });

  // ---- reading the actors -------------------------------------------------------------------

  /** The market views made last, by pair, with what they were made from (see markets()). */
  const marketViews = new Map<string, { pair: unknown; feedSnapshot: unknown; controlsKey: string; view: MarketView }>();
  let lastMarkets: readonly MarketView[] = [];

  function snapshotOf<C>(id: string): { state: string | null; context: C } | null {
    const ref = runtime.get(id);
    if (!ref) return null;
    const snapshot = ref.getSnapshot() as { value?: unknown; context?: C };
    return snapshot.context ? { state: topState(snapshot.value), context: snapshot.context } : null;
  }

  function feedOf(pair: string): FeedFacts {
    const feed = snapshotOf<{ price?: string | null; publishTime?: number | null; haltReason?: string | null }>(priceFeedSystemId(pair));
    if (!feed) return { price: null, publishTime: null, halted: true, reason: 'no price feed is running for it' };
    const price = feed.context.price ?? null;
    const publishTime = feed.context.publishTime ?? null;
    switch (feed.state) {
      case 'live':
        return { price, publishTime, halted: false, reason: null };
      case 'waiting':
        return { price, publishTime, halted: true, reason: 'no price has arrived yet' };
      case 'stale':
        return { price, publishTime, halted: true, reason: 'its prices are stale (none arrived in time)' };
      default:
        return { price, publishTime, halted: true, reason: feed.context.haltReason ? `halted (${feed.context.haltReason})` : 'halted' };
    }
  }

  /** Why a pair cannot be traded now, or null. */
  function haltOf(pair: string, feed: FeedFacts): string | null {
    const controls = deps.tradingControls();
    if (controls.paused) return 'trading is paused by an operator';
    if (controls.pausedPairs.includes(pair)) return `trading on ${pair} is paused by an operator`;
    return feed.halted ? (feed.reason ?? 'halted') : null;
  }

  function settingsOf(user: UserFacts): TraderSettings {
    const s = user.settings ?? {};
    return {
      slippageBps: s.slippageBps ?? DEFAULT_SLIPPAGE_BPS,
      defaultLeverage: s.defaultLeverage ?? DEFAULT_LEVERAGE,
      confirmOrders: s.confirmOrders ?? true,
      notify: { fills: s.notify?.fills ?? true, delays: s.notify?.delays ?? true, closes: s.notify?.closes ?? true },
    };
  }

  function checkTelegramId(telegramId: number): string {
    if (!Number.isSafeInteger(telegramId) || telegramId <= 0) throw new BadInputError(`Not a Telegram user id: ${shown(telegramId)}.`);
    return userSystemId(telegramId);
  }

  /** The trader's actor, running; refuses before /start and while it restarts. */
  async function trader(telegramId: number): Promise<{ userId: string; state: string | null; context: UserFacts }> {
    const userId = checkTelegramId(telegramId);
    const user = snapshotOf<UserFacts>(userId);
    if (user) return { userId, ...user };
    if (await deps.wallets.find(userId)) {
      throw new VantaError('ACTOR_NOT_FOUND', 'Your account is being restored by the engine; try again in a few seconds.', { retryable: true, details: { actorId: userId } });
    }
    throw new BadInputError('You have no account yet: send /start to open one.');
  }

  async function walletAddress(userId: string): Promise<Address> {
    const wallet = await deps.wallets.find(userId);
    if (!wallet) throw new BadInputError('Your wallet is not set up yet: send /start to finish opening your account.');
    return wallet.address;
  }

  async function walletView(address: Address): Promise<WalletView> {
    const [eth, usdc] = await Promise.all([client.getBalance({ address }), protocol.reads.usdcBalance(address)]);
    return { address, eth: formatEther(eth), usdc: formatUnit('usdc', usdc) };
  }

  function limitsView(user: UserFacts): LimitsView {
    return {
      maxLeverage: limits.maxLeverage,
      maxCollateralUsdc: limits.maxCollateralUsdc,
      maxNotionalUsdc: limits.maxNotionalUsdc,
      maxOpenPositions: Math.min(limits.maxOpenPositions, user.maxOpenPositions ?? limits.maxOpenPositions),
    };
  }

  /** Collateral of the trader's orders still being sent: in the wallet, but already promised. */
  function ordersBeingSent(user: UserFacts): bigint {
    let reserved = 0n;
    for (const id of user.positions ?? []) {
      const position = snapshotOf<PositionFacts>(id);
      if (position && position.state !== null && SENDING.has(position.state)) reserved += parseUnit('usdc', position.context.collateral);
    }
    return reserved;
  }

  /** USDC in the wallet that is already promised: orders and withdrawals being sent. */
  function reservedCollateral(user: UserFacts): bigint {
    let reserved = ordersBeingSent(user);
    for (const id of user.withdrawals ?? []) {
      const withdrawal = snapshotOf<{ amount?: string }>(id);
      if (withdrawal && withdrawal.state !== 'done' && withdrawal.state !== 'failed' && typeof withdrawal.context.amount === 'string') reserved += parseUnit('usdc', withdrawal.context.amount);
    }
    return reserved;
  }

  // ---- the checks every order passes --------------------------------------------------------

  async function checkOrder(telegramId: number, draft: OrderDraft): Promise<CheckedOrder> {
    if (!draft || typeof draft !== 'object') throw new BadInputError('The order is incomplete: choose a pair, a side, the collateral and the leverage.');
    const pair = resolvePair(draft.pair, await catalogue.pairs());
    const side = parseSide(draft.side);
    const collateral = parseCollateral(draft.collateral);
    const leverage = parseLeverage(draft.leverage);
    const long = side === 'long';
    const lev = leverageNumber(leverage);
    const collateralText = formatUnit('usdc', collateral);

    const { userId, state, context: user } = await trader(telegramId);
    if (state === 'paused') throw new BadInputError('Trading is paused for your account, so no order can be placed.');
    if (state === 'suspended') throw new BadInputError('Your account is suspended by an operator, so no order can be placed. Contact support to have it reinstated.');

    const feed = feedOf(pair.name);
    const halt = haltOf(pair.name, feed);
    if (halt) throw new BadInputError(`No order can be placed on ${pair.name} now: ${halt}. Nothing was sent.`);
    const oracle = decimalPrice(feed.price);
    if (oracle === null || oracle === 0n) throw new BadInputError(`No order can be placed on ${pair.name} now: it has no price yet. Nothing was sent.`);

    const pairMin = leverageNumber(pair.minLeverage);
    const pairMax = leverageNumber(pair.maxLeverage);
    if (leverage < pair.minLeverage) throw new BadInputError(`Leverage ${lev}x is below ${pair.name}'s minimum of ${pairMin}x (it allows ${pairMin}x–${pairMax}x).`);
    if (leverage > pair.maxLeverage) throw new BadInputError(`Leverage ${lev}x is above ${pair.name}'s maximum of ${pairMax}x (it allows ${pairMin}x–${pairMax}x).`);

    const openPositions = (user.positions ?? []).length;
    const view = limitsView(user);
    if (openPositions >= view.maxOpenPositions) {
      throw new BadInputError(`You already hold ${openPositions} positions; the limit is ${view.maxOpenPositions}. Close one to open another.`);
    }
    const risk = checkOrderRisk({ collateral: collateralText, leverage: lev }, openPositions, limits);
    if (risk) throw new BadInputError(`Order refused, nothing was sent: ${risk.message}`, { limit: risk.limit });

    const size = notional(collateral, leverage);
    if (size < pair.minPositionUsdc) {
      throw new BadInputError(
        `Position size ${formatUnit('usdc', size)} USDC (${collateralText} USDC × ${lev}x) is below ${pair.name}'s minimum of ${formatUnit('usdc', pair.minPositionUsdc)} USDC; raise the collateral or the leverage.`,
      );
    }

    const address = await walletAddress(userId);
    const [usdcBalance, ethBalance, executionFee, openFeeP, liqThreshold] = await Promise.all([
      protocol.reads.usdcBalance(address),
      client.getBalance({ address }),
      protocol.reads.executionFee(),
      protocol.reads.openFeeP(pair.index, size, long),
      catalogue.liqThreshold(),
    ]);
    const reserved = reservedCollateral(user);
    const available = usdcBalance > reserved ? usdcBalance - reserved : 0n;
    if (collateral > available) {
      const held = reserved > 0n ? ` (${formatUnit('usdc', usdcBalance)} USDC in the wallet, ${formatUnit('usdc', reserved)} USDC held for orders and withdrawals being sent)` : '';
      throw new BadInputError(`Collateral ${collateralText} USDC is above your available balance of ${formatUnit('usdc', available)} USDC${held}.${fundingHint('USDC')}`);
    }
    if (ethBalance < executionFee) {
      throw new BadInputError(
        `Your wallet holds ${formatEther(ethBalance)} ETH, less than the ${formatEther(executionFee)} ETH execution fee the keeper is paid with an order (gas comes on top).${fundingHint('ETH')}`,
      );
    }

    const entry = fillPrice({ oraclePrice: oracle, spreadP: pair.spreadP, long });
    const fees = { collateral, leverage, openFeeP };
    const liquidation = liquidationPrice({ openPrice: entry, long, collateral: storedCollateral(fees), leverage, liqThreshold });
    const settings = settingsOf(user);
    return {
      userId,
      openPositions,
      quote: {
        pair: pair.name,
        pairIndex: Number(pair.index),
        side,
        collateral: collateralText,
        leverage: lev,
        notional: formatUnit('usdc', size),
        entryPrice: formatUnit('price', entry),
        openingFee: formatUnit('usdc', openFee(fees)),
        executionFeeEth: formatEther(executionFee),
        liquidationPrice: formatUnit('price', liquidation),
        slippagePercent: formatUnits(BigInt(settings.slippageBps), 2),
        limits: view,
        balanceUsdc: formatUnit('usdc', available),
      },
    };
  }

  function fundingHint(what: string): string {
    return mode === 'sandbox' ? ` Get test ${what} with the faucet in /wallet.` : ` Deposit ${what} on Base to your wallet (/wallet shows the address).`;
  }

  function orderRefusal(): string | null {
    if (mode === 'paper') return 'Paper mode reads real prices but sends no orders. Nothing was sent.';
    return deps.refusal === null ? null : `Orders are refused on this engine for now: ${deps.refusal}`;
  }

  /** After a refused order.requested: the reason the user actor had, as far as the desk can tell. */
  function machineRefusal(user: UserFacts | undefined, state: string | null, orderId: string): string {
    if (state === 'paused' || state === 'suspended') return `Trading is ${state} for your account, so the order was not placed.`;
    if ((user?.recentOrders ?? []).includes(orderId)) return 'Your order could not be accepted right now. Nothing was sent; please try again.';
    return 'Your order was refused by your account before anything was sent; please try again.';
  }

  function ensureUserActor(userId: string, telegramId: number): void {
    if (runtime.get(userId)) return;
    try {
      runtime.spawn(userId, { input: { telegramId, maxOpenPositions: limits.maxOpenPositions } });
    } catch (err) {
      if (err instanceof VantaError && err.code === 'ACTOR_EXISTS') return; // restarting: it exists
      if (err instanceof VantaError && err.code === 'ACTOR_QUARANTINED') {
        throw new VantaError('ACTOR_QUARANTINED', 'Your account is held for an operator to check and cannot change until it is released; the operators have been alerted. Try again later.', {
          cause: err,
          details: { actorId: userId },
        });
      }
      throw err;
    }
  }

  async function ensureWallet(userId: string): Promise<{ address: Address; created: boolean }> {
    const existing = await deps.wallets.find(userId);
    if (existing) return { address: existing.address, created: false };
    try {
      return { address: (await deps.wallets.create(userId)).address, created: true };
    } catch (err) {
      // Created meanwhile by another process (a second engine starting, a script).
      if (err instanceof VantaError && err.code === 'WALLET_EXISTS') return { address: await walletAddress(userId), created: false };
      throw err;
    }
  }

  const withdrawals = createWithdrawalDesk({
    mode,
    runtime,
    db: deps.db,
    client,
    chainId: deps.chainId,
    protocol,
    clock: deps.clock,
    refusal: deps.refusal,
    addressDelayMs: deps.withdrawAddressDelayMs ?? 24 * 3_600_000,
    locks,
    trader,
    walletAddress,
    ordersBeingSent: (userId) => {
      const user = snapshotOf<UserFacts>(userId);
      return user ? ordersBeingSent(user.context) : 0n;
    },
    checkTelegramId,
  });

  // ---- the port ---------------------------------------------------------------------------

  const desk: TradingDesk = {
    mode,

    async onboard(telegramId) {
      const userId = checkTelegramId(telegramId);
      return locks.run(userId, async (): Promise<Onboarding> => {
        ensureUserActor(userId, telegramId);
        await runtime.flushed([userId]);
        const wallet = await ensureWallet(userId);
        // Funded once: ETH comes last from the faucet, so a wallet with ETH was funded, and one
        // without (a crash or a failure in between) is funded at the next /start.
        if (mode === 'sandbox' && deps.faucet && (await client.getBalance({ address: wallet.address })) === 0n) {
          try {
            await deps.faucet(wallet.address);
          } catch (cause) {
            throw new VantaError('RPC_UNAVAILABLE', 'Your wallet was created, but the sandbox faucet could not fund it yet; send /start again in a moment.', { cause, retryable: true });
          }
        }
        return { address: wallet.address, created: wallet.created, mode };
      });
    },

    async wallet(telegramId) {
      const wallet = await deps.wallets.find(checkTelegramId(telegramId));
      return wallet ? walletView(wallet.address) : null;
    },

    async faucet(telegramId) {
      const userId = checkTelegramId(telegramId);
      if (mode !== 'sandbox' || !deps.faucet) {
        throw new BadInputError(`There is no faucet in ${mode} mode: deposit USDC, and a little ETH for gas, on Base to your wallet address (/wallet shows it).`);
      }
      const faucet = deps.faucet;
      const address = await walletAddress(userId);
      await locks.run(userId, () => faucet(address));
      return walletView(address);
    },

    async markets() {
      const pairs = await catalogue.pairs();
      const controls = deps.tradingControls();
      const controlsKey = `${controls.paused}|${controls.pausedPairs.join(',')}`;
      let unchanged = pairs.length === lastMarkets.length;
      const views = pairs.map((p, index): MarketView => {
        // A view is made again only when its inputs changed: the pair, its feed's snapshot (a new
        // object on every transition), or the operator's controls. /markets is a quarter of a busy
        // bot's commands, and making 19 views each time was most of what it allocated.
        const feedSnapshot: unknown = runtime.get(priceFeedSystemId(p.name))?.getSnapshot();
        const known = marketViews.get(p.name);
        if (known && known.pair === p && known.feedSnapshot === feedSnapshot && known.controlsKey === controlsKey) {
          if (lastMarkets[index] !== known.view) unchanged = false;
          return known.view;
        }
        unchanged = false;
        const feed = feedOf(p.name);
        const halt = haltOf(p.name, feed);
        const view: MarketView = {
          pair: p.name,
          pairIndex: Number(p.index),
          price: feed.price,
          halted: halt !== null,
          haltReason: halt,
          minLeverage: leverageNumber(p.minLeverage),
          maxLeverage: leverageNumber(p.maxLeverage),
          usableMaxLeverage: Math.min(leverageNumber(p.maxLeverage), limits.maxLeverage),
          openFeePercent: formatUnit('percent', p.openFeeP),
        };
        marketViews.set(p.name, { pair: p, feedSnapshot, controlsKey, view });
        return view;
      });
      // The same list as last time (same views in the same order) is the same array: a renderer may memoize on it.
      if (unchanged) return lastMarkets;
      lastMarkets = views;
      return views;
    },

    async quote(telegramId, draft) {
      return (await checkOrder(telegramId, draft)).quote;
    },

    async placeOrder(telegramId, orderId, draft) {
      const positionId = parseOrderId(orderId);
      const positionActor = `position:${positionId}`;
      const userId = checkTelegramId(telegramId);
      return locks.run(userId, async () => {
        // The same confirm again (a double click, a replayed button): the order it placed.
        const before = snapshotOf<UserFacts>(userId);
        if (before && ((before.context.positions ?? []).includes(positionActor) || (before.context.recentOrders ?? []).includes(positionId))) return { positionId };
        const owner = await history.ownerOf(positionId);
        if (owner === userId) return { positionId };
        if (owner !== null) throw new BadInputError('This order reference was already used; nothing was sent. Start the order again.');
        const refusal = orderRefusal();
        if (refusal) throw new BadInputError(refusal);

        const { quote } = await checkOrder(telegramId, draft);
        const { pair, pairIndex, side, collateral, leverage } = quote;
        if (!runtime.send(userId, { type: 'order.requested', positionId, pair, pairIndex, side, collateral, leverage })) {
          throw new VantaError('ACTOR_NOT_FOUND', 'Your account is being restored by the engine; nothing was sent. Try again in a few seconds.', { retryable: true });
        }
        const after = snapshotOf<UserFacts>(userId);
        if (!(after?.context.positions ?? []).includes(positionActor)) throw new BadInputError(machineRefusal(after?.context, after?.state ?? null, positionId));
        try {
          await runtime.flushed([userId, positionActor]);
        } catch (err) {
          // The id's row was already there (another order used it): the runtime stopped that copy, nothing is sent.
          if (err instanceof PersistConflictError && err.details['actorId'] === positionActor) {
            throw new BadInputError('This order reference was already used; nothing was sent. Start the order again.');
          }
          throw err;
        }
        return { positionId };
      });
    },

    async closePosition(telegramId, positionId) {
      const id = parseOrderId(positionId);
      const actorId = `position:${id}`;
      const { userId, context: user } = await trader(telegramId);
      // Someone else's position and no position at all read the same: nothing about others leaks.
      if (!(user.positions ?? []).includes(actorId)) throw new BadInputError(`You have no open position ${id}; /positions lists yours.`);
      await locks.run(`${userId}:close`, async () => {
        const position = snapshotOf<PositionFacts>(actorId);
        if (!position) throw new VantaError('ACTOR_NOT_FOUND', `Position ${id} is being restored by the engine; try closing it again in a few seconds.`, { retryable: true });
        switch (position.state) {
          case 'open':
            break;
          case 'submitting':
          case 'retryingSubmit':
          case 'awaitingFill':
            throw new BadInputError(`Position ${id} is not open yet (it waits for the keeper's fill); it can be closed once it is open.`);
          case 'closing':
          case 'retryingClose':
          case 'awaitingClose':
            throw new BadInputError(`Position ${id} is already being closed; you will be told when it is.`);
          default:
            throw new BadInputError(`Position ${id} is already finished.`);
        }
        runtime.send(actorId, { type: 'close.requested' });
        await runtime.flushed([actorId]);
      });
    },

    async positions(telegramId) {
      const userId = checkTelegramId(telegramId);
      const user = snapshotOf<UserFacts>(userId);
      if (!user) return [];
      // Without the catalogue (the chain unreachable at first use) positions still show, without PnL.
      const [pairs, liqThreshold] = await Promise.all([catalogue.pairs(), catalogue.liqThreshold()]).catch(() => [[] as readonly PairInfo[], DEFAULT_LIQ_THRESHOLD] as const);
      const byIndex = new Map(pairs.map((p) => [Number(p.index), p]));
      const views: PositionView[] = [];
      for (const id of user.context.positions ?? []) {
        const live = snapshotOf<PositionFacts>(id);
        const facts = live ?? (await storedPosition(id));
        if (!facts) continue;
        const pair: PairInfo | undefined = byIndex.get(facts.context.pairIndex);
        views.push(positionView(facts.context, live ? live.state : null, { markPrice: feedOf(facts.context.pair).price, maxGainP: pair?.maxGainP ?? null, liqThreshold }));
      }
      return views;
    },

    async history(telegramId, limit): Promise<readonly HistoryEntry[]> {
      const userId = checkTelegramId(telegramId);
      const n = Number.isFinite(limit) ? Math.min(HISTORY_MAX, Math.max(1, Math.trunc(limit))) : 10;
      return history.finished(userId, n);
    },

    async settings(telegramId) {
      return settingsOf((await trader(telegramId)).context);
    },

    async updateSettings(telegramId, patch: SettingsPatch) {
      const { userId, context: user } = await trader(telegramId);
      const change = parseSettingsPatch(patch, limits.maxLeverage);
      const current = settingsOf(user);
      const revision = user.revision ?? 0;
      // The whole notify set, so the machine never has to merge a partial one.
      const event = { type: 'settings.update', ...change, ...(change.notify ? { notify: { ...current.notify, ...change.notify } } : {}) };
      runtime.send(userId, event);
      const after = snapshotOf<UserFacts>(userId);
      if (!after || (after.context.revision ?? 0) === revision) throw new BadInputError('Your settings were not changed: the engine did not accept them. Nothing was saved.');
      await runtime.flushed([userId]);
      return settingsOf(after.context);
    },

    reviewWithdrawal: (telegramId, draft) => withdrawals.reviewWithdrawal(telegramId, draft),
    withdraw: (telegramId, requestId, to, amount) => withdrawals.withdraw(telegramId, requestId, to, amount),
    allowlist: (telegramId) => withdrawals.allowlist(telegramId),
    addWithdrawAddress: (telegramId, address) => withdrawals.addWithdrawAddress(telegramId, address),

    async status(): Promise<StatusView> {
      const controls = deps.tradingControls();
      const [block, pairs] = await Promise.all([
        client.getBlockNumber().then(
          (b) => b.toString(),
          () => null,
        ),
        catalogue.pairs().catch(() => [] as readonly PairInfo[]),
      ]);
      const now = deps.clock.now();
      return {
        mode,
        chainId: deps.chainId,
        block,
        tradingPaused: controls.paused,
        pausedPairs: [...controls.pausedPairs],
        refusal: mode === 'paper' ? null : deps.refusal,
        feeds: pairs.map((p) => {
          const feed = feedOf(p.name);
          return { pair: p.name, price: feed.price, ageSeconds: feed.publishTime === null ? null : Math.max(0, Math.floor((now - feed.publishTime) / 1000)), halted: feed.halted };
        }),
      };
    },
  };

  /** A position whose actor is not running (restarting): its last persisted facts. */
  async function storedPosition(id: string): Promise<{ context: PositionFacts } | null> {
    const [row] = await deps.db.sql<{ snapshot: { context?: PositionFacts } }>("select snapshot from actor_snapshots where id = ? and status <> 'done'", [id]);
    return row?.snapshot.context ? { context: row.snapshot.context } : null;
  }

  return desk;
}
