/**
 * The state on Telegram's side of the double: the bot, the simulated users and their private chats
 * with it (messages with per-chat increasing ids, edits, deletions, inline keyboards, reply
 * keyboards), callback queries waiting for an answer, uploaded files, the command menu. It is
 * the one source both the Bot API and the people (tests, the chat page) read, and it reports every
 * change through `subscribe` so the page stays live.
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../../infra/clock.ts';
import type { MessageEntity } from './formatted-text.ts';
import type { InlineKeyboardButton, InlineKeyboardMarkup } from './telegram-rules.ts';

export interface BotIdentity {
  readonly id: number;
  firstName: string;
  readonly username: string;
  description: string;
  shortDescription: string;
}

export interface UserProfile {
  readonly id: number;
  firstName: string;
  lastName?: string;
  username?: string;
  languageCode?: string;
}

export interface StoredFile {
  readonly fileId: string;
  readonly fileUniqueId: string;
  readonly data: Buffer;
  readonly mime: string;
  readonly width: number;
  readonly height: number;
  readonly filePath: string;
}

export interface StoredMessage {
  readonly messageId: number;
  readonly chatId: number;
  readonly date: number;
  readonly fromBot: boolean;
  editDate?: number;
  text?: string;
  entities: MessageEntity[];
  caption?: string;
  captionEntities: MessageEntity[];
  photo?: StoredFile;
  /** A photo sent by URL: the double does not fetch it, the page shows a placeholder. */
  remotePhotoUrl?: string;
  /** Content the double does not simulate (a document, a poll…): named for the transcript. */
  unsimulatedKind?: string;
  replyMarkup?: InlineKeyboardMarkup;
  replyTo?: number;
  /** For a user's message: the bot has fetched the update carrying it. */
  delivered: boolean;
}

export interface ReplyKeyboard {
  readonly keyboard: { text: string }[][];
  readonly oneTime: boolean;
  readonly placeholder?: string;
}

export interface Chat {
  readonly user: UserProfile;
  /** The user wrote to the bot at least once (Telegram's "started the bot"). */
  started: boolean;
  blocked: boolean;
  nextMessageId: number;
  readonly messages: Map<number, StoredMessage>;
  replyKeyboard: ReplyKeyboard | null;
}

export interface CallbackQueryState {
  readonly id: string;
  readonly chatId: number;
  readonly messageId: number;
  readonly data: string;
  readonly createdAt: number;
  answered: boolean;
}

/** What a callback answer shows the user: a toast, or an alert when showAlert. */
export interface CallbackAnswer {
  readonly callbackQueryId: string;
  readonly messageId: number;
  readonly data: string;
  readonly text?: string;
  readonly showAlert: boolean;
  readonly url?: string;
  readonly at: number;
}

export interface BotCommand {
  readonly command: string;
  readonly description: string;
}

/** One message as its user sees it in the chat: current content after edits. */
export interface ChatEntry {
  readonly messageId: number;
  readonly from: 'bot' | 'user';
  readonly date: number;
  readonly editDate?: number;
  /** Text, or a photo's caption; '' when none. */
  readonly text: string;
  readonly entities: readonly MessageEntity[];
  readonly photo?: { readonly url: string; readonly width: number; readonly height: number };
  readonly remotePhotoUrl?: string;
  readonly unsimulatedKind?: string;
  /** The inline keyboard under the message, if any. */
  readonly keyboard?: readonly (readonly InlineKeyboardButton[])[];
  readonly replyTo?: number;
  readonly delivered: boolean;
}

export type ChatEvent =
  | { readonly type: 'message'; readonly chatId: number; readonly entry: ChatEntry }
  | { readonly type: 'edited'; readonly chatId: number; readonly entry: ChatEntry }
  | { readonly type: 'deleted'; readonly chatId: number; readonly messageId: number }
  | { readonly type: 'delivered'; readonly chatId: number; readonly messageId: number }
  | { readonly type: 'answer'; readonly chatId: number; readonly answer: CallbackAnswer }
  | { readonly type: 'action'; readonly chatId: number; readonly action: string }
  | { readonly type: 'keyboard'; readonly chatId: number; readonly keyboard: ReplyKeyboard | null }
  | { readonly type: 'commands'; readonly commands: readonly BotCommand[] }
  | { readonly type: 'profile'; readonly bot: { readonly name: string; readonly username: string; readonly description: string } };

export interface WorldSnapshot {
  readonly bot: { firstName: string; description: string; shortDescription: string };
  readonly commands: [string, BotCommand[]][];
  readonly chats: {
    user: UserProfile;
    started: boolean;
    blocked: boolean;
    nextMessageId: number;
    replyKeyboard: ReplyKeyboard | null;
    messages: (Omit<StoredMessage, 'photo'> & { photoFileId?: string })[];
  }[];
  readonly files: (Omit<StoredFile, 'data'> & { data: string })[];
  readonly nextFile: number;
}

/** URL path under which the page loads uploaded photos (no token needed, loopback only). */
export const FILE_ROUTE = '/chat/files/';

export class ChatWorld {
  readonly bot: BotIdentity;
  readonly clock: Clock;
  private readonly chats = new Map<number, Chat>();
  private readonly queries = new Map<string, CallbackQueryState>();
  private readonly answerLog = new Map<number, CallbackAnswer[]>();
  private readonly files = new Map<string, StoredFile>();
  private readonly listeners = new Set<(event: ChatEvent) => void>();
  /** Commands per scope key ('default', 'all_private_chats', 'chat:<id>') and language. */
  readonly commands = new Map<string, BotCommand[]>();
  private nextQueryId = BigInt(`0x${randomBytes(6).toString('hex')}`) * 1000n;
  private nextFile = 1;

  constructor(bot: BotIdentity, clock: Clock) {
    this.bot = bot;
    this.clock = clock;
  }

  nowSeconds(): number {
    return Math.floor(this.clock.now() / 1000);
  }

  subscribe(listener: (event: ChatEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: ChatEvent): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch {
        // A failing page or test listener must not break the Bot API call that caused the event.
      }
    }
  }

  /** The chat with user `id`, created (not yet started) on first use. */
  ensureUser(profile: UserProfile): Chat {
    let chat = this.chats.get(profile.id);
    if (!chat) {
      chat = { user: { ...profile }, started: false, blocked: false, nextMessageId: 1, messages: new Map(), replyKeyboard: null };
      this.chats.set(profile.id, chat);
    }
    return chat;
  }

  chat(id: number): Chat | undefined {
    return this.chats.get(id);
  }

  allChats(): Chat[] {
    return [...this.chats.values()];
  }

  addMessage(chat: Chat, message: Omit<StoredMessage, 'messageId' | 'chatId' | 'date' | 'delivered' | 'entities' | 'captionEntities'> & Partial<Pick<StoredMessage, 'entities' | 'captionEntities'>>): StoredMessage {
    const stored: StoredMessage = {
      entities: [],
      captionEntities: [],
      ...message,
      messageId: chat.nextMessageId++,
      chatId: chat.user.id,
      date: this.nowSeconds(),
      delivered: message.fromBot,
    };
    chat.messages.set(stored.messageId, stored);
    this.emit({ type: 'message', chatId: chat.user.id, entry: this.entry(stored) });
    return stored;
  }

  edited(message: StoredMessage): void {
    message.editDate = this.nowSeconds();
    this.emit({ type: 'edited', chatId: message.chatId, entry: this.entry(message) });
  }

  deleteMessage(chat: Chat, messageId: number): boolean {
    if (!chat.messages.delete(messageId)) return false;
    this.emit({ type: 'deleted', chatId: chat.user.id, messageId });
    return true;
  }

  markDelivered(chatId: number, messageId: number): void {
    const message = this.chats.get(chatId)?.messages.get(messageId);
    if (!message || message.delivered) return;
    message.delivered = true;
    this.emit({ type: 'delivered', chatId, messageId });
  }

  newCallbackQuery(chatId: number, messageId: number, data: string): CallbackQueryState {
    // Queries older than an hour can no longer be answered; forget them so a long session stays small.
    if (this.queries.size >= 10_000) {
      const cutoff = this.clock.now() - 3_600_000;
      for (const [id, q] of this.queries) if (q.createdAt < cutoff) this.queries.delete(id);
    }
    const query: CallbackQueryState = { id: String(this.nextQueryId++), chatId, messageId, data, createdAt: this.clock.now(), answered: false };
    this.queries.set(query.id, query);
    return query;
  }

  callbackQuery(id: string): CallbackQueryState | undefined {
    return this.queries.get(id);
  }

  recordAnswer(query: CallbackQueryState, answer: Omit<CallbackAnswer, 'callbackQueryId' | 'messageId' | 'data' | 'at'>): CallbackAnswer {
    query.answered = true;
    const full: CallbackAnswer = { ...answer, callbackQueryId: query.id, messageId: query.messageId, data: query.data, at: this.clock.now() };
    const log = this.answerLog.get(query.chatId) ?? [];
    log.push(full);
    this.answerLog.set(query.chatId, log);
    this.emit({ type: 'answer', chatId: query.chatId, answer: full });
    return full;
  }

  answers(chatId: number): CallbackAnswer[] {
    return [...(this.answerLog.get(chatId) ?? [])];
  }

  storeFile(data: Buffer, mime: string, width: number, height: number): StoredFile {
    const n = this.nextFile++;
    const unique = `AQAD${randomBytes(8).toString('base64url')}`;
    const file: StoredFile = { fileId: `AgACAgQAAxkDAAI${n}${randomBytes(12).toString('base64url')}`, fileUniqueId: unique, data, mime, width, height, filePath: `photos/file_${n}.${mime.split('/')[1] ?? 'bin'}` };
    this.files.set(file.fileId, file);
    return file;
  }

  file(fileId: string): StoredFile | undefined {
    return this.files.get(fileId);
  }

  fileByUniqueId(uniqueId: string): StoredFile | undefined {
    return [...this.files.values()].find((f) => f.fileUniqueId === uniqueId);
  }

  fileByPath(path: string): StoredFile | undefined {
    return [...this.files.values()].find((f) => f.filePath === path);
  }

  /** Commands the user of `chatId` sees: the most specific scope that has some (Telegram's order). */
  commandsFor(chatId: number | null, language = ''): BotCommand[] {
    const scopes = chatId === null ? ['all_private_chats', 'default'] : [`chat:${chatId}`, 'all_private_chats', 'default'];
    for (const scope of scopes) {
      const found = this.commands.get(`${scope}|${language}`) ?? (language ? this.commands.get(`${scope}|`) : undefined);
      if (found && found.length > 0) return found;
    }
    return [];
  }

  // --- persistence (world-persistence.ts) -----------------------------------------------------

  /** Everything a restart should keep: the bot's profile, commands, chats with their messages, files. */
  snapshot(): WorldSnapshot {
    return {
      bot: { firstName: this.bot.firstName, description: this.bot.description, shortDescription: this.bot.shortDescription },
      commands: [...this.commands.entries()],
      chats: [...this.chats.values()].map((chat) => ({
        user: chat.user,
        started: chat.started,
        blocked: chat.blocked,
        nextMessageId: chat.nextMessageId,
        replyKeyboard: chat.replyKeyboard,
        messages: [...chat.messages.values()].map(({ photo, ...rest }) => ({ ...rest, ...(photo ? { photoFileId: photo.fileId } : {}) })),
      })),
      files: [...this.files.values()].map(({ data, ...rest }) => ({ ...rest, data: data.toString('base64') })),
      nextFile: this.nextFile,
    };
  }

  restore(snapshot: WorldSnapshot): void {
    Object.assign(this.bot, snapshot.bot);
    for (const [key, commands] of snapshot.commands) this.commands.set(key, commands);
    for (const file of snapshot.files) this.files.set(file.fileId, { ...file, data: Buffer.from(file.data, 'base64') });
    this.nextFile = Math.max(this.nextFile, snapshot.nextFile);
    for (const saved of snapshot.chats) {
      const messages = new Map<number, StoredMessage>();
      for (const { photoFileId, ...message } of saved.messages) {
        const photo = photoFileId === undefined ? undefined : this.files.get(photoFileId);
        messages.set(message.messageId, { ...message, ...(photo ? { photo } : {}) });
      }
      this.chats.set(saved.user.id, { user: saved.user, started: saved.started, blocked: saved.blocked, nextMessageId: saved.nextMessageId, replyKeyboard: saved.replyKeyboard, messages });
    }
  }

  /** The user's view of one message. */
  entry(message: StoredMessage): ChatEntry {
    return {
      messageId: message.messageId,
      from: message.fromBot ? 'bot' : 'user',
      date: message.date,
      ...(message.editDate !== undefined ? { editDate: message.editDate } : {}),
      text: (message.text ?? message.caption) ?? '',
      entities: message.text !== undefined ? message.entities : message.captionEntities,
      ...(message.photo ? { photo: { url: `${FILE_ROUTE}${message.photo.fileUniqueId}`, width: message.photo.width, height: message.photo.height } } : {}),
      ...(message.remotePhotoUrl ? { remotePhotoUrl: message.remotePhotoUrl } : {}),
      ...(message.unsimulatedKind ? { unsimulatedKind: message.unsimulatedKind } : {}),
      ...(message.replyMarkup ? { keyboard: message.replyMarkup.inline_keyboard } : {}),
      ...(message.replyTo !== undefined ? { replyTo: message.replyTo } : {}),
      delivered: message.delivered,
    };
  }

  transcript(chatId: number): ChatEntry[] {
    const chat = this.chats.get(chatId);
    if (!chat) return [];
    return [...chat.messages.values()].sort((a, b) => a.messageId - b.messageId).map((m) => this.entry(m));
  }

  // --- Bot API shapes -------------------------------------------------------------------------

  botUser(): { id: number; is_bot: true; first_name: string; username: string } {
    return { id: this.bot.id, is_bot: true, first_name: this.bot.firstName, username: this.bot.username };
  }

  apiUser(user: UserProfile): Record<string, unknown> {
    return {
      id: user.id,
      is_bot: false,
      first_name: user.firstName,
      ...(user.lastName ? { last_name: user.lastName } : {}),
      ...(user.username ? { username: user.username } : {}),
      ...(user.languageCode ? { language_code: user.languageCode } : {}),
    };
  }

  apiChat(chat: Chat): Record<string, unknown> {
    return {
      id: chat.user.id,
      type: 'private',
      first_name: chat.user.firstName,
      ...(chat.user.lastName ? { last_name: chat.user.lastName } : {}),
      ...(chat.user.username ? { username: chat.user.username } : {}),
    };
  }

  /** A stored message as the Bot API's Message object. */
  apiMessage(message: StoredMessage): Record<string, unknown> {
    const chat = this.chats.get(message.chatId) as Chat;
    const out: Record<string, unknown> = {
      message_id: message.messageId,
      from: message.fromBot ? this.botUser() : this.apiUser(chat.user),
      chat: this.apiChat(chat),
      date: message.date,
    };
    if (message.replyTo !== undefined) {
      const replied = chat.messages.get(message.replyTo);
      if (replied) out['reply_to_message'] = { ...this.apiMessage(replied), reply_to_message: undefined };
    }
    if (message.editDate !== undefined) out['edit_date'] = message.editDate;
    if (message.text !== undefined) {
      out['text'] = message.text;
      if (message.entities.length) out['entities'] = message.entities;
    }
    if (message.photo) out['photo'] = photoSizes(message.photo);
    else if (message.remotePhotoUrl) out['photo'] = [{ file_id: `remote-${message.chatId}-${message.messageId}`, file_unique_id: `remote${message.messageId}`, width: 0, height: 0 }];
    if (message.caption !== undefined && message.caption !== '') {
      out['caption'] = message.caption;
      if (message.captionEntities.length) out['caption_entities'] = message.captionEntities;
    }
    if (message.replyMarkup) out['reply_markup'] = message.replyMarkup;
    return JSON.parse(JSON.stringify(out)) as Record<string, unknown>;
  }
}

/** Telegram returns several sizes of a photo; the double keeps one, the original. */
function photoSizes(file: StoredFile): Record<string, unknown>[] {
  return [{ file_id: file.fileId, file_unique_id: file.fileUniqueId, file_size: file.data.length, width: file.width, height: file.height }];
}
