/**
 * parse_mode MarkdownV2 and the legacy Markdown, following TDLib's parse_markdown_v2 and
 * parse_markdown: the reserved characters that must be escaped, nesting, pre blocks with a
 * language, inline links, and Telegram's error messages with UTF-8 byte offsets.
 * Not reproduced: `**>` expandable block quotes (here `**` is an empty bold and `>` a quoted line).
 */
import { byteOffset, linkEntity, sortEntities, type FormattedText, type MessageEntity } from './formatted-text.ts';

const isSpace = (ch: string | undefined): boolean => ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n' || ch === '\f' || ch === '\v';
const isEscapable = (ch: string | undefined): boolean => ch !== undefined && ch.charCodeAt(0) > 0 && ch.charCodeAt(0) <= 126;

type V2Type = 'Bold' | 'Italic' | 'Underline' | 'Strikethrough' | 'Spoiler' | 'Code' | 'Pre' | 'PreCode' | 'TextUrl' | 'CustomEmoji';
const V2_ENTITY: Readonly<Record<V2Type, string>> = {
  Bold: 'bold', Italic: 'italic', Underline: 'underline', Strikethrough: 'strikethrough', Spoiler: 'spoiler', Code: 'code', Pre: 'pre', PreCode: 'pre', TextUrl: 'text_link', CustomEmoji: 'custom_emoji',
};

interface OpenV2 {
  readonly type: V2Type;
  readonly argument: string;
  readonly offset: number;
  readonly byteAt: number;
}

/** After an opening ``` : an optional language up to white space, then one skipped line break. */
function skipPreHeader(text: string, i: number): { i: number; language: string } {
  let languageEnd = i;
  while (languageEnd < text.length && !isSpace(text[languageEnd]) && text[languageEnd] !== '`') languageEnd++;
  let language = '';
  if (i !== languageEnd && languageEnd < text.length && text[languageEnd] !== '`') {
    language = text.slice(i, languageEnd);
    i = languageEnd;
  }
  if (text[i] === '\n' || text[i] === '\r') {
    if ((text[i + 1] === '\n' || text[i + 1] === '\r') && text[i] !== text[i + 1]) i += 2;
    else i++;
  }
  return { i, language };
}

export function parseMarkdownV2(text: string): FormattedText | string {
  let result = '';
  const entities: MessageEntity[] = [];
  const open: OpenV2[] = [];
  const quoteLines: { start: number; end: number }[] = [];
  let quoteStart: number | null = null;

  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '\\' && isEscapable(text[i + 1])) {
      result += text[++i];
      continue;
    }
    const top = open.at(-1);
    const inCode = top !== undefined && (top.type === 'Code' || top.type === 'Pre' || top.type === 'PreCode');

    // A '>' at the start of a line quotes that line (outside code); consecutive lines form one quote.
    if (c === '>' && !inCode && (i === 0 || text[i - 1] === '\n')) {
      quoteStart = result.length;
      continue;
    }
    if (c === '\n' && quoteStart !== null) {
      quoteLines.push({ start: quoteStart, end: result.length });
      quoteStart = null;
    }

    const reserved = inCode ? '`' : '_*[]()~`>#+-=|{}.!';
    if (!reserved.includes(c)) {
      result += c;
      continue;
    }

    let isEnd = false;
    if (top) {
      switch (top.type) {
        case 'Bold': isEnd = c === '*'; break;
        case 'Italic': isEnd = c === '_' && text[i + 1] !== '_'; break;
        case 'Code': isEnd = c === '`'; break;
        case 'Pre':
        case 'PreCode': isEnd = c === '`' && text[i + 1] === '`' && text[i + 2] === '`'; break;
        case 'TextUrl':
        case 'CustomEmoji': isEnd = c === ']'; break;
        case 'Underline': isEnd = c === '_' && text[i + 1] === '_'; break;
        case 'Strikethrough': isEnd = c === '~'; break;
        case 'Spoiler': isEnd = c === '|' && text[i + 1] === '|'; break;
      }
    }

    if (!isEnd) {
      const byteAt = byteOffset(text, i);
      let type: V2Type;
      let argument = '';
      const reservedError = `Character '${c}' is reserved and must be escaped with the preceding '\\'`;
      switch (c) {
        case '_':
          if (text[i + 1] === '_') {
            type = 'Underline';
            i++;
          } else type = 'Italic';
          break;
        case '*': type = 'Bold'; break;
        case '~': type = 'Strikethrough'; break;
        case '|':
          if (text[i + 1] !== '|') return reservedError;
          i++;
          type = 'Spoiler';
          break;
        case '[': type = 'TextUrl'; break;
        case '`':
          if (text[i + 1] === '`' && text[i + 2] === '`') {
            const header = skipPreHeader(text, i + 3);
            type = header.language ? 'PreCode' : 'Pre';
            argument = header.language;
            i = header.i - 1;
          } else type = 'Code';
          break;
        case '!':
          if (text[i + 1] === '[') {
            i++;
            type = 'CustomEmoji';
            break;
          }
          return reservedError;
        default:
          return reservedError;
      }
      open.push({ type, argument, offset: result.length, byteAt });
      continue;
    }

    const entity = open.pop() as OpenV2;
    const skip = result.length === entity.offset;
    let url = '';
    switch (entity.type) {
      case 'Underline':
      case 'Spoiler': i++; break;
      case 'Pre':
      case 'PreCode': i += 2; break;
      case 'TextUrl':
      case 'CustomEmoji': {
        if (text[i + 1] === '(') {
          i += 2;
          const urlBegin = i;
          while (i < text.length && text[i] !== ')') {
            if (text[i] === '\\' && isEscapable(text[i + 1])) {
              url += text[i + 1];
              i += 2;
              continue;
            }
            url += text[i++];
          }
          if (text[i] !== ')') return `Can't find end of a URL at byte offset ${byteOffset(text, urlBegin)}`;
        } else if (entity.type === 'CustomEmoji') {
          return 'Custom emoji entity must contain a tg://emoji URL';
        } else {
          url = result.slice(entity.offset);
        }
        break;
      }
      default: break;
    }
    if (skip) continue;
    const offset = entity.offset;
    const length = result.length - offset;
    if (entity.type === 'TextUrl') {
      const link = linkEntity(url, offset, length);
      if (link) entities.push(link);
    } else if (entity.type === 'CustomEmoji') {
      const id = /^tg:\/\/emoji\?id=(\d+)$/.exec(url)?.[1];
      if (!id) return 'Custom emoji URL must have an emoji identifier';
      entities.push({ type: 'custom_emoji', offset, length, custom_emoji_id: id });
    } else if (entity.type === 'PreCode') {
      entities.push({ type: 'pre', offset, length, language: entity.argument });
    } else {
      entities.push({ type: V2_ENTITY[entity.type], offset, length });
    }
  }
  const unclosed = open.at(-1);
  if (unclosed) return `Can't find end of ${unclosed.type} entity at byte offset ${unclosed.byteAt}`;
  if (quoteStart !== null) quoteLines.push({ start: quoteStart, end: result.length });
  entities.push(...mergeQuoteLines(quoteLines, result));
  return { text: result, entities: sortEntities(entities) };
}

function mergeQuoteLines(lines: readonly { start: number; end: number }[], text: string): MessageEntity[] {
  const quotes: MessageEntity[] = [];
  for (const line of lines) {
    const last = quotes.at(-1);
    // The previous quoted line ended right before this line's '\n'.
    if (last && last.offset + last.length + 1 === line.start && text[line.start - 1] === '\n') last.length = line.end - last.offset;
    else if (line.end > line.start) quotes.push({ type: 'blockquote', offset: line.start, length: line.end - line.start });
  }
  return quotes;
}

/** The legacy Markdown mode: _italic_, *bold*, `code`, ```pre```, [text](url); no nesting. */
export function parseMarkdown(text: string): FormattedText | string {
  let result = '';
  const entities: MessageEntity[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '\\' && (text[i + 1] === '_' || text[i + 1] === '*' || text[i + 1] === '`' || text[i + 1] === '[')) {
      result += text[++i];
      continue;
    }
    if (c !== '_' && c !== '*' && c !== '`' && c !== '[') {
      result += c;
      continue;
    }
    const begin = i;
    const endChar = c === '[' ? ']' : c;
    let isPre = false;
    let language = '';
    i++;
    if (c === '`' && text[i] === '`' && text[i + 1] === '`') {
      isPre = true;
      const header = skipPreHeader(text, i + 2);
      i = header.i;
      language = header.language;
    }
    const offset = result.length;
    while (i < text.length && (text[i] !== endChar || (isPre && !(text[i + 1] === '`' && text[i + 2] === '`')))) result += text[i++];
    if (i >= text.length) return `Can't find end of the entity starting at byte offset ${byteOffset(text, begin)}`;
    const length = result.length - offset;
    let url = '';
    if (c === '[') {
      if (text[i + 1] === '(') {
        i += 2;
        while (i < text.length && text[i] !== ')') url += text[i++];
      } else {
        url = result.slice(offset);
      }
    }
    if (length > 0) {
      if (c === '_') entities.push({ type: 'italic', offset, length });
      else if (c === '*') entities.push({ type: 'bold', offset, length });
      else if (c === '[') {
        const link = linkEntity(url, offset, length);
        if (link) entities.push(link);
      } else if (isPre) entities.push(language ? { type: 'pre', offset, length, language } : { type: 'pre', offset, length });
      else entities.push({ type: 'code', offset, length });
    }
    if (isPre) i += 2;
  }
  return { text: result, entities: sortEntities(entities) };
}
