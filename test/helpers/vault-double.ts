import { createCipheriv, createDecipheriv, hkdfSync, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { grantOn, parseVaultPolicy, type VaultCapability, type VaultPolicyRule } from '../../scripts/deploy-checks/vault-policy.ts';

/**
 * A loopback stand-in for HashiCorp Vault 1.15, for the paths Vanta uses:
 * transit keys (create, read, rotate, config), encrypt/decrypt/rewrap with
 * batch_input and derived keys, token lookup-self/renew-self with TTLs,
 * AppRole login, sys/health and sys/seal-status. It answers as Vault's API
 * documentation says (reference/vault-api): the success envelope, the
 * `{"errors": [...]}` envelope with 400/403/404/405/503, Vault's own error
 * strings, `vault:v<N>:` ciphertexts that are real AES-GCM (nonce|ct|tag) under
 * per-version keys, HKDF-SHA256 derivation from the base64 context, and
 * min_decryption_version enforcement.
 *
 * ACL policies are enforced for every token but root, as Vault does: the
 * request's capability (read for GET; create or update for a write, by
 * whether a transit key exists where Vault runs an existence check; delete)
 * must be granted on the path by the token's policies, and a rule's
 * `allowed_parameters` limits the body's keys; otherwise 403
 * `{"errors":["permission denied"]}`. Policies are written in HCL
 * (`writePolicy`, e.g. the files under deploy/vault). Built in: `default`
 * (Vault's own, for the token self-paths) and `vanta-wallets`, the broad
 * policy tokens and AppRoles get when a test names none.
 *
 * Test controls: seal/unseal, stop/start (connection refused on the same
 * port), revoke a token, issue tokens and AppRoles with short TTLs and
 * policies, queue a canned answer, and count requests per path.
 */

export interface VaultDoubleOptions {
  /** TTL 0 means the root token never expires (as with `vault server -dev`). */
  readonly rootToken?: string;
  readonly now?: () => number;
}

export interface TokenSpec {
  readonly ttlSeconds: number;
  readonly maxTtlSeconds: number;
  readonly renewable?: boolean;
  /** Exactly these policies (default: `default` and `vanta-wallets`); add `default` yourself, as `vault token create` does unless -no-default-policy. */
  readonly policies?: readonly string[];
}

export interface AppRoleSpec {
  readonly roleId: string;
  readonly secretId: string;
  readonly tokenTtlSeconds: number;
  readonly tokenMaxTtlSeconds: number;
  readonly policies?: readonly string[];
}

export interface TransitKeyState {
  readonly type: string;
  readonly derived: boolean;
  readonly latestVersion: number;
  readonly minDecryptionVersion: number;
}

export interface VaultDouble {
  readonly url: string;
  readonly rootToken: string;
  seal(): void;
  unseal(): void;
  /** Closes the listener and every open connection: clients get ECONNREFUSED. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  issueToken(spec: TokenSpec): string;
  /** `vault policy write <name> <file>`: HCL with path rules (see scripts/deploy-checks/vault-policy.ts). */
  writePolicy(name: string, hcl: string): void;
  revokeToken(token: string): void;
  addAppRole(spec: AppRoleSpec): void;
  /** The token most recently handed out by AppRole login. */
  lastLoginToken(): string | null;
  /** Answers the next request whose path ends with `pathSuffix` with this status and body. */
  respondOnce(pathSuffix: string, status: number, body: unknown): void;
  /** Requests seen, optionally only those whose "METHOD /v1/path" contains `filter`. */
  requestCount(filter?: string): number;
  resetCounts(): void;
  key(name: string): TransitKeyState | null;
  close(): Promise<void>;
}

interface Token {
  readonly id: string;
  readonly accessor: string;
  readonly policies: string[];
  readonly createdAt: number;
  readonly creationTtl: number;
  readonly maxExpiresAt: number | null;
  readonly renewable: boolean;
  expiresAt: number | null;
  revoked: boolean;
}

interface TransitKey {
  readonly name: string;
  readonly type: 'aes256-gcm96' | 'aes128-gcm96';
  readonly derived: boolean;
  readonly versions: Map<number, { key: Buffer; createdAt: number }>;
  latest: number;
  minDecryption: number;
  minEncryption: number;
  deletionAllowed: boolean;
}

class HttpError extends Error {
  readonly status: number;
  readonly errors: string[];
  constructor(status: number, ...errors: string[]) {
    super(errors.join('; '));
    this.status = status;
    this.errors = errors;
  }
}

type Handler = (ctx: RequestContext) => { status?: number; data?: unknown; auth?: unknown; warnings?: string[] } | null;

interface RequestContext {
  readonly method: string;
  readonly body: Record<string, unknown>;
  readonly params: Record<string, string>;
  readonly token: Token | null;
}

const UNSUPPORTED_PATH = '1 error occurred:\n\t* unsupported path\n\n';
const UNSUPPORTED_OPERATION = '1 error occurred:\n\t* unsupported operation\n\n';
const DERIVED_NO_CONTEXT =
  "missing 'context' for key derivation; the key was created using a derived key, which means additional, per-request information must be included in order to perform operations with the key";

export async function createVaultDouble(options: VaultDoubleOptions = {}): Promise<VaultDouble> {
  const now = options.now ?? Date.now;
  const rootToken = options.rootToken ?? `hvs.${randomToken()}`;
  const tokens = new Map<string, Token>();
  const approles = new Map<string, AppRoleSpec>();
  const keys = new Map<string, TransitKey>();
  const counts = new Map<string, number>();
  const canned: { suffix: string; status: number; body: unknown }[] = [];
  const policies = new Map<string, VaultPolicyRule[]>([
    ['default', parseVaultPolicy(DEFAULT_POLICY)],
    ['vanta-wallets', parseVaultPolicy(BROAD_POLICY)],
  ]);
  let sealed = false;
  let lastLogin: string | null = null;

  tokens.set(rootToken, { id: rootToken, accessor: randomToken(), policies: ['root'], createdAt: now(), creationTtl: 0, maxExpiresAt: null, renewable: false, expiresAt: null, revoked: false });

  const newToken = (spec: TokenSpec, tokenPolicies: string[]): Token => {
    const t = now();
    const token: Token = {
      id: `hvs.${randomToken()}`,
      accessor: randomToken(),
      policies: tokenPolicies,
      createdAt: t,
      creationTtl: spec.ttlSeconds,
      maxExpiresAt: t + spec.maxTtlSeconds * 1000,
      renewable: spec.renewable ?? true,
      expiresAt: t + spec.ttlSeconds * 1000,
      revoked: false,
    };
    tokens.set(token.id, token);
    return token;
  };

  const ttlOf = (token: Token) => (token.expiresAt === null ? 0 : Math.max(0, Math.floor((token.expiresAt - now()) / 1000)));

  // ---- auth ----
  const lookupSelf: Handler = ({ token }) => {
    const t = token!;
    return {
      data: {
        accessor: t.accessor,
        creation_time: Math.floor(t.createdAt / 1000),
        creation_ttl: t.creationTtl,
        display_name: t.policies.includes('root') ? 'root' : 'approle',
        entity_id: '',
        expire_time: t.expiresAt === null ? null : new Date(t.expiresAt).toISOString(),
        explicit_max_ttl: 0,
        id: t.id,
        issue_time: new Date(t.createdAt).toISOString(),
        meta: null,
        num_uses: 0,
        orphan: true,
        path: t.policies.includes('root') ? 'auth/token/root' : 'auth/approle/login',
        policies: t.policies,
        renewable: t.renewable,
        ttl: ttlOf(t),
        type: 'service',
      },
    };
  };

  const renewSelf: Handler = ({ token, body }) => {
    const t = token!;
    if (!t.renewable || t.expiresAt === null) throw new HttpError(400, 'lease is not renewable');
    const requested = parseDuration(body['increment']) || t.creationTtl;
    const remainingToMax = t.maxExpiresAt === null ? Infinity : Math.floor((t.maxExpiresAt - now()) / 1000);
    const granted = Math.max(0, Math.min(requested, remainingToMax));
    const warnings = granted < requested ? [`TTL of "${requested}s" exceeded the effective max_ttl of "${granted}s"; TTL value is capped accordingly`] : [];
    t.expiresAt = now() + granted * 1000;
    return { auth: authBlock(t, granted), warnings };
  };

  const approleLogin: Handler = ({ body }) => {
    const roleId = body['role_id'];
    if (typeof roleId !== 'string' || roleId === '') throw new HttpError(400, 'missing role_id');
    const role = approles.get(roleId);
    if (!role || body['secret_id'] !== role.secretId) throw new HttpError(400, 'invalid role or secret ID');
    const token = newToken({ ttlSeconds: role.tokenTtlSeconds, maxTtlSeconds: role.tokenMaxTtlSeconds }, [...(role.policies ?? DEFAULT_TOKEN_POLICIES)]);
    lastLogin = token.id;
    return { auth: { ...authBlock(token, role.tokenTtlSeconds), metadata: { role_name: 'vanta' } } };
  };

  // ---- transit keys ----
  const keyData = (k: TransitKey) => ({
    allow_plaintext_backup: false,
    auto_rotate_period: 0,
    deletion_allowed: k.deletionAllowed,
    derived: k.derived,
    exportable: false,
    imported_key: false,
    kdf: k.derived ? 'hkdf_sha256' : undefined,
    keys: Object.fromEntries([...k.versions].map(([v, { createdAt }]) => [String(v), Math.floor(createdAt / 1000)])),
    latest_version: k.latest,
    min_available_version: 0,
    min_decryption_version: k.minDecryption,
    min_encryption_version: k.minEncryption,
    name: k.name,
    supports_decryption: true,
    supports_derivation: true,
    supports_encryption: true,
    supports_signing: false,
    type: k.type,
  });

  const createKey = (name: string, body: Record<string, unknown>): TransitKey => {
    const type = body['type'] ?? 'aes256-gcm96';
    if (type !== 'aes256-gcm96' && type !== 'aes128-gcm96') {
      if (typeof type === 'string' && /^(ecdsa-p(256|384|521)|ed25519|rsa-(2048|3072|4096)|chacha20-poly1305|hmac)$/.test(type)) {
        throw new HttpError(400, `key type ${type} is not implemented by the Vault double`);
      }
      throw new HttpError(400, `unknown key type "${typeof type === 'string' ? type : JSON.stringify(type)}"`);
    }
    const key: TransitKey = { name, type, derived: body['derived'] === true || body['derived'] === 'true', versions: new Map(), latest: 0, minDecryption: 1, minEncryption: 0, deletionAllowed: false };
    addVersion(key);
    keys.set(name, key);
    return key;
  };

  const addVersion = (key: TransitKey) => {
    key.latest += 1;
    key.versions.set(key.latest, { key: randomBytes(key.type === 'aes256-gcm96' ? 32 : 16), createdAt: now() });
  };

  const mustKey = (name: string | undefined): TransitKey => {
    const key = keys.get(name ?? '');
    if (!key) throw new HttpError(400, 'encryption key not found');
    return key;
  };

  const writeKey: Handler = ({ params, body }) => {
    const name = params['name']!;
    const existing = keys.get(name);
    if (existing) return { data: keyData(existing), warnings: [`key ${name} already existed`] };
    return { data: keyData(createKey(name, body)) };
  };

  const readKey: Handler = ({ params }) => {
    const key = keys.get(params['name']!);
    if (!key) throw new HttpError(404);
    return { data: keyData(key) };
  };

  const rotateKey: Handler = ({ params }) => {
    const key = keys.get(params['name']!);
    if (!key) throw new HttpError(400, 'key not found');
    addVersion(key);
    return { data: keyData(key) };
  };

  const configKey: Handler = ({ params, body }) => {
    const key = keys.get(params['name']!);
    if (!key) throw new HttpError(400, 'no existing key named ' + params['name'] + ' could be found');
    const warnings: string[] = [];
    let minDecryption = key.minDecryption;
    let minEncryption = key.minEncryption;
    if (body['min_decryption_version'] !== undefined) {
      const v = toInt(body['min_decryption_version'], 'min_decryption_version');
      if (v < 0) throw new HttpError(400, 'min decryption version cannot be negative');
      minDecryption = v === 0 ? 1 : v;
      if (v === 0) warnings.push('since Vault 0.3, transit key numbering starts at 1; forcing minimum to 1');
      if (minDecryption > key.latest) throw new HttpError(400, `cannot set min decryption version of ${minDecryption}, latest key version is ${key.latest}`);
    }
    if (body['min_encryption_version'] !== undefined) {
      minEncryption = toInt(body['min_encryption_version'], 'min_encryption_version');
      if (minEncryption < 0) throw new HttpError(400, 'min encryption version cannot be negative');
      if (minEncryption > key.latest) throw new HttpError(400, `cannot set min encryption version of ${minEncryption}, latest key version is ${key.latest}`);
    }
    if (minEncryption > 0 && minEncryption < minDecryption) throw new HttpError(400, 'cannot set min encryption/decryption values; min encryption version must be greater than or equal to min decryption version');
    key.minDecryption = minDecryption;
    key.minEncryption = minEncryption;
    if (typeof body['deletion_allowed'] === 'boolean') key.deletionAllowed = body['deletion_allowed'];
    return { data: keyData(key), ...(warnings.length ? { warnings } : {}) };
  };

  // ---- transit crypto ----
  const derive = (key: TransitKey, version: number, context: unknown): Buffer => {
    const material = key.versions.get(version)!.key;
    if (!key.derived) return material;
    if (typeof context !== 'string' || context === '') throw new ItemError(DERIVED_NO_CONTEXT);
    const info = strictBase64(context);
    if (info === null) throw new ItemError('failed to base64-decode context');
    return Buffer.from(hkdfSync('sha256', material, Buffer.alloc(0), info, material.length));
  };

  const encryptOne = (key: TransitKey, item: Record<string, unknown>, version = key.latest): { ciphertext: string; key_version: number } => {
    const plaintext = typeof item['plaintext'] === 'string' ? strictBase64(item['plaintext']) : null;
    if (plaintext === null) throw new ItemError('failed to base64-decode plaintext');
    const nonce = randomBytes(12);
    const gcm = createCipheriv(key.type === 'aes256-gcm96' ? 'aes-256-gcm' : 'aes-128-gcm', derive(key, version, item['context']), nonce);
    const sealedBytes = Buffer.concat([nonce, gcm.update(plaintext), gcm.final(), gcm.getAuthTag()]);
    return { ciphertext: `vault:v${version}:${sealedBytes.toString('base64')}`, key_version: version };
  };

  const decryptOne = (key: TransitKey, item: Record<string, unknown>): Buffer => {
    const value = item['ciphertext'];
    if (typeof value !== 'string' || value === '') throw new ItemError('missing ciphertext to decrypt');
    if (!value.startsWith('vault:v')) throw new ItemError('invalid ciphertext: no prefix');
    const fields = value.slice('vault:v'.length).split(':');
    if (fields.length !== 2) throw new ItemError('invalid ciphertext: wrong number of fields');
    const version = /^\d+$/.test(fields[0]!) ? Number(fields[0]) : NaN;
    if (!Number.isInteger(version)) throw new ItemError('invalid ciphertext: version number could not be decoded');
    if (version > key.latest) throw new ItemError('invalid ciphertext: version is too new');
    if (version < key.minDecryption) throw new ItemError('ciphertext or signature version is disallowed by policy (too old)');
    const bytes = strictBase64(fields[1]!);
    if (bytes === null || bytes.length < 12 + 16) throw new ItemError('invalid ciphertext: could not decode base64');
    const subkey = derive(key, version, item['context']);
    try {
      const gcm = createDecipheriv(key.type === 'aes256-gcm96' ? 'aes-256-gcm' : 'aes-128-gcm', subkey, bytes.subarray(0, 12));
      gcm.setAuthTag(bytes.subarray(bytes.length - 16));
      return Buffer.concat([gcm.update(bytes.subarray(12, bytes.length - 16)), gcm.final()]);
    } catch {
      throw new ItemError('cipher: message authentication failed');
    }
  };

  /** Single or batch_input, Vault style: per-item errors, 400 (or partial_failure_response_code) when any failed. */
  const transitOp =
    (op: (key: TransitKey, item: Record<string, unknown>) => Record<string, unknown>, upsert: boolean): Handler =>
    ({ params, body }) => {
      const name = params['name']!;
      const key = keys.get(name) ?? (upsert ? createKey(name, { type: body['type'], derived: typeof body['context'] === 'string' || hasContext(body) }) : mustKey(name));
      if (body['batch_input'] === undefined) {
        try {
          return { data: op(key, body) };
        } catch (error) {
          if (error instanceof ItemError) throw new HttpError(400, error.message);
          throw error;
        }
      }
      if (!Array.isArray(body['batch_input']) || body['batch_input'].length === 0) throw new HttpError(400, 'missing batch input to process');
      let failed = 0;
      const results = (body['batch_input'] as unknown[]).map((raw) => {
        const item = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : {};
        const reference = typeof item['reference'] === 'string' ? { reference: item['reference'] } : {};
        try {
          return { ...op(key, item), ...reference };
        } catch (error) {
          if (!(error instanceof ItemError)) throw error;
          failed += 1;
          return { error: error.message, ...reference };
        }
      });
      const partial = typeof body['partial_failure_response_code'] === 'number' ? body['partial_failure_response_code'] : 400;
      const status = failed === 0 ? 200 : failed === results.length ? 400 : partial;
      return { status, data: { batch_results: results } };
    };

  const encrypt = transitOp((key, item) => {
    const version = item['key_version'] === undefined || item['key_version'] === 0 ? key.latest : toItemInt(item['key_version']);
    if (version > key.latest || version < Math.max(1, key.minEncryption)) throw new ItemError('requested version for encryption is not allowed by policy');
    return encryptOne(key, item, version);
  }, true);
  const decrypt = transitOp((key, item) => ({ plaintext: decryptOne(key, item).toString('base64') }), false);
  const rewrap = transitOp((key, item) => {
    const plaintext = decryptOne(key, item);
    return encryptOne(key, { plaintext: plaintext.toString('base64'), context: item['context'] });
  }, false);

  // ---- routing ----
  const routes: { pattern: RegExp; methods: Record<string, Handler>; open?: boolean }[] = [
    { pattern: /^auth\/token\/lookup-self$/, methods: { GET: lookupSelf, POST: lookupSelf } },
    { pattern: /^auth\/token\/renew-self$/, methods: { POST: renewSelf, PUT: renewSelf } },
    { pattern: /^auth\/approle\/login$/, methods: { POST: approleLogin, PUT: approleLogin }, open: true },
    { pattern: /^transit\/keys\/(?<name>[^/]+)$/, methods: { GET: readKey, POST: writeKey, PUT: writeKey } },
    { pattern: /^transit\/keys\/(?<name>[^/]+)\/rotate$/, methods: { POST: rotateKey, PUT: rotateKey } },
    { pattern: /^transit\/keys\/(?<name>[^/]+)\/config$/, methods: { POST: configKey, PUT: configKey } },
    { pattern: /^transit\/encrypt\/(?<name>[^/]+)$/, methods: { POST: encrypt, PUT: encrypt } },
    { pattern: /^transit\/decrypt\/(?<name>[^/]+)$/, methods: { POST: decrypt, PUT: decrypt } },
    { pattern: /^transit\/rewrap\/(?<name>[^/]+)$/, methods: { POST: rewrap, PUT: rewrap } },
  ];

  const healthBody = () => ({
    initialized: true,
    sealed,
    standby: false,
    performance_standby: false,
    replication_performance_mode: 'disabled',
    replication_dr_mode: 'disabled',
    server_time_utc: Math.floor(now() / 1000),
    version: '1.15.6',
    cluster_name: 'vault-double',
    cluster_id: 'vault-double',
  });

  const system = (method: string, path: string, query: URLSearchParams): { status: number; body: unknown } | null => {
    if (path === 'sys/health' && (method === 'GET' || method === 'HEAD')) {
      const code = (name: string, fallback: number) => (query.has(name) ? Number(query.get(name)) : fallback);
      return { status: sealed ? code('sealedcode', 503) : code('activecode', 200), body: healthBody() };
    }
    if (path === 'sys/seal-status' && method === 'GET') {
      return {
        status: 200,
        body: { type: 'shamir', initialized: true, sealed, t: 1, n: 1, progress: 0, nonce: '', version: '1.15.6', build_date: '2024-02-28T17:07:34Z', migration: false, cluster_name: 'vault-double', cluster_id: 'vault-double', recovery_seal: false, storage_type: 'inmem' },
      };
    }
    return null;
  };

  const authenticate = (req: IncomingMessage): Token | null => {
    const header = req.headers['x-vault-token'] ?? req.headers['authorization']?.replace(/^Bearer\s+/i, '');
    const token = typeof header === 'string' ? tokens.get(header) : undefined;
    if (!token || token.revoked || (token.expiresAt !== null && now() >= token.expiresAt)) return null;
    return token;
  };

  /** The capability a request needs; transit key and encrypt writes are `create` while the key does not exist (Vault's existence check). */
  const capabilityOf = (method: string, path: string, query: URLSearchParams): VaultCapability => {
    if (method === 'GET' || method === 'HEAD') return query.get('list') === 'true' ? 'list' : 'read';
    if (method === 'LIST') return 'list';
    if (method === 'DELETE') return 'delete';
    if (method === 'PATCH') return 'patch';
    const upserted = /^transit\/(?:keys|encrypt)\/([^/]+)$/.exec(path);
    return upserted && !keys.has(upserted[1]!) ? 'create' : 'update';
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://vault');
    const method = req.method ?? 'GET';
    const rawBody = await readBody(req);
    counts.set(`${method} ${url.pathname}`, (counts.get(`${method} ${url.pathname}`) ?? 0) + 1);
    const cannedIndex = canned.findIndex((c) => url.pathname.endsWith(c.suffix));
    if (cannedIndex >= 0) {
      const [answer] = canned.splice(cannedIndex, 1);
      return send(res, answer!.status, answer!.body);
    }
    if (!url.pathname.startsWith('/v1/')) return send(res, 404, { errors: [] });
    const path = url.pathname.slice('/v1/'.length).replace(/\/$/, '');
    const sys = system(method, path, url.searchParams);
    if (sys) return send(res, sys.status, sys.body);
    if (sealed) return send(res, 503, { errors: ['Vault is sealed'] });
    const route = routes.find((r) => r.pattern.test(path));
    const token = authenticate(req);
    if (!route?.open && token === null) return send(res, 403, { errors: ['permission denied'] });
    let body: Record<string, unknown> = {};
    if (rawBody.length) {
      try {
        const parsed: unknown = JSON.parse(rawBody);
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
        body = parsed as Record<string, unknown>;
      } catch (error) {
        return send(res, 400, { errors: [`failed to parse JSON input: ${(error as Error).message}`] });
      }
    }
    // Vault checks the ACL before it routes: a path no policy grants is "permission denied", even an unknown one.
    if (!route?.open && !token!.policies.includes('root')) {
      const grant = grantOn(token!.policies.map((p) => policies.get(p) ?? []), path);
      const allowed = grant.allowedParameters;
      if (!grant.capabilities.has(capabilityOf(method, path, url.searchParams)) || (allowed !== null && Object.keys(body).some((k) => !allowed.has(k)))) {
        return send(res, 403, { errors: ['permission denied'] });
      }
    }
    if (!route) return send(res, 404, { errors: [UNSUPPORTED_PATH] });
    const handler = route.methods[method];
    if (!handler) return send(res, 405, { errors: [UNSUPPORTED_OPERATION] });
    try {
      const out = handler({ method, body, params: { ...route.pattern.exec(path)?.groups }, token });
      if (out === null) return send(res, 204, null);
      return send(res, out.status ?? 200, {
        request_id: randomUUID(),
        lease_id: '',
        renewable: false,
        lease_duration: 0,
        data: out.data ?? null,
        wrap_info: null,
        warnings: out.warnings?.length ? out.warnings : null,
        auth: out.auth ?? null,
      });
    } catch (error) {
      if (error instanceof HttpError) return send(res, error.status, { errors: error.errors });
      return send(res, 500, { errors: [`1 error occurred:\n\t* ${(error as Error).message}\n\n`] });
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => send(res, 500, { errors: [String(error)] }));
  });
  await listen(server, 0);
  const port = (server.address() as AddressInfo).port;
  let listening = true;

  return {
    url: `http://127.0.0.1:${port}`,
    rootToken,
    seal: () => void (sealed = true),
    unseal: () => void (sealed = false),
    async stop() {
      if (!listening) return;
      listening = false;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
    async start() {
      if (listening) return;
      await listen(server, port);
      listening = true;
    },
    issueToken: (spec) => newToken(spec, [...(spec.policies ?? DEFAULT_TOKEN_POLICIES)]).id,
    writePolicy: (name, hcl) => {
      if (name === 'root') throw new Error('cannot update the root policy');
      policies.set(name, parseVaultPolicy(hcl));
    },
    revokeToken(token) {
      const t = tokens.get(token);
      if (t) t.revoked = true;
    },
    addAppRole: (spec) => void approles.set(spec.roleId, spec),
    lastLoginToken: () => lastLogin,
    respondOnce: (suffix, status, body) => void canned.push({ suffix, status, body }),
    requestCount: (filter) => [...counts].reduce((sum, [k, n]) => (filter === undefined || k.includes(filter) ? sum + n : sum), 0),
    resetCounts: () => counts.clear(),
    key(name) {
      const k = keys.get(name);
      return k ? { type: k.type, derived: k.derived, latestVersion: k.latest, minDecryptionVersion: k.minDecryption } : null;
    },
    async close() {
      if (!listening) return;
      listening = false;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

const DEFAULT_TOKEN_POLICIES = ['default', 'vanta-wallets'] as const;

/** The token self-service part of Vault's built-in default policy. */
const DEFAULT_POLICY = `
path "auth/token/lookup-self" { capabilities = ["read"] }
path "auth/token/renew-self"  { capabilities = ["update"] }
path "auth/token/revoke-self" { capabilities = ["update"] }
path "sys/capabilities-self"  { capabilities = ["update"] }
`;

/** Everything Vanta's keystore can call on any transit key: what tokens get when a test does not care about policies. */
const BROAD_POLICY = `
path "transit/keys/*"    { capabilities = ["create", "read", "update"] }
path "transit/encrypt/*" { capabilities = ["create", "update"] }
path "transit/decrypt/*" { capabilities = ["update"] }
path "transit/rewrap/*"  { capabilities = ["update"] }
`;

/** A per-item failure: reported inside batch_results, or as a 400 for a single item. */
class ItemError extends Error {}

function authBlock(token: Token, leaseSeconds: number) {
  return {
    client_token: token.id,
    accessor: token.accessor,
    policies: token.policies,
    token_policies: token.policies,
    metadata: null,
    lease_duration: leaseSeconds,
    renewable: token.renewable,
    entity_id: '',
    token_type: 'service',
    orphan: true,
    mfa_requirement: null,
    num_uses: 0,
  };
}

function hasContext(body: Record<string, unknown>): boolean {
  return Array.isArray(body['batch_input']) && body['batch_input'].some((i) => typeof i === 'object' && i !== null && typeof (i as Record<string, unknown>)['context'] === 'string');
}

/** Go's base64.StdEncoding is strict; Node's decoder is not, so check the alphabet and padding first. */
function strictBase64(value: string): Buffer | null {
  if (value.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) return null;
  return Buffer.from(value, 'base64');
}

/** Vault accepts durations as seconds (number or "30") or with a unit ("30s", "5m", "1h"). */
function parseDuration(value: unknown): number {
  if (typeof value === 'number') return Math.floor(value);
  if (typeof value !== 'string' || value === '') return 0;
  const match = /^(\d+)([smh]?)$/.exec(value);
  if (!match) throw new HttpError(400, `error parsing increment: time: invalid duration "${value}"`);
  return Number(match[1]) * ({ '': 1, s: 1, m: 60, h: 3600 } as Record<string, number>)[match[2]!]!;
}

function toInt(value: unknown, field: string): number {
  const n = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n)) throw new HttpError(400, `error converting input for field "${field}": cannot parse '' as int`);
  return n;
}

function toItemInt(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new ItemError('invalid key_version');
  return value;
}

function randomToken(): string {
  return randomBytes(18).toString('base64url').replace(/[-_]/g, 'x');
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (body === null) {
    res.writeHead(status).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}
