import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { pino, stdSerializers, type DestinationStream, type Logger } from 'pino';
import { prettyFactory } from 'pino-pretty';

export type { Logger } from 'pino';

/**
 * pino, with three layers of protection against secrets:
 * 1. values wrapped in `Secret` serialise as "[REDACTED]";
 * 2. any key whose name marks a secret (privateKey, token, password, …) is
 *    redacted at any depth, not only the levels pino's `redact` paths reach;
 * 3. strings are scrubbed of things that look like credentials whatever key
 *    holds them: Telegram bot tokens, passwords in URLs, Vault tokens, and any
 *    32-byte hex value that is registered as secret material.
 * Correlation ids ride on AsyncLocalStorage so every line of one request or
 * event shares `corr_id` without threading it by hand.
 */

const SECRET_KEY = /(^|_|-)(private_?key|privkey|secret(_?id)?|password|passwd|token|mnemonic|seed|plaintext|authorization|api_?key|x-vault-token)$/i;
const SECRET_KEY_CAMEL = /(privateKey|secretId|apiKey|Token|Password|Mnemonic|Plaintext)$/;
const BOT_TOKEN = /(?<!\d)\d{6,12}:[A-Za-z0-9_-]{30,}/g;
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]+:)[^@/\s]+@/gi;
const VAULT_TOKEN = /\b(hvs|hvb|hvr|s)\.[A-Za-z0-9_-]{20,}\b/g;
const REDACTED = '[REDACTED]';

/** Hex secrets (private keys) that must never be printed, even under an innocent key. */
const knownSecretHex = new Set<string>();

/**
 * Registers a 32-byte hex value (a private key) so the logger scrubs it from
 * any string. Key material is registered where it is generated or decrypted.
 * Returns a function that forgets it again.
 */
export function registerSecretHex(hex: string): () => void {
  const normalised = hex.toLowerCase().replace(/^0x/, '');
  knownSecretHex.add(normalised);
  return () => knownSecretHex.delete(normalised);
}

function scrubString(value: string): string {
  let out = value.replace(BOT_TOKEN, REDACTED).replace(URL_PASSWORD, `$1${REDACTED}@`).replace(VAULT_TOKEN, REDACTED);
  if (knownSecretHex.size && /[0-9a-f]{64}/i.test(out)) {
    out = out.replace(/(0x)?[0-9a-f]{64}/gi, (m) => (knownSecretHex.has(m.toLowerCase().replace(/^0x/, '')) ? REDACTED : m));
  }
  return out;
}

/** Deep copy with secrets removed. Exported for the inspector and error reports. */
export function scrubSecrets(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return scrubString(value);
  if (value === null || typeof value !== 'object') return typeof value === 'bigint' ? value.toString() : value;
  if (depth > 12) return '[Depth]';
  if (value instanceof Error) return scrubSecrets(stdSerializers.err(value), depth + 1);
  if ('toJSON' in value && typeof value.toJSON === 'function') return scrubSecrets((value as { toJSON(): unknown }).toJSON(), depth + 1);
  if (Array.isArray(value)) return value.map((v) => scrubSecrets(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    out[key] = isSecretKey(key) && inner !== null && inner !== undefined ? REDACTED : scrubSecrets(inner, depth + 1);
  }
  return out;
}

function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key) || SECRET_KEY_CAMEL.test(key);
}

const correlation = new AsyncLocalStorage<{ corrId: string }>();

/** Runs fn with a correlation id that every log line inside it carries. */
export function withCorrelation<T>(fn: () => T, corrId: string = randomUUID()): T {
  return correlation.run({ corrId }, fn);
}

export function currentCorrelationId(): string | undefined {
  return correlation.getStore()?.corrId;
}

export interface LoggerOptions {
  readonly level: string;
  readonly destination?: DestinationStream;
  readonly base?: Record<string, unknown>;
  /** JSON lines (default), or readable lines for a person at a terminal (see `chooseConsole`). */
  readonly format?: LogFormat;
  /** Pretty format only: ANSI colours. */
  readonly color?: boolean;
}

export type LogFormat = 'json' | 'pretty';

/**
 * What the console looks like: readable, coloured lines for a person at a terminal; JSON lines
 * for everything else (a container, a pipe, a file), which is what log collectors parse.
 * LOG_FORMAT overrides the guess; colour needs a terminal and no NO_COLOR.
 */
export function chooseConsole(options: { readonly setting: LogFormat | 'auto'; readonly isTTY: boolean; readonly colorAllowed: boolean }): { format: LogFormat; color: boolean } {
  const format = options.setting === 'auto' ? (options.isTTY ? 'pretty' : 'json') : options.setting;
  return { format, color: format === 'pretty' && options.isTTY && options.colorAllowed };
}

/**
 * Turns one JSON log line into one readable line: `[12:21:11.573] INFO: [devnet] Devnet running {"chainId":31337}`
 * (an error's stack follows on its own lines). Formatting happens after scrubbing, so it sees only
 * what a JSON line would have shown.
 */
export function prettyLine(options: { readonly color: boolean }): (jsonLine: string) => string {
  return prettyFactory({
    colorize: options.color,
    singleLine: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,app,component',
    messageFormat: '{if component}[{component}] {end}{msg}',
  });
}

/**
 * pino-pretty's formatter, run in this thread, writing synchronously: a person reading a terminal
 * must see the last line before an exit (the fatal one above all), and a terminal's volume makes
 * the synchronous write free. pino-pretty as a pino transport formats in a worker thread, and as a
 * stream through a Transform pipeline; neither promises the line is out when the call returns.
 */
function prettyDestination(destination: DestinationStream, color: boolean): DestinationStream {
  const format = prettyLine({ color });
  return { write: (line: string) => destination.write(format(line)) };
}

export function createLogger(options: LoggerOptions): Logger {
  const logger = pino(
    {
      level: options.level,
      base: options.base ?? { app: 'vanta' },
      messageKey: 'msg',
      timestamp: pino.stdTimeFunctions.isoTime,
      serializers: { err: (e: unknown) => scrubSecrets(e instanceof Error ? stdSerializers.err(e) : e) },
      mixin: () => {
        const corrId = correlation.getStore()?.corrId;
        return corrId ? { corr_id: corrId } : {};
      },
      formatters: {
        log: (object) => scrubSecrets(object) as Record<string, unknown>,
      },
      hooks: {
        // Interpolated message strings are scrubbed too: `log.info('sent %s', x)`.
        logMethod(args, method) {
          const cleaned = args.map((a: unknown) => (typeof a === 'string' ? scrubString(a) : a)) as Parameters<typeof method>;
          method.apply(this, cleaned);
        },
      },
    },
    options.format === 'pretty'
      ? prettyDestination(options.destination ?? pino.destination({ sync: true }), options.color ?? false)
      : (options.destination ?? pino.destination({ sync: false })),
  );
  // pino applies no formatter to child bindings, so scrub them here; children inherit this method.
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called with the right `this` below
  const child = logger.child;
  logger.child = function (this: Logger, bindings, childOptions) {
    return child.call(this, scrubSecrets(bindings) as typeof bindings, childOptions);
  } as typeof logger.child;
  return logger;
}
