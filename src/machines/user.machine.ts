import { assign, not, setup } from 'xstate';
import type { ClosedBy } from './position.machine.ts';

/**
 * One actor per Telegram user. It owns the user's settings and the list of the
 * user's positions (each its own actor), and it is the single writer of the
 * user's wallet nonces (added with the transaction pipeline). Trading can be
 * paused per user; a paused user's order requests are refused with a reason.
 */
export const userMachineVersion = 2;

/** How many finished order ids a user remembers, so a replayed button cannot place them again. */
export const RECENT_ORDERS_KEPT = 200;

export interface UserSettings {
  readonly slippageBps: number;
  readonly defaultLeverage: number;
}

export interface UserInput {
  readonly telegramId: number;
  readonly maxOpenPositions: number;
}

export interface UserContext extends UserInput {
  readonly settings: UserSettings;
  /** Bumped on every settings change; lets a client detect it saw the latest. */
  readonly revision: number;
  /** systemIds of the user's live position actors. */
  readonly positions: readonly string[];
  /** Ids of the user's most recent finished orders (newest last): a repeat of one is refused. */
  readonly recentOrders: readonly string[];
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

/** What a position tells its owner (see OwnerNotice in the position machine). */
export interface PositionNews {
  readonly positionId: string;
  readonly outcome: string;
  readonly detail?: string | null;
  readonly closedBy?: ClosedBy | null;
  readonly closePrice?: string | null;
  readonly payout?: string | null;
  readonly canceledBy?: 'protocol' | 'operator' | null;
}

export type UserEvent =
  | { type: 'settings.update'; slippageBps?: number; defaultLeverage?: number }
  | ({ type: 'order.requested' } & OrderRequest)
  | ({ type: 'position.finished' } & PositionNews)
  | ({ type: 'position.updated' } & PositionNews)
  | { type: 'trading.pause' }
  | { type: 'trading.resume' };

export const DEFAULT_SETTINGS: UserSettings = { slippageBps: 50, defaultLeverage: 5 };
const MAX_SLIPPAGE_BPS = 1_000;
const MAX_LEVERAGE = 500;

type SettingsUpdate = Extract<UserEvent, { type: 'settings.update' }>;

/** A settings change is applied only when every provided value is in range. */
export function validSettings(event: SettingsUpdate): boolean {
  const { slippageBps, defaultLeverage } = event;
  const slippageOk = slippageBps === undefined || (Number.isInteger(slippageBps) && slippageBps > 0 && slippageBps <= MAX_SLIPPAGE_BPS);
  const leverageOk = defaultLeverage === undefined || (Number.isFinite(defaultLeverage) && defaultLeverage >= 1 && defaultLeverage <= MAX_LEVERAGE);
  return slippageOk && leverageOk && (slippageBps !== undefined || defaultLeverage !== undefined);
}

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
  },
  actions: {
    applySettings: assign(({ context, event }) => {
      const e = event as SettingsUpdate;
      return {
        settings: {
          slippageBps: e.slippageBps ?? context.settings.slippageBps,
          defaultLeverage: e.defaultLeverage ?? context.settings.defaultLeverage,
        },
        revision: context.revision + 1,
      };
    }),
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
    /** Provided by the actors layer: create the position actor as this user's child. */
    spawnPosition: (_, _params: { owner: number; order: OrderRequest; slippageBps: number }) => {},
    /** Provided by the actors layer: tell the trader how an order or position is doing. */
    inform: (_, _params: { telegramId: number; news: PositionNews }) => {},
    /** Provided by the actors layer: tell the trader which risk limit stopped the order, with the numbers. */
    refuseRisk: (_, _params: { telegramId: number; collateral: string; leverage: number; openPositions: number }) => {},
    /** Provided by the actors layer: tell the user why a request was refused. */
    refuse: (_, _params: { telegramId: number; reason: string }) => {},
  },
}).createMachine({
  id: 'user',
  context: ({ input }) => ({ ...input, settings: DEFAULT_SETTINGS, revision: 0, positions: [], recentOrders: [] }),
  initial: 'active',
  on: {
    'settings.update': [
      { guard: 'validSettings', actions: 'applySettings' },
      { actions: { type: 'refuse', params: ({ context }) => ({ telegramId: context.telegramId, reason: 'Settings out of range: slippage 1–1000 bps, leverage 1–500.' }) } },
    ],
    'position.finished': {
      actions: ['forgetPosition', { type: 'inform', params: ({ context, event }) => ({ telegramId: context.telegramId, news: newsOf(event) }) }],
    },
    'position.updated': {
      actions: { type: 'inform', params: ({ context, event }) => ({ telegramId: context.telegramId, news: newsOf(event) }) },
    },
  },
  states: {
    active: {
      on: {
        'trading.pause': 'paused',
        'order.requested': [
          { guard: 'isDuplicate', actions: { type: 'refuse', params: ({ context, event }) => ({ telegramId: context.telegramId, reason: `Order ${event.positionId} was already received; it is never sent twice.` }) } },
          {
            guard: not('hasRoom'),
            actions: {
              type: 'refuse',
              params: ({ context }) => ({ telegramId: context.telegramId, reason: `You already have ${context.maxOpenPositions} open positions, the most allowed.` }),
            },
          },
          {
            guard: { type: 'breaksRiskLimits', params: ({ context, event }) => ({ collateral: event.collateral, leverage: event.leverage, openPositions: context.positions.length }) },
            actions: { type: 'refuseRisk', params: ({ context, event }) => ({ telegramId: context.telegramId, collateral: event.collateral, leverage: event.leverage, openPositions: context.positions.length }) },
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
        'order.requested': {
          actions: { type: 'refuse', params: ({ context }) => ({ telegramId: context.telegramId, reason: 'Trading is paused for your account. Send /resume to trade again.' }) },
        },
      },
    },
  },
});

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
  };
}

/** Version 1 had no memory of finished orders. */
export function migrateUserV1(snapshot: Record<string, unknown>): Record<string, unknown> {
  const context = (snapshot['context'] ?? {}) as Record<string, unknown>;
  return { ...snapshot, context: { ...context, recentOrders: [] } };
}
