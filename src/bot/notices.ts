import type { Api } from 'grammy';
import type { Logger } from 'pino';
import type { Notice, NoticeSink } from '../actors/desk.ts';
import type { Keyboards } from './keyboards.ts';
import type { OrderCards } from './order-cards.ts';
import { withdrawalCardKey } from './flows/withdraw.ts';
import { noticeText } from './render.ts';
import { edit, isUneditable, isUnreachable, send, type Chat, type Rows } from './ui.ts';

/**
 * Delivers the engine's notices to Telegram. An order's card (the message that showed
 * "⏳ Sending…") is edited in place to the latest state; the steps a trader must not miss
 * (filled, closed, refused, canceled, delayed) also arrive as a new message, because Telegram
 * does not notify about edits. Resolving tells the engine the notice is delivered; rejecting
 * makes it try again later (at least once: after a crash a notice may arrive twice, and an edit
 * to the same content is harmless).
 */
const ALERTS: ReadonlySet<Notice['kind']> = new Set([
  'order.filled',
  'order.refused',
  'order.canceled',
  'order.delayed',
  'position.closed',
  'close.refused',
  'account',
  'broadcast',
  'withdrawal.retrying',
  'withdrawal.done',
  'withdrawal.failed',
]);

const isWithdrawal = (n: Notice) => n.kind.startsWith('withdrawal.');

export interface NoticeSinkDeps {
  readonly api: Api;
  readonly keyboards: Keyboards;
  readonly cards: OrderCards;
  readonly logger: Logger;
}

function rowsFor(n: Notice): Rows {
  if (isWithdrawal(n)) return n.kind === 'withdrawal.sent' ? [] : [[{ text: '💰 Wallet', action: 'w.show' }]];
  if (!n.positionId) return [];
  switch (n.kind) {
    case 'order.filled':
      return [[{ text: '✖ Close', action: 'p.close', args: [n.positionId] }, { text: '📋 Positions', action: 'p.list' }]];
    case 'close.refused':
      return [[{ text: '✖ Try closing again', action: 'p.close', args: [n.positionId] }, { text: '📋 Positions', action: 'p.list' }]];
    case 'position.closed':
    case 'order.canceled':
    case 'order.refused':
      return [[{ text: '📈 New trade', action: 't.start' }]];
    default:
      return [[{ text: '📋 Positions', action: 'p.list' }]];
  }
}

export function createNoticeSink(deps: NoticeSinkDeps): NoticeSink {
  return async (notice) => {
    const chat: Chat = { api: deps.api, chatId: notice.telegramId, userId: notice.telegramId, keyboards: deps.keyboards };
    const body = noticeText(notice);
    const rows = rowsFor(notice);
    try {
      // A withdrawal's card is kept under its own key (withdrawal ids and position ids are both short random ids).
      const card = notice.positionId ? await deps.cards.get(isWithdrawal(notice) ? withdrawalCardKey(notice.positionId) : notice.positionId) : null;
      if (card) {
        try {
          await edit({ ...chat, chatId: card.chatId }, card.messageId, body, ALERTS.has(notice.kind) ? [] : rows);
        } catch (err) {
          if (!isUneditable(err)) throw err;
          await send(chat, body, rows);
          return;
        }
        if (ALERTS.has(notice.kind)) await send(chat, body, rows);
        return;
      }
      await send(chat, body, rows);
    } catch (err) {
      if (isUnreachable(err)) {
        // Blocked the bot or gone: retrying would never succeed, so the notice counts as delivered.
        deps.logger.warn({ telegram_id: notice.telegramId, notice_id: notice.id, kind: notice.kind }, 'A trader cannot be reached on Telegram; notice dropped');
        return;
      }
      throw err;
    }
  };
}
