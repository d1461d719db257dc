/**
 * The limits Telegram enforces that the schema does not carry: sizes of texts, captions, callback
 * data and commands, the shape of inline buttons, the accepted values of enumerations.
 * Each check returns Telegram's description (without "Bad Request: ") or null.
 */
import { botApiSpec } from './bot-api-spec.ts';
import { DESCRIPTIONS } from './bot-api-error.ts';

export const TEXT_MAX = 4096;
export const CAPTION_MAX = 1024;
export const CALLBACK_DATA_MAX_BYTES = 64;
export const CALLBACK_ANSWER_MAX = 200;
export const INLINE_KEYBOARD_MAX_BUTTONS = 100;
export const COMMANDS_MAX = 100;

/** Text length as Telegram counts it here: UTF-16 code units (stricter than code points for emoji). */
export const textLength = (text: string): number => text.length;

/** Fields of InlineKeyboardButton of which exactly one says what the button does. */
const BUTTON_ACTIONS = ['url', 'callback_data', 'web_app', 'login_url', 'switch_inline_query', 'switch_inline_query_current_chat', 'switch_inline_query_chosen_chat', 'copy_text', 'callback_game', 'pay'] as const;

export interface InlineKeyboardButton {
  text: string;
  url?: string;
  callback_data?: string;
  [field: string]: unknown;
}
export interface InlineKeyboardMarkup {
  inline_keyboard: InlineKeyboardButton[][];
}

export const isInlineKeyboard = (markup: unknown): markup is InlineKeyboardMarkup =>
  typeof markup === 'object' && markup !== null && Array.isArray((markup as { inline_keyboard?: unknown }).inline_keyboard);

/** Checks any reply_markup (after the schema check): inline buttons, reply buttons, sizes. */
export function checkReplyMarkup(markup: unknown): string | null {
  if (isInlineKeyboard(markup)) return checkInlineKeyboard(markup);
  if (typeof markup === 'object' && markup !== null && Array.isArray((markup as { keyboard?: unknown }).keyboard)) {
    const rows = (markup as { keyboard: { text?: string }[][] }).keyboard;
    if (rows.flat().length > 300) return 'reply markup is too long';
    for (const button of rows.flat()) if (!button.text) return "can't parse keyboard button: Field \"text\" must be non-empty";
  }
  return null;
}

export function checkInlineKeyboard(markup: InlineKeyboardMarkup): string | null {
  const buttons = markup.inline_keyboard.flat();
  if (buttons.length > INLINE_KEYBOARD_MAX_BUTTONS) return 'reply markup is too long';
  for (const button of buttons) {
    const actions = BUTTON_ACTIONS.filter((field) => button[field] !== undefined && button[field] !== null && button[field] !== '');
    if (actions.length === 0) return DESCRIPTIONS.textButtonsInline;
    if (actions.length > 1) return `can't parse inline keyboard button: a button must have exactly one of ${BUTTON_ACTIONS.join(', ')}; this one has ${actions.join(' and ')}`;
    if (button.callback_data !== undefined) {
      const bytes = Buffer.byteLength(button.callback_data, 'utf8');
      if (bytes < 1 || bytes > CALLBACK_DATA_MAX_BYTES) return DESCRIPTIONS.buttonDataInvalid;
    }
    if (button.url !== undefined && !isButtonUrl(button.url)) return 'BUTTON_URL_INVALID';
  }
  return null;
}

function isButtonUrl(url: string): boolean {
  try {
    const parsed = new URL(url);
    return ['http:', 'https:', 'tg:'].includes(parsed.protocol);
  } catch {
    return false;
  }
}

const PARSE_MODES = new Set(['html', 'markdown', 'markdownv2', 'none', '']);
export function checkParseMode(mode: unknown): string | null {
  return typeof mode === 'string' && !PARSE_MODES.has(mode.toLowerCase()) ? DESCRIPTIONS.unsupportedParseMode : null;
}

export const CHAT_ACTIONS: ReadonlySet<string> = new Set(['typing', 'upload_photo', 'record_video', 'upload_video', 'record_voice', 'upload_voice', 'upload_document', 'choose_sticker', 'find_location', 'record_video_note', 'upload_video_note']);

/** Update kinds a bot may name in allowed_updates: the optional fields of Update. */
export function updateKinds(): string[] {
  return (botApiSpec().type('Update')?.fields ?? []).map((f) => f.name).filter((n) => n !== 'update_id');
}

/** Without allowed_updates Telegram sends every kind except these three. */
export const NOT_SENT_BY_DEFAULT: ReadonlySet<string> = new Set(['chat_member', 'message_reaction', 'message_reaction_count']);

export function checkAllowedUpdates(list: readonly string[]): string | null {
  const kinds = new Set(updateKinds());
  const unknown = list.find((k) => !kinds.has(k));
  return unknown === undefined ? null : `allowed_updates: "${unknown}" is not an update type (expected some of ${[...kinds].join(', ')})`;
}

export function checkCommands(commands: readonly { command: string; description: string }[]): string | null {
  if (commands.length > COMMANDS_MAX) return 'BOT_COMMANDS_TOO_MUCH';
  for (const { command, description } of commands) {
    // Telegram's words; a command is 1-32 of a-z, 0-9 and _, a description 1-256 characters.
    if (!/^[a-z0-9_]{1,32}$/.test(command)) return 'BOT_COMMAND_INVALID';
    if (description.trim().length < 1 || description.length > 256) return 'BOT_COMMAND_DESCRIPTION_INVALID';
  }
  return null;
}
