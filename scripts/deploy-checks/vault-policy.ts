/**
 * Vault ACL policies in the small HCL subset our policy files use:
 *
 *   path "transit/keys/vanta-wallets/config" {
 *     capabilities       = ["update"]
 *     allowed_parameters = { "min_decryption_version" = [] }
 *   }
 *
 * plus `#` and `//` comments. Anything else (other stanzas, parameter value
 * lists, denied_parameters…) is refused rather than skipped, so a check or a
 * test never passes on a policy it did not understand. Used by the deploy
 * checks and by the loopback Vault double, which enforces the same files.
 */

export const VAULT_CAPABILITIES = ['create', 'read', 'update', 'patch', 'delete', 'list', 'sudo', 'deny', 'subscribe'] as const;
export type VaultCapability = (typeof VAULT_CAPABILITIES)[number];

export interface VaultPolicyRule {
  /** As written: an exact path, or with Vault's globs (`*` at the end, `+` for one segment). */
  readonly path: string;
  readonly capabilities: readonly VaultCapability[];
  /** Request body keys the rule allows (any value); null when the rule does not restrict them. */
  readonly allowedParameters: readonly string[] | null;
}

type Token = { kind: 'string' | 'word' | 'punct'; text: string };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  const code = text
    .split('\n')
    .map((line) => line.replace(/(#|\/\/).*$/, ''))
    .join('\n');
  const pattern = /\s+|"([^"\n]*)"|([A-Za-z_][A-Za-z0-9_]*)|([{}[\]=,])|(.)/g;
  for (const m of code.matchAll(pattern)) {
    if (m[1] !== undefined) tokens.push({ kind: 'string', text: m[1] });
    else if (m[2] !== undefined) tokens.push({ kind: 'word', text: m[2] });
    else if (m[3] !== undefined) tokens.push({ kind: 'punct', text: m[3] });
    else if (m[4] !== undefined) throw new Error(`unexpected character "${m[4]}" in the policy`);
  }
  return tokens;
}

export function parseVaultPolicy(text: string): VaultPolicyRule[] {
  const tokens = tokenize(text);
  let i = 0;
  const next = (kind: Token['kind'], expected?: string): string => {
    const token = tokens[i++];
    if (!token || token.kind !== kind || (expected !== undefined && token.text !== expected)) {
      throw new Error(`expected ${expected ?? kind} but found ${token ? `"${token.text}"` : 'the end'} in the policy`);
    }
    return token.text;
  };
  const peek = (text: string) => tokens[i]?.text === text;
  const stringList = (): string[] => {
    next('punct', '[');
    const items: string[] = [];
    while (!peek(']')) {
      items.push(next('string'));
      if (!peek(']')) next('punct', ',');
    }
    next('punct', ']');
    return items;
  };

  const rules: VaultPolicyRule[] = [];
  while (i < tokens.length) {
    next('word', 'path');
    const path = next('string');
    next('punct', '{');
    let capabilities: VaultCapability[] | null = null;
    let allowedParameters: string[] | null = null;
    while (!peek('}')) {
      const field = next('word');
      next('punct', '=');
      if (field === 'capabilities') {
        capabilities = stringList().map((c) => {
          if (!(VAULT_CAPABILITIES as readonly string[]).includes(c)) throw new Error(`path "${path}": unknown capability "${c}"`);
          return c as VaultCapability;
        });
      } else if (field === 'allowed_parameters') {
        next('punct', '{');
        allowedParameters = [];
        while (!peek('}')) {
          allowedParameters.push(next('string'));
          next('punct', '=');
          if (stringList().length > 0) throw new Error(`path "${path}": allowed_parameters with value lists are not supported`);
        }
        next('punct', '}');
      } else {
        throw new Error(`path "${path}": unsupported field ${field}`);
      }
    }
    next('punct', '}');
    if (capabilities === null) throw new Error(`path "${path}" has no capabilities`);
    rules.push({ path, capabilities, allowedParameters });
  }
  if (rules.length === 0) throw new Error('the policy has no path rules');
  return rules;
}

/** Whether a policy pattern covers a request path, with Vault's glob rules. */
export function policyPathMatches(pattern: string, path: string): boolean {
  const glob = pattern.endsWith('*');
  const fixed = glob ? pattern.slice(0, -1) : pattern;
  const patternParts = fixed.split('/');
  const pathParts = path.split('/');
  if (!glob && patternParts.length !== pathParts.length) return false;
  if (glob && pathParts.length < patternParts.length) return false;
  return patternParts.every((part, i) => {
    const actual = pathParts[i]!;
    if (part === '+') return actual !== '';
    // The last part of a glob pattern is a prefix of the segment ("transit/keys/vanta-*").
    if (glob && i === patternParts.length - 1) return actual.startsWith(part);
    return part === actual;
  });
}

export interface PathGrant {
  readonly capabilities: ReadonlySet<VaultCapability>;
  /** null: any request parameter. */
  readonly allowedParameters: ReadonlySet<string> | null;
}

/**
 * What a set of policies grants on a path, the way Vault combines them: rules
 * with the same pattern are merged (deny wins), an exact pattern beats any
 * glob, and among globs the most specific one applies (the longest text
 * before its first wildcard, then the fewest `+`, then the longest).
 */
export function grantOn(policies: readonly (readonly VaultPolicyRule[])[], path: string): PathGrant {
  const merged = new Map<string, { capabilities: Set<VaultCapability>; allowed: Set<string> | null }>();
  for (const rule of policies.flat()) {
    const entry = merged.get(rule.path);
    if (!entry) {
      merged.set(rule.path, { capabilities: new Set(rule.capabilities), allowed: rule.allowedParameters ? new Set(rule.allowedParameters) : null });
      continue;
    }
    rule.capabilities.forEach((c) => entry.capabilities.add(c));
    // As Vault's ACL merge does: the lists are joined, and a rule without one adds no restriction of its own.
    if (rule.allowedParameters) entry.allowed = new Set([...(entry.allowed ?? []), ...rule.allowedParameters]);
  }
  const chosen =
    merged.get(path) ??
    [...merged.keys()]
      .filter((pattern) => /[*+]/.test(pattern) && policyPathMatches(pattern, path))
      .sort((a, b) => firstWildcard(b) - firstWildcard(a) || plusCount(a) - plusCount(b) || b.length - a.length)
      .map((pattern) => merged.get(pattern)!)[0];
  if (!chosen || chosen.capabilities.has('deny')) return { capabilities: new Set(), allowedParameters: null };
  return { capabilities: chosen.capabilities, allowedParameters: chosen.allowed };
}

function firstWildcard(pattern: string): number {
  const i = pattern.search(/[*+]/);
  return i < 0 ? pattern.length : i;
}

function plusCount(pattern: string): number {
  return pattern.split('/').filter((p) => p === '+').length;
}
