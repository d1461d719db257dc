/**
 * A Server-Sent-Events reader (the WHATWG event-stream format) for the batched-market stream
 * (AVANTIS-V2.md §9.1): `event:` names the type, `id:` carries the sequence number, `data:` the
 * JSON payload (several `data:` lines are joined with "\n"), lines starting with `:` are
 * keep-alives, a blank line dispatches. Lines may end in LF, CRLF or CR.
 *
 * A line longer than `maxLineBytes` is refused instead of buffered without bound: a service
 * (or something impersonating it) cannot make the bot hold an arbitrary amount of memory.
 */
import { V2ResponseError } from './errors.ts';

export interface SseMessage {
  /** `event:`; "message" when absent (the format's default). */
  readonly event: string;
  /** `id:` of this message, or null when the message carried none (e.g. STREAM_TIMEOUT). */
  readonly id: string | null;
  /** The `data:` lines joined with "\n". */
  readonly data: string;
}

export interface SseOptions {
  /** Longest accepted line, in characters. Default 256 KiB. */
  readonly maxLineLength?: number;
}

/** Parses a byte stream into dispatched messages. Comments (keep-alives) are consumed silently. */
export async function* readSse(chunks: AsyncIterable<Uint8Array>, options: SseOptions = {}): AsyncGenerator<SseMessage> {
  const maxLine = options.maxLineLength ?? 256 * 1024;
  const decoder = new TextDecoder('utf-8');
  let buffer = '';
  let event = '';
  let id: string | null = null;
  let data: string[] = [];
  let hasData = false;

  const takeLine = (line: string): SseMessage | null => {
    if (line === '') {
      if (!hasData) {
        event = '';
        id = null;
        return null;
      }
      const message: SseMessage = { event: event === '' ? 'message' : event, id, data: data.join('\n') };
      event = '';
      id = null;
      data = [];
      hasData = false;
      return message;
    }
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') {
      data.push(value);
      hasData = true;
    } else if (field === 'id' && !value.includes('\u0000')) id = value;
    // `retry:` and unknown fields are ignored, as the format says.
    return null;
  };

  for await (const chunk of chunks) {
    buffer += decoder.decode(chunk, { stream: true });
    for (;;) {
      const match = /\r\n|\r|\n/.exec(buffer);
      if (match === null) break;
      // A lone CR at the very end may be the first half of CRLF: wait for the next chunk.
      if (match[0] === '\r' && match.index === buffer.length - 1) break;
      const line = buffer.slice(0, match.index);
      buffer = buffer.slice(match.index + match[0].length);
      const message = takeLine(line);
      if (message !== null) yield message;
    }
    if (buffer.length > maxLine) throw new V2ResponseError(`The Avantis order stream sent a line longer than ${maxLine} characters; the stream is refused.`);
  }
  // A message not closed by a blank line before the end of the stream is discarded (format rule).
}
