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
  | 'broadcast'
  | 'withdrawal.sent'
  | 'withdrawal.retrying'
  | 'withdrawal.done'
  | 'withdrawal.failed';

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
  'withdrawal.sent',
  'withdrawal.retrying',
  'withdrawal.done',
  'withdrawal.failed',
];

export interface UserNotice {
  /** `n<seq>`: unique per trader, and the same id on every redelivery. */
  readonly id: string;
  readonly telegramId: number;
  readonly kind: NoticeKind;
  /** The position the notice is about; for `withdrawal.*` notices, the withdrawal's id. */
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

// ---- withdrawals ----------------------------------------------------------

/** What a withdrawal tells its owner (built by the withdrawal machine's `notifyOwner`). */
export interface WithdrawalNews {
  readonly withdrawalId: string;
  /** `sent` (signed and broadcast), `retrying` (the first failure that is retried), `done`, `failed`. */
  readonly outcome: 'sent' | 'retrying' | 'done' | 'failed';
  /** Destination, checksummed. */
  readonly to?: string | null;
  /** Decimal USDC. */
  readonly amount?: string | null;
  /** The mined transaction (`done`). */
  readonly txHash?: string | null;
  /** Why it failed or is retried, in plain words. */
  readonly detail?: string | null;
}

const WITHDRAWAL_KINDS: Readonly<Record<WithdrawalNews['outcome'], NoticeKind>> = {
  sent: 'withdrawal.sent',
  retrying: 'withdrawal.retrying',
  done: 'withdrawal.done',
  failed: 'withdrawal.failed',
};

/** Money leaving the wallet is never muted: every withdrawal notice arrives. */
export function withdrawalNoticeKind(outcome: WithdrawalNews['outcome']): NoticeKind {
  return WITHDRAWAL_KINDS[outcome];
}

/** `0xAbCd…12eF`: enough to recognise an address in a line; reviews show it in full too. */
export function shortAddress(address: string): string {
  return address.length > 12 ? `${address.slice(0, 6)}…${address.slice(-4)}` : address;
}

/** One or two plain sentences about a withdrawal's news, for the trader. */
export function describeWithdrawal(news: WithdrawalNews): string {
  const what = news.amount && news.to ? ` (${news.amount} USDC to ${shortAddress(news.to)})` : '';
  const label = `Withdrawal ${news.withdrawalId}${what}`;
  const detail = news.detail ? ` ${news.detail.trim().replace(/([^.!?])$/, '$1.')}` : '';
  switch (news.outcome) {
    case 'sent':
      return `${label} was signed and sent; waiting for it to be mined. It is never sent twice.`;
    case 'retrying':
      return `${label} is not final yet:${detail} It is retried automatically and never sent twice.`;
    case 'done':
      return `Withdrawal ${news.withdrawalId} is done: ${news.amount ?? '?'} USDC was sent to ${news.to ?? '?'}.${news.txHash ? ` Transaction ${news.txHash}.` : ''}`;
    case 'failed':
      return `${label} failed:${detail || ' no reason was given.'} No USDC left your wallet.`;
  }
}

/** An address on a trader's withdrawal allowlist (live mode), with the delay before it can be used. */
export interface AllowedAddress {
  /** Checksummed. */
  readonly address: string;
  /** Epoch ms the trader added it. */
  readonly addedAt: number;
  /** Epoch ms from which withdrawals may go to it (added + the configured delay). */
  readonly usableFrom: number;
}

/** `2026-12-05 14:00 UTC`. Pure: formats the time it is given. */
export function utcTime(epochMs: number): string {
  return `${new Date(epochMs).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** "3 h 05 min", "12 min", "40 s". */
export function waitText(ms: number): string {
  if (ms <= 0) return 'no time';
  if (ms < 60_000) return `${Math.ceil(ms / 1000)} s`;
  const minutes = Math.ceil(ms / 60_000);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return rest === 0 ? `${hours} h` : `${hours} h ${String(rest).padStart(2, '0')} min`;
}

/**
 * Why a withdrawal to `to` at `at` is not allowed by the allowlist, or null when it is: the
 * address must be listed and past its delay. Addresses compare case-insensitively.
 */
export function allowlistProblem(allowlist: readonly AllowedAddress[], to: string, at: number): string | null {
  const entry = allowlist.find((a) => a.address.toLowerCase() === to.toLowerCase());
  if (!entry) return `${to} is not on your withdrawal allowlist. Add it first; a new address can be used only after a waiting period. Nothing was sent.`;
  if (entry.usableFrom > at) {
    return `${to} was added to your allowlist at ${utcTime(entry.addedAt)} and can receive withdrawals from ${utcTime(entry.usableFrom)} (in ${waitText(entry.usableFrom - at)}). Nothing was sent.`;
  }
  return null;
}

/** The account notice a trader gets when an address is added to the allowlist (the alarm if it was not them). */
export function describeAllowlistAdd(entry: AllowedAddress): string {
  const when =
    entry.usableFrom <= entry.addedAt
      ? 'It can receive withdrawals now.'
      : `It can receive withdrawals from ${utcTime(entry.usableFrom)} (${waitText(entry.usableFrom - entry.addedAt)} after it was added).`;
  return `${entry.address} was added to your withdrawal allowlist. ${when} If you did not add it, contact support at once.`;
}
