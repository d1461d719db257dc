/**
 * The delegate connect page: where a trader who keeps their OWN wallet registers Vanta's delegate
 * key (AVANTIS-V2.md §4, §8, §9.5, §11 step 3; docs/adr/0018-delegate-connect-page.md).
 *
 * The bot opens a session (trader, our delegate, a DelegateReq built locally) and sends the trader
 * a link `/connect/<token>`. The page shows in plain words what the signature allows, then the
 * exact typed data, and asks the trader's wallet to sign it (an injected EIP-1193 provider) or
 * takes a signature pasted from any wallet. This server then:
 *   1. recomputes the EIP-712 digest from the session's own domain and message (never from
 *      anything the page sent; the page sends the signature and nothing else);
 *   2. recovers the signer and requires it to be the trader (a low-s, v 27/28 signature);
 *   3. hands the signed DelegateReq to the injected `submit` (in production: relay
 *      `setDelegateWithSig(signature, encodedIntent)`), once per token, and records the outcome.
 * The trader's key never reaches us: only a signature over a message we built and showed.
 *
 * Access: the token in the path is the capability (long, random, expiring, one-shot; minted by the
 * sessions, never logged). With no `publicUrl` the server must sit on loopback and answers only
 * requests addressed to a loopback name (as the inspector without a token). With a `publicUrl`
 * (the HTTPS address a reverse proxy serves, which a Telegram Mini App needs) it answers only
 * requests whose Host is that URL's host, so a rebinding name cannot reach it either.
 * The POST needs `content-type: application/json`, the header `x-vanta-connect: 1` (no cross-site
 * form or simple request can send it, and no CORS preflight is ever answered yes) and a body of at
 * most 4 KiB.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { getAddress, recoverAddress, type Address, type Hex } from 'viem';
import { INTENT_TYPES } from '../chain/avantis-v2/intent-types.ts';
import { encodeIntent, intentDigest, KNOWN_TOS, type IntentDomain, type IntentMessage } from '../chain/avantis-v2/intents.ts';
import { listen } from './listen.ts';
import { BASE_HEADERS, pathOf, sendJson } from './respond.ts';
import { LOOPBACK_BIND_HOST as LOOPBACK_BIND, LOOPBACK_HOST_HEADER as LOOPBACK_HOST } from './loopback.ts';

/** One pending registration, as the sessions hold it. Built by Vanta, never by the page. */
export interface ConnectSession {
  /** The trader's own wallet: the only address whose signature is accepted. */
  readonly trader: Address;
  /** The trading domain from /v2/meta (`domainFor(meta, 'DelegateReq')`). */
  readonly domain: IntentDomain;
  /** The DelegateReq to sign, built locally (`delegateMessage`): its `trader` must be `trader`. */
  readonly message: IntentMessage<'DelegateReq'>;
  /** Unix ms after which the link no longer works (the message's own `deadline` also ends it). */
  readonly expiresAtMs: number;
  /** Null while pending; set once by `complete` (the link is then used). */
  readonly outcome: ConnectOutcome | null;
}

/** What happened to a used link. `reason` and `detail` are shown to the trader: no internals. */
export type ConnectOutcome =
  | { readonly status: 'registered'; readonly atMs: number; readonly detail?: string }
  | { readonly status: 'failed'; readonly atMs: number; readonly reason: string };

/** The sessions store, injected (the actors layer keeps them; see src/actors/delegate-connect.ts). */
export interface ConnectSessions {
  get(token: string): ConnectSession | null | Promise<ConnectSession | null>;
  /** Records the outcome; from then on the token is used. */
  complete(token: string, outcome: ConnectOutcome): void | Promise<void>;
}

/** A DelegateReq the trader signed, checked here: what `setDelegateWithSig(bytes,bytes)` takes. */
export interface SignedDelegateReq {
  readonly trader: Address;
  readonly delegate: Address;
  readonly domain: IntentDomain;
  readonly message: IntentMessage<'DelegateReq'>;
  /** Our own EIP-712 digest, which the signature recovers to the trader over. */
  readonly digest: Hex;
  /** abi.encode of the struct in Solidity order (§8.4): the `encodedIntent` argument. */
  readonly encodedIntent: Hex;
  /** 65 bytes r‖s‖v, v 27 or 28 (§8.6): the `signature` argument. */
  readonly signature: Hex;
}

/**
 * The submitter's answer. `reason` is shown to the trader as it is: keep internals in the log.
 * A throw is logged and shown as a generic failure.
 */
export type ConnectSubmitResult = { readonly ok: true; readonly detail?: string } | { readonly ok: false; readonly reason: string };

export interface ConnectServerOptions {
  /** Default 127.0.0.1. Anything else needs `publicUrl`. */
  readonly host?: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
  readonly sessions: ConnectSessions;
  /** Relays the registration (production: setDelegateWithSig through blitz). Called at most once per token. */
  readonly submit: (signed: SignedDelegateReq) => Promise<ConnectSubmitResult>;
  readonly logger: Logger;
  /** The public HTTPS base a proxy serves this under (e.g. https://vanta.example); links use it. */
  readonly publicUrl?: string;
  /** For tests. */
  readonly now?: () => number;
  /** Wrong signatures allowed per token before it is refused for good (default 10). */
  readonly maxBadSignatures?: number;
}

export interface ConnectServer {
  /** Where the server listens. */
  readonly url: string;
  /** The link to give the trader for a token (on `publicUrl` when set). */
  linkFor(token: string): string;
  close(): Promise<void>;
}

/** The custom header the page's POST carries. */
export const CONNECT_HEADER = 'x-vanta-connect';
export const MAX_CONNECT_BODY = 4 * 1024;
/** 32 random bytes, base64url: 43 characters. Tokens of other shapes are refused before any lookup. */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43,128}$/;
const SIGNATURE_SHAPE = /^0x[0-9a-fA-F]{130}$/;
/** secp256k1 n / 2: a higher s is the malleable twin the contracts' ECDSA refuses. */
const HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;

/** A fresh link token: 32 random bytes, base64url. */
export function newConnectToken(): string {
  return randomBytes(32).toString('base64url');
}

const PAGE_DIR = new URL('./connect-page/', import.meta.url);
const ASSETS: Readonly<Record<string, { file: string; type: string }>> = {
  '/connect-assets/connect.css': { file: 'connect.css', type: 'text/css; charset=utf-8' },
  '/connect-assets/connect.js': { file: 'connect.js', type: 'text/javascript; charset=utf-8' },
};
/**
 * Everything the page loads comes from this server and it calls nowhere else. It may be framed
 * only by Telegram's web client (a Mini App opened in web.telegram.org runs in its iframe); native
 * Telegram apps open it in a web view, which framing rules do not concern.
 */
const PAGE_HEADERS = {
  ...BASE_HEADERS,
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors https://web.telegram.org",
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()',
};

/** The plain words the page shows before anything else (§4). */
export const DELEGATE_CAN = [
  'open, close and increase positions for you',
  'add or remove margin on your positions',
  'set and change take-profit and stop-loss',
] as const;
export const DELEGATE_CANNOT = [
  'withdraw anything from your wallet',
  'approve USDC spending',
  'add or remove delegates',
] as const;
export const FUNDS_NOTE = 'Collateral is always taken from your wallet, and every payout goes back to your wallet: the delegate never holds your money.';

/**
 * Starts the connect server and resolves once it listens.
 * @example
 * const connect = await createConnectServer({ port: 8092, sessions, submit: relaySetDelegate, logger, publicUrl: 'https://vanta.example' });
 * shutdown.add('connect http', () => connect.close());
 */
export async function createConnectServer(options: ConnectServerOptions): Promise<ConnectServer> {
  const logger = options.logger.child({ component: 'connect-http' });
  const host = options.host ?? '127.0.0.1';
  const publicBase = options.publicUrl === undefined ? null : parsePublicUrl(options.publicUrl);
  if (publicBase === null && !LOOPBACK_BIND.test(host)) {
    throw new Error(`The connect page on ${host} needs a public URL (publicUrl): without one it serves loopback only`);
  }
  const assets = await loadAssets();
  const handle = createHandler({ ...options, logger, assets, publicHost: publicBase?.host ?? null, claimed: new Set(), badSignatures: new Map() });
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      logger.error({ err, path: redactPath(pathOf(req.url)) }, 'Connect request failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error; ask the bot for a new link' });
      else res.destroy();
    });
  });
  const listening = await listen(server, { host, port: options.port, settingName: 'CONNECT_HOST/CONNECT_PORT' });
  const base = publicBase ? publicBase.origin + publicBase.pathname.replace(/\/$/, '') : listening.url;
  logger.info({ url: listening.url, public: publicBase?.origin ?? null }, 'Connect page listening');
  return {
    url: listening.url,
    linkFor: (token) => `${base}/connect/${token}`,
    close: () => listening.close(),
  };
}

function parsePublicUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`publicUrl ${JSON.stringify(value)} is not a URL`);
  }
  if (url.protocol !== 'https:' && !LOOPBACK_HOST.test(url.host)) throw new Error('publicUrl must be https (Telegram opens Mini Apps over HTTPS only, and a wallet page must not travel in clear)');
  return url;
}

async function loadAssets(): Promise<Map<string, { body: Buffer; type: string }>> {
  const loaded = new Map<string, { body: Buffer; type: string }>();
  for (const [path, asset] of Object.entries(ASSETS)) loaded.set(path, { body: await readFile(new URL(asset.file, PAGE_DIR)), type: asset.type });
  loaded.set('page', { body: await readFile(new URL('index.html', PAGE_DIR)), type: 'text/html; charset=utf-8' });
  return loaded;
}

interface HandlerContext extends ConnectServerOptions {
  readonly assets: Map<string, { body: Buffer; type: string }>;
  readonly publicHost: string | null;
  /** Tokens being checked or already submitted by this process: never submitted twice. */
  readonly claimed: Set<string>;
  readonly badSignatures: Map<string, number>;
}

type Lookup = { ok: true; session: ConnectSession } | { ok: false; status: number; body: Record<string, unknown> };

function createHandler(ctx: HandlerContext): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const now = ctx.now ?? Date.now;

  const lookup = async (token: string): Promise<Lookup> => {
    if (!TOKEN_SHAPE.test(token)) return { ok: false, status: 404, body: { status: 'unknown', error: 'This link is not valid. Ask the bot for a new one.' } };
    const session = await ctx.sessions.get(token);
    if (!session) return { ok: false, status: 404, body: { status: 'unknown', error: 'This link is not valid (or was already cleaned up). Ask the bot for a new one.' } };
    if (session.outcome) return { ok: false, status: 409, body: { status: 'used', outcome: session.outcome, error: session.outcome.status === 'registered' ? 'This link was already used: the delegate is registered.' : `This link was already used and the registration failed: ${session.outcome.reason}` } };
    const t = now();
    if (t >= session.expiresAtMs || BigInt(t) >= session.message.deadline) return { ok: false, status: 410, body: { status: 'expired', error: 'This link has expired. Ask the bot for a new one.' } };
    return { ok: true, session };
  };

  return async (req, res) => {
    const path = pathOf(req.url);
    if (!hostAllowed(ctx, req.headers.host)) {
      sendJson(res, 403, { error: ctx.publicHost ? `this page answers only at ${ctx.publicHost}` : 'this page is served on loopback only; address it as localhost or 127.0.0.1' });
      return;
    }
    const asset = ctx.assets.get(path);
    if (asset && (req.method === 'GET' || req.method === 'HEAD')) {
      sendAsset(req, res, asset);
      return;
    }
    let m = /^\/connect\/([^/]+)$/.exec(path);
    if (m) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return methodNotAllowed(res, 'GET, HEAD');
      // The shell holds code, never data: the page reads its token from its own address.
      sendAsset(req, res, ctx.assets.get('page')!);
      return;
    }
    m = /^\/api\/connect\/([^/]+)$/.exec(path);
    if (!m) {
      sendJson(res, 404, { error: 'no such page' });
      return;
    }
    const token = m[1]!;
    if (req.method === 'GET' || req.method === 'HEAD') {
      const found = await lookup(token);
      if (!found.ok) sendJson(res, found.status, found.body);
      else sendJson(res, 200, describeSession(found.session, now));
      return;
    }
    if (req.method === 'POST') {
      await post(ctx, token, req, res, lookup, now);
      return;
    }
    methodNotAllowed(res, 'GET, HEAD, POST');
  };
}

function hostAllowed(ctx: HandlerContext, host: string | undefined): boolean {
  if (!host) return false;
  if (ctx.publicHost !== null) return host.toLowerCase() === ctx.publicHost.toLowerCase() || LOOPBACK_HOST.test(host);
  return LOOPBACK_HOST.test(host);
}

function sendAsset(req: IncomingMessage, res: ServerResponse, asset: { body: Buffer; type: string }): void {
  res.writeHead(200, { ...PAGE_HEADERS, 'content-type': asset.type, 'content-length': asset.body.length });
  res.end(req.method === 'HEAD' ? undefined : asset.body);
}

function methodNotAllowed(res: ServerResponse, allow: string): void {
  sendJson(res, 405, { error: 'method not allowed' }, { allow });
}

/** The pending request as the page shows it: facts in plain words, then the exact typed data. */
export function describeSession(session: ConnectSession, now: () => number = Date.now): Record<string, unknown> {
  const { domain, message } = session;
  return {
    status: 'pending',
    facts: {
      trader: message.trader,
      delegate: message.delegate,
      expiry: new Date(Number(message.expiry) * 1000).toISOString(),
      expirySeconds: message.expiry.toString(),
      signBefore: new Date(Math.min(Number(message.deadline), session.expiresAtMs)).toISOString(),
      chainId: domain.chainId,
      network: domain.chainId === 8453 ? 'Base' : domain.chainId === 84532 ? 'Base Sepolia' : `chain ${domain.chainId}`,
      verifyingContract: domain.verifyingContract,
      can: DELEGATE_CAN,
      cannot: DELEGATE_CANNOT,
      funds: FUNDS_NOTE,
      tos: message.tnc,
      serverTime: new Date(now()).toISOString(),
    },
    typedData: typedDataOf(domain, message),
    digest: intentDigest(domain, 'DelegateReq', message),
  };
}

/** The eth_signTypedData_v4 payload: EIP712Domain included, integers as decimal strings. */
export function typedDataOf(domain: IntentDomain, message: IntentMessage<'DelegateReq'>): Record<string, unknown> {
  return {
    types: {
      EIP712Domain: [
        { name: 'name', type: 'string' },
        { name: 'version', type: 'string' },
        { name: 'chainId', type: 'uint256' },
        { name: 'verifyingContract', type: 'address' },
      ],
      DelegateReq: INTENT_TYPES.DelegateReq,
    },
    primaryType: 'DelegateReq',
    domain: { name: domain.name, version: domain.version, chainId: domain.chainId, verifyingContract: domain.verifyingContract },
    message: {
      trader: message.trader,
      delegate: message.delegate,
      expiry: message.expiry.toString(),
      deadline: message.deadline.toString(),
      tnc: message.tnc,
      nonce: message.nonce.toString(),
    },
  };
}

async function post(ctx: HandlerContext, token: string, req: IncomingMessage, res: ServerResponse, lookup: (token: string) => Promise<Lookup>, now: () => number): Promise<void> {
  const body = await readSignatureBody(req);
  if (!body.ok) {
    sendJson(res, body.status, { status: 'refused', error: body.error });
    return;
  }
  const found = await lookup(token);
  if (!found.ok) {
    sendJson(res, found.status, found.body);
    return;
  }
  // Claimed synchronously after the lookup: a second POST for the same token, now or after this
  // one finished, is refused here whatever the sessions store answers in between.
  if (ctx.claimed.has(token)) {
    sendJson(res, 409, { status: 'busy', error: 'This registration was already submitted from this link; wait for its answer or reload the page.' });
    return;
  }
  ctx.claimed.add(token);
  let submitted = false;
  try {
    const { session } = found;
    const checked = await checkSignature(session, body.signature);
    if (!checked.ok) {
      const bad = (ctx.badSignatures.get(token) ?? 0) + 1;
      ctx.badSignatures.set(token, bad);
      ctx.logger.warn({ trader: session.trader, why: checked.log, bad }, 'Refused a delegate registration signature');
      if (bad >= (ctx.maxBadSignatures ?? 10)) {
        submitted = true;
        ctx.badSignatures.delete(token);
        await ctx.sessions.complete(token, { status: 'failed', atMs: now(), reason: 'too many signatures that were not from your wallet' });
      }
      sendJson(res, 422, { status: 'refused', error: checked.error });
      return;
    }
    submitted = true;
    ctx.badSignatures.delete(token);
    let outcome: ConnectOutcome;
    try {
      const result = await ctx.submit(checked.signed);
      outcome = result.ok ? { status: 'registered', atMs: now(), ...(result.detail === undefined ? {} : { detail: result.detail }) } : { status: 'failed', atMs: now(), reason: result.reason };
    } catch (err) {
      ctx.logger.error({ err, trader: session.trader, delegate: session.message.delegate }, 'Submitting a delegate registration failed');
      outcome = { status: 'failed', atMs: now(), reason: 'the registration could not be sent to Avantis; ask the bot for a new link and try again' };
    }
    await ctx.sessions.complete(token, outcome);
    ctx.logger.info({ trader: session.trader, delegate: session.message.delegate, status: outcome.status }, 'Delegate registration submitted');
    if (outcome.status === 'registered') sendJson(res, 200, { status: 'registered', outcome });
    else sendJson(res, 502, { status: 'failed', outcome, error: outcome.reason });
  } finally {
    // A refused signature releases the claim (the trader may sign again); a submission never does.
    if (!submitted) ctx.claimed.delete(token);
  }
}

async function readSignatureBody(req: IncomingMessage): Promise<{ ok: true; signature: string } | { ok: false; status: number; error: string }> {
  if (req.headers[CONNECT_HEADER] !== '1') return { ok: false, status: 403, error: `send the header ${CONNECT_HEADER}: 1 (the connect page does)` };
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) return { ok: false, status: 415, error: 'send the signature as application/json' };
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > MAX_CONNECT_BODY) return { ok: false, status: 413, error: `the body is at most ${MAX_CONNECT_BODY} bytes` };
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_CONNECT_BODY) return { ok: false, status: 413, error: `the body is at most ${MAX_CONNECT_BODY} bytes` };
    chunks.push(chunk);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return { ok: false, status: 400, error: 'the body is not JSON' };
  }
  const signature = value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as { signature?: unknown }).signature : undefined;
  if (typeof signature !== 'string') return { ok: false, status: 400, error: 'send {"signature": "0x…"}' };
  const trimmed = signature.trim();
  if (!SIGNATURE_SHAPE.test(trimmed)) return { ok: false, status: 400, error: 'a signature is 0x followed by 130 hex characters (65 bytes)' };
  return { ok: true, signature: trimmed };
}

type SignatureCheck = { ok: true; signed: SignedDelegateReq } | { ok: false; error: string; log: string };

/**
 * Recovers the signer over OUR digest of the session's message. Nothing of the page's is used but
 * the 65 signature bytes. v 0/1 (some hardware wallets) is normalised to 27/28; high s is refused.
 */
async function checkSignature(session: ConnectSession, raw: string): Promise<SignatureCheck> {
  const { message, domain } = session;
  // The session was built by us, but it is still checked before anything is relayed.
  if (message.trader.toLowerCase() !== session.trader.toLowerCase()) return { ok: false, error: 'This link is inconsistent; ask the bot for a new one.', log: 'session trader differs from message.trader' };
  if (!KNOWN_TOS.includes(message.tnc)) return { ok: false, error: 'This link is inconsistent; ask the bot for a new one.', log: 'unknown ToS text in session' };
  const bytes = raw.toLowerCase();
  const s = BigInt(`0x${bytes.slice(66, 130)}`);
  let v = Number.parseInt(bytes.slice(130, 132), 16);
  if (v === 0 || v === 1) v += 27;
  if (v !== 27 && v !== 28) return { ok: false, error: 'That is not a valid signature (its last byte must be 1b or 1c).', log: `v=${v}` };
  if (s === 0n || s > HALF_N) return { ok: false, error: 'That signature is in a form the Avantis contracts refuse (high s). Sign again with your wallet.', log: 'high or zero s' };
  const signature = `${bytes.slice(0, 130)}${v.toString(16)}` as Hex;
  const digest = intentDigest(domain, 'DelegateReq', message);
  let signer: Address;
  try {
    signer = await recoverAddress({ hash: digest, signature });
  } catch {
    return { ok: false, error: 'That signature does not recover to any address. Copy it again or sign again.', log: 'unrecoverable' };
  }
  if (signer.toLowerCase() !== session.trader.toLowerCase()) {
    return { ok: false, error: `That signature was made by ${signer}, not by your wallet ${getAddress(session.trader)}, or over different data. Nothing was sent.`, log: `recovered ${signer}` };
  }
  return {
    ok: true,
    signed: { trader: message.trader, delegate: message.delegate, domain, message, digest, encodedIntent: encodeIntent('DelegateReq', message), signature },
  };
}

/** Never log a token: paths are logged with it cut. */
function redactPath(path: string): string {
  return path.replace(/\/(connect|api\/connect)\/[^/]+/, '/$1/<token>');
}

