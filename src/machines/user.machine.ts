import { assign, enqueueActions, not, setup } from 'xstate';
import {
  NOTICE_TEXT_MAX,
  allowlistProblem,
  appendNotice,
  describeAllowlistAdd,
  describeOutcome,
  describeWithdrawal,
  isMuted,
  noticeKindOf,
  withdrawalNoticeKind,
  type AllowedAddress,
  type NoticeDraft,
  type NoticeKind,
  type NotificationPrefs,
  type PositionNews,
  type UserNotice,
  type WithdrawalNews,
} from './notices.ts';

export type { AllowedAddress, NoticeDraft, NoticeKind, NotificationPrefs, PositionNews, UserNotice, WithdrawalNews } from './notices.ts';

/**
 * One actor per Telegram user (`user:<telegramId>`). It owns the trader's settings, the list of
 * the trader's positions (each its own actor), the trader's account state, and the notices the
 * trader has not received yet.
 *
 * What other parts read and send (keep these stable; the TradingDesk and the bot rely on them):
 *
 * - State value: `'active' | 'paused' | 'suspended'`.
 *   - `paused`: the trader paused their own trading (`trading.pause`, `/resume` undoes it).
 *   - `suspended`: an operator suspended the account (`account.suspend { by }`); only
 *     `account.reinstate { by }` ends it, back to `active` (or `paused` if the trader had paused).
 *   New orders are refused in both, with a notice and without any order effect. Open positions
 *   are not touched: they are still followed, and closing one is asked of the position actor
 *   itself (`close.requested` to `position:<id>`), which neither state blocks: a suspended or
 *   paused trader can always get out.
 * - Context: `settings` ({@link UserSettings}), `revision` (bumped on every settings change),
 *   `positions` (systemIds of the live position actors), `recentOrders`, `notices` (undelivered,
 *   oldest first), `noticeSeq`, `suspension`, `withdrawals` (systemIds of the live withdrawal
 *   actors), `recentWithdrawals`, `allowlist` ({@link AllowedAddress}).
 * - Events in: `settings.update` (any subset of the settings; `notify` as a partial object; all
 *   or nothing: a bad value refuses the whole update with a notice), `order.requested`
 *   ({@link OrderRequest}), `trading.pause` / `trading.resume`, `account.suspend` /
 *   `account.reinstate` ({ by, at? }), `notice.add` ({ kind: 'broadcast' | 'account', text }),
 *   `notice.delivered` ({ id }), and from positions `position.updated` / `position.finished`;
 *   `withdrawal.requested` ({@link WithdrawalRequest}), `allowlist.add` ({ address, at,
 *   usableFrom }), and from withdrawals `withdrawal.updated` / `withdrawal.finished`.
 * - Withdrawals: refused while suspended (an operator's suspension is the brake on a hijacked
 *   account), allowed while the trader paused their own trading. Where the engine requires it
 *   (live), the destination must be on the allowlist and past its waiting period at the request's
 *   time (`breaksAllowlist`, provided by the actors layer, which knows the mode).
 *
 * Every refusal and every piece of position news becomes a notice in the same transition, so
 * it is in the same durable snapshot as the change that caused it; the actors layer delivers it
 * once that snapshot is written and removes it with `notice.delivered` (at least once).
 */
export const userMachineVersion = 4;

/** How many finished order ids a user remembers, so a replayed button cannot place them again. */
export const RECENT_ORDERS_KEPT = 200;
/** Finished withdrawal ids remembered, so a replayed confirm cannot send one again. */
export const RECENT_WITHDRAWALS_KEPT = 200;
/** Addresses a trader may keep on the withdrawal allowlist. */
export const ALLOWLIST_MAX = 20;

export interface UserSettings {
  readonly slippageBps: number;
  readonly defaultLeverage: number;
  /** Ask for a confirmation before a text order is sent (the guided flow always reviews). */
  readonly confirmOrders: boolean;
  /** Which good news and waits the trader wants to hear about (refusals always arrive). */
  readonly notify: NotificationPrefs;
}

export interface UserInput {
  readonly telegramId: number;
  readonly maxOpenPositions: number;
}

export interface Suspension {
  /** The operator, e.g. `admin:12345`. */
  readonly by: string;
  /** ISO time, as the operator's command gave it. */
  readonly at: string | null;
  /** The trader had paused their own trading; reinstating returns there. */
  readonly wasPaused: boolean;
}

export interface UserContext extends UserInput {
  readonly settings: UserSettings;
  /** Bumped on every settings change; lets a client detect it saw the latest. */
  readonly revision: number;
  /** systemIds of the user's live position actors. */
  readonly positions: readonly string[];
  /** Ids of the user's most recent finished orders (newest last): a repeat of one is refused. */
  readonly recentOrders: readonly string[];
  /** Notices not delivered yet, oldest first (at most NOTICES_KEPT). */
  readonly notices: readonly UserNotice[];
  /** The last notice number handed out (ids are `n<seq>`). */
  readonly noticeSeq: number;
  /** Set while an operator has suspended the account. */
  readonly suspension: Suspension | null;
  /** systemIds of the user's live withdrawal actors. */
  readonly withdrawals: readonly string[];
  /** Ids of the user's most recent finished withdrawals (newest last): a repeat of one is refused. */
  readonly recentWithdrawals: readonly string[];
  /** Where withdrawals may go in live mode, each from its `usableFrom`. */
  readonly allowlist: readonly AllowedAddress[];
}

export interface WithdrawalRequest {
  readonly withdrawalId: string;
  /** Checksummed destination. */
  readonly to: string;
  /** USDC, decimal string. */
  readonly amount: string;
  /** Epoch ms of the request (the allowlist's waiting period is judged at this time). */
  readonly at: number;
}

export interface OrderRequest {
  readonly positionId: string;
  readonly pair: string;
  /** Avantis pair index (AVANTIS.md §7). */
  readonly pairIndex: number;
  readonly side: 'long' | 'short';
  /** USDC, decimal string. */
  readonly collateral: string;
  readonly leverage: number;
}

export interface SettingsPatch {
  readonly slippageBps?: number;
  readonly defaultLeverage?: number;
  readonly confirmOrders?: boolean;
  readonly notify?: Partial<NotificationPrefs>;
}

export type UserEvent =
  | ({ type: 'settings.update' } & SettingsPatch)
  | ({ type: 'order.requested' } & OrderRequest)
  | ({ type: 'position.finished' } & PositionNews)
  | ({ type: 'position.updated' } & PositionNews)
  | { type: 'trading.pause' }
  | { type: 'trading.resume' }
  | { type: 'account.suspend'; by: string; at?: string | null }
  | { type: 'account.reinstate'; by: string; at?: string | null }
  | { type: 'notice.add'; kind: 'broadcast' | 'account'; text: string }
  | { type: 'notice.delivered'; id: string }
  | ({ type: 'withdrawal.requested' } & WithdrawalRequest)
  | ({ type: 'withdrawal.updated' } & WithdrawalNews)
  | ({ type: 'withdrawal.finished' } & WithdrawalNews)
  | { type: 'allowlist.add'; address: string; at: number; usableFrom: number };

export const DEFAULT_SETTINGS: UserSettings = { slippageBps: 50, defaultLeverage: 5, confirmOrders: true, notify: { fills: true, delays: true, closes: true } };
export const MAX_SLIPPAGE_BPS = 1_000;
export const MAX_DEFAULT_LEVERAGE = 500;

export const SUSPENDED_REFUSAL = 'Your account is suspended by an operator; contact support.';
const PAUSED_REFUSAL = 'Trading is paused for your account. Send /resume to trade again.';

type SettingsUpdate = Extract<UserEvent, { type: 'settings.update' }>;

const NOTIFY_KEYS = ['fills', 'delays', 'closes'] as const;

/**
 * Why a settings change cannot be applied (for the trader), or null when every provided value is
 * valid. Nothing is applied unless everything is.
 */
export function settingsProblem(patch: SettingsPatch): string | null {
  const { slippageBps, defaultLeverage, confirmOrders, notify } = patch;
  if (slippageBps === undefined && defaultLeverage === undefined && confirmOrders === undefined && notify === undefined) {
    return 'Settings not changed: nothing to change was given.';
  }
  if (slippageBps !== undefined && !(Number.isInteger(slippageBps) && slippageBps >= 1 && slippageBps <= MAX_SLIPPAGE_BPS)) {
    return `Settings not changed: slippage must be a whole number of basis points from 1 to ${MAX_SLIPPAGE_BPS} (0.01 % to 10 %).`;
  }
  if (defaultLeverage !== undefined && !(typeof defaultLeverage === 'number' && Number.isFinite(defaultLeverage) && defaultLeverage >= 1 && defaultLeverage <= MAX_DEFAULT_LEVERAGE)) {
    return `Settings not changed: the default leverage must be from 1x to ${MAX_DEFAULT_LEVERAGE}x.`;
  }
  if (confirmOrders !== undefined && typeof confirmOrders !== 'boolean') {
    return 'Settings not changed: order confirmations are either on or off.';
  }
  if (notify !== undefined) {
    if (typeof notify !== 'object' || notify === null || Array.isArray(notify)) return 'Settings not changed: notifications must name fills, delays or closes.';
    const keys = Object.keys(notify);
    if (keys.length === 0 || keys.some((k) => !(NOTIFY_KEYS as readonly string[]).includes(k))) {
      return 'Settings not changed: notifications can be set for fills, delays and closes only.';
    }
    if (keys.some((k) => typeof (notify as Record<string, unknown>)[k] !== 'boolean')) return 'Settings not changed: each notification is either on or off.';
  }
  return null;
}

/** A settings change is applied only when every provided value is in range. */
export function validSettings(event: SettingsPatch): boolean {
  return settingsProblem(event) === null;
}

function applyPatch(settings: UserSettings, patch: SettingsPatch): UserSettings {
  return {
    slippageBps: patch.slippageBps ?? settings.slippageBps,
    defaultLeverage: patch.defaultLeverage ?? settings.defaultLeverage,
    confirmOrders: patch.confirmOrders ?? settings.confirmOrders,
    notify: {
      fills: patch.notify?.fills ?? settings.notify.fills,
      delays: patch.notify?.delays ?? settings.notify.delays,
      closes: patch.notify?.closes ?? settings.notify.closes,
    },
  };
}

/**
 * A reference to another action of this machine from inside enqueueActions: setup() cannot type
 * its siblings' names there, and a reference by name (not the function) is what lets the actors
 * layer provide the effects.
 */
const named = (type: 'tell' | 'deliverNotices' | 'noticesDropped', params: unknown) => ({ type, params }) as never;

const refusal = (kind: NoticeKind, text: string, positionId: string | null = null): NoticeDraft => ({ kind, positionId, text });

export const userMachine = setup({
  types: {
    context: {} as UserContext,
    events: {} as UserEvent,
    input: {} as UserInput,
  },
  guards: {
    validSettings: ({ event }) => event.type === 'settings.update' && validSettings(event),
    hasRoom: ({ context }) => context.positions.length < context.maxOpenPositions,
    /** The same order id again (a double click, a replayed button, a duplicate update): never a second order. */
    isDuplicate: ({ context, event }) => {
      if (event.type !== 'order.requested') return false;
      const id = `position:${event.positionId}`;
      return context.positions.includes(id) || context.recentOrders.includes(event.positionId);
    },
    /** Provided by the actors layer with the configured limits (src/machines/risk.ts does the check): true refuses. */
    breaksRiskLimits: (_, _params: { collateral: string; leverage: number; openPositions: number }): boolean => {
      throw new Error("The 'breaksRiskLimits' guard was not provided: create users through src/actors, which know the configured risk limits.");
    },
    wasPaused: ({ context }) => context.suspension?.wasPaused === true,
    /** An ack for a notice no longer held (a redelivery's second ack) takes no transition, so nothing is written. */
    holdsNotice: ({ context, event }) => event.type === 'notice.delivered' && context.notices.some((n) => n.id === event.id),
    validNotice: ({ event }) =>
      event.type === 'notice.add' &&
      (event.kind === 'broadcast' || event.kind === 'account') &&
      typeof event.text === 'string' &&
      event.text.trim() !== '' &&
      event.text.length <= NOTICE_TEXT_MAX,
    validOperator: ({ event }) => (event.type === 'account.suspend' || event.type === 'account.reinstate') && typeof event.by === 'string' && event.by.trim() !== '',
    /** The same withdrawal id again (a double click, a replayed confirm): never a second transfer. */
    isDuplicateWithdrawal: ({ context, event }) =>
      event.type === 'withdrawal.requested' && (context.withdrawals.includes(`withdrawal:${event.withdrawalId}`) || context.recentWithdrawals.includes(event.withdrawalId)),
    validWithdrawal: ({ event }) => event.type === 'withdrawal.requested' && withdrawalRequestProblem(event) === null,
    /** Provided by the actors layer (it knows whether this engine requires the allowlist): true refuses. */
    breaksAllowlist: (_, _params: { to: string; at: number }): boolean => {
      throw new Error("The 'breaksAllowlist' guard was not provided: create users through src/actors, which know the mode.");
    },
    validAllowlistAdd: ({ context, event }) => event.type === 'allowlist.add' && allowlistAddProblem(context.allowlist, event) === null,
  },
  actions: {
    applySettings: assign(({ context, event }) => ({ settings: applyPatch(context.settings, event as SettingsUpdate), revision: context.revision + 1 })),
    trackPosition: assign({
      positions: ({ context, event }) => [...context.positions, `position:${(event as OrderRequest).positionId}`],
    }),
    forgetPosition: assign(({ context, event }) => {
      const { positionId } = event as { positionId: string };
      if (!context.positions.includes(`position:${positionId}`)) return {};
      return {
        positions: context.positions.filter((p) => p !== `position:${positionId}`),
        recentOrders: [...context.recentOrders.filter((id) => id !== positionId), positionId].slice(-RECENT_ORDERS_KEPT),
      };
    }),
    /**
     * Queues a notice for the trader in this very transition (so it is durable with the change
     * that caused it), then asks the actors layer to deliver once that is written.
     */
    tell: enqueueActions(({ context, enqueue }, draft: NoticeDraft) => {
      const { notices, noticeSeq, dropped } = appendNotice(context, draft);
      enqueue.assign({ notices, noticeSeq });
      if (dropped.length) enqueue(named('noticesDropped', { telegramId: context.telegramId, ids: dropped.map((n) => n.id) }));
      enqueue(named('deliverNotices', { telegramId: context.telegramId }));
    }),
    /** Position news becomes a notice unless the trader muted that kind (refusals never are). */
    inform: enqueueActions(({ context, enqueue }, news: PositionNews) => {
      const kind = noticeKindOf(news);
      if (isMuted(kind, news, context.settings.notify)) return;
      enqueue(named('tell', { kind, positionId: news.positionId, text: describeOutcome(news) } satisfies NoticeDraft));
    }),
    forgetNotice: assign(({ context, event }) => ({ notices: context.notices.filter((n) => n.id !== (event as { id: string }).id) })),
    suspend: assign(({ event }, params: { wasPaused: boolean }) => {
      const e = event as { by: string; at?: string | null };
      return { suspension: { by: e.by, at: typeof e.at === 'string' ? e.at : null, wasPaused: params.wasPaused } };
    }),
    reinstate: assign({ suspension: null }),
    rememberPause: assign(({ context }, params: { paused: boolean }) => (context.suspension ? { suspension: { ...context.suspension, wasPaused: params.paused } } : {})),
    /**
     * Provided by the actors layer, which knows the configured limits: tells the trader which risk
     * limit stopped the order, with the numbers (it enqueues `tell`).
     */
    refuseRisk: (_, _params: { positionId: string; collateral: string; leverage: number; openPositions: number }) => {
      throw new Error("The 'refuseRisk' action was not provided: create users through src/actors, which know the configured risk limits.");
    },
    /** Provided by the actors layer: create the position actor as this user's child. */
    spawnPosition: (_, _params: { owner: number; order: OrderRequest; slippageBps: number }) => {},
    trackWithdrawal: assign({
      withdrawals: ({ context, event }) => [...context.withdrawals, `withdrawal:${(event as WithdrawalRequest).withdrawalId}`],
    }),
    forgetWithdrawal: assign(({ context, event }) => {
      const { withdrawalId } = event as WithdrawalNews;
      if (!context.withdrawals.includes(`withdrawal:${withdrawalId}`)) return {};
      return {
        withdrawals: context.withdrawals.filter((w) => w !== `withdrawal:${withdrawalId}`),
        recentWithdrawals: [...context.recentWithdrawals.filter((id) => id !== withdrawalId), withdrawalId].slice(-RECENT_WITHDRAWALS_KEPT),
      };
    }),
    /** Provided by the actors layer: create the withdrawal actor as this user's child. */
    spawnWithdrawal: (_, _params: { owner: number; request: Omit<WithdrawalRequest, 'at'> }) => {},
    addToAllowlist: assign(({ context, event }) => {
      const e = event as { address: string; at: number; usableFrom: number };
      return { allowlist: [...context.allowlist, { address: e.address, addedAt: e.at, usableFrom: e.usableFrom }] };
    }),
    /** Provided by the actors layer: deliver this trader's pending notices once they are durable. */
    deliverNotices: (_, _params: { telegramId: number }) => {},
    /** Provided by the actors layer: log the notices dropped because too many were waiting. */
    noticesDropped: (_, _params: { telegramId: number; ids: readonly string[] }) => {},
  },
}).createMachine({
  id: 'user',
  context: ({ input }) => ({
    ...input,
    settings: DEFAULT_SETTINGS,
    revision: 0,
    positions: [],
    recentOrders: [],
    notices: [],
    noticeSeq: 0,
    suspension: null,
    withdrawals: [],
    recentWithdrawals: [],
    allowlist: [],
  }),
  initial: 'active',
  on: {
    'settings.update': [
      { guard: 'validSettings', actions: 'applySettings' },
      { actions: { type: 'tell', params: ({ event }) => refusal('account', settingsProblem(event) ?? 'Settings not changed.') } },
    ],
    'position.finished': {
      actions: ['forgetPosition', { type: 'inform', params: ({ event }) => newsOf(event) }],
    },
    'position.updated': {
      actions: { type: 'inform', params: ({ event }) => newsOf(event) },
    },
    'notice.add': { guard: 'validNotice', actions: { type: 'tell', params: ({ event }) => refusal(event.kind, event.text.trim()) } },
    'notice.delivered': { guard: 'holdsNotice', actions: 'forgetNotice' },
    // Active and paused alike (a trader's own pause is about trading); `suspended` refuses below.
    'withdrawal.requested': [
      {
        guard: 'isDuplicateWithdrawal',
        actions: { type: 'tell', params: ({ event }) => refusal('withdrawal.failed', `Withdrawal ${event.withdrawalId} was already received; it is never sent twice.`, event.withdrawalId) },
      },
      {
        guard: not('validWithdrawal'),
        actions: { type: 'tell', params: ({ event }) => refusal('withdrawal.failed', withdrawalRequestProblem(event) ?? 'The withdrawal is not valid. Nothing was sent.', validWithdrawalId(event.withdrawalId) ? event.withdrawalId : null) },
      },
      {
        guard: { type: 'breaksAllowlist', params: ({ event }) => ({ to: event.to, at: event.at }) },
        actions: {
          type: 'tell',
          params: ({ context, event }) =>
            refusal('withdrawal.failed', allowlistProblem(context.allowlist, event.to, event.at) ?? 'The destination is not allowed. Nothing was sent.', event.withdrawalId),
        },
      },
      {
        actions: [
          'trackWithdrawal',
          { type: 'spawnWithdrawal', params: ({ context, event }) => ({ owner: context.telegramId, request: { withdrawalId: event.withdrawalId, to: event.to, amount: event.amount } }) },
        ],
      },
    ],
    'withdrawal.updated': { actions: { type: 'tell', params: ({ event }) => withdrawalNotice(event) } },
    'withdrawal.finished': { actions: ['forgetWithdrawal', { type: 'tell', params: ({ event }) => withdrawalNotice(event) }] },
    'allowlist.add': {
      guard: 'validAllowlistAdd',
      actions: ['addToAllowlist', { type: 'tell', params: ({ event }) => refusal('account', describeAllowlistAdd({ address: event.address, addedAt: event.at, usableFrom: event.usableFrom })) }],
    },
  },
  states: {
    active: {
      on: {
        'trading.pause': 'paused',
        'account.suspend': {
          guard: 'validOperator',
          target: 'suspended',
          actions: [{ type: 'suspend', params: { wasPaused: false } }, { type: 'tell', params: suspendedNotice }],
        },
        'order.requested': [
          {
            guard: 'isDuplicate',
            actions: { type: 'tell', params: ({ event }) => refusal('order.refused', `Order ${event.positionId} was already received; it is never sent twice.`, event.positionId) },
          },
          {
            guard: not('hasRoom'),
            actions: {
              type: 'tell',
              params: ({ context, event }) => refusal('order.refused', `You already have ${context.maxOpenPositions} open positions, the most allowed.`, event.positionId),
            },
          },
          {
            guard: { type: 'breaksRiskLimits', params: ({ context, event }) => ({ collateral: event.collateral, leverage: event.leverage, openPositions: context.positions.length }) },
            actions: {
              type: 'refuseRisk',
              params: ({ context, event }) => ({ positionId: event.positionId, collateral: event.collateral, leverage: event.leverage, openPositions: context.positions.length }),
            },
          },
          {
            actions: [
              'trackPosition',
              { type: 'spawnPosition', params: ({ context, event }) => ({ owner: context.telegramId, order: stripType(event), slippageBps: context.settings.slippageBps }) },
            ],
          },
        ],
      },
    },
    paused: {
      on: {
        'trading.resume': 'active',
        'account.suspend': {
          guard: 'validOperator',
          target: 'suspended',
          actions: [{ type: 'suspend', params: { wasPaused: true } }, { type: 'tell', params: suspendedNotice }],
        },
        'order.requested': { actions: { type: 'tell', params: ({ event }) => refusal('order.refused', PAUSED_REFUSAL, event.positionId) } },
      },
    },
    suspended: {
      on: {
        'account.reinstate': [
          {
            guard: 'wasPaused',
            target: 'paused',
            actions: [
              'reinstate',
              { type: 'tell', params: refusal('account', 'An operator reinstated your account. Trading stays paused for your account until you send /resume.') },
            ],
          },
          { target: 'active', actions: ['reinstate', { type: 'tell', params: refusal('account', 'An operator reinstated your account; you can trade again.') }] },
        ],
        // The trader's own pause is remembered for when the suspension ends.
        'trading.pause': { actions: { type: 'rememberPause', params: { paused: true } } },
        'trading.resume': {
          actions: [
            { type: 'rememberPause', params: { paused: false } },
            { type: 'tell', params: refusal('account', `${SUSPENDED_REFUSAL} You can trade again once it is reinstated.`) },
          ],
        },
        'order.requested': { actions: { type: 'tell', params: ({ event }) => refusal('order.refused', SUSPENDED_REFUSAL, event.positionId) } },
        'withdrawal.requested': {
          actions: { type: 'tell', params: ({ event }) => refusal('withdrawal.failed', `${SUSPENDED_REFUSAL} No withdrawal can be made until it is reinstated; nothing was sent.`, event.withdrawalId) },
        },
        'allowlist.add': { actions: { type: 'tell', params: refusal('account', `${SUSPENDED_REFUSAL} No withdrawal address can be added until it is reinstated.`) } },
      },
    },
  },
});

const WITHDRAWAL_ID = /^[A-Za-z0-9_-]{6,32}$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const AMOUNT = /^(?:0|[1-9]\d{0,11})(?:\.\d{1,6})?$/;

/**
 * Why a withdrawal request cannot be taken as it is (the desk checks everything first, with the
 * balance; this keeps the actor's own record sane whatever sends to it), or null.
 */
export function withdrawalRequestProblem(r: Partial<WithdrawalRequest>): string | null {
  if (!validWithdrawalId(r.withdrawalId)) return 'The withdrawal reference is not valid. Nothing was sent.';
  if (typeof r.to !== 'string' || !ADDRESS.test(r.to) || /^0x0{40}$/.test(r.to)) return 'The destination is not a valid address. Nothing was sent.';
  if (typeof r.amount !== 'string' || !AMOUNT.test(r.amount) || /^0(\.0*)?$/.test(r.amount)) return 'The amount must be more than 0 USDC with at most 6 decimals. Nothing was sent.';
  if (typeof r.at !== 'number' || !Number.isFinite(r.at)) return 'The withdrawal has no valid time. Nothing was sent.';
  return null;
}

function validWithdrawalId(id: unknown): id is string {
  return typeof id === 'string' && WITHDRAWAL_ID.test(id);
}

/** Why an address cannot be added to the allowlist, or null. */
export function allowlistAddProblem(allowlist: readonly AllowedAddress[], e: { address?: unknown; at?: unknown; usableFrom?: unknown }): string | null {
  if (typeof e.address !== 'string' || !ADDRESS.test(e.address) || /^0x0{40}$/.test(e.address)) return 'That is not a valid address.';
  const address = e.address.toLowerCase();
  if (allowlist.some((a) => a.address.toLowerCase() === address)) return `${e.address} is already on your allowlist.`;
  if (allowlist.length >= ALLOWLIST_MAX) return `Your allowlist already holds ${ALLOWLIST_MAX} addresses, the most allowed.`;
  if (typeof e.at !== 'number' || typeof e.usableFrom !== 'number' || !Number.isFinite(e.at) || !Number.isFinite(e.usableFrom) || e.usableFrom < e.at) return 'The address has no valid time.';
  return null;
}

function withdrawalNotice(event: WithdrawalNews): NoticeDraft {
  const news: WithdrawalNews = {
    withdrawalId: event.withdrawalId,
    outcome: event.outcome,
    to: event.to ?? null,
    amount: event.amount ?? null,
    txHash: event.txHash ?? null,
    detail: event.detail ?? null,
  };
  return { kind: withdrawalNoticeKind(news.outcome), positionId: news.withdrawalId, text: describeWithdrawal(news) };
}

function suspendedNotice(): NoticeDraft {
  return refusal(
    'account',
    'An operator suspended your account: new orders are refused. Your open positions are still followed and you can still close them. Contact support.',
  );
}

function stripType(event: UserEvent): OrderRequest {
  const { positionId, pair, pairIndex, side, collateral, leverage } = event as OrderRequest;
  return { positionId, pair, pairIndex, side, collateral, leverage };
}

function newsOf(event: PositionNews): PositionNews {
  return {
    positionId: event.positionId,
    outcome: event.outcome,
    detail: event.detail ?? null,
    closedBy: event.closedBy ?? null,
    closePrice: event.closePrice ?? null,
    payout: event.payout ?? null,
    canceledBy: event.canceledBy ?? null,
    pair: event.pair ?? null,
    side: event.side ?? null,
    collateral: event.collateral ?? null,
    leverage: event.leverage ?? null,
    openPrice: event.openPrice ?? null,
    txHash: event.txHash ?? null,
  };
}

/** Version 1 had no memory of finished orders. */
export function migrateUserV1(snapshot: Record<string, unknown>): Record<string, unknown> {
  const context = (snapshot['context'] ?? {}) as Record<string, unknown>;
  return { ...snapshot, context: { ...context, recentOrders: [] } };
}

/**
 * Version 3 keeps undelivered notices in the snapshot (version 2 sent messages from effects,
 * after the write, and a crash lost them), has richer settings and an operator suspension.
 * The state value (`active` or `paused`) is unchanged; nothing was owed to the trader.
 */
export function migrateUserV2(snapshot: Record<string, unknown>): Record<string, unknown> {
  const context = (snapshot['context'] ?? {}) as Record<string, unknown>;
  const old = (context['settings'] ?? {}) as { slippageBps?: unknown; defaultLeverage?: unknown };
  const settings: UserSettings = {
    slippageBps: typeof old.slippageBps === 'number' ? old.slippageBps : DEFAULT_SETTINGS.slippageBps,
    defaultLeverage: typeof old.defaultLeverage === 'number' ? old.defaultLeverage : DEFAULT_SETTINGS.defaultLeverage,
    confirmOrders: DEFAULT_SETTINGS.confirmOrders,
    notify: DEFAULT_SETTINGS.notify,
  };
  return { ...snapshot, context: { ...context, settings, notices: [], noticeSeq: 0, suspension: null } };
}

/** Version 4 adds withdrawals and the withdrawal allowlist; nothing else changes. */
export function migrateUserV3(snapshot: Record<string, unknown>): Record<string, unknown> {
  const context = (snapshot['context'] ?? {}) as Record<string, unknown>;
  return { ...snapshot, context: { ...context, withdrawals: [], recentWithdrawals: [], allowlist: [] } };
}
