/**
 * The sandbox chat page's HTTP side, served by the double itself: the static page, the chat's
 * state, a live event stream (server-sent events), and two actions (send a message, press a
 * button) that go through the same simulated user as tests use.
 *
 * The page has no login: it must only be reachable from this machine. When the server listens on
 * loopback, requests whose Host is not a loopback name are refused (a web page using DNS rebinding
 * cannot drive the chat), and the two actions need a JSON body from the same origin (a foreign
 * page cannot post one without a CORS preflight, which is never granted).
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { openEventStream, type EventStream } from '../../infra/http/event-stream.ts';
import { BASE_HEADERS, sendJson } from '../../infra/http/respond.ts';
import type { ChatEvent, ChatWorld } from './chat-world.ts';
import type { SimulatedUser } from './simulated-user.ts';
import { LOOPBACK_HOST_HEADER as LOOPBACK_HOST } from '../../infra/http/loopback.ts';

/** The user the page talks as unless `?user=` names another. */
export const DEFAULT_PAGE_USER = { id: 1000001, firstName: 'You' } as const;

const PAGE_DIR = new URL('./chat-page/', import.meta.url);
const ASSETS: Readonly<Record<string, { file: string; type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/chat': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/chat.css': { file: 'chat.css', type: 'text/css; charset=utf-8' },
  '/chat.js': { file: 'chat.js', type: 'text/javascript; charset=utf-8' },
  '/render.js': { file: 'render.js', type: 'text/javascript; charset=utf-8' },
  '/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
};
const PAGE_HEADERS = {
  ...BASE_HEADERS,
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};
const MAX_STREAMS = 32;

/**
 * Answers 403 to a request whose Host is not a loopback name (DNS rebinding); returns whether it
 * did. Used for everything a browser can load without the bot token: the page and the photos.
 */
export function refuseForeignHost(req: IncomingMessage, res: ServerResponse): boolean {
  if (LOOPBACK_HOST.test(req.headers.host ?? '')) return false;
  sendJson(res, 403, { error: 'the sandbox chat only answers requests addressed to localhost' });
  return true;
}

export interface ChatPageDeps {
  readonly world: ChatWorld;
  readonly user: (id: number, profile?: { firstName?: string }) => SimulatedUser;
  readonly logger: Logger;
  /** Refuse non-loopback Host headers (true when the server listens on loopback). */
  readonly loopbackOnly: boolean;
}

export interface ChatPageRoutes {
  /** Handles the request if it is one of the page's; returns false otherwise. */
  handle(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): boolean;
  close(): void;
}

export async function createChatPageRoutes(deps: ChatPageDeps): Promise<ChatPageRoutes> {
  const assets = new Map<string, { body: Buffer; type: string }>();
  for (const [path, asset] of Object.entries(ASSETS)) assets.set(path, { body: await readFile(new URL(asset.file, PAGE_DIR)), type: asset.type });
  const streams = new Set<EventStream>();

  function pageUser(query: URLSearchParams): SimulatedUser | string {
    const raw = query.get('user');
    const id = raw === null || raw === '' ? DEFAULT_PAGE_USER.id : Number(raw);
    if (!Number.isSafeInteger(id) || id <= 0 || id >= 2 ** 52) return `user must be a positive Telegram user id, not ${JSON.stringify(raw)}`;
    const name = query.get('name')?.trim().slice(0, 64);
    return deps.user(id, { firstName: name || (id === DEFAULT_PAGE_USER.id ? DEFAULT_PAGE_USER.firstName : `User ${id}`) });
  }

  function state(user: SimulatedUser): unknown {
    const bot = deps.world.bot;
    return {
      bot: { name: bot.firstName, username: bot.username, description: bot.description },
      user: { id: user.id, firstName: user.profile.firstName },
      messages: user.messages(),
      commands: deps.world.commandsFor(user.id, user.profile.languageCode ?? ''),
      replyKeyboard: user.replyKeyboard(),
    };
  }

  async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | null> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > 64 * 1024) return null;
      chunks.push(chunk);
    }
    try {
      const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
      return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : null;
    } catch {
      return null;
    }
  }

  async function act(req: IncomingMessage, res: ServerResponse, query: URLSearchParams, action: 'send' | 'press'): Promise<void> {
    if (!(req.headers['content-type'] ?? '').startsWith('application/json')) {
      sendJson(res, 415, { error: 'send a JSON body (Content-Type: application/json)' });
      return;
    }
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${req.headers.host ?? ''}`) {
      sendJson(res, 403, { error: 'cross-origin requests are not accepted' });
      return;
    }
    const user = pageUser(query);
    if (typeof user === 'string') return sendJson(res, 400, { error: user });
    const body = await readJson(req);
    if (!body) return sendJson(res, 400, { error: 'the body must be a JSON object of at most 64 KiB' });
    try {
      if (action === 'send') {
        if (typeof body['text'] !== 'string') return sendJson(res, 400, { error: 'text must be a string' });
        sendJson(res, 200, { entry: user.send(body['text']) });
      } else {
        if (typeof body['messageId'] !== 'number' || typeof body['data'] !== 'string') return sendJson(res, 400, { error: 'messageId (number) and data (string) are required' });
        sendJson(res, 200, { callbackQueryId: user.press(body['messageId'], body['data']) });
      }
    } catch (err) {
      sendJson(res, 400, { error: err instanceof Error ? err.message : String(err) });
    }
  }

  function stream(req: IncomingMessage, res: ServerResponse, user: SimulatedUser): void {
    if (streams.size >= MAX_STREAMS) {
      sendJson(res, 503, { error: `too many open chat pages (${MAX_STREAMS}); close one and reload` }, { 'retry-after': '5' });
      return;
    }
    const events = openEventStream(res, {
      heartbeatMs: 15_000,
      maxBufferedBytes: 8 * 1024 * 1024,
      onSlowClient: () => deps.logger.warn({ remote: req.socket.remoteAddress }, 'Dropped a sandbox chat page that was reading too slowly'),
    });
    streams.add(events);
    const forThisChat = (event: ChatEvent) => !('chatId' in event) || event.chatId === user.id;
    const unsubscribe = deps.world.subscribe((event) => {
      if (event.type === 'commands') events.send({ type: 'commands', commands: deps.world.commandsFor(user.id, user.profile.languageCode ?? '') });
      else if (forThisChat(event)) events.send(event);
    });
    events.send(state(user), 'snapshot');
    res.once('close', () => {
      unsubscribe();
      events.close();
      streams.delete(events);
    });
  }

  return {
    handle(req, res, path, query) {
      const isPageRoute = assets.has(path) || path.startsWith('/chat/');
      if (!isPageRoute) return false;
      if (deps.loopbackOnly && refuseForeignHost(req, res)) return true;
      const asset = assets.get(path);
      if (asset && (req.method === 'GET' || req.method === 'HEAD')) {
        res.writeHead(200, { ...PAGE_HEADERS, 'content-type': asset.type, 'content-length': asset.body.length });
        res.end(req.method === 'HEAD' ? undefined : asset.body);
        return true;
      }
      if (path === '/chat/api/state' && req.method === 'GET') {
        const user = pageUser(query);
        if (typeof user === 'string') sendJson(res, 400, { error: user });
        else sendJson(res, 200, state(user));
        return true;
      }
      if (path === '/chat/api/events' && req.method === 'GET') {
        const user = pageUser(query);
        if (typeof user === 'string') sendJson(res, 400, { error: user });
        else stream(req, res, user);
        return true;
      }
      if ((path === '/chat/api/send' || path === '/chat/api/press') && req.method === 'POST') {
        act(req, res, query, path === '/chat/api/send' ? 'send' : 'press').catch((err: unknown) => {
          deps.logger.error({ err }, 'Sandbox chat request failed');
          if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
        });
        return true;
      }
      sendJson(res, 404, { error: `no route ${path}` });
      return true;
    },
    close() {
      for (const s of streams) s.close();
      streams.clear();
    },
  };
}
