import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';

/**
 * The HTTP client grammY calls the Bot API with (its `client.fetch` option): Node's http/https
 * with keep-alive, and only what grammY uses of a fetch response (`json()`).
 *
 * Why not grammY's default (node-fetch) or Node's fetch: on this 2-core machine a Bot API call
 * cost the bot ~110 µs of CPU through node-fetch and ~160 µs through Node's fetch, against ~55 µs
 * here (measured with a loopback server; bench/bot.bench.ts shows the bot's share). A busy bot
 * makes two calls an update, so the client was a fifth of its CPU.
 *
 * Bodies are what grammY sends: a JSON string, or a stream for a multipart upload. The response
 * is read whole (Bot API answers are small) and parsed by `json()`, which throws on a body that
 * is not JSON (a proxy's HTML error page): grammY reports that as an HttpError, as with fetch.
 */
export interface BotApiResponse {
  readonly ok: boolean;
  readonly status: number;
  json(): Promise<unknown>;
  text(): Promise<string>;
}

interface RequestOptions {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string | Uint8Array | Readable | null;
  /** grammY's AbortSignal (a polyfill's type in grammY's typings; Node's at run time). */
  readonly signal?: { readonly aborted: boolean; addEventListener(type: 'abort', listener: () => void): void; removeEventListener(type: 'abort', listener: () => void): void } | null;
}

export type BotApiFetch = (url: string | URL, options?: RequestOptions) => Promise<BotApiResponse>;

/** A client with its own keep-alive agents (idle sockets do not hold the process open). */
export function createBotApiFetch(): BotApiFetch {
  const agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };

  const fetch: BotApiFetch = (url, options = {}) =>
    new Promise<BotApiResponse>((resolve, reject) => {
      const target = typeof url === 'string' ? new URL(url) : url;
      const secure = target.protocol === 'https:';
      if (!secure && target.protocol !== 'http:') return reject(new TypeError(`The Bot API root must be http or https, not ${target.protocol}`));
      const signal = options.signal ?? undefined;
      if (signal?.aborted) return reject(abortError());
      const request = (secure ? https : http).request(target, { method: options.method ?? 'GET', headers: options.headers ?? {}, agent: secure ? agents.https : agents.http }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', fail);
        response.on('end', () => {
          signal?.removeEventListener('abort', onAbort);
          const status = response.statusCode ?? 0;
          const body = Buffer.concat(chunks).toString('utf8');
          resolve({
            ok: status >= 200 && status < 300,
            status,
            text: () => Promise.resolve(body),
            json: () => Promise.resolve().then(() => JSON.parse(body) as unknown),
          });
        });
      });
      function fail(err: Error): void {
        signal?.removeEventListener('abort', onAbort);
        reject(err);
      }
      function onAbort(): void {
        request.destroy(abortError());
      }
      signal?.addEventListener('abort', onAbort);
      request.on('error', fail);
      const body = options.body;
      if (body instanceof Readable) {
        body.on('error', (err) => request.destroy(err));
        body.pipe(request);
      } else {
        request.end(body ?? undefined);
      }
    });

  return fetch;
}

function abortError(): Error {
  const err = new Error('The Bot API request was aborted');
  err.name = 'AbortError';
  return err;
}
