import type { Context, SessionFlavor } from 'grammy';
import type { Logger } from 'pino';
import type { AdminDesk, DelegationDesk, Mode, Side, TradingDesk } from '../actors/desk.ts';
import type { Keyboards } from './keyboards.ts';
import type { OrderCards } from './order-cards.ts';

/** The guided order, step by step, on one message that is edited in place. */
export interface TradeWizard {
  readonly messageId: number;
  readonly pair?: string;
  readonly side?: Side;
  readonly collateral?: string;
  readonly leverage?: number;
}

/** What the trader's next plain-text message answers (a typed amount, a setting, a broadcast). */
export type Awaiting =
  | { readonly kind: 'collateral' }
  | { readonly kind: 'leverage' }
  | { readonly kind: 'setting'; readonly setting: 'slippage' | 'leverage' }
  | { readonly kind: 'broadcast' }
  /** The withdrawal flow's message, edited in place at each step. */
  | { readonly kind: 'withdraw-amount'; readonly messageId: number }
  | { readonly kind: 'withdraw-to'; readonly messageId: number; readonly amount: string }
  | { readonly kind: 'withdraw-add'; readonly messageId: number; readonly amount: string };

/** UI-only state (Redis or memory). The actors hold everything of record. */
export interface SessionData {
  wizard: TradeWizard | null;
  awaiting: Awaiting | null;
}

export const initialSession = (): SessionData => ({ wizard: null, awaiting: null });

export interface BotServices {
  readonly desk: TradingDesk;
  /** Null when the engine offers no admin desk (then every admin command is refused). */
  readonly admin: AdminDesk | null;
  /** Avantis v2's trading key (/connect, /disconnect); null on v1 and in paper mode. */
  readonly delegation: DelegationDesk | null;
  readonly adminIds: ReadonlySet<number>;
  readonly keyboards: Keyboards;
  readonly cards: OrderCards;
  readonly mode: Mode;
  readonly logger: Logger;
  /** A new order id, chosen when a review is shown (the confirm carries it: one click, one order). */
  readonly newOrderId: () => string;
  /** Epoch ms: when a review was shown, and whether it is too old to confirm. */
  readonly now: () => number;
}

export type VantaContext = Context &
  SessionFlavor<SessionData> & {
    vanta: BotServices;
    /** Short id in every log line of this update and in any error the trader sees. */
    correlationId: string;
    log: Logger;
    /** The pressed button was answered (Telegram refuses a second answer). */
    acked: boolean;
  };
