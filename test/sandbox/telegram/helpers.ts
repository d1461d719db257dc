import { crc32, deflateSync } from 'node:zlib';
import type { BotApiDouble } from '../../../src/sandbox/telegram/bot-api-double.ts';

export interface ApiAnswer {
  readonly status: number;
  readonly body: { ok: boolean; result?: unknown; error_code?: number; description?: string; parameters?: { retry_after?: number } };
}

/** Calls the double as a bot would, with a JSON body (or a form body with `form: true`). */
export async function callApi(double: BotApiDouble, method: string, params: Record<string, unknown> = {}, options: { form?: boolean; token?: string; signal?: AbortSignal } = {}): Promise<ApiAnswer> {
  const url = `${double.apiRoot}/bot${options.token ?? double.token}/${method}`;
  const init: RequestInit = options.form
    ? { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(Object.entries(params).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)])).toString() }
    : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(params) };
  const response = await fetch(url, { ...init, ...(options.signal ? { signal: options.signal } : {}) });
  return { status: response.status, body: (await response.json()) as ApiAnswer['body'] };
}

/** The result of a call that must succeed. */
export async function ok<T = Record<string, unknown>>(double: BotApiDouble, method: string, params: Record<string, unknown> = {}): Promise<T> {
  const answer = await callApi(double, method, params);
  if (!answer.body.ok) throw new Error(`${method} failed: ${answer.status} ${answer.body.description ?? ''}`);
  return answer.body.result as T;
}

/** Asserts-friendly summary of a refused call: [status, description]. */
export async function refused(double: BotApiDouble, method: string, params: Record<string, unknown> = {}, options: { form?: boolean; token?: string } = {}): Promise<[number, string]> {
  const answer = await callApi(double, method, params, options);
  if (answer.body.ok) throw new Error(`${method} was expected to be refused but succeeded`);
  if (answer.body.error_code !== answer.status) throw new Error(`error_code ${answer.body.error_code} differs from HTTP status ${answer.status}`);
  return [answer.status, answer.body.description ?? ''];
}

/** A 1×1 PNG. */
export const TINY_PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');

/** A real PNG of the given size: a blue-to-green chart-like gradient with a rising line. */
export function chartPng(width: number, height: number): Buffer {
  const rows: Buffer[] = [];
  for (let y = 0; y < height; y++) {
    const row = Buffer.alloc(1 + width * 3);
    for (let x = 0; x < width; x++) {
      const onLine = Math.abs(height - 1 - y - ((x / width) * height * 0.7 + height * 0.1 + Math.sin(x / 9) * height * 0.06)) < 2;
      const [r, g, b] = onLine ? [255, 255, 255] : [30 + (x * 40) / width, 90 + (y * 90) / height, 160 - (y * 60) / height];
      row.writeUInt8(Math.round(r), 1 + x * 3);
      row.writeUInt8(Math.round(g), 2 + x * 3);
      row.writeUInt8(Math.round(b), 3 + x * 3);
    }
    rows.push(row);
  }
  const chunk = (type: string, data: Buffer) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, 'latin1');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
    return Buffer.concat([head, data, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), chunk('IHDR', header), chunk('IDAT', deflateSync(Buffer.concat(rows))), chunk('IEND', Buffer.alloc(0))]);
}
