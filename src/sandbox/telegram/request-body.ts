/**
 * Reads a Bot API request's parameters the four ways Telegram accepts them: the URL query string,
 * and a body in JSON, application/x-www-form-urlencoded or multipart/form-data (how files are
 * uploaded). The multipart reader is lenient about header syntax the way Telegram is: grammY sends
 * `content-disposition:form-data;name="x";filename=photo.jpg` with no spaces and no quotes.
 */
import type { IncomingMessage } from 'node:http';
import { BotApiError, badRequest } from './bot-api-error.ts';
import type { BodySource, UploadedFile } from './validate-params.ts';

export interface ParsedRequest {
  readonly fields: Record<string, unknown>;
  readonly files: Map<string, UploadedFile>;
  readonly source: BodySource;
}

/** Telegram accepts uploads of up to 50 MB from bots. */
export const MAX_BODY_BYTES = 50 * 1024 * 1024;

export async function readParams(req: IncomingMessage, query: URLSearchParams): Promise<ParsedRequest> {
  const fields: Record<string, unknown> = Object.fromEntries(query.entries());
  const files = new Map<string, UploadedFile>();
  const body = await readBody(req);
  const contentType = (req.headers['content-type'] ?? '').toLowerCase();
  if (body.length === 0) return { fields, files, source: 'form' };

  if (contentType.startsWith('application/json')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw badRequest("can't parse JSON body: it is not valid JSON");
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw badRequest("can't parse JSON body: expected an object of parameters");
    return { fields: { ...fields, ...(parsed as Record<string, unknown>) }, files, source: 'json' };
  }
  if (contentType.startsWith('multipart/form-data')) {
    const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(req.headers['content-type'] ?? '');
    const value = boundary?.[1] ?? boundary?.[2];
    if (!value) throw badRequest("can't parse multipart/form-data: no boundary in Content-Type");
    for (const part of parseMultipart(body, value)) {
      if (part.filename !== null) files.set(part.name, { partName: part.name, filename: part.filename, contentType: part.contentType, data: part.data });
      else fields[part.name] = part.data.toString('utf8');
    }
    return { fields, files, source: 'form' };
  }
  // application/x-www-form-urlencoded, and what Telegram does with anything else.
  for (const [key, v] of new URLSearchParams(body.toString('utf8'))) fields[key] = v;
  return { fields, files, source: 'form' };
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new BotApiError(413, 'Request Entity Too Large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

interface Part {
  readonly name: string;
  readonly filename: string | null;
  readonly contentType: string;
  readonly data: Buffer;
}

export function parseMultipart(body: Buffer, boundary: string): Part[] {
  const delimiter = Buffer.from(`--${boundary}`);
  const separator = Buffer.from(`\r\n--${boundary}`);
  const parts: Part[] = [];
  let pos = body.indexOf(delimiter);
  if (pos === -1) throw badRequest("can't parse multipart/form-data: boundary not found in the body");
  pos += delimiter.length;
  for (;;) {
    if (body.subarray(pos, pos + 2).toString() === '--') break;
    if (body.subarray(pos, pos + 2).toString() === '\r\n') pos += 2;
    const headerEnd = body.indexOf('\r\n\r\n', pos);
    if (headerEnd === -1) throw badRequest("can't parse multipart/form-data: a part has no header end");
    const headers = parseHeaders(body.subarray(pos, headerEnd).toString('utf8'));
    const contentStart = headerEnd + 4;
    const next = body.indexOf(separator, contentStart);
    if (next === -1) throw badRequest("can't parse multipart/form-data: a part is not terminated");
    const disposition = headers.get('content-disposition') ?? '';
    const name = dispositionParam(disposition, 'name');
    if (name === null) throw badRequest("can't parse multipart/form-data: a part has no name");
    parts.push({ name, filename: dispositionParam(disposition, 'filename'), contentType: headers.get('content-type') ?? 'application/octet-stream', data: body.subarray(contentStart, next) });
    pos = next + separator.length;
  }
  return parts;
}

function parseHeaders(block: string): Map<string, string> {
  const headers = new Map<string, string>();
  for (const line of block.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return headers;
}

/** A parameter of Content-Disposition, quoted or not. */
function dispositionParam(disposition: string, param: string): string | null {
  const match = new RegExp(`(?:^|;)\\s*${param}\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|([^;]*))`, 'i').exec(disposition);
  if (!match) return null;
  return match[1] !== undefined ? match[1].replace(/\\(.)/g, '$1') : (match[2] ?? '').trim();
}
