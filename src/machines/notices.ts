import type { ClosedBy } from './position.machine.ts';

/**
 * What a trader is told, as the user machine keeps it until it is delivered: the kinds, the
 * wording, which notices a trader may mute, and the bounded queue. Pure: the actors layer
 * delivers (src/actors/notice-courier.ts); these shapes match `Notice` in src/actors/desk.ts.
 */

export type NoticeKind =
  | 'order.sent'
  | 'order.filled'
  | 'order.delayed'
  | 'order.refused'
  | 'order.canceled'
  | 'order.retrying'
  | 'position.closed'
  | 'close.sent'
  | 'close.refused'
  | 'account'
  | 'broadcast';

export const NOTICE_KINDS: readonly NoticeKind[] = [
  'order.sent',
  'order.filled',
  'order.delayed',
  'order.refused',
  'order.canceled',
  'order.retrying',
  'position.closed',
  'close.sent',
  'close.refused',
  'account',
  'broadcast',
];

export interface UserNotice {
  /** `n<seq>`: unique per trader, and the same id on every redelivery. */
  readonly id: string;
  readonly telegramId: number;
  readonly kind: NoticeKind;
  readonly positionId: string | null;
  /** One or two plain sentences (the bot escapes and decorates them). */
  readonly text: string;
}

/** A notice before it is numbered. */
export interface NoticeDraft {
  readonly kind: NoticeKind;
  readonly positionId: string | null;
  readonly text: string;
}

export interface NotificationPrefs {
  readonly fills: boolean;
  readonly delays: boolean;
  readonly closes: boolean;
}

/** Undelivered notices a trader keeps; beyond it the oldest are dropped (and logged). */
export const NOTICES_KEPT = 100;
/** Longest notice text accepted from outside (a broadcast); Telegram's message limit. */
export const NOTICE_TEXT_MAX = 4096;

/** What a position tells its owner (built by the position machine's `notifyOwner`). */
export interface PositionNews {
  readonly positionId: string;
  readonly outcome: string;
  readonly detail?: string | null;
  readonly closedBy?: ClosedBy | null;
  readonly closePrice?: string | null;
  readonly payout?: string | null;
  readonly canceledBy?: 'protocol' | 'operator' | null;
  readonly pair?: string | null;
  readonly side?: 'long' | 'short' | null;
  /** The collateral the trader asked for, decimal USDC. */
  readonly collateral?: string | null;
  readonly leverage?: number | null;
  readonly openPrice?: string | null;
  /** The request's transaction (outcomes `sent` and `close-sent`). */
  readonly txHash?: string | null;
}

const KIND_OF_OUTCOME: Readonly<Record<string, NoticeKind>> = {
  sent: 'order.sent',
  opened: 'order.filled',
  delayed: 'order.delayed',
  retrying: 'order.retrying',
  rejected: 'order.refused',
  canceled: 'order.canceled',
  'close-sent': 'close.sent',
  'close-refused': 'close.refused',
  'close-canceled': 'close.refused',
  closed: 'position.closed',
};

export function noticeKindOf(news: PositionNews): NoticeKind {
  return KIND_OF_OUTCOME[news.outcome] ?? 'account';
}

/**
 * Whether the trader's preferences silence this notice. Only good news and waiting can be
 * muted: a refusal, a cancel (collateral refunded), a failed close, a liquidation and anything
 * about the account always arrive.
 */
export function isMuted(kind: NoticeKind, news: PositionNews, prefs: NotificationPrefs): boolean {
  switch (kind) {
    case 'order.sent':
    case 'order.filled':
      return !prefs.fills;
    case 'order.delayed':
    case 'order.retrying':
      return !prefs.delays;
    case 'close.sent':
      return !prefs.closes;
    case 'position.closed':
      return !prefs.closes && news.closedBy !== 'liquidation';
    default:
      return false;
  }
}

/**
 * Appends a notice with the next id; beyond NOTICES_KEPT the oldest undelivered ones go (a
 * trader who never reads the chat must not grow the snapshot forever).
 */
export function appendNotice(
  state: { readonly telegramId: number; readonly notices: readonly UserNotice[]; readonly noticeSeq: number },
  draft: NoticeDraft,
): { notices: UserNotice[]; noticeSeq: number; dropped: UserNotice[] } {
  const noticeSeq = state.noticeSeq + 1;
  const all = [...state.notices, { id: `n${noticeSeq}`, telegramId: state.telegramId, kind: draft.kind, positionId: draft.positionId, text: draft.text }];
  const overflow = Math.max(0, all.length - NOTICES_KEPT);
  return { notices: all.slice(overflow), noticeSeq, dropped: all.slice(0, overflow) };
}

/** The sequence number in a notice id (`n12` → 12), or null for anything else. */
export function noticeSeqOf(id: string): number | null {
  const match = /^n([1-9]\d{0,15})$/.exec(id);
  return match ? Number(match[1]) : null;
}

// ---- wording ------------------------------------------------------------

const OUTCOMES: Readonly<Record<string, string>> = {
  delayed: 'is still waiting for the keeper to fill it; it stays tracked and nothing is sent twice',
  retrying: 'could not be sent yet and is retried automatically (nothing is sent twice)',
  'close-refused': 'could not be closed; it is still open, and you can ask to close it again',
  'close-canceled': 'was not closed: Avantis canceled the close request. It is still open; you can ask to close it again',
  rejected: 'was refused before anything was executed',
};

const CLOSED_BY: Readonly<Record<string, string>> = {
  trader: 'is closed',
  tp: 'was closed by its take-profit',
  sl: 'was closed by its stop-loss',
  liquidation: 'was liquidated',
  unknown: 'was closed on chain (how, the chain logs did not say)',
};

/** "Order o1 (long ETH/USD)" when the position said what it is, "Order o1" otherwise. */
function orderLabel(news: PositionNews): string {
  return news.pair && news.side ? `Order ${news.positionId} (${news.side} ${news.pair})` : `Order ${news.positionId}`;
}

const txOf = (news: PositionNews) => (news.txHash ? ` Transaction ${news.txHash}.` : '');

/** One or two plain sentences about a position's news, for the trader. */
export function describeOutcome(news: PositionNews): string {
  const label = orderLabel(news);
  switch (news.outcome) {
    case 'sent': {
      const size = news.collateral && news.leverage ? ` with ${news.collateral} USDC at ${news.leverage}x` : '';
      return `${label} was sent to Avantis${size} and waits for the keeper to fill it.${txOf(news)}`;
    }
    case 'opened':
      return `${label} is open${news.openPrice ? ` at ${news.openPrice}` : ''}.`;
    case 'close-sent':
      return `${label}: the close was sent to Avantis and waits for the keeper to execute it.${txOf(news)}`;
    case 'closed': {
      const how = CLOSED_BY[news.closedBy ?? 'trader'] ?? 'is closed';
      const at = news.closePrice ? ` at ${news.closePrice}` : '';
      const paid =
        news.payout !== null && news.payout !== undefined ? ` ${news.payout} USDC was paid out.` : news.closedBy === 'unknown' ? ' Check your wallet for the payout.' : '';
      return `${label} ${how}${at}.${paid}`;
    }
    case 'canceled':
      return news.canceledBy === 'operator'
        ? `${label} was canceled by the Avantis operator before it was filled; your collateral was refunded (the execution fee is not).`
        : `${label} was canceled by Avantis (the price moved beyond your slippage, or the trade could not be placed); your collateral was refunded.`;
    default:
      return `${label} ${OUTCOMES[news.outcome] ?? news.outcome}.${news.detail ? ` ${news.detail}` : ''}`;
  }
}
