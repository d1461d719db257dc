/**
 * parse_mode HTML, as Telegram parses it (TDLib's parse_html): the allowed tags, attribute syntax,
 * the four named character references and numeric ones, and the same error messages with UTF-8
 * byte offsets. Anything else (a stray `<`, an unknown tag, a tag left open) is an error, which is
 * what makes Telegram refuse the whole message.
 */
import { byteOffset, linkEntity, sortEntities, type FormattedText, type MessageEntity } from './formatted-text.ts';

const ALLOWED_TAGS = new Set(['a', 'b', 'strong', 'i', 'em', 's', 'strike', 'del', 'u', 'ins', 'tg-spoiler', 'tg-emoji', 'span', 'pre', 'code', 'blockquote']);
const SIMPLE_TYPES: Readonly<Record<string, string>> = {
  b: 'bold', strong: 'bold', i: 'italic', em: 'italic', s: 'strikethrough', strike: 'strikethrough', del: 'strikethrough',
  u: 'underline', ins: 'underline', 'tg-spoiler': 'spoiler', span: 'spoiler', code: 'code', pre: 'pre',
};
const NAMED_REFERENCES: Readonly<Record<string, number>> = { lt: 0x3c, gt: 0x3e, amp: 0x26, quot: 0x22 };

interface OpenTag {
  readonly name: string;
  readonly argument: string;
  /** Offset in the parsed text (UTF-16) where the tag's content starts. */
  readonly offset: number;
}

const isSpace = (ch: string | undefined): boolean => ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n' || ch === '\f' || ch === '\v';

/**
 * Decodes a character reference starting at `text[at] === '&'`. Returns the character and where
 * parsing resumes, or null when this `&` is just an ampersand (Telegram keeps it as text).
 */
function decodeReference(text: string, at: number): { char: string; next: number } | null {
  const semicolon = text.indexOf(';', at + 1);
  if (semicolon === -1 || semicolon - at > 10) return null;
  const body = text.slice(at + 1, semicolon);
  let code: number | undefined;
  if (/^#\d+$/.test(body)) code = Number(body.slice(1));
  else if (/^#[xX][0-9a-fA-F]+$/.test(body)) code = Number.parseInt(body.slice(2), 16);
  else code = NAMED_REFERENCES[body];
  if (code === undefined || code === 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return null;
  return { char: String.fromCodePoint(code), next: semicolon + 1 };
}

/** Returns the parsed text, or the error message Telegram gives after "can't parse entities: ". */
export function parseHtml(text: string): FormattedText | string {
  let result = '';
  const entities: MessageEntity[] = [];
  const open: OpenTag[] = [];
  let i = 0;
  const at = (index: number) => byteOffset(text, index);

  while (i < text.length) {
    const ch = text[i];
    if (ch === '&') {
      const ref = decodeReference(text, i);
      if (ref) {
        result += ref.char;
        i = ref.next;
        continue;
      }
    }
    if (ch !== '<') {
      result += ch;
      i++;
      continue;
    }

    const begin = i++;
    if (text[i] !== '/') {
      while (i < text.length && !isSpace(text[i]) && text[i] !== '>') i++;
      if (i >= text.length) return `Unclosed start tag at byte offset ${at(begin)}`;
      const name = text.slice(begin + 1, i).toLowerCase();
      if (!ALLOWED_TAGS.has(name)) return `Unsupported start tag "${name}" at byte offset ${at(begin)}`;

      let argument = '';
      while (text[i] !== '>') {
        while (i < text.length && isSpace(text[i])) i++;
        if (text[i] === '>') break;
        const attributeBegin = i;
        while (i < text.length && !isSpace(text[i]) && text[i] !== '=' && text[i] !== '>') i++;
        const attribute = text.slice(attributeBegin, i).toLowerCase();
        if (attribute === '') return `Empty attribute name in the tag "${name}" at byte offset ${at(begin)}`;
        while (i < text.length && isSpace(text[i])) i++;
        if (text[i] !== '=') {
          // `<blockquote expandable>` is the one attribute Telegram accepts without a value.
          if (name === 'blockquote' && attribute === 'expandable') {
            argument = '1';
            continue;
          }
          return `Expected equal sign in declaration of an attribute of the tag "${name}" at byte offset ${at(begin)}`;
        }
        i++;
        while (i < text.length && isSpace(text[i])) i++;
        if (i >= text.length) return `Unclosed start tag "${name}" at byte offset ${at(begin)}`;

        let value = '';
        if (text[i] !== "'" && text[i] !== '"') {
          const tokenBegin = i;
          while (i < text.length && /[A-Za-z0-9.-]/.test(text[i] ?? '')) i++;
          value = text.slice(tokenBegin, i).toLowerCase();
          if (!isSpace(text[i]) && text[i] !== '>') return `Unexpected end of name token at byte offset ${at(tokenBegin)}`;
        } else {
          const quote = text[i++];
          while (i < text.length && text[i] !== quote) {
            if (text[i] === '&') {
              const ref = decodeReference(text, i);
              if (ref) {
                value += ref.char;
                i = ref.next;
                continue;
              }
            }
            value += text[i++];
          }
          if (text[i] === quote) i++;
        }
        if (i >= text.length) return `Unclosed start tag at byte offset ${at(begin)}`;

        if (name === 'a' && attribute === 'href') argument = value;
        else if (name === 'code' && attribute === 'class' && value.startsWith('language-')) argument = value.slice('language-'.length);
        else if (name === 'span' && attribute === 'class' && value.startsWith('tg-')) argument = value.slice('tg-'.length);
        else if (name === 'tg-emoji' && attribute === 'emoji-id') argument = value;
        else if (name === 'blockquote' && attribute === 'expandable') argument = '1';
      }
      if (name === 'span' && argument !== 'spoiler') return `Tag "span" must have class "tg-spoiler" at byte offset ${at(begin)}`;
      open.push({ name, argument, offset: result.length });
    } else {
      if (open.length === 0) return `Unexpected end tag at byte offset ${at(begin)}`;
      i++;
      const nameBegin = i;
      while (i < text.length && !isSpace(text[i]) && text[i] !== '>') i++;
      const endName = text.slice(nameBegin, i).toLowerCase();
      while (i < text.length && isSpace(text[i])) i++;
      if (text[i] !== '>') return `Unclosed end tag at byte offset ${at(begin)}`;
      const tag = open.pop() as OpenTag;
      if (endName !== '' && endName !== tag.name) return `Unmatched end tag at byte offset ${at(begin)}, expected "</${tag.name}>", found "</${endName}>"`;
      const entity = entityFor(tag, result, entities);
      if (entity) entities.push(entity);
    }
    i++;
  }
  if (open.length > 0) return `Can't find end tag corresponding to start tag "${(open.at(-1) as OpenTag).name}"`;
  // A language only means something on a pre; a lone <code class="language-x"> is plain code.
  const cleaned = entities.map((e) => (e.type === 'code' && e.language !== undefined ? { type: e.type, offset: e.offset, length: e.length } : e));
  return { text: result, entities: sortEntities(cleaned) };
}

function entityFor(tag: OpenTag, result: string, done: MessageEntity[]): MessageEntity | null {
  const length = result.length - tag.offset;
  if (length <= 0) return null;
  const offset = tag.offset;
  if (tag.name === 'a') return linkEntity(tag.argument || result.slice(offset), offset, length);
  if (tag.name === 'tg-emoji') return tag.argument ? { type: 'custom_emoji', offset, length, custom_emoji_id: tag.argument } : null;
  if (tag.name === 'blockquote') return { type: tag.argument ? 'expandable_blockquote' : 'blockquote', offset, length };
  if (tag.name === 'pre') {
    // <pre><code class="language-x">…</code></pre> is one pre entity with a language.
    const inner = done.findIndex((e) => e.type === 'code' && e.offset === offset && e.length === length && e.language);
    if (inner !== -1) {
      const language = done[inner]?.language;
      done.splice(inner, 1);
      return language ? { type: 'pre', offset, length, language } : { type: 'pre', offset, length };
    }
    return { type: 'pre', offset, length };
  }
  const type = SIMPLE_TYPES[tag.name] as string;
  if (tag.name === 'code' && tag.argument) return { type, offset, length, language: tag.argument };
  return { type, offset, length };
}
