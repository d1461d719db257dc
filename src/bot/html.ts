/**
 * Safe formatting for Telegram's HTML parse mode. Everything interpolated into `html` is escaped
 * unless it is itself an `Html` value, so a trader's text (a pair name, a note, an emoji, a
 * stray `<`) can never break a message or inject formatting. We chose HTML over entity objects
 * (@grammyjs/parse-mode's `fmt`) because messages are split at line boundaries and every line we
 * build closes its own tags, which keeps splitting trivial and safe (ADR 0012).
 */
export const MAX_MESSAGE_CHARS = 4096;

export class Html {
  readonly value: string;
  constructor(value: string) {
    this.value = value;
  }
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' };

export function esc(text: unknown): string {
  return String(text).replace(/[&<>"]/g, (c) => ESCAPES[c] ?? c);
}

function piece(value: unknown): string {
  if (value instanceof Html) return value.value;
  if (Array.isArray(value)) return value.map(piece).join('');
  if (value === null || value === undefined) return '';
  return esc(value);
}

/** Tagged template: literal parts are trusted markup, interpolations are escaped. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0] ?? '';
  values.forEach((v, i) => (out += piece(v) + (strings[i + 1] ?? '')));
  return new Html(out);
}

export const b = (text: unknown): Html => html`<b>${text}</b>`;
export const i = (text: unknown): Html => html`<i>${text}</i>`;
export const code = (text: unknown): Html => html`<code>${text}</code>`;

export function lines(...parts: (Html | string | null | undefined | false)[]): Html {
  return new Html(parts.filter((p): p is Html | string => p !== null && p !== undefined && p !== false).map(piece).join('\n'));
}

/** Characters Telegram counts: the text after entity parsing (tags removed, entities decoded). */
export function visibleLength(markup: string): number {
  const text = markup.replace(/<[^>]*>/g, '').replace(/&(amp|lt|gt|quot|#\d+|#x[0-9a-f]+);/gi, 'x');
  // Telegram counts UTF-16 code units, as JavaScript strings do.
  return text.length;
}

/**
 * Splits a message into parts Telegram accepts (≤ 4096 characters each), at line boundaries.
 * Lines we build close their own tags; a single line that is still too long is plain text we
 * escaped, and is cut between characters, never inside an entity such as `&amp;`.
 */
export function splitMessage(message: Html | string, limit = MAX_MESSAGE_CHARS): string[] {
  const text = message instanceof Html ? message.value : esc(message);
  // Most messages: the markup is no longer than the limit, so the visible text cannot be either.
  if (text.length <= limit) return text.length === 0 ? [] : [text];
  const parts: string[] = [];
  let current = '';
  // Tags close on their line and entities do not span lines, so visible lengths add up per line.
  let currentLength = 0;
  for (const line of text.split('\n')) {
    for (const chunk of cutLine(line, limit)) {
      const chunkLength = visibleLength(chunk);
      const candidateLength = current === '' ? chunkLength : currentLength + 1 + chunkLength;
      if (candidateLength <= limit) {
        current = current === '' ? chunk : `${current}\n${chunk}`;
        currentLength = candidateLength;
      } else {
        if (current !== '') parts.push(current);
        current = chunk;
        currentLength = chunkLength;
      }
    }
  }
  if (current.trim() !== '' || parts.length === 0) parts.push(current);
  return parts.filter((p) => p.length > 0);
}

function cutLine(line: string, limit: number): string[] {
  if (visibleLength(line) <= limit) return [line];
  if (/<[a-z/]/i.test(line)) throw new Error('a formatted line longer than a Telegram message: build it as several lines');
  const out: string[] = [];
  // Tokens: one entity or one code point, so a cut never lands inside either.
  const tokens = line.match(/&(?:amp|lt|gt|quot|#\d+|#x[0-9a-f]+);|[\s\S]/giu) ?? [];
  let chunk = '';
  let count = 0;
  for (const token of tokens) {
    const size = token.startsWith('&') && token.length > 1 ? 1 : token.length;
    if (count + size > limit) {
      out.push(chunk);
      chunk = '';
      count = 0;
    }
    chunk += token;
    count += size;
  }
  if (chunk) out.push(chunk);
  return out;
}
