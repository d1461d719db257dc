import nodeVault from 'node-vault';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Secret } from '../secret.ts';
import { VaultError } from './errors.ts';
import { isApiResponseError, toVaultError, type VaultCallSite } from './vault-errors.ts';

/**
 * A typed adapter over node-vault for the few Vault calls the keystore needs:
 * transit keys (read, create, rotate, config), batch encrypt/decrypt/rewrap,
 * token and AppRole auth with renewal, and health. Every answer is checked
 * against the shape Vault documents; anything else is a VAULT_BAD_RESPONSE.
 *
 * node-vault's transit helpers are hard-wired to the `/transit` mount and
 * send `name` in the body, so we use its generic read/write with our own
 * paths; `vault.rotate()` would rotate Vault's barrier key, not ours.
 */

export type VaultAuth =
  | { readonly kind: 'token'; readonly token: Secret }
  | { readonly kind: 'approle'; readonly roleId: string; readonly secretId: Secret; readonly mount?: string };

export interface VaultClientOptions {
  readonly endpoint: string;
  readonly auth: VaultAuth;
  readonly logger: Logger;
  readonly namespace?: string | null;
  /** Where the transit engine is mounted (default "transit"). */
  readonly transitMount?: string;
  /** Per-request timeout (default 5 s): a hung Vault must not hang signing. */
  readonly timeoutMs?: number;
  /** Renew the token at this fraction of its lease (default ⅔). */
  readonly renewFraction?: number;
}

export interface TransitKeyInfo {
  readonly name: string;
  readonly type: string;
  readonly derived: boolean;
  readonly latestVersion: number;
  readonly minDecryptionVersion: number;
  readonly minEncryptionVersion: number;
}

/** One item of a batch answer: Vault reports failures per item. */
export type BatchItem<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

export interface TransitInput {
  /** Base64 plaintext (encrypt) or a `vault:v<N>:` ciphertext (decrypt, rewrap). */
  readonly input: string;
  /** Base64 derivation context (the user id). */
  readonly context: string;
}

export interface Sealed {
  readonly ciphertext: string;
  readonly keyVersion: number;
}

export interface VaultHealth {
  readonly reachable: boolean;
  readonly initialized: boolean;
  readonly sealed: boolean;
  readonly standby: boolean;
  readonly version: string | null;
  readonly status: number | null;
}

export interface VaultTokenState {
  readonly auth: 'token' | 'approle';
  /** Epoch ms when the current token expires, or null for a token without TTL. */
  readonly expiresAt: number | null;
  readonly logins: number;
  readonly renewals: number;
}

export interface VaultClient {
  readonly endpoint: string;
  /** Logs in (AppRole) or looks the token up (token auth) and schedules renewal. */
  start(): Promise<void>;
  readKey(name: string): Promise<TransitKeyInfo | null>;
  createKey(name: string, options: { readonly type: string; readonly derived: boolean }): Promise<void>;
  rotateKey(name: string): Promise<void>;
  setMinDecryptionVersion(name: string, version: number): Promise<void>;
  encrypt(name: string, items: readonly TransitInput[]): Promise<BatchItem<Sealed>[]>;
  /** Answers base64 plaintexts. */
  decrypt(name: string, items: readonly TransitInput[]): Promise<BatchItem<string>[]>;
  rewrap(name: string, items: readonly TransitInput[]): Promise<BatchItem<Sealed>[]>;
  health(): Promise<VaultHealth>;
  tokenState(): VaultTokenState;
  /** Stops renewal timers. Idempotent. */
  close(): void;
}

const keySchema = z.object({
  data: z.object({
    name: z.string(),
    type: z.string(),
    derived: z.boolean(),
    latest_version: z.number().int().positive(),
    min_decryption_version: z.number().int().nonnegative(),
    min_encryption_version: z.number().int().nonnegative(),
  }),
});
const sealedItem = z.object({ ciphertext: z.string().startsWith('vault:v'), key_version: z.number().int().positive() });
const batchSchema = z.object({ data: z.object({ batch_results: z.array(z.record(z.string(), z.unknown())) }) });
const authSchema = z.object({ auth: z.object({ client_token: z.string().min(1), lease_duration: z.number().int().nonnegative(), renewable: z.boolean() }) });
const lookupSchema = z.object({ data: z.object({ ttl: z.number().int().nonnegative(), renewable: z.boolean(), creation_ttl: z.number().int().nonnegative().optional() }) });
const healthSchema = z.object({ initialized: z.boolean(), sealed: z.boolean(), standby: z.boolean(), version: z.string().optional() });

/** The untyped corner of node-vault we use, declared once. */
interface RawVault {
  token: string;
  read(path: string): Promise<unknown>;
  write(path: string, data: unknown): Promise<unknown>;
  approleLogin(args: { role_id: string; secret_id: string; mount_point?: string }): Promise<unknown>;
  tokenLookupSelf(): Promise<unknown>;
  tokenRenewSelf(args: { increment: number }): Promise<unknown>;
  health(): Promise<unknown>;
}

export function createVaultClient(options: VaultClientOptions): VaultClient {
  const endpoint = options.endpoint.replace(/\/$/, '');
  const mount = options.transitMount ?? 'transit';
  const log = options.logger.child({ component: 'vault' });
  const raw = nodeVault({
    apiVersion: 'v1',
    endpoint,
    // Never pick VAULT_TOKEN up from the environment behind our back; the config module owns it.
    token: options.auth.kind === 'token' ? options.auth.token.reveal() : 'unset',
    ...(options.namespace ? { namespace: options.namespace } : {}),
    requestOptions: { timeout: options.timeoutMs ?? 5_000 },
    // node-vault's debug output prints request bodies, plaintexts included.
    debug: () => undefined,
  }) as unknown as RawVault;
  if (options.auth.kind === 'approle') raw.token = '';
  const auth = createAuth(raw, options, endpoint, log);

  /**
   * Runs one Vault call. A reset connection is tried once more (a pooled
   * keep-alive socket that Vault closed, e.g. across a restart) unless the
   * call must not be repeated blindly (rotate). With AppRole a 403 (token
   * revoked or expired) leads to one new login and one retry.
   */
  async function call<T>(site: Omit<VaultCallSite, 'endpoint'>, run: () => Promise<T>, how: { repeatable?: boolean } = {}): Promise<T> {
    const full = { ...site, endpoint };
    try {
      return await run().catch((error: unknown) => {
        if ((how.repeatable ?? true) && toVaultError(error, full).details['network'] === 'ECONNRESET') return run();
        throw error;
      });
    } catch (error) {
      const mapped = toVaultError(error, full);
      if (mapped.code !== 'VAULT_PERMISSION_DENIED' || options.auth.kind !== 'approle') throw mapped;
      log.warn({ op: site.op }, 'Vault denied the token; logging in again with AppRole');
      await auth.relogin();
      try {
        return await run();
      } catch (retryError) {
        throw toVaultError(retryError, full);
      }
    }
  }

  function parse<S extends z.ZodType>(schema: S, body: unknown, site: Omit<VaultCallSite, 'endpoint'>): z.infer<S> {
    const parsed = schema.safeParse(body);
    if (parsed.success) return parsed.data;
    throw badResponse(site, parsed.error.issues[0]?.path.join('.') ?? '');
  }

  function badResponse(site: Omit<VaultCallSite, 'endpoint'>, where: string): VaultError {
    return new VaultError(
      'VAULT_BAD_RESPONSE',
      `Vault's answer to ${site.op} (${site.path}) does not have the documented shape${where ? ` (at ${where})` : ''}. Check that VAULT_ADDR points at Vault 1.15+ and not at a proxy; nothing was changed.`,
      null,
      { details: { op: site.op, path: site.path } },
    );
  }

  /** Batch call: Vault answers 400 with the per-item results when some items fail, so that answer is data too. */
  async function batch(op: string, path: string, items: readonly TransitInput[], field: 'plaintext' | 'ciphertext'): Promise<Record<string, unknown>[]> {
    const site = { op, path };
    const body = { batch_input: items.map((i) => ({ [field]: i.input, context: i.context })) };
    const answer = await call(site, async () => {
      try {
        return await raw.write(path, body);
      } catch (error) {
        if (isApiResponseError(error) && error.response.statusCode === 400 && batchSchema.safeParse(error.response.body).success) return error.response.body;
        throw error;
      }
    });
    const results = parse(batchSchema, answer, site).data.batch_results;
    if (results.length !== items.length) throw badResponse(site, `batch_results has ${results.length} items for ${items.length} inputs`);
    return results;
  }

  function itemOf<T>(result: Record<string, unknown>, read: (r: Record<string, unknown>) => T | null, site: Omit<VaultCallSite, 'endpoint'>): BatchItem<T> {
    if (typeof result['error'] === 'string' && result['error'] !== '') return { ok: false, error: result['error'] };
    const value = read(result);
    if (value === null) throw badResponse(site, 'batch_results item');
    return { ok: true, value };
  }

  const readSealed = (r: Record<string, unknown>): Sealed | null => {
    const parsed = sealedItem.safeParse(r);
    return parsed.success ? { ciphertext: parsed.data.ciphertext, keyVersion: parsed.data.key_version } : null;
  };

  return {
    endpoint,
    start: () => auth.start(),
    async readKey(name) {
      const site = { op: 'read the transit key', path: `${mount}/keys/${name}`, capability: 'read' as const };
      try {
        return toKeyInfo(parse(keySchema, await call(site, () => raw.read(site.path)), site));
      } catch (error) {
        if (error instanceof VaultError && error.code === 'VAULT_NOT_FOUND') return null;
        throw error;
      }
    },
    async createKey(name, { type, derived }) {
      const site = { op: 'create the transit key', path: `${mount}/keys/${name}`, capability: 'create' as const };
      await call(site, () => raw.write(site.path, { type, derived }));
    },
    async rotateKey(name) {
      const site = { op: 'rotate the transit key', path: `${mount}/keys/${name}/rotate` };
      // A reset may come after Vault rotated: repeating would add a second version, so report it instead.
      await call(site, () => raw.write(site.path, {}), { repeatable: false });
    },
    async setMinDecryptionVersion(name, version) {
      const site = { op: 'raise min_decryption_version', path: `${mount}/keys/${name}/config` };
      await call(site, () => raw.write(site.path, { min_decryption_version: version }));
    },
    async encrypt(name, items) {
      const site = { op: 'encrypt wallet keys', path: `${mount}/encrypt/${name}` };
      return (await batch(site.op, site.path, items, 'plaintext')).map((r) => itemOf(r, readSealed, site));
    },
    async decrypt(name, items) {
      const site = { op: 'decrypt wallet keys', path: `${mount}/decrypt/${name}` };
      const read = (r: Record<string, unknown>) => (typeof r['plaintext'] === 'string' ? r['plaintext'] : null);
      return (await batch(site.op, site.path, items, 'ciphertext')).map((r) => itemOf(r, read, site));
    },
    async rewrap(name, items) {
      const site = { op: 'rewrap wallet keys', path: `${mount}/rewrap/${name}` };
      return (await batch(site.op, site.path, items, 'ciphertext')).map((r) => itemOf(r, readSealed, site));
    },
    async health() {
      const site = { op: 'report its health', path: 'sys/health' };
      try {
        // node-vault resolves sys/health with the body whatever the status (503 sealed, 429 standby…).
        const h = parse(healthSchema, await raw.health(), site);
        return { reachable: true, initialized: h.initialized, sealed: h.sealed, standby: h.standby, version: h.version ?? null, status: null };
      } catch (error) {
        const mapped = toVaultError(error, { ...site, endpoint });
        if (mapped.code !== 'VAULT_UNAVAILABLE' || mapped.status !== null) throw mapped;
        return { reachable: false, initialized: false, sealed: false, standby: false, version: null, status: null };
      }
    },
    tokenState: () => auth.state(),
    close: () => auth.close(),
  };
}

function toKeyInfo(body: z.infer<typeof keySchema>): TransitKeyInfo {
  const d = body.data;
  return {
    name: d.name,
    type: d.type,
    derived: d.derived,
    latestVersion: d.latest_version,
    minDecryptionVersion: d.min_decryption_version,
    minEncryptionVersion: d.min_encryption_version,
  };
}

interface Auth {
  start(): Promise<void>;
  relogin(): Promise<void>;
  state(): VaultTokenState;
  close(): void;
}

/**
 * Keeps a token alive: renew at ⅔ of the lease; when Vault stops extending it
 * (the token reached its max TTL), AppRole logs in again before it expires and
 * a static token is reported so the operator can replace it.
 */
function createAuth(raw: RawVault, options: VaultClientOptions, endpoint: string, log: Logger): Auth {
  const fraction = options.renewFraction ?? 2 / 3;
  let timer: NodeJS.Timeout | null = null;
  let closed = false;
  let expiresAt: number | null = null;
  let leaseSeconds = 0;
  let logins = 0;
  let renewals = 0;
  let loggingIn: Promise<void> | null = null;

  const schedule = (afterSeconds: number, what: () => Promise<void>) => {
    if (closed) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => void what().catch((error: unknown) => log.error({ err: error }, 'Vault token upkeep failed')), Math.max(50, afterSeconds * fraction * 1000));
    timer.unref();
  };

  const leaseFrom = (seconds: number, renewable: boolean) => {
    expiresAt = seconds > 0 ? Date.now() + seconds * 1000 : null;
    if (seconds > 0 && renewable) schedule(seconds, renew);
  };

  async function login(): Promise<void> {
    if (options.auth.kind !== 'approle') return;
    const site = { op: 'log in with AppRole', path: `auth/${options.auth.mount ?? 'approle'}/login` };
    let body: unknown;
    try {
      body = await raw.approleLogin({ role_id: options.auth.roleId, secret_id: options.auth.secretId.reveal(), ...(options.auth.mount ? { mount_point: options.auth.mount } : {}) });
    } catch (error) {
      throw toVaultError(error, { ...site, endpoint });
    }
    const parsed = authSchema.safeParse(body);
    if (!parsed.success) throw new VaultError('VAULT_BAD_RESPONSE', `Vault's AppRole login answer has no auth.client_token; check VAULT_ADDR.`, null);
    raw.token = parsed.data.auth.client_token;
    logins += 1;
    leaseSeconds = parsed.data.auth.lease_duration;
    leaseFrom(leaseSeconds, true);
    log.info({ lease_seconds: leaseSeconds, logins }, 'Logged in to Vault with AppRole');
  }

  async function renew(): Promise<void> {
    let body: unknown;
    try {
      body = await raw.tokenRenewSelf({ increment: leaseSeconds });
    } catch (error) {
      const mapped = toVaultError(error, { op: 'renew its token', path: 'auth/token/renew-self', endpoint });
      if (options.auth.kind === 'approle') {
        log.warn({ err: mapped }, 'Vault token renewal failed; logging in again');
        return relogin().catch((loginError: unknown) => {
          log.error({ err: loginError }, 'Vault AppRole login failed; retrying');
          schedule(Math.min(15, leaseSeconds / 2 || 15), relogin);
        });
      }
      log.error({ err: mapped }, 'Vault token renewal failed; set a fresh VAULT_TOKEN or use AppRole if it has expired');
      if (mapped.retryable) schedule(Math.min(15, leaseSeconds / 2 || 15), renew);
      return;
    }
    const parsed = authSchema.safeParse(body);
    if (!parsed.success) throw new VaultError('VAULT_BAD_RESPONSE', `Vault's renew-self answer has no auth.lease_duration; check VAULT_ADDR.`, null);
    renewals += 1;
    const granted = parsed.data.auth.lease_duration;
    expiresAt = Date.now() + granted * 1000;
    if (granted >= leaseSeconds && parsed.data.auth.renewable) {
      schedule(granted, renew);
      return;
    }
    // Vault capped the lease: the token is near its max TTL and renewing will not extend it.
    if (options.auth.kind === 'approle') {
      log.info({ granted_seconds: granted }, 'Vault token reached its max TTL; logging in again before it expires');
      schedule(granted, relogin);
    } else {
      log.warn({ expires_at: new Date(expiresAt).toISOString() }, 'Vault token reached its max TTL and will expire; supply a new VAULT_TOKEN or switch to AppRole');
    }
  }

  /** One login at a time, however many callers saw a 403 together. */
  function relogin(): Promise<void> {
    loggingIn ??= login().finally(() => {
      loggingIn = null;
    });
    return loggingIn;
  }

  async function lookupToken(): Promise<void> {
    let body: unknown;
    try {
      body = await raw.tokenLookupSelf();
    } catch (error) {
      throw toVaultError(error, { op: 'look up its token', path: 'auth/token/lookup-self', capability: 'read', endpoint });
    }
    const parsed = lookupSchema.safeParse(body);
    if (!parsed.success) throw new VaultError('VAULT_BAD_RESPONSE', `Vault's lookup-self answer has no data.ttl; check VAULT_ADDR.`, null);
    leaseSeconds = parsed.data.data.creation_ttl || parsed.data.data.ttl;
    leaseFrom(parsed.data.data.ttl, parsed.data.data.renewable);
  }

  return {
    start: () => (options.auth.kind === 'approle' ? relogin() : lookupToken()),
    relogin,
    state: () => ({ auth: options.auth.kind, expiresAt, logins, renewals }),
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = null;
    },
  };
}
