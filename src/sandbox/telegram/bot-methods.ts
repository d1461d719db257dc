/**
 * The Bot API methods a trading bot uses, with Telegram's semantics: who may be written to, what
 * a message becomes after parsing, what editing, deleting and answering callback queries require,
 * and the errors Telegram gives otherwise. Parameters arrive already checked against the schema
 * (validate-params.ts); these handlers check what only the state can tell.
 */
import { badRequest, conflict, DESCRIPTIONS, forbidden, tooManyRequests } from './bot-api-error.ts';
import type { MethodSpec } from './bot-api-spec.ts';
import type { BotCommand, Chat, ChatWorld, StoredFile, StoredMessage } from './chat-world.ts';
import type { FloodControl } from './flood-control.ts';
import { checkEntities, formatText, type FormattedText, type MessageEntity } from './formatted-text.ts';
import { imageInfo } from './image-info.ts';
import type { LongPoll, PollConnection } from './long-poll.ts';
import { plausibleResult } from './plausible-result.ts';
import {
  CALLBACK_ANSWER_MAX, CAPTION_MAX, CHAT_ACTIONS, checkAllowedUpdates, checkCommands, checkParseMode, checkReplyMarkup, isInlineKeyboard, TEXT_MAX, textLength,
  type InlineKeyboardMarkup,
} from './telegram-rules.ts';
import type { UpdateQueue } from './update-queue.ts';
import { Upload } from './validate-params.ts';
import type { WebhookDelivery } from './webhook-delivery.ts';

export interface MethodContext {
  readonly world: ChatWorld;
  readonly queue: UpdateQueue;
  readonly poll: LongPoll;
  readonly webhook: WebhookDelivery;
  readonly flood: FloodControl;
  readonly callbackAnswerTimeoutMs: number;
  readonly menuButtons: Map<string, unknown>;
  /** The HTTP request this call came on (getUpdates holds it open). */
  readonly connection: PollConnection;
}

type Params = Record<string, unknown>;
export type MethodHandler = (params: Params, ctx: MethodContext) => unknown;

const MAX_PHOTO_BYTES = 10 * 1024 * 1024;

// --- shared checks --------------------------------------------------------------------------------

/** The private chat `chat_id` names, if the bot may write there; Telegram's refusal otherwise. */
function writableChat(ctx: MethodContext, chatId: unknown): Chat {
  const chat = knownChat(ctx, chatId);
  if (chat.blocked) throw forbidden(DESCRIPTIONS.blocked);
  if (!chat.started) throw forbidden(DESCRIPTIONS.cantInitiate);
  return chat;
}

function knownChat(ctx: MethodContext, chatId: unknown): Chat {
  const id = typeof chatId === 'number' ? chatId : typeof chatId === 'string' && /^-?\d+$/.test(chatId) ? Number(chatId) : null;
  // Bots cannot look up private users by @username, and the double has no groups or channels.
  const chat = id === null ? undefined : ctx.world.chat(id);
  if (!chat) throw badRequest(DESCRIPTIONS.chatNotFound);
  return chat;
}

function format(text: string, parseMode: unknown, entities: unknown, path: string): FormattedText {
  const modeProblem = checkParseMode(parseMode);
  if (modeProblem) throw badRequest(modeProblem);
  const explicit = Array.isArray(entities) && (parseMode === undefined || parseMode === '') ? (entities as MessageEntity[]) : undefined;
  if (explicit) {
    const problem = checkEntities(explicit, text.length, path);
    if (problem) throw badRequest(problem);
  }
  return formatText(text, parseMode as string | undefined, explicit);
}

function messageText(params: Params): FormattedText {
  const text = params['text'] as string;
  if (text === '') throw badRequest(DESCRIPTIONS.textEmpty);
  const formatted = format(text, params['parse_mode'], params['entities'], 'entities');
  if (formatted.text === '') throw badRequest(DESCRIPTIONS.textEmpty);
  if (textLength(formatted.text) > TEXT_MAX) throw badRequest(DESCRIPTIONS.textTooLong);
  return formatted;
}

function caption(params: Params): FormattedText | null {
  const raw = params['caption'];
  if (typeof raw !== 'string' || raw === '') return null;
  const formatted = format(raw, params['parse_mode'], params['caption_entities'], 'caption_entities');
  if (textLength(formatted.text) > CAPTION_MAX) throw badRequest(DESCRIPTIONS.captionTooLong);
  return formatted;
}

function markup(params: Params): unknown {
  const value = params['reply_markup'];
  if (value === undefined) return undefined;
  const problem = checkReplyMarkup(value);
  if (problem) throw badRequest(problem);
  return value;
}

function replyTarget(chat: Chat, params: Params): number | undefined {
  const reply = params['reply_parameters'] as { message_id: number; chat_id?: number | string; allow_sending_without_reply?: boolean } | undefined;
  if (!reply) return undefined;
  if (reply.chat_id !== undefined && String(reply.chat_id) !== String(chat.user.id)) throw badRequest('message to be replied not found');
  if (chat.messages.has(reply.message_id)) return reply.message_id;
  if (reply.allow_sending_without_reply) return undefined;
  throw badRequest('message to be replied not found');
}

function takeFlood(ctx: MethodContext, chat: Chat): void {
  const wait = ctx.flood.take(chat.user.id);
  if (wait !== null) throw tooManyRequests(wait);
}

/** Reply keyboards belong to the chat, not the message: show, replace or remove them. */
function applyReplyKeyboard(ctx: MethodContext, chat: Chat, value: unknown): void {
  if (typeof value !== 'object' || value === null) return;
  const markupObject = value as { keyboard?: { text: string }[][]; remove_keyboard?: boolean; one_time_keyboard?: boolean; input_field_placeholder?: string };
  if (markupObject.keyboard) {
    chat.replyKeyboard = { keyboard: markupObject.keyboard.map((row) => row.map((b) => ({ text: b.text }))), oneTime: markupObject.one_time_keyboard === true, ...(markupObject.input_field_placeholder ? { placeholder: markupObject.input_field_placeholder } : {}) };
    ctx.world.emit({ type: 'keyboard', chatId: chat.user.id, keyboard: chat.replyKeyboard });
  } else if (markupObject.remove_keyboard) {
    chat.replyKeyboard = null;
    ctx.world.emit({ type: 'keyboard', chatId: chat.user.id, keyboard: null });
  }
}

/** The message to edit: it exists, and it is the bot's. */
function messageToEdit(ctx: MethodContext, params: Params): { chat: Chat; message: StoredMessage } {
  if (params['chat_id'] === undefined) throw badRequest('chat_id is empty');
  if (params['message_id'] === undefined) throw badRequest('message identifier is not specified');
  const chat = knownChat(ctx, params['chat_id']);
  const message = chat.messages.get(params['message_id'] as number);
  if (!message) throw badRequest(DESCRIPTIONS.editNotFound);
  if (!message.fromBot) throw badRequest("message can't be edited");
  return { chat, message };
}

const sameEntities = (a: readonly MessageEntity[], b: readonly MessageEntity[]) => JSON.stringify(a) === JSON.stringify(b);
const keyboardKey = (m: InlineKeyboardMarkup | undefined) => (m && m.inline_keyboard.flat().length > 0 ? JSON.stringify(m.inline_keyboard) : '');
const inlineOrNone = (value: unknown): InlineKeyboardMarkup | undefined => (isInlineKeyboard(value) && value.inline_keyboard.flat().length > 0 ? value : undefined);

const menuKey = (chatId: unknown): string => (typeof chatId === 'number' || typeof chatId === 'string' ? String(chatId) : 'default');

function commandScopeKey(scope: unknown): string {
  const s = (scope ?? { type: 'default' }) as { type: string; chat_id?: number | string; user_id?: number };
  return s.type === 'chat' || s.type === 'chat_administrators' || s.type === 'chat_member' ? `chat:${String(s.chat_id)}${s.user_id !== undefined ? `:${String(s.user_id)}` : ''}` : s.type;
}

function photoFrom(ctx: MethodContext, value: unknown): { file?: StoredFile; remoteUrl?: string } {
  if (value instanceof Upload) {
    const data = value.file.data;
    if (data.length > MAX_PHOTO_BYTES) throw badRequest('file is too big');
    const info = imageInfo(data);
    if (!info) throw badRequest('IMAGE_PROCESS_FAILED');
    return { file: ctx.world.storeFile(data, info.mime, info.width, info.height) };
  }
  const id = String(value);
  const known = ctx.world.file(id);
  if (known) return { file: known };
  if (/^https?:\/\/\S+$/i.test(id)) return { remoteUrl: id };
  throw badRequest('wrong file identifier/HTTP URL specified');
}

// --- the simulated methods ----------------------------------------------------------------------

export const SIMULATED_METHODS: Readonly<Record<string, MethodHandler>> = {
  getMe: (_params, ctx) => ({
    ...ctx.world.botUser(),
    can_join_groups: false,
    can_read_all_group_messages: false,
    supports_inline_queries: false,
    can_connect_to_business: false,
    has_main_web_app: false,
  }),

  getUpdates: async (params, ctx) => {
    const allowed = params['allowed_updates'] as string[] | undefined;
    if (allowed) {
      const problem = checkAllowedUpdates(allowed);
      if (problem) throw badRequest(problem);
    }
    return ctx.poll.getUpdates(params, ctx.connection);
  },

  setWebhook: (params, ctx) => {
    const url = params['url'] as string;
    if (url === '') return SIMULATED_METHODS['deleteWebhook']?.(params, ctx);
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw badRequest('bad webhook: invalid URL specified');
    }
    // Telegram demands HTTPS on ports 443, 80, 88 or 8443; a loopback double must accept local HTTP.
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw badRequest('bad webhook: An HTTPS URL must be provided for webhook');
    const secret = params['secret_token'] as string | undefined;
    if (secret !== undefined && !/^[A-Za-z0-9_-]{1,256}$/.test(secret)) throw badRequest('secret token contains unallowed characters');
    const maxConnections = (params['max_connections'] as number | undefined) ?? 40;
    if (maxConnections < 1 || maxConnections > 100) throw badRequest('max_connections must be between 1 and 100');
    const allowed = params['allowed_updates'] as string[] | undefined;
    if (allowed) {
      const problem = checkAllowedUpdates(allowed);
      if (problem) throw badRequest(problem);
    }
    if (params['drop_pending_updates'] === true) ctx.queue.clear();
    ctx.queue.setAllowed(allowed);
    ctx.poll.terminate(conflict('terminated by setWebhook request'));
    ctx.webhook.set({ url, maxConnections, ...(secret !== undefined ? { secretToken: secret } : {}) });
    return true;
  },

  deleteWebhook: (params, ctx) => {
    if (params['drop_pending_updates'] === true) ctx.queue.clear();
    ctx.webhook.clear();
    return true;
  },

  getWebhookInfo: (_params, ctx) => ctx.webhook.info(ctx.queue.allowedKinds()),

  sendMessage: (params, ctx) => {
    const formatted = messageText(params);
    const replyMarkup = markup(params);
    const chat = writableChat(ctx, params['chat_id']);
    const replyTo = replyTarget(chat, params);
    takeFlood(ctx, chat);
    const inline = inlineOrNone(replyMarkup);
    const stored = ctx.world.addMessage(chat, {
      fromBot: true,
      text: formatted.text,
      entities: [...formatted.entities],
      ...(inline ? { replyMarkup: inline } : {}),
      ...(replyTo !== undefined ? { replyTo } : {}),
    });
    applyReplyKeyboard(ctx, chat, replyMarkup);
    return ctx.world.apiMessage(stored);
  },

  sendPhoto: (params, ctx) => {
    const captionText = caption(params);
    const replyMarkup = markup(params);
    const chat = writableChat(ctx, params['chat_id']);
    const replyTo = replyTarget(chat, params);
    const photo = photoFrom(ctx, params['photo']);
    takeFlood(ctx, chat);
    const inline = inlineOrNone(replyMarkup);
    const stored = ctx.world.addMessage(chat, {
      fromBot: true,
      ...(photo.file ? { photo: photo.file } : {}),
      ...(photo.remoteUrl ? { remotePhotoUrl: photo.remoteUrl } : {}),
      ...(captionText ? { caption: captionText.text, captionEntities: [...captionText.entities] } : {}),
      ...(inline ? { replyMarkup: inline } : {}),
      ...(replyTo !== undefined ? { replyTo } : {}),
    });
    applyReplyKeyboard(ctx, chat, replyMarkup);
    return ctx.world.apiMessage(stored);
  },

  editMessageText: (params, ctx) => {
    if (params['inline_message_id'] !== undefined) throw badRequest('MESSAGE_ID_INVALID');
    const formatted = messageText(params);
    const newMarkup = inlineOrNone(markup(params));
    const { message } = messageToEdit(ctx, params);
    if (message.text === undefined) throw badRequest('there is no text in the message to edit');
    // Leaving out reply_markup removes the keyboard, as on Telegram.
    if (message.text === formatted.text && sameEntities(message.entities, formatted.entities) && keyboardKey(message.replyMarkup) === keyboardKey(newMarkup)) throw badRequest(DESCRIPTIONS.notModified);
    message.text = formatted.text;
    message.entities = [...formatted.entities];
    if (newMarkup) message.replyMarkup = newMarkup;
    else delete message.replyMarkup;
    ctx.world.edited(message);
    return ctx.world.apiMessage(message);
  },

  editMessageCaption: (params, ctx) => {
    if (params['inline_message_id'] !== undefined) throw badRequest('MESSAGE_ID_INVALID');
    const captionText = caption(params);
    const newMarkup = inlineOrNone(markup(params));
    const { message } = messageToEdit(ctx, params);
    if (message.text !== undefined) throw badRequest('there is no caption in the message to edit');
    const text = captionText?.text ?? '';
    const entities = captionText?.entities ?? [];
    if ((message.caption ?? '') === text && sameEntities(message.captionEntities, entities) && keyboardKey(message.replyMarkup) === keyboardKey(newMarkup)) throw badRequest(DESCRIPTIONS.notModified);
    message.caption = text;
    message.captionEntities = [...entities];
    if (newMarkup) message.replyMarkup = newMarkup;
    else delete message.replyMarkup;
    ctx.world.edited(message);
    return ctx.world.apiMessage(message);
  },

  editMessageReplyMarkup: (params, ctx) => {
    if (params['inline_message_id'] !== undefined) throw badRequest('MESSAGE_ID_INVALID');
    const newMarkup = inlineOrNone(markup(params));
    const { message } = messageToEdit(ctx, params);
    if (keyboardKey(message.replyMarkup) === keyboardKey(newMarkup)) throw badRequest(DESCRIPTIONS.notModified);
    if (newMarkup) message.replyMarkup = newMarkup;
    else delete message.replyMarkup;
    ctx.world.edited(message);
    return ctx.world.apiMessage(message);
  },

  deleteMessage: (params, ctx) => {
    const chat = knownChat(ctx, params['chat_id']);
    if (!ctx.world.deleteMessage(chat, params['message_id'] as number)) throw badRequest(DESCRIPTIONS.deleteNotFound);
    return true;
  },

  deleteMessages: (params, ctx) => {
    const chat = knownChat(ctx, params['chat_id']);
    const ids = params['message_ids'] as number[];
    if (ids.length < 1 || ids.length > 100) throw badRequest('message_ids must contain 1-100 identifiers');
    for (const id of ids) ctx.world.deleteMessage(chat, id);
    return true;
  },

  answerCallbackQuery: (params, ctx) => {
    const query = ctx.world.callbackQuery(params['callback_query_id'] as string);
    const expired = query !== undefined && ctx.world.clock.now() - query.createdAt > ctx.callbackAnswerTimeoutMs;
    if (!query || query.answered || expired) throw badRequest(DESCRIPTIONS.queryInvalid);
    const text = params['text'] as string | undefined;
    if (text !== undefined && textLength(text) > CALLBACK_ANSWER_MAX) throw badRequest('MESSAGE_TOO_LONG');
    ctx.world.recordAnswer(query, {
      showAlert: params['show_alert'] === true,
      ...(text ? { text } : {}),
      ...(params['url'] !== undefined ? { url: params['url'] as string } : {}),
    });
    return true;
  },

  sendChatAction: (params, ctx) => {
    const action = params['action'] as string;
    if (!CHAT_ACTIONS.has(action)) throw badRequest('wrong parameter action in request');
    const chat = writableChat(ctx, params['chat_id']);
    ctx.world.emit({ type: 'action', chatId: chat.user.id, action });
    return true;
  },

  setMyCommands: (params, ctx) => {
    const commands = params['commands'] as BotCommand[];
    const problem = checkCommands(commands);
    if (problem) throw badRequest(problem);
    ctx.world.commands.set(`${commandScopeKey(params['scope'])}|${(params['language_code'] as string | undefined) ?? ''}`, commands.map((c) => ({ command: c.command, description: c.description })));
    ctx.world.emit({ type: 'commands', commands: ctx.world.commandsFor(null) });
    return true;
  },

  deleteMyCommands: (params, ctx) => {
    ctx.world.commands.delete(`${commandScopeKey(params['scope'])}|${(params['language_code'] as string | undefined) ?? ''}`);
    ctx.world.emit({ type: 'commands', commands: ctx.world.commandsFor(null) });
    return true;
  },

  getMyCommands: (params, ctx) => ctx.world.commands.get(`${commandScopeKey(params['scope'])}|${(params['language_code'] as string | undefined) ?? ''}`) ?? [],

  setChatMenuButton: (params, ctx) => {
    const key = menuKey(params['chat_id']);
    if (key !== 'default') knownChat(ctx, params['chat_id']);
    ctx.menuButtons.set(key, params['menu_button'] ?? { type: 'default' });
    return true;
  },

  getChatMenuButton: (params, ctx) => ctx.menuButtons.get(menuKey(params['chat_id'])) ?? ctx.menuButtons.get('default') ?? { type: 'default' },

  setMyName: (params, ctx) => {
    const name = (params['name'] as string | undefined) ?? '';
    if (name.length > 64) throw badRequest('bot name is too long');
    if (!params['language_code']) {
      ctx.world.bot.firstName = name || 'Vanta';
      emitProfile(ctx);
    }
    return true;
  },
  getMyName: (_params, ctx) => ({ name: ctx.world.bot.firstName }),

  setMyDescription: (params, ctx) => {
    const description = (params['description'] as string | undefined) ?? '';
    if (description.length > 512) throw badRequest('bot description is too long');
    if (!params['language_code']) {
      ctx.world.bot.description = description;
      emitProfile(ctx);
    }
    return true;
  },
  getMyDescription: (_params, ctx) => ({ description: ctx.world.bot.description }),

  setMyShortDescription: (params, ctx) => {
    const description = (params['short_description'] as string | undefined) ?? '';
    if (description.length > 120) throw badRequest('bot short description is too long');
    if (!params['language_code']) ctx.world.bot.shortDescription = description;
    return true;
  },
  getMyShortDescription: (_params, ctx) => ({ short_description: ctx.world.bot.shortDescription }),

  getChat: (params, ctx) => {
    const chat = knownChat(ctx, params['chat_id']);
    if (!chat.started) throw badRequest(DESCRIPTIONS.chatNotFound);
    return {
      ...(plausibleResult(['ChatFullInfo']) as Record<string, unknown>),
      ...ctx.world.apiChat(chat),
      accent_color_id: 0,
      max_reaction_count: 11,
    };
  },

  getFile: (params, ctx) => {
    const file = ctx.world.file(params['file_id'] as string);
    if (!file) throw badRequest('invalid file_id');
    return { file_id: file.fileId, file_unique_id: file.fileUniqueId, file_size: file.data.length, file_path: file.filePath };
  },
};

function emitProfile(ctx: MethodContext): void {
  ctx.world.emit({ type: 'profile', bot: { name: ctx.world.bot.firstName, username: ctx.world.bot.username, description: ctx.world.bot.description } });
}

/** Methods that send a message count against flood control and need a chat that started the bot. */
const SENDS_MESSAGE = /^(send(?!ChatAction|MessageDraft)|copyMessage|forwardMessage)/;

/**
 * A valid call to a method the double does not simulate: messages it would send still appear in
 * the chat (as a placeholder naming the method) and obey the chat and flood rules; everything else
 * gets a well-formed empty result.
 */
export function unsimulatedHandler(method: MethodSpec): MethodHandler {
  return (params, ctx) => {
    if (SENDS_MESSAGE.test(method.name) && params['chat_id'] !== undefined) {
      const captionText = caption(params);
      const chat = writableChat(ctx, params['chat_id']);
      takeFlood(ctx, chat);
      const stored = ctx.world.addMessage(chat, {
        fromBot: true,
        unsimulatedKind: method.name,
        ...(captionText ? { caption: captionText.text, captionEntities: [...captionText.entities] } : { caption: '' }),
      });
      const message = ctx.world.apiMessage(stored);
      if (method.returns.includes('Message')) return message;
      if (method.returns[0] === 'Array of Message') return [message];
      if (method.returns[0] === 'MessageId') return { message_id: stored.messageId };
      if (method.returns[0] === 'Array of MessageId') return [{ message_id: stored.messageId }];
    }
    return plausibleResult(method.returns);
  };
}
