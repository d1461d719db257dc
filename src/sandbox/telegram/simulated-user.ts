/**
 * A person talking to the bot through the double: what a Telegram client would do on their behalf
 * (send text, press inline buttons, block the bot) turned into updates, and what they would see
 * (the chat as it is now, callback answers) read back. Tests drive it; the chat page uses it too.
 */
import { addDetectedEntities, trimFormatted } from './formatted-text.ts';
import type { CallbackAnswer, Chat, ChatEntry, ChatWorld, ReplyKeyboard, UserProfile } from './chat-world.ts';
import { TEXT_MAX } from './telegram-rules.ts';
import type { UpdateQueue } from './update-queue.ts';

export interface PressOptions {
  /**
   * Send the callback query even if no button on the message carries this data (or the message does
   * not exist): what a modified client or a replayed request could do. Tests of forged data use it.
   */
  readonly forge?: boolean;
}

export interface WaitOptions {
  /** Ignore what the chat shows now; wait for a new message or an edit made after the call. */
  readonly fresh?: boolean;
}

export interface SimulatedUser {
  readonly id: number;
  readonly profile: Readonly<UserProfile>;
  /**
   * Sends a text message, as the Telegram app does: a command gets its bot_command entity, and a
   * text longer than 4096 characters goes as several messages. Returns the (last) message sent.
   */
  send(text: string): ChatEntry;
  /**
   * Sends something that is not text, as the Telegram app does (a photo, a sticker, a voice note, a
   * document, a location, a contact), with the Bot API 9.4 fields of that kind. The double does not
   * keep the media itself: the transcript names the kind.
   */
  sendMedia(kind: MediaKind, caption?: string): ChatEntry;
  /** Presses the inline button with `callbackData` on message `messageId`; returns the query id. */
  press(messageId: number, callbackData: string, options?: PressOptions): string;
  /** Presses the newest button labelled `buttonText` (a callback button) anywhere in the chat. */
  click(buttonText: string): string;
  /** The chat as the user sees it now, oldest first: both sides, current text after edits. */
  messages(): ChatEntry[];
  /** The newest message the bot sent, if any. */
  lastBotMessage(): ChatEntry | undefined;
  /** Resolves with the first message that matches now or once a new message or edit matches. */
  waitFor(predicate: (entry: ChatEntry) => boolean, timeoutMs?: number, options?: WaitOptions): Promise<ChatEntry>;
  /** Sends `text` and resolves with the bot's next message after it. */
  reply(text: string, timeoutMs?: number): Promise<ChatEntry>;
  /** Callback answers this user received (toasts and alerts), oldest first. */
  answers(): CallbackAnswer[];
  /** Resolves when the bot answers callback query `callbackQueryId`. */
  waitForAnswer(callbackQueryId: string, timeoutMs?: number): Promise<CallbackAnswer>;
  /** The reply keyboard the bot shows under the input field, if any. */
  replyKeyboard(): ReplyKeyboard | null;
  /** Blocks the bot: it gets a my_chat_member update, and sending to this user becomes 403. */
  block(): void;
  /** Unblocks (the Telegram app's "Restart bot"); the bot gets a my_chat_member update. */
  unblock(): void;
}

const DEFAULT_WAIT_MS = 5000;

export type MediaKind = 'photo' | 'sticker' | 'voice' | 'document' | 'location' | 'contact';

/** The message fields Telegram sends for each kind (required fields of the 9.4 types, plausible values). */
function mediaFields(kind: MediaKind, messageId: number, user: UserProfile): Record<string, unknown> {
  const file = { file_id: `user-${kind}-${messageId}`, file_unique_id: `u${kind}${messageId}` };
  switch (kind) {
    case 'photo':
      return { photo: [{ ...file, width: 90, height: 90, file_size: 1_234 }] };
    case 'sticker':
      return { sticker: { ...file, type: 'regular', width: 512, height: 512, is_animated: false, is_video: false, emoji: '🚀' } };
    case 'voice':
      return { voice: { ...file, duration: 3, mime_type: 'audio/ogg' } };
    case 'document':
      return { document: { ...file, file_name: 'orders.csv', mime_type: 'text/csv', file_size: 2_048 } };
    case 'location':
      return { location: { latitude: 51.5072, longitude: -0.1276 } };
    case 'contact':
      return { contact: { phone_number: '+441234567890', first_name: user.firstName, user_id: user.id } };
  }
}

export function createSimulatedUser(world: ChatWorld, queue: UpdateQueue, chat: Chat): SimulatedUser {
  const id = chat.user.id;
  const chatInstance = String((BigInt(id) * 7919n + BigInt(world.bot.id)) % 9_007_199_254_740_991n);

  function memberUpdate(oldStatus: string, newStatus: string): void {
    const bot = world.botUser();
    queue.push('my_chat_member', {
      chat: world.apiChat(chat),
      from: world.apiUser(chat.user),
      date: world.nowSeconds(),
      old_chat_member: { status: oldStatus, user: bot },
      new_chat_member: newStatus === 'kicked' ? { status: 'kicked', user: bot, until_date: 0 } : { status: newStatus, user: bot },
    }, id);
  }

  function sendOne(text: string): ChatEntry {
    const formatted = addDetectedEntities(trimFormatted({ text, entities: [] }));
    const stored = world.addMessage(chat, { fromBot: false, text: formatted.text, entities: [...formatted.entities] });
    queue.push('message', world.apiMessage(stored), id);
    return world.entry(stored);
  }

  const user: SimulatedUser = {
    id,
    profile: chat.user,

    send(text) {
      if (text.trim() === '') throw new Error('A Telegram user cannot send an empty message');
      if (chat.blocked) user.unblock();
      chat.started = true;
      const keyboard = chat.replyKeyboard;
      if (keyboard?.oneTime && keyboard.keyboard.flat().some((b) => b.text === text)) {
        chat.replyKeyboard = null;
        world.emit({ type: 'keyboard', chatId: id, keyboard: null });
      }
      let last: ChatEntry | undefined;
      for (const piece of splitText(text)) last = sendOne(piece);
      return last as ChatEntry;
    },

    sendMedia(kind, caption) {
      if (chat.blocked) user.unblock();
      chat.started = true;
      const captioned = kind === 'photo' || kind === 'document' || kind === 'voice';
      const stored = world.addMessage(chat, { fromBot: false, entities: [], unsimulatedKind: kind, ...(captioned && caption ? { caption } : {}) });
      queue.push('message', { ...world.apiMessage(stored), ...mediaFields(kind, stored.messageId, chat.user) }, id);
      return world.entry(stored);
    },

    press(messageId, callbackData, options = {}) {
      const message = chat.messages.get(messageId);
      if (!options.forge) {
        if (!message) throw new Error(`Message ${messageId} is not in the chat of user ${id}; pass { forge: true } to send the callback anyway`);
        const onKeyboard = (message.replyMarkup?.inline_keyboard ?? []).flat().some((b) => b.callback_data === callbackData);
        if (!onKeyboard) throw new Error(`Message ${messageId} has no button with callback data ${JSON.stringify(callbackData)}; pass { forge: true } to send it anyway`);
      }
      const query = world.newCallbackQuery(id, messageId, callbackData);
      queue.push('callback_query', {
        id: query.id,
        from: world.apiUser(chat.user),
        // Telegram sends an InaccessibleMessage (date 0) for a message the bot can no longer see.
        message: message ? world.apiMessage(message) : { chat: world.apiChat(chat), message_id: messageId, date: 0 },
        chat_instance: chatInstance,
        data: callbackData,
      }, id);
      return query.id;
    },

    click(buttonText) {
      const messages = [...chat.messages.values()].sort((a, b) => b.messageId - a.messageId);
      for (const message of messages) {
        const button = (message.replyMarkup?.inline_keyboard ?? []).flat().find((b) => b.text === buttonText && b.callback_data !== undefined);
        if (button) return user.press(message.messageId, button.callback_data as string);
      }
      const labels = messages.flatMap((m) => (m.replyMarkup?.inline_keyboard ?? []).flat().map((b) => b.text));
      throw new Error(`No button labelled ${JSON.stringify(buttonText)} in the chat of user ${id}; buttons now: ${JSON.stringify(labels)}`);
    },

    messages: () => world.transcript(id),

    lastBotMessage: () => world.transcript(id).filter((e) => e.from === 'bot').at(-1),

    waitFor(predicate, timeoutMs = DEFAULT_WAIT_MS, options = {}) {
      if (!options.fresh) {
        const found = world.transcript(id).find(predicate);
        if (found) return Promise.resolve(found);
      }
      return new Promise<ChatEntry>((resolve, reject) => {
        const timer = setTimeout(() => {
          stop();
          reject(new Error(`No message matching in the chat of user ${id} within ${timeoutMs} ms. The chat now:\n${describeTranscript(world.transcript(id))}`));
        }, timeoutMs);
        const stop = world.subscribe((event) => {
          if ((event.type === 'message' || event.type === 'edited') && event.chatId === id && predicate(event.entry)) {
            clearTimeout(timer);
            stop();
            resolve(event.entry);
          }
        });
      });
    },

    reply(text, timeoutMs = DEFAULT_WAIT_MS) {
      const sent = user.send(text);
      return user.waitFor((e) => e.from === 'bot' && e.messageId > sent.messageId, timeoutMs);
    },

    answers: () => world.answers(id),

    waitForAnswer(callbackQueryId, timeoutMs = DEFAULT_WAIT_MS) {
      const done = world.answers(id).find((a) => a.callbackQueryId === callbackQueryId);
      if (done) return Promise.resolve(done);
      return new Promise<CallbackAnswer>((resolve, reject) => {
        const timer = setTimeout(() => {
          stop();
          reject(new Error(`The bot did not answer callback query ${callbackQueryId} of user ${id} within ${timeoutMs} ms (Telegram shows the user a spinner until it does)`));
        }, timeoutMs);
        const stop = world.subscribe((event) => {
          if (event.type === 'answer' && event.answer.callbackQueryId === callbackQueryId) {
            clearTimeout(timer);
            stop();
            resolve(event.answer);
          }
        });
      });
    },

    replyKeyboard: () => chat.replyKeyboard,

    block() {
      if (chat.blocked) return;
      chat.blocked = true;
      memberUpdate('member', 'kicked');
    },

    unblock() {
      if (!chat.blocked) return;
      chat.blocked = false;
      memberUpdate('kicked', 'member');
    },
  };
  return user;
}

/** Splits like the Telegram app: pieces of at most 4096 UTF-16 units, never inside a surrogate pair. */
function splitText(text: string): string[] {
  const pieces: string[] = [];
  let rest = text;
  while (rest.length > TEXT_MAX) {
    let cut = TEXT_MAX;
    const code = rest.charCodeAt(cut - 1);
    if (code >= 0xd800 && code <= 0xdbff) cut--;
    pieces.push(rest.slice(0, cut));
    rest = rest.slice(cut);
  }
  pieces.push(rest);
  return pieces;
}

export function describeTranscript(entries: readonly ChatEntry[]): string {
  if (entries.length === 0) return '  (empty)';
  return entries
    .slice(-12)
    .map((e) => {
      const buttons = e.keyboard ? ` [${e.keyboard.flat().map((b) => b.text).join(' | ')}]` : '';
      const photo = e.photo || e.remotePhotoUrl ? '[photo] ' : e.unsimulatedKind ? `[${e.unsimulatedKind}] ` : '';
      return `  #${e.messageId} ${e.from}${e.editDate ? ' (edited)' : ''}: ${photo}${JSON.stringify(e.text.length > 300 ? `${e.text.slice(0, 300)}…` : e.text)}${buttons}`;
    })
    .join('\n');
}
