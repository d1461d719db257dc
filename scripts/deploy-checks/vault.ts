import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { interpolate, type ComposeFile } from './compose.ts';
import { check, type DeployCheck } from './types.ts';
import { grantOn, parseVaultPolicy, type VaultPolicyRule } from './vault-policy.ts';

/**
 * The Vault side of the stack: the engine's policy is least privilege
 * (encrypt, decrypt and read of its one key, its own token), the rotation
 * operator's policy can rotate, rewrap and retire but never see a key, and
 * compose wires them: vault-init writes both and makes the engine a token
 * with the engine policy alone, and the app runs with that token, never the
 * root token, and without the operator's.
 */

const ENGINE = 'deploy/vault/vanta-engine.hcl';
const ROTATION = 'deploy/vault/vanta-rotation.hcl';

type Access = 'read' | 'create' | 'update';

/** Exactly what each policy must allow for transit key `k`; everything else must be denied. */
function expected(k: string): Record<'engine' | 'rotation', Record<string, readonly Access[]>> {
  const self = { 'auth/token/lookup-self': ['read'], 'auth/token/renew-self': ['update'] } as const;
  return {
    engine: { [`transit/encrypt/${k}`]: ['update'], [`transit/decrypt/${k}`]: ['update'], [`transit/keys/${k}`]: ['read'], ...self },
    rotation: { [`transit/keys/${k}`]: ['read'], [`transit/keys/${k}/rotate`]: ['update'], [`transit/rewrap/${k}`]: ['update'], [`transit/keys/${k}/config`]: ['update'], ...self },
  };
}

/** Paths either policy could be tempted to grant: each must give exactly what `expected` says, nothing more. */
function probes(k: string): string[] {
  return [
    ...['encrypt', 'decrypt', 'rewrap', 'datakey/plaintext', 'datakey/wrapped', 'sign', 'hmac'].map((p) => `transit/${p}/${k}`),
    ...['', '/rotate', '/config', '/trim'].map((p) => `transit/keys/${k}${p}`),
    `transit/export/encryption-key/${k}`,
    `transit/backup/${k}`,
    'transit/keys/another-key',
    'transit/encrypt/another-key',
    'auth/token/lookup-self',
    'auth/token/renew-self',
    'auth/token/create',
    'sys/policies/acl/vanta-engine',
    'secret/data/anything',
  ];
}

export function checkVaultPolicies(root: string, compose: ComposeFile | null): DeployCheck[] {
  const app = environment(compose?.services['app']);
  const key = interpolate(app['VAULT_TRANSIT_KEY'] ?? 'vanta-wallets');
  const out: DeployCheck[] = [];
  const engine = loadPolicy(root, ENGINE, out);
  const rotation = loadPolicy(root, ROTATION, out);
  const want = expected(key);
  if (engine) out.push(exactly(ENGINE, `engine policy: encrypt, decrypt and read on ${key} and its own token, nothing else`, engine, want.engine, key));
  if (rotation) {
    out.push(exactly(ROTATION, `rotation policy: read, rotate, rewrap and config on ${key} and its own token, no encrypt or decrypt`, rotation, want.rotation, key));
    const config = grantOn([rotation], `transit/keys/${key}/config`).allowedParameters;
    out.push(
      check(ROTATION, 'rotation policy: config limited to min_decryption_version (allowed_parameters)', config !== null && [...config].join(',') === 'min_decryption_version', config ? [...config].join(', ') : 'any parameter'),
    );
  }
  if (compose) out.push(...checkComposeWiring(compose));
  return out;
}

function loadPolicy(root: string, file: string, out: DeployCheck[]): VaultPolicyRule[] | null {
  const path = join(root, file);
  if (!existsSync(path)) {
    out.push(check(file, 'exists', false));
    return null;
  }
  try {
    const rules = parseVaultPolicy(readFileSync(path, 'utf8'));
    out.push(check(file, 'parses as a Vault policy (path rules only)', true, `${rules.length} rules`));
    return rules;
  } catch (err) {
    out.push(check(file, 'parses as a Vault policy (path rules only)', false, (err as Error).message));
    return null;
  }
}

function exactly(file: string, name: string, policy: VaultPolicyRule[], want: Record<string, readonly Access[]>, key: string): DeployCheck {
  const problems: string[] = [];
  // A wildcard grants paths nobody listed here; name it first, before what it happens to leak.
  const globs = policy.filter((r) => /[*+]/.test(r.path)).map((r) => r.path);
  if (globs.length) problems.push(`wildcard paths: ${globs.join(', ')}`);
  for (const path of new Set([...probes(key), ...Object.keys(want)])) {
    const granted = [...grantOn([policy], path).capabilities].sort();
    const allowed = [...(want[path] ?? [])].sort();
    if (granted.join(',') !== allowed.join(',')) problems.push(`${path}: grants [${granted.join(', ')}], should grant [${allowed.join(', ')}]`);
  }
  return check(file, name, problems.length === 0, problems.slice(0, 4).join('; ') || undefined);
}

function checkComposeWiring(compose: ComposeFile): DeployCheck[] {
  const file = 'compose.yaml';
  const init = compose.services['vault-init'];
  const command = Array.isArray(init?.command) ? init.command.join('\n') : (init?.command ?? '');
  const mounts = (init?.volumes ?? []).map((v) => (typeof v === 'string' ? v : `${v.source ?? ''}:`));
  const policyDir = mounts.find((m) => m.startsWith('./deploy/vault:'))?.split(':')[1];
  const writes = (name: string) => policyDir !== undefined && new RegExp(`vault policy write ${name} ${policyDir}/${name}\\.hcl`).test(command);
  const initEnv = environment(init);
  const appEnv = environment(compose.services['app']);
  const rootToken = interpolate(initEnv['VAULT_TOKEN'] ?? '');
  const appToken = interpolate(appEnv['VAULT_TOKEN'] ?? '');
  const engineToken = interpolate(initEnv['VAULT_ENGINE_TOKEN'] ?? '');
  const tokenCreate = /vault token create\b[^\n]*/.exec(command)?.[0] ?? '';
  const holders = Object.entries(compose.services)
    .filter(([, s]) => 'VAULT_OPERATOR_TOKEN' in environment(s))
    .map(([name]) => name);
  return [
    check(file, 'vault-init mounts deploy/vault and writes the vanta-engine and vanta-rotation policies', writes('vanta-engine') && writes('vanta-rotation'), policyDir ?? 'deploy/vault is not mounted'),
    check(
      file,
      'vault-init creates the engine token with the vanta-engine policy alone',
      /-id="?\$\$VAULT_ENGINE_TOKEN"?/.test(tokenCreate) && /-policy=vanta-engine\b/.test(tokenCreate) && !/-policy=(?!vanta-engine\b)/.test(tokenCreate) && /-no-default-policy\b/.test(tokenCreate),
      tokenCreate || 'no vault token create',
    ),
    check(file, "app uses the engine's token, not the root token", appToken !== '' && appToken === engineToken && appToken !== rootToken, appToken === rootToken ? 'the app runs with the root token' : undefined),
    check(file, 'no service holds VAULT_OPERATOR_TOKEN (the operator supplies it when rotating)', holders.length === 0, holders.join(', ') || undefined),
  ];
}

function environment(service: ComposeFile['services'][string] | undefined): Record<string, string> {
  const env = service?.environment;
  if (!env) return {};
  if (Array.isArray(env)) return Object.fromEntries(env.map((line) => [line.split('=')[0] ?? line, line.includes('=') ? line.slice(line.indexOf('=') + 1) : '']));
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v ?? '')]));
}
