/**
 * Text with entities, as Telegram stores a message after parsing: offsets and lengths in UTF-16
 * code units, leading and trailing white space removed, entities Telegram detects by itself
 * (commands, links, mentions, hashtags, e-mail addresses) added.
 */
import { badRequest, DESCRIPTIONS } from './bot-api-error.ts';
import { parseHtml } from './html-entities.ts';
import { parseMarkdown, parseMarkdownV2 } from './markdown-entities.ts';

export interface MessageEntity {
  type: string;
  offset: number;
  length: number;
  url?: string;
  user?: { id: number; is_bot: boolean; first_name: string };
  language?: string;
  custom_emoji_id?: string;
}

export interface FormattedText {
  readonly text: string;
  readonly entities: readonly MessageEntity[];
}

/** Entity types a bot may pass in `entities` / `caption_entities`. */
export const ENTITY_TYPES: ReadonlySet<string> = new Set([
  'mention', 'hashtag', 'cashtag', 'bot_command', 'url', 'email', 'phone_number', 'bold', 'italic', 'underline', 'strikethrough', 'spoiler',
  'blockquote', 'expandable_blockquote', 'code', 'pre', 'text_link', 'text_mention', 'custom_emoji',
]);

/**
 * Parses `text` in `parseMode` (none, HTML, MarkdownV2 or Markdown, case-insensitive, as Telegram
 * accepts them) or takes explicit `entities`. Throws Telegram's 400 when the mode is unknown or the
 * markup does not parse.
 */
export function formatText(text: string, parseMode: string | undefined, entities: readonly MessageEntity[] | undefined): FormattedText {
  const mode = (parseMode ?? '').toLowerCase();
  let parsed: FormattedText;
  if (mode === '' || mode === 'none' || text === '') {
    parsed = { text, entities: entities ? entities.map((e) => ({ ...e })) : [] };
  } else {
    const parser = mode === 'html' ? parseHtml : mode === 'markdownv2' ? parseMarkdownV2 : mode === 'markdown' ? parseMarkdown : null;
    if (!parser) throw badRequest(DESCRIPTIONS.unsupportedParseMode);
    const result = parser(text);
    if (typeof result === 'string') throw badRequest(`can't parse entities: ${result}`);
    parsed = result;
  }
  return addDetectedEntities(trimFormatted(parsed));
}

/** Removes leading and trailing white space, moving and clipping entities with it. */
export function trimFormatted(input: FormattedText): FormattedText {
  const start = input.text.length - input.text.trimStart().length;
  const end = input.text.trimEnd().length;
  if (start === 0 && end === input.text.length) return { text: input.text, entities: input.entities.filter((e) => e.length > 0) };
  const text = input.text.slice(start, Math.max(start, end));
  const entities: MessageEntity[] = [];
  for (const e of input.entities) {
    const from = Math.max(e.offset, start);
    const to = Math.min(e.offset + e.length, end);
    if (to > from) entities.push({ ...e, offset: from - start, length: to - from });
  }
  return { text, entities };
}

/** Types inside which Telegram does not look for commands, links or mentions. */
const OPAQUE = new Set(['code', 'pre', 'text_link', 'text_mention', 'custom_emoji', 'url', 'email', 'bot_command', 'mention', 'hashtag']);

const DETECTORS: readonly { type: string; pattern: RegExp }[] = [
  { type: 'url', pattern: /\bhttps?:\/\/[^\s<>"]+[^\s<>".,;:!?)\]'"]/g },
  { type: 'email', pattern: /\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b/g },
  { type: 'bot_command', pattern: /(?<![\w/])\/[A-Za-z0-9_]{1,32}(?:@[A-Za-z][A-Za-z0-9_]{3,31})?(?![\w/])/g },
  { type: 'mention', pattern: /(?<![\w@])@[A-Za-z][A-Za-z0-9_]{3,31}\b/g },
  { type: 'hashtag', pattern: /(?<![\w#])#[\p{L}\p{N}_]*\p{L}[\p{L}\p{N}_]*/gu },
];

/** Adds the entities Telegram finds on its own (it does this for every message, the bot's too). */
export function addDetectedEntities(input: FormattedText): FormattedText {
  const taken = input.entities.filter((e) => OPAQUE.has(e.type));
  const found: MessageEntity[] = [];
  for (const { type, pattern } of DETECTORS) {
    for (const match of input.text.matchAll(pattern)) {
      const offset = match.index;
      const length = match[0].length;
      const overlaps = [...taken, ...found].some((e) => offset < e.offset + e.length && e.offset < offset + length);
      if (!overlaps) found.push({ type, offset, length });
    }
  }
  if (found.length === 0) return input;
  return { text: input.text, entities: sortEntities([...input.entities, ...found]) };
}

export function sortEntities(entities: MessageEntity[]): MessageEntity[] {
  return entities.sort((a, b) => a.offset - b.offset || b.length - a.length);
}

/** Checks explicit entities a bot passed: known types, inside the text, the fields each type needs. */
export function checkEntities(entities: readonly MessageEntity[], textLength: number, path: string): string | null {
  for (const [index, entity] of entities.entries()) {
    const where = `${path}[${index}]`;
    if (!ENTITY_TYPES.has(entity.type)) return `can't parse ${where}: unsupported type "${entity.type}"`;
    if (entity.offset < 0 || entity.length < 0 || entity.offset + entity.length > textLength) return `can't parse ${where}: entity is outside the text`;
    if (entity.type === 'text_link' && !entity.url) return `can't parse ${where}: field "url" is required for a text_link`;
    if (entity.type === 'text_mention' && !entity.user) return `can't parse ${where}: field "user" is required for a text_mention`;
    if (entity.type === 'custom_emoji' && !entity.custom_emoji_id) return `can't parse ${where}: field "custom_emoji_id" is required for a custom_emoji`;
  }
  return null;
}

/** UTF-8 byte offset of JS index `index`, which Telegram reports in parse errors. */
export function byteOffset(text: string, index: number): number {
  return Buffer.byteLength(text.slice(0, index), 'utf8');
}

/** What Telegram does with a link target: http(s) and tg:// links are kept, others are dropped. */
export function linkEntity(url: string, offset: number, length: number): MessageEntity | null {
  const userMatch = /^tg:\/\/user\?id=(\d{1,15})$/i.exec(url);
  if (userMatch) return { type: 'text_mention', offset, length, user: { id: Number(userMatch[1]), is_bot: false, first_name: '' } };
  let normalised = url.trim();
  if (!/^[a-z][a-z0-9+.-]*:/i.test(normalised)) normalised = `http://${normalised}`;
  try {
    const parsed = new URL(normalised);
    if (!['http:', 'https:', 'tg:', 'ton:'].includes(parsed.protocol)) return null;
    if ((parsed.protocol === 'http:' || parsed.protocol === 'https:') && !parsed.hostname.includes('.') && parsed.hostname !== 'localhost') return null;
    return { type: 'text_link', offset, length, url: parsed.protocol === 'tg:' ? normalised : parsed.href };
  } catch {
    return null;
  }
}
