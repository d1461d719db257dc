import { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { V2_DEFAULT_HOSTS } from './chain/avantis-v2/http-transport.ts';
import { Secret, redactUrl } from './secret.ts';

/**
 * The only module that reads the environment. `loadConfig(process.env)` is
 * called once by main; everything else receives the frozen object it returns.
 * A bad value fails here, naming the variable and how to fix it.
 */

export type Mode = 'sandbox' | 'paper' | 'live';

/** Exit code for a configuration the process refuses to start with (sysexits EX_CONFIG). */
export const CONFIG_EXIT_CODE = 78;

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'use true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const port = z.coerce.number({ message: 'must be a port number' }).int().min(0).max(65535);
const positiveInt = z.coerce.number({ message: 'must be a whole number' }).int().positive();
const positiveNumber = z.coerce.number({ message: 'must be a number' }).positive();
const url = (protocols: readonly string[]) =>
  z.url({ message: `must be a URL (${protocols.join(', ')})` }).refine((u) => protocols.some((p) => u.startsWith(`${p}:`)), {
    message: `must start with ${protocols.map((p) => `${p}://`).join(' or ')}`,
  });
/** The Bot API's token shape (`<bot id>:<secret>`), as any implementation of the API takes it. */
const BOT_API_TOKEN = /^\d+:[A-Za-z0-9_-]+$/;
/** What BotFather issues; real Telegram (directly or through a self-hosted Bot API server) wants one of these. */
const BOTFATHER_TOKEN = /^\d+:[A-Za-z0-9_-]{30,}$/;
const BOTFATHER_TOKEN_HINT = 'must look like 123456:ABC… (the token BotFather gave you)';
/** Telegram's own Bot API server; anything else is a self-hosted server or, in the sandbox, another implementation. */
const TELEGRAM_API_ROOT = 'https://api.telegram.org';
/** Telegram delivers webhooks to these ports only (setWebhook); a self-hosted Bot API server takes any. */
const TELEGRAM_WEBHOOK_PORTS = new Set([443, 80, 88, 8443]);
const csv = <T extends z.ZodType>(item: T) =>
  z.string().transform((s, ctx) => {
    const parts = s.split(',').map((p) => p.trim()).filter(Boolean);
    const out: z.infer<T>[] = [];
    for (const part of parts) {
      const parsed = item.safeParse(part);
      if (!parsed.success) {
        ctx.addIssue({ code: 'custom', message: `"${part}" ${parsed.error.issues[0]?.message ?? 'is invalid'}` });
        return z.NEVER;
      }
      out.push(parsed.data);
    }
    return out;
  });

/** Every variable, its default and its rule. The README's table mirrors this schema. */
const envSchema = z.object({
  VANTA_MODE: z.enum(['sandbox', 'paper', 'live'], { message: 'use sandbox, paper or live' }).optional(),
  DATABASE_URL: url(['postgres', 'postgresql']).optional(),
  DATA_DIR: z.string().min(1).default('./data'),
  REDIS_URL: url(['redis', 'rediss']).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { message: 'use fatal, error, warn, info, debug, trace or silent' }).default('info'),
  LOG_FORMAT: z.enum(['auto', 'pretty', 'json'], { message: 'use pretty or json (auto: pretty on a terminal, JSON otherwise)' }).default('auto'),
  // https://no-color.org: set to anything to turn colours off.
  NO_COLOR: z.string().optional(),
  OPS_HOST: z.string().min(1).default('127.0.0.1'),
  OPS_PORT: port.default(8080),
  INSPECTOR_ENABLED: bool.default(true),
  INSPECTOR_CONTROLS: bool.default(false),
  INSPECTOR_HOST: z.string().min(1).default('127.0.0.1'),
  INSPECTOR_PORT: port.default(8081),
  INSPECTOR_TOKEN: z.string().min(16, { message: 'must be at least 16 characters' }).optional(),
  STATELY_RELAY_PORT: port.optional(),
  // Any Bot-API-shaped token here; one that goes to real Telegram must also look like BotFather's (below).
  TELEGRAM_BOT_TOKEN: z.string().regex(BOT_API_TOKEN, { message: BOTFATHER_TOKEN_HINT }).optional(),
  ADMIN_TELEGRAM_IDS: csv(z.coerce.number({ message: 'is not a Telegram user id' }).int().positive()).default([]),
  TELEGRAM_API_ROOT: url(['http', 'https']).optional(),
  TELEGRAM_TRANSPORT: z.enum(['polling', 'webhook'], { message: 'use polling or webhook' }).default('polling'),
  TELEGRAM_WEBHOOK_URL: url(['https', 'http']).optional(),
  TELEGRAM_WEBHOOK_SECRET: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,256}$/, { message: 'use 1 to 256 characters A-Z, a-z, 0-9, _ and - (Telegram sends it back in X-Telegram-Bot-Api-Secret-Token)' })
    .optional(),
  TELEGRAM_WEBHOOK_HOST: z.string().min(1).default('127.0.0.1'),
  TELEGRAM_WEBHOOK_PORT: port.default(8082),
  SANDBOX_CHAT_HOST: z.string().min(1).default('127.0.0.1'),
  SANDBOX_CHAT_PORT: port.default(8090),
  // Avantis v2: the page where a trader with their own wallet signs Vanta's delegate key (ADR 0018).
  CONNECT_HOST: z.string().min(1).default('127.0.0.1'),
  CONNECT_PORT: port.default(8091),
  CONNECT_PUBLIC_URL: url(['https', 'http']).optional(),
  BASE_RPC_URLS: csv(url(['http', 'https', 'ws', 'wss'])).optional(),
  CHAIN_ID: positiveInt.default(8453),
  // Avantis v2 (Veranta): its services, used when the chain runs v2 (live, paper) or SANDBOX_PROTOCOL=v2.
  AVANTIS_V2_TX_BUILDER_URL: url(['http', 'https']).default(V2_DEFAULT_HOSTS.mainnet.txBuilder),
  AVANTIS_V2_GATEWAY_URL: url(['http', 'https']).default(V2_DEFAULT_HOSTS.mainnet.gateway),
  AVANTIS_V2_ROUTE: z.enum(['gasless', 'direct'], { message: 'must be gasless or direct' }).default('gasless'),
  AVANTIS_V2_META_REFRESH_MINUTES: positiveInt.default(10),
  SANDBOX_PROTOCOL: z.enum(['v1', 'v2'], { message: 'must be v1 or v2' }).default('v1'),
  VAULT_ADDR: url(['http', 'https']).optional(),
  VAULT_TOKEN: z.string().min(1).optional(),
  VAULT_ROLE_ID: z.string().min(1).optional(),
  VAULT_SECRET_ID: z.string().min(1).optional(),
  VAULT_NAMESPACE: z.string().min(1).optional(),
  VAULT_TRANSIT_KEY: z.string().regex(/^[A-Za-z0-9_-]+$/, { message: 'letters, digits, _ and - only' }).default('vanta-wallets'),
  /** The rotation command's token (policy vanta-rotation); the engine never reads it. */
  VAULT_OPERATOR_TOKEN: z.string().min(1).optional(),
  ALLOW_LOCAL_KEYSTORE_IN_LIVE: bool.default(false),
  RISK_MAX_LEVERAGE: positiveNumber.optional(),
  RISK_MAX_POSITION_USDC: positiveNumber.optional(),
  RISK_MAX_COLLATERAL_USDC: positiveNumber.optional(),
  RISK_MAX_OPEN_POSITIONS: positiveInt.optional(),
  RISK_MAX_DAILY_LOSS_USDC: positiveNumber.optional(),
  // Live: a new withdrawal address can be used only this long after the trader added it (0 turns the wait off).
  WITHDRAW_ADDRESS_DELAY_HOURS: z.coerce.number({ message: 'must be a number of hours' }).min(0, { message: 'must be 0 or more (hours)' }).max(720, { message: 'must be at most 720 (30 days)' }).default(24),
  SHUTDOWN_GRACE_MS: positiveInt.default(10_000),
  SUPERVISOR_MAX_RESTARTS: positiveInt.default(5),
  SUPERVISOR_WINDOW_MS: positiveInt.default(60_000),
  SUPERVISOR_BACKOFF_BASE_MS: positiveInt.default(200),
  SUPERVISOR_BACKOFF_MAX_MS: positiveInt.default(30_000),
  PERSIST_BATCH_MAX: positiveInt.default(1_000),
  TX_MAX_FEE_GWEI: positiveNumber.default(5),
  TX_SPEEDUP_AFTER_MS: positiveInt.default(20_000),
  TX_RECEIPT_TIMEOUT_MS: positiveInt.default(120_000),
  // Without the transaction that used our nonce in hand, "superseded" needs every RPC to show the
  // nonce past ours and no receipt of ours, for this long (receipts can lag the nonce count).
  TX_SUPERSEDE_AFTER_MS: positiveInt.default(30_000),
  // One owner at a time (ADR 0010): a dead owner is replaced within about TTL + poll + boot.
  LEASE_TTL_MS: positiveInt.min(500, { message: 'must be at least 500 (ms)' }).default(2_500),
  LEASE_RENEW_MS: positiveInt.optional(),
  LEASE_POLL_MS: positiveInt.default(250),
});

export type Env = Readonly<Record<string, string | undefined>>;

/**
 * How updates reach the bot. A webhook listens on host:port (plain HTTP; TLS ends at the reverse
 * proxy that `url` names) and accepts a request only with `secret` in X-Telegram-Bot-Api-Secret-Token.
 */
export type TelegramTransport =
  | { readonly kind: 'polling' }
  | { readonly kind: 'webhook'; readonly url: string; readonly secret: Secret; readonly host: string; readonly port: number };

export interface Config {
  readonly mode: Mode;
  readonly modeReason: string;
  readonly dataDir: string;
  readonly database: { readonly kind: 'postgres'; readonly url: Secret; readonly display: string } | { readonly kind: 'pglite'; readonly dir: string };
  readonly redis: { readonly url: Secret; readonly display: string } | null;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** `auto`: readable lines on a terminal, JSON lines otherwise (the logger decides, knowing stdout). */
  readonly logFormat: 'auto' | 'pretty' | 'json';
  /** False when NO_COLOR is set. */
  readonly logColor: boolean;
  readonly ops: { readonly host: string; readonly port: number };
  readonly inspector: {
    readonly enabled: boolean;
    readonly host: string;
    readonly port: number;
    readonly token: Secret | null;
    readonly statelyRelayPort: number | null;
    /** Lets the inspector send events and release actors (audited); off by default: read-only. */
    readonly controls: boolean;
  };
  readonly telegram: {
    /**
     * The bot's token. Null only in the sandbox without TELEGRAM_API_ROOT: then the bot talks to the
     * built-in Bot API double, which issues its own token.
     */
    readonly token: Secret | null;
    readonly adminIds: readonly number[];
    /** Bot API base URL, no trailing slash (grammY's `client.apiRoot`). */
    readonly apiRoot: string;
    /** TELEGRAM_API_ROOT was set: in the sandbox, the bot uses it (with the given token) instead of the built-in double. */
    readonly apiRootGiven: boolean;
    readonly transport: TelegramTransport;
  };
  /** Sandbox only: the local chat page and the Bot API double behind it. */
  readonly sandboxChat: { readonly host: string; readonly port: number };
  /**
   * Avantis v2 only: the delegate connect page (ADR 0018). Loopback by default; `publicUrl` is the
   * HTTPS address a reverse proxy serves it under (links use it; a Telegram Mini App needs HTTPS).
   */
  readonly connect: { readonly host: string; readonly port: number; readonly publicUrl: string | null };
  readonly chain: { readonly rpcUrls: readonly Secret[]; readonly chainId: number };
  /** Avantis v2's services (AVANTIS-V2.md §2); `sandboxProtocol` says which generation the sandbox's devnet runs. */
  readonly avantisV2: { readonly txBuilderUrl: string; readonly gatewayUrl: string; readonly route: 'gasless'; readonly metaRefreshMs: number; readonly sandboxProtocol: 'v1' | 'v2' };
  readonly vault: {
    readonly addr: string | null;
    readonly token: Secret | null;
    readonly appRole: { readonly roleId: string; readonly secretId: Secret } | null;
    readonly namespace: string | null;
    readonly transitKey: string;
    /** VAULT_OPERATOR_TOKEN: only `npm run keys:rotate` uses it (rotate, rewrap, retire); the engine's token cannot. */
    readonly operatorToken: Secret | null;
  };
  readonly keystore: { readonly kind: 'vault' | 'local'; readonly allowLocalInLive: boolean };
  readonly risk: {
    readonly maxLeverage: number;
    /** Notional (collateral × leverage) per order. */
    readonly maxPositionUsdc: number;
    readonly maxCollateralUsdc: number;
    readonly maxOpenPositions: number;
    readonly maxDailyLossUsdc: number;
    readonly explicit: boolean;
  };
  /** Live only: how long a new withdrawal address waits before it can be used. */
  readonly withdrawals: { readonly addressDelayHours: number };
  readonly shutdownGraceMs: number;
  readonly supervisor: { readonly maxRestarts: number; readonly windowMs: number; readonly backoffBaseMs: number; readonly backoffMaxMs: number };
  readonly persistBatchMax: number;
  readonly tx: { readonly maxFeeGwei: number; readonly speedUpAfterMs: number; readonly receiptTimeoutMs: number; readonly supersedeAfterMs: number };
  /** The engine lease on PostgreSQL (unused on the embedded database, which one process owns outright). */
  readonly lease: { readonly ttlMs: number; readonly renewEveryMs: number; readonly pollMs: number };
}

/** Sandbox defaults for risk limits; live mode insists on explicit values. */
const DEFAULT_RISK = { maxLeverage: 50, maxPositionUsdc: 10_000, maxCollateralUsdc: 5_000, maxOpenPositions: 20, maxDailyLossUsdc: 2_000 } as const;

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/**
 * Parses and validates the environment. Throws ConfigError listing every
 * problem at once, each with the variable's name and the fix.
 */
export function loadConfig(env: Env): Config {
  const parsed = envSchema.safeParse(stripEmpty(env));
  if (!parsed.success) {
    throw new ConfigError(
      'CONFIG_INVALID',
      parsed.error.issues.map((issue) => `${issue.path.join('.') || 'environment'}: ${issue.message}`),
    );
  }
  const e = parsed.data;
  const { mode, reason } = chooseMode(e.VANTA_MODE, e.TELEGRAM_BOT_TOKEN, e.BASE_RPC_URLS, e.TELEGRAM_API_ROOT !== undefined);
  const problems: string[] = [...telegramProblems(e, mode)];
  if (e.INSPECTOR_ENABLED && !LOOPBACK.has(e.INSPECTOR_HOST) && !e.INSPECTOR_TOKEN) {
    problems.push(`INSPECTOR_HOST: the inspector shows live trading state; set INSPECTOR_TOKEN before binding it to ${e.INSPECTOR_HOST}`);
  }
  if (!LOOPBACK.has(e.CONNECT_HOST) && e.CONNECT_PUBLIC_URL === undefined) {
    problems.push(`CONNECT_HOST: the delegate connect page answers only loopback names without a public address; set CONNECT_PUBLIC_URL (the https:// URL your proxy serves it under) before binding it to ${e.CONNECT_HOST}`);
  }
  if (e.CONNECT_PUBLIC_URL !== undefined && !e.CONNECT_PUBLIC_URL.startsWith('https://') && !LOOPBACK.has(new URL(e.CONNECT_PUBLIC_URL).hostname.replace(/^\[|\]$/g, ''))) {
    problems.push('CONNECT_PUBLIC_URL: use https:// (Telegram opens Mini Apps over HTTPS only, and a wallet page must not travel in clear); http:// only to a loopback address');
  }
  if (e.VAULT_ROLE_ID !== undefined && e.VAULT_SECRET_ID === undefined) {
    problems.push('VAULT_SECRET_ID: AppRole login needs both VAULT_ROLE_ID and VAULT_SECRET_ID');
  }
  if (e.AVANTIS_V2_ROUTE === 'direct') {
    // Not built yet: refusing is honest; silently trading through another route would not be.
    problems.push('AVANTIS_V2_ROUTE: the direct route (unsigned transactions through the outbox) is not built yet; use gasless (the default)');
  }
  const leaseRenewMs = e.LEASE_RENEW_MS ?? Math.floor(e.LEASE_TTL_MS / 3);
  if (leaseRenewMs * 2 > e.LEASE_TTL_MS) {
    problems.push(`LEASE_RENEW_MS: renew at least twice per lease (LEASE_TTL_MS=${e.LEASE_TTL_MS}), so one slow renewal does not lose it; use at most ${Math.floor(e.LEASE_TTL_MS / 2)}`);
  }
  if (e.LEASE_POLL_MS >= e.LEASE_TTL_MS) {
    problems.push(`LEASE_POLL_MS: a standby must check more often than the lease lasts (LEASE_TTL_MS=${e.LEASE_TTL_MS}); use less, e.g. ${Math.floor(e.LEASE_TTL_MS / 6)}`);
  }
  if (problems.length) throw new ConfigError('CONFIG_INVALID', problems);
  if (mode === 'paper') requirePaper(e);

  const keystoreKind = e.VAULT_ADDR ? 'vault' : 'local';
  const config: Config = {
    mode,
    modeReason: reason,
    dataDir: e.DATA_DIR,
    database: e.DATABASE_URL
      ? { kind: 'postgres', url: new Secret(e.DATABASE_URL), display: redactUrl(e.DATABASE_URL) }
      : { kind: 'pglite', dir: `${e.DATA_DIR.replace(/\/$/, '')}/pglite` },
    redis: e.REDIS_URL ? { url: new Secret(e.REDIS_URL), display: redactUrl(e.REDIS_URL) } : null,
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT,
    logColor: e.NO_COLOR === undefined,
    ops: { host: e.OPS_HOST, port: e.OPS_PORT },
    inspector: {
      enabled: e.INSPECTOR_ENABLED,
      host: e.INSPECTOR_HOST,
      port: e.INSPECTOR_PORT,
      token: e.INSPECTOR_TOKEN ? new Secret(e.INSPECTOR_TOKEN) : null,
      statelyRelayPort: e.STATELY_RELAY_PORT ?? null,
      controls: e.INSPECTOR_CONTROLS,
    },
    telegram: {
      token: e.TELEGRAM_BOT_TOKEN ? new Secret(e.TELEGRAM_BOT_TOKEN) : null,
      adminIds: e.ADMIN_TELEGRAM_IDS,
      apiRoot: apiRootOf(e),
      apiRootGiven: e.TELEGRAM_API_ROOT !== undefined,
      transport:
        e.TELEGRAM_TRANSPORT === 'webhook' && e.TELEGRAM_WEBHOOK_URL && e.TELEGRAM_WEBHOOK_SECRET
          ? { kind: 'webhook', url: e.TELEGRAM_WEBHOOK_URL, secret: new Secret(e.TELEGRAM_WEBHOOK_SECRET), host: e.TELEGRAM_WEBHOOK_HOST, port: e.TELEGRAM_WEBHOOK_PORT }
          : { kind: 'polling' },
    },
    sandboxChat: { host: e.SANDBOX_CHAT_HOST, port: e.SANDBOX_CHAT_PORT },
    connect: { host: e.CONNECT_HOST, port: e.CONNECT_PORT, publicUrl: e.CONNECT_PUBLIC_URL ?? null },
    chain: { rpcUrls: (e.BASE_RPC_URLS ?? []).map((u) => new Secret(u)), chainId: e.CHAIN_ID },
    avantisV2: {
      txBuilderUrl: e.AVANTIS_V2_TX_BUILDER_URL,
      gatewayUrl: e.AVANTIS_V2_GATEWAY_URL,
      route: 'gasless',
      metaRefreshMs: e.AVANTIS_V2_META_REFRESH_MINUTES * 60_000,
      sandboxProtocol: e.SANDBOX_PROTOCOL,
    },
    vault: {
      addr: e.VAULT_ADDR ?? null,
      token: e.VAULT_TOKEN ? new Secret(e.VAULT_TOKEN) : null,
      appRole: e.VAULT_ROLE_ID && e.VAULT_SECRET_ID ? { roleId: e.VAULT_ROLE_ID, secretId: new Secret(e.VAULT_SECRET_ID) } : null,
      namespace: e.VAULT_NAMESPACE ?? null,
      transitKey: e.VAULT_TRANSIT_KEY,
      operatorToken: e.VAULT_OPERATOR_TOKEN ? new Secret(e.VAULT_OPERATOR_TOKEN) : null,
    },
    keystore: { kind: keystoreKind, allowLocalInLive: e.ALLOW_LOCAL_KEYSTORE_IN_LIVE },
    risk: {
      maxLeverage: e.RISK_MAX_LEVERAGE ?? DEFAULT_RISK.maxLeverage,
      maxPositionUsdc: e.RISK_MAX_POSITION_USDC ?? DEFAULT_RISK.maxPositionUsdc,
      maxCollateralUsdc: e.RISK_MAX_COLLATERAL_USDC ?? DEFAULT_RISK.maxCollateralUsdc,
      maxOpenPositions: e.RISK_MAX_OPEN_POSITIONS ?? DEFAULT_RISK.maxOpenPositions,
      maxDailyLossUsdc: e.RISK_MAX_DAILY_LOSS_USDC ?? DEFAULT_RISK.maxDailyLossUsdc,
      explicit:
        e.RISK_MAX_LEVERAGE !== undefined &&
        e.RISK_MAX_POSITION_USDC !== undefined &&
        e.RISK_MAX_COLLATERAL_USDC !== undefined &&
        e.RISK_MAX_OPEN_POSITIONS !== undefined &&
        e.RISK_MAX_DAILY_LOSS_USDC !== undefined,
    },
    withdrawals: { addressDelayHours: e.WITHDRAW_ADDRESS_DELAY_HOURS },
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    supervisor: {
      maxRestarts: e.SUPERVISOR_MAX_RESTARTS,
      windowMs: e.SUPERVISOR_WINDOW_MS,
      backoffBaseMs: e.SUPERVISOR_BACKOFF_BASE_MS,
      backoffMaxMs: e.SUPERVISOR_BACKOFF_MAX_MS,
    },
    persistBatchMax: e.PERSIST_BATCH_MAX,
    tx: { maxFeeGwei: e.TX_MAX_FEE_GWEI, speedUpAfterMs: e.TX_SPEEDUP_AFTER_MS, receiptTimeoutMs: e.TX_RECEIPT_TIMEOUT_MS, supersedeAfterMs: e.TX_SUPERSEDE_AFTER_MS },
    lease: { ttlMs: e.LEASE_TTL_MS, renewEveryMs: leaseRenewMs, pollMs: e.LEASE_POLL_MS },
  };
  if (mode === 'live') requireLive(config);
  return deepFreeze(config);
}

function chooseMode(explicit: Mode | undefined, token: string | undefined, rpc: readonly string[] | undefined, apiRootGiven: boolean): { mode: Mode; reason: string } {
  if (explicit) return { mode: explicit, reason: 'VANTA_MODE' };
  if (!token && !rpc?.length) return { mode: 'sandbox', reason: 'no TELEGRAM_BOT_TOKEN or BASE_RPC_URLS configured' };
  // Never guess between paper and live when real endpoints are configured. A token with an API root
  // may be a sandbox bot on another Bot API implementation, or a real bot behind a self-hosted
  // server: that too is the operator's to say.
  const sandbox = token && !rpc?.length && apiRootGiven ? ', or VANTA_MODE=sandbox to run the local chain with the bot on TELEGRAM_API_ROOT' : '';
  throw new ConfigError('CONFIG_INVALID', [
    `VANTA_MODE: TELEGRAM_BOT_TOKEN or BASE_RPC_URLS is set, so choose the mode explicitly: VANTA_MODE=paper (no transactions) or VANTA_MODE=live${sandbox}`,
  ]);
}

function apiRootOf(e: z.infer<typeof envSchema>): string {
  return (e.TELEGRAM_API_ROOT ?? TELEGRAM_API_ROOT).replace(/\/+$/, '');
}

/**
 * The Telegram front end's settings, checked together: which token shape the chosen Bot API
 * server needs, whether the bot token could travel in clear text, and a webhook's prerequisites.
 */
function telegramProblems(e: z.infer<typeof envSchema>, mode: Mode): string[] {
  const problems: string[] = [];
  const apiRoot = new URL(apiRootOf(e));
  const telegramItself = apiRoot.origin === TELEGRAM_API_ROOT;
  // In the sandbox a given API root is another Bot API implementation (a double, a test server):
  // any token it knows the bot by will do. Everywhere else the token is BotFather's.
  const anotherImplementation = mode === 'sandbox' && e.TELEGRAM_API_ROOT !== undefined;
  if (anotherImplementation && !e.TELEGRAM_BOT_TOKEN) {
    problems.push('TELEGRAM_BOT_TOKEN: TELEGRAM_API_ROOT points the sandbox bot at another Bot API server; give the token that server knows the bot by (any 123:abc-shaped token), or unset TELEGRAM_API_ROOT to use the built-in chat');
  }
  if (!anotherImplementation && e.TELEGRAM_BOT_TOKEN && !BOTFATHER_TOKEN.test(e.TELEGRAM_BOT_TOKEN)) {
    problems.push(`TELEGRAM_BOT_TOKEN: ${BOTFATHER_TOKEN_HINT}`);
  }
  // The token is part of every request's path: outside the sandbox it must not cross a network in clear text.
  if (mode !== 'sandbox' && apiRoot.protocol === 'http:' && !isPrivateHost(apiRoot.hostname)) {
    problems.push(`TELEGRAM_API_ROOT: the bot token travels in every request; use https:// for ${apiRoot.hostname}, or http:// only to a loopback or private-network address`);
  }
  if (e.TELEGRAM_TRANSPORT === 'webhook') {
    if (!e.TELEGRAM_WEBHOOK_URL) {
      problems.push('TELEGRAM_WEBHOOK_URL: the webhook transport needs the public https:// URL Telegram will post updates to (your reverse proxy, which forwards to TELEGRAM_WEBHOOK_HOST:TELEGRAM_WEBHOOK_PORT)');
    } else {
      const hook = new URL(e.TELEGRAM_WEBHOOK_URL);
      const port = hook.port ? Number(hook.port) : hook.protocol === 'https:' ? 443 : 80;
      // Telegram's own server posts only to https on a few ports; a self-hosted one (--local) also to http and any port.
      if (telegramItself && hook.protocol !== 'https:') problems.push('TELEGRAM_WEBHOOK_URL: Telegram posts updates only to https:// URLs');
      if (telegramItself && !TELEGRAM_WEBHOOK_PORTS.has(port)) problems.push(`TELEGRAM_WEBHOOK_URL: Telegram posts updates only to ports 443, 80, 88 or 8443, not ${port}`);
    }
    if (!e.TELEGRAM_WEBHOOK_SECRET) {
      problems.push('TELEGRAM_WEBHOOK_SECRET: the webhook transport needs a secret (1 to 256 characters A-Z, a-z, 0-9, _ and -; e.g. openssl rand -hex 32) so only Telegram can post updates');
    }
  } else {
    for (const name of ['TELEGRAM_WEBHOOK_URL', 'TELEGRAM_WEBHOOK_SECRET'] as const) {
      if (e[name] !== undefined) problems.push(`${name}: set, but TELEGRAM_TRANSPORT is polling; set TELEGRAM_TRANSPORT=webhook to use it, or remove it`);
    }
  }
  return problems;
}

/** Loopback, RFC 1918 and unique-local addresses, and single-label names (a container on the same network). */
function isPrivateHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (LOOPBACK.has(host) || host.endsWith('.localhost')) return true;
  if (/^(127|10)\.\d+\.\d+\.\d+$/.test(host) || /^192\.168\.\d+\.\d+$/.test(host) || /^172\.(1[6-9]|2\d|3[01])\.\d+\.\d+$/.test(host)) return true;
  if (/^f[cd][0-9a-f]{2}:/.test(host)) return true;
  return !host.includes('.') && !host.includes(':');
}

const REDIS_HINT = (mode: Mode) =>
  `REDIS_URL: ${mode} mode keeps the bot's per-user rate limits and chat sessions in Redis (so they hold across restarts and engines); set redis://… or rediss://…`;

function requirePaper(e: z.infer<typeof envSchema>): void {
  const missing: string[] = [];
  if (!e.TELEGRAM_BOT_TOKEN) missing.push('TELEGRAM_BOT_TOKEN: paper mode talks to real Telegram; set the token BotFather gave you');
  if (!e.BASE_RPC_URLS?.length) missing.push('BASE_RPC_URLS: paper mode reads real Base prices; set one or more RPC URLs, comma separated');
  if (!e.REDIS_URL) missing.push(REDIS_HINT('paper'));
  if (missing.length) throw new ConfigError('CONFIG_INVALID', missing);
}

/** Live mode moves real money: every safety prerequisite must be present, or we name what is not. */
function requireLive(c: Config): void {
  const missing: string[] = [];
  if (c.database.kind !== 'postgres') missing.push('DATABASE_URL: live mode needs PostgreSQL (the embedded PGlite is for sandbox and paper)');
  if (!c.redis) missing.push(REDIS_HINT('live'));
  if (!c.telegram.token) missing.push('TELEGRAM_BOT_TOKEN: live mode needs the bot token');
  if (!c.chain.rpcUrls.length) missing.push('BASE_RPC_URLS: live mode needs at least one Base RPC URL (two or more for fallback)');
  if (c.chain.chainId !== 8453) missing.push(`CHAIN_ID: live mode trades on Base mainnet (8453), not ${c.chain.chainId}`);
  if (c.keystore.kind === 'local' && !c.keystore.allowLocalInLive) {
    missing.push('VAULT_ADDR: live mode keeps wallet keys under Vault transit; set VAULT_ADDR and VAULT_TOKEN or VAULT_ROLE_ID/VAULT_SECRET_ID (or, knowingly, ALLOW_LOCAL_KEYSTORE_IN_LIVE=true)');
  }
  if (c.keystore.kind === 'vault' && !c.vault.token && !c.vault.appRole) {
    missing.push('VAULT_TOKEN: Vault needs credentials; set VAULT_TOKEN or VAULT_ROLE_ID and VAULT_SECRET_ID');
  }
  if (!c.risk.explicit) {
    missing.push('RISK_MAX_LEVERAGE, RISK_MAX_POSITION_USDC, RISK_MAX_COLLATERAL_USDC, RISK_MAX_OPEN_POSITIONS, RISK_MAX_DAILY_LOSS_USDC: live mode needs explicit risk limits');
  }
  if (!c.telegram.adminIds.length) missing.push('ADMIN_TELEGRAM_IDS: live mode needs at least one admin to receive alerts and pause trading');
  if (missing.length) throw new ConfigError('CONFIG_LIVE_PREREQUISITE', missing);
}

/** An empty variable (FOO=) means "not set", as shells and compose files usually intend. */
function stripEmpty(env: Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined && value !== '') out[key] = value;
  return out;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !(value instanceof Secret) && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
