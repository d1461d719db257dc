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
