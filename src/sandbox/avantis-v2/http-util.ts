/** Small helpers the Avantis v2 doubles share: body reading, answers, a per-IP rate budget. */
import type { IncomingMessage, ServerResponse } from 'node:http';

export const MAX_BODY_BYTES = 64 * 1024;

export class HttpRefusal extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The request body as JSON; an empty body is `{}`. Refuses oversized or non-JSON bodies. */
export async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpRefusal(400, 'BAD_REQUEST', 'body too large');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpRefusal(400, 'BAD_REQUEST', 'body is not valid JSON');
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  const text = JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendText(res: ServerResponse, status: number, text: string, contentType = 'text/plain'): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** A fixed-window request budget per client IP. */
export class RateBudget {
  readonly #windows = new Map<string, { start: number; used: number }>();
  budget: number;
  windowMs: number;
  readonly #now: () => number;
  constructor(budget: number, windowMs: number, now: () => number) {
    this.budget = budget;
    this.windowMs = windowMs;
    this.#now = now;
  }

  /** null when allowed; otherwise the milliseconds until the window resets. */
  take(ip: string): number | null {
    const now = this.#now();
    let w = this.#windows.get(ip);
    if (w === undefined || now - w.start >= this.windowMs) {
      w = { start: now, used: 0 };
      this.#windows.set(ip, w);
    }
    if (w.used >= this.budget) return w.start + this.windowMs - now;
    w.used++;
    return null;
  }
}

export function clientIp(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? 'unknown';
}

export function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}
