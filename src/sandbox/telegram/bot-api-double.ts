/**
 * A loopback Telegram Bot API server for the sandbox and for tests: the bot talks to it over HTTP
 * exactly as to api.telegram.org, and people talk to the bot through it, either in a browser (the
 * chat page this server also serves at `/`) or from tests (simulated users).
 *
 * ```ts
 * const double = await startBotApiDouble({ logger });
 * const bot = new Bot(double.token, { client: { apiRoot: double.apiRoot } });
 * const alice = double.user(1001, { firstName: 'Alice' });
 * alice.send('/start');
 * const welcome = await alice.waitFor((m) => m.from === 'bot');
 * alice.press(welcome.messageId, 'menu:trade');
 * double.assertNoViolations();
 * await double.close();
 * ```
 *
 * API (everything else in this folder is internal):
 * - `startBotApiDouble({ host = '127.0.0.1', port = 0, token?, logger, limits?, botName?,
 *   botUsername?, clock?, webhook?, chatPage = true, statePath? })` → `BotApiDouble`.
 * - `BotApiDouble`: `apiRoot`, `token`, `chatUrl`, `user(id, profile?)` → `SimulatedUser`
 *   (see simulated-user.ts: send, press, click, messages, lastBotMessage, waitFor, reply, answers,
 *   waitForAnswer, replyKeyboard, block, unblock), `violations()`, `clearViolations()`,
 *   `assertNoViolations()`, `floodRefusals()`, `unsimulated()`, `calls()`, `subscribe(listener)`,
 *   `commands()`, `close()`.
 *
 * What it checks and what it does not simulate: docs/sandbox-chat.md.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../../infra/clock.ts';
import { listen } from '../../infra/http/listen.ts';
import { BASE_HEADERS, pathOf } from '../../infra/http/respond.ts';
import { BotApiError, notFound, unauthorized } from './bot-api-error.ts';
import { botApiSpec } from './bot-api-spec.ts';
import { SIMULATED_METHODS, unsimulatedHandler, type MethodContext } from './bot-methods.ts';
import { createChatPageRoutes, refuseForeignHost, type ChatPageRoutes } from './chat-page-routes.ts';
import { ChatWorld, FILE_ROUTE, type BotCommand, type ChatEvent } from './chat-world.ts';
import { createFloodControl, DEFAULT_FLOOD_LIMITS, type FloodLimits } from './flood-control.ts';
import { LongPoll, type PollConnection } from './long-poll.ts';
import { readParams, type ParsedRequest } from './request-body.ts';
import { createSimulatedUser, type SimulatedUser } from './simulated-user.ts';
import { UpdateQueue } from './update-queue.ts';
import { Upload, validateCall } from './validate-params.ts';
import { WebhookDelivery, type WebhookOptions } from './webhook-delivery.ts';
import { persistWorld } from './world-persistence.ts';
import { LOOPBACK_BIND_HOST as LOOPBACK } from '../../infra/http/loopback.ts';

export type { SimulatedUser, PressOptions, WaitOptions } from './simulated-user.ts';
export type { ChatEntry, ChatEvent, CallbackAnswer, ReplyKeyboard, BotCommand } from './chat-world.ts';
export type { FloodLimits, BucketLimit } from './flood-control.ts';
export type { MessageEntity } from './formatted-text.ts';
export { DEFAULT_PAGE_USER } from './chat-page-routes.ts';

export interface BotApiLimits {
  /** Flood control (429 with retry_after); false turns it off, e.g. for a benchmark. */
  readonly flood: FloodLimits | false;
  /** How long a callback query can be answered (Telegram: seconds; default 15 s). */
  readonly callbackAnswerTimeoutMs: number;
}

export interface BotApiDoubleOptions {
  readonly host?: string;
  /** 0 (default) picks a free port. */
  readonly port?: number;
  /** The bot token to accept; a valid-looking one is generated when absent. */
  readonly token?: string;
  readonly logger: Logger;
  readonly limits?: Partial<BotApiLimits>;
  /** The bot's display name and username (getMe). */
  readonly botName?: string;
  readonly botUsername?: string;
  /** Dates, callback-query expiry and flood buckets read this clock; network waits use real time. */
  readonly clock?: Clock;
  readonly webhook?: Partial<WebhookOptions>;
  /** Serve the chat page at `/` (default true). */
  readonly chatPage?: boolean;
  /**
   * Keep the chats, photos, command menu and unconfirmed updates in this JSON file across restarts
   * (the sandbox passes a file under its data directory; tests usually keep everything in memory).
   */
  readonly statePath?: string;
}

/** A call the double refused: something the bot should not have done (429s are counted apart). */
export interface Violation {
  readonly method: string;
  readonly errorCode: number;
  readonly description: string;
  /** The parameters, long strings shortened and files summarised. */
  readonly params: Readonly<Record<string, unknown>>;
  readonly at: number;
}

export interface FloodRefusal {
  readonly method: string;
  readonly chatId: unknown;
  readonly retryAfter: number;
  readonly at: number;
}

export interface UnsimulatedCall {
  readonly method: string;
  readonly at: number;
}

export interface CallRecord {
  readonly method: string;
  readonly ok: boolean;
  readonly errorCode?: number;
  readonly ms: number;
}

export interface BotApiDouble {
  /** For grammY's `client.apiRoot`, e.g. http://127.0.0.1:41234 (no trailing slash). */
  readonly apiRoot: string;
  readonly token: string;
  /** The chat page (the same server's `/`). */
  readonly chatUrl: string;
  /** The simulated user `id`, created on first use (default name "User <id>"). */
  user(id: number, profile?: { firstName?: string; lastName?: string; username?: string; languageCode?: string }): SimulatedUser;
  violations(): Violation[];
  clearViolations(): void;
  /** Throws an Error listing every refused call, if there was any. */
  assertNoViolations(): void;
  floodRefusals(): FloodRefusal[];
  /** Valid calls to methods the double answers without simulating them. */
  unsimulated(): UnsimulatedCall[];
  /** The last 10,000 calls, oldest first (each list here keeps its newest 10,000). */
  calls(): CallRecord[];
  /** Every change a user could see (messages, edits, answers, typing, command menu). */
  subscribe(listener: (event: ChatEvent) => void): () => void;
  /** The command menu private chats show (setMyCommands). */
  commands(): BotCommand[];
  close(): Promise<void>;
}

const LOG_SIZE = 10_000;

/** A token in Telegram's format: the bot's numeric id, a colon, 35 URL-safe characters. */
export function generateBotToken(): string {
  const id = randomInt(1_000_000_000, 9_999_999_999);
  return `${id}:AA${randomBytes(33).toString('base64url').slice(0, 33)}`;
}

export async function startBotApiDouble(options: BotApiDoubleOptions): Promise<BotApiDouble> {
  const logger = options.logger.child({ component: 'bot-api-double' });
  const host = options.host ?? '127.0.0.1';
  const token = options.token ?? generateBotToken();
  const botId = Number(/^(\d+):/.exec(token)?.[1] ?? randomInt(1_000_000_000, 9_999_999_999));
  const clock = options.clock ?? systemClock;
  const limits: BotApiLimits = { flood: DEFAULT_FLOOD_LIMITS, callbackAnswerTimeoutMs: 15_000, ...options.limits };

  const world = new ChatWorld({ id: botId, firstName: options.botName ?? 'Vanta', username: options.botUsername ?? 'vanta_sandbox_bot', description: '', shortDescription: '' }, clock);
  const queue = new UpdateQueue(randomInt(100_000_000, 900_000_000), (entry) => {
    const message = entry.update['message'] as { message_id?: number } | undefined;
    if (entry.kind === 'message' && message?.message_id !== undefined) world.markDelivered(entry.chatId, message.message_id);
  });
  const webhook = new WebhookDelivery(queue, { retryMs: 1000, timeoutMs: 10_000, ...options.webhook }, logger, (method, params) => {
    void execute(method, { fields: params, files: new Map(), source: 'json' }, { isAlive: () => false, onClose: () => undefined });
  });
  const poll = new LongPoll(queue, () => webhook.url());
  const flood = createFloodControl(limits.flood, () => clock.now());
  const menuButtons = new Map<string, unknown>();
  const users = new Map<number, SimulatedUser>();
  const persistence = options.statePath ? persistWorld(options.statePath, world, queue, menuButtons, logger) : null;

  const violations: Violation[] = [];
  const floodRefusals: FloodRefusal[] = [];
  const unsimulated: UnsimulatedCall[] = [];
  const calls: CallRecord[] = [];

  function user(id: number, profile: { firstName?: string; lastName?: string; username?: string; languageCode?: string } = {}): SimulatedUser {
    let existing = users.get(id);
    if (!existing) {
      if (!Number.isSafeInteger(id) || id <= 0) throw new Error(`A Telegram user id is a positive whole number, not ${id}`);
      const chat = world.ensureUser({ id, firstName: profile.firstName ?? `User ${id}`, ...withoutUndefined({ lastName: profile.lastName, username: profile.username, languageCode: profile.languageCode }) });
      existing = createSimulatedUser(world, queue, chat);
      users.set(id, existing);
    }
    return existing;
  }

  /** Runs one call; returns the Bot API response body and HTTP status. */
  async function execute(methodName: string, request: ParsedRequest, connection: PollConnection): Promise<{ status: number; body: unknown }> {
    const started = performance.now();
    const method = botApiSpec().method(methodName);
    let params: Record<string, unknown> = request.fields;
    try {
      if (!method) throw notFound();
      params = validateCall(method, request.fields, request.files, request.source);
      const simulated = SIMULATED_METHODS[method.name];
      if (!simulated) keepLast(unsimulated, { method: method.name, at: clock.now() });
      const ctx: MethodContext = { world, queue, poll, webhook, flood, callbackAnswerTimeoutMs: limits.callbackAnswerTimeoutMs, menuButtons, connection };
      const result: unknown = await (simulated ?? unsimulatedHandler(method))(params, ctx);
      record({ method: method.name, ok: true, ms: performance.now() - started });
      return { status: 200, body: { ok: true, result } };
    } catch (err) {
      const name = method?.name ?? methodName;
      if (!(err instanceof BotApiError)) {
        logger.error({ err, method: name }, 'The Bot API double failed on a call; this is a bug in the double');
        const failure = new BotApiError(500, `Internal Server Error: the sandbox Bot API double failed (${err instanceof Error ? err.message : String(err)})`);
        record({ method: name, ok: false, errorCode: 500, ms: performance.now() - started });
        return { status: 500, body: failure.toResponse() };
      }
      record({ method: name, ok: false, errorCode: err.errorCode, ms: performance.now() - started });
      if (err.errorCode === 429) {
        keepLast(floodRefusals, { method: name, chatId: params['chat_id'], retryAfter: err.parameters?.retry_after ?? 0, at: clock.now() });
      } else if (!(err.errorCode === 409 && name === 'getUpdates' && !connection.isAlive())) {
        // A poll whose client already hung up (bot.stop(), the runner restarting) is not a conflict.
        keepLast(violations, { method: name, errorCode: err.errorCode, description: err.description, params: summarise(params), at: clock.now() });
        logger.debug({ method: name, errorCode: err.errorCode, description: err.description }, 'Refused a Bot API call');
      }
      return { status: err.errorCode, body: err.toResponse() };
    }
  }

  function record(call: CallRecord): void {
    keepLast(calls, call);
  }

  const loopbackOnly = LOOPBACK.test(host);
  let page: ChatPageRoutes | null = null;
  if (options.chatPage !== false) page = await createChatPageRoutes({ world, user, logger, loopbackOnly });

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      logger.error({ err, path: pathOf(req.url) }, 'Bot API double request failed');
      if (!res.headersSent) respond(res, 500, { ok: false, error_code: 500, description: 'Internal Server Error' });
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://double.invalid');
    const path = url.pathname;
    const api = /^\/bot([^/]*)\/([^/]+)\/?$/.exec(path);
    if (api) {
      const [, callerToken, methodName] = api as unknown as [string, string, string];
      if (callerToken !== token) {
        const refusal = /^\d+:[\w-]+$/.test(callerToken) ? unauthorized() : notFound();
        keepLast(violations, { method: methodName, errorCode: refusal.errorCode, description: refusal.description, params: {}, at: clock.now() });
        respond(res, refusal.errorCode, refusal.toResponse());
        return;
      }
      let parsed: ParsedRequest;
      try {
        parsed = await readParams(req, url.searchParams);
      } catch (err) {
        if (!(err instanceof BotApiError)) throw err;
        keepLast(violations, { method: methodName, errorCode: err.errorCode, description: err.description, params: {}, at: clock.now() });
        respond(res, err.errorCode, err.toResponse());
        return;
      }
      const connection: PollConnection = {
        isAlive: () => !res.destroyed && !res.writableEnded && !req.socket.destroyed,
        onClose: (listener) => res.once('close', listener),
      };
      const { status, body } = await execute(methodName, parsed, connection);
      if (connection.isAlive()) respond(res, status, body);
      return;
    }
    const file = /^\/file\/bot([^/]*)\/(.+)$/.exec(path);
    if (file) {
      const stored = file[1] === token ? world.fileByPath(decodeURIComponent(file[2] ?? '')) : undefined;
      if (!stored) {
        respond(res, 404, notFound().toResponse());
        return;
      }
      res.writeHead(200, { ...BASE_HEADERS, 'content-type': stored.mime, 'content-length': stored.data.length });
      res.end(stored.data);
      return;
    }
    if (path.startsWith(FILE_ROUTE) && req.method === 'GET') {
      if (loopbackOnly && refuseForeignHost(req, res)) return;
      const photo = world.fileByUniqueId(path.slice(FILE_ROUTE.length));
      if (!photo) respond(res, 404, notFound().toResponse());
      else {
        res.writeHead(200, { ...BASE_HEADERS, 'content-type': photo.mime, 'content-length': photo.data.length });
        res.end(photo.data);
      }
      return;
    }
    if (page?.handle(req, res, path, url.searchParams)) return;
    respond(res, 404, notFound().toResponse());
  }

  const listening = await listen(server, { host, port: options.port ?? 0, settingName: 'the sandbox Bot API host/port' });
  if (!LOOPBACK.test(host)) logger.warn({ host }, 'The sandbox Bot API double listens beyond loopback: its chat page has no login, so anyone who can reach the port can chat as any user');
  logger.debug({ apiRoot: listening.url }, 'Sandbox Bot API double listening');

  let closing: Promise<void> | null = null;
  return {
    apiRoot: listening.url,
    token,
    chatUrl: `${listening.url}/`,
    user,
    violations: () => [...violations],
    clearViolations: () => void violations.splice(0),
    assertNoViolations() {
      if (violations.length === 0) return;
      const lines = violations.map((v) => `  ${v.method} → ${v.errorCode} ${v.description}\n      ${JSON.stringify(v.params)}`);
      throw new Error(`The bot made ${violations.length} call(s) Telegram would refuse:\n${lines.join('\n')}`);
    },
    floodRefusals: () => [...floodRefusals],
    unsimulated: () => [...unsimulated],
    calls: () => [...calls],
    subscribe: (listener) => world.subscribe(listener),
    commands: () => world.commandsFor(null),
    close() {
      closing ??= (async () => {
        webhook.close();
        page?.close();
        await listening.close();
        await persistence?.close();
      })();
      return closing;
    },
  };
}

/** The logs keep the newest LOG_SIZE entries, so a sandbox left running for days stays small. */
function keepLast<T>(log: T[], entry: T): void {
  log.push(entry);
  if (log.length > LOG_SIZE) log.splice(0, log.length - LOG_SIZE);
}

function respond(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}

function withoutUndefined<T extends Record<string, unknown>>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> };
}

/** Parameters for a violation report: short strings, files as their name and size. */
function summarise(params: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(params)) {
    if (value instanceof Upload) out[key] = `<file ${value.file.filename}, ${value.file.data.length} bytes>`;
    else if (typeof value === 'string') out[key] = value.length > 200 ? `${value.slice(0, 200)}… (${value.length} characters)` : value;
    else {
      const json = JSON.stringify(value) ?? '';
      out[key] = json.length > 400 ? `${json.slice(0, 400)}…` : value;
    }
  }
  return out;
}
