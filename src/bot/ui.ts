import { GrammyError, type Api } from 'grammy';
import type { Message } from 'grammy/types';
import { Html, splitMessage } from './html.ts';
import type { ButtonSpec, Keyboards } from './keyboards.ts';

/**
 * Sending and editing messages the same way from a handler and from a notice: HTML parse mode,
 * split at 4096 characters (the keyboard goes on the last part), buttons bound to the user and
 * to the message they end up on.
 */
export interface Chat {
  readonly api: Api;
  readonly chatId: number;
  readonly userId: number;
  readonly keyboards: Keyboards;
}

export type Rows = readonly (readonly ButtonSpec[])[];

const OPTIONS = { parse_mode: 'HTML', link_preview_options: { is_disabled: true } } as const;

/** Sends a message (several when long); returns the last one, which carries the buttons. */
export async function send(chat: Chat, body: Html, rows: Rows = []): Promise<Message.TextMessage> {
  const parts = splitMessage(body);
  let last: Message.TextMessage | undefined;
  for (const [index, part] of parts.entries()) {
    const isLast = index === parts.length - 1;
    const keyboard = isLast && rows.length ? await chat.keyboards.create(chat.userId, chat.chatId, rows) : null;
    try {
      last = await chat.api.sendMessage(chat.chatId, part, { ...OPTIONS, ...(keyboard ? { reply_markup: keyboard.markup } : {}) });
    } catch (err) {
      keyboard?.discard();
      throw err;
    }
    if (keyboard) await keyboard.bind(last.message_id);
  }
  return last!;
}

/**
 * Edits a message in place to new text and buttons. A body too long for one message keeps its
 * first part here and sends the rest after it. "Not modified" (the same content again) is fine.
 */
export async function edit(chat: Chat, messageId: number, body: Html, rows: Rows = []): Promise<void> {
  const [first = '', ...rest] = splitMessage(body);
  const keyboard = rows.length && rest.length === 0 ? await chat.keyboards.create(chat.userId, chat.chatId, rows, messageId) : null;
  if (!keyboard) await chat.keyboards.cleared(chat.userId, chat.chatId, messageId);
  try {
    await chat.api.editMessageText(chat.chatId, messageId, first, { ...OPTIONS, reply_markup: keyboard ? keyboard.markup : { inline_keyboard: [] } });
  } catch (err) {
    if (!isNotModified(err)) throw err;
  }
  if (rest.length) await send(chat, new Html(rest.join('\n')), rows);
}

export function isNotModified(err: unknown): boolean {
  return err instanceof GrammyError && err.error_code === 400 && /message is not modified/i.test(err.description);
}

/** The message is gone or cannot be edited any more: send a new one instead. */
export function isUneditable(err: unknown): boolean {
  return err instanceof GrammyError && err.error_code === 400 && /message to edit not found|message can't be edited|MESSAGE_ID_INVALID/i.test(err.description);
}

/** The user blocked the bot or deleted their account: delivering again will never work. */
export function isUnreachable(err: unknown): boolean {
  return err instanceof GrammyError && err.error_code === 403;
}
