import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validateDeploy, type DeployCheck } from '../../scripts/validate-deploy.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DEPLOY_FILES = ['compose.yaml', 'Dockerfile', '.dockerignore', 'deploy', 'package.json', 'package-lock.json', '.npmrc', 'src'];

const failures = (checks: DeployCheck[]) => checks.filter((c) => c.status === 'fail').map((c) => `${c.file}: ${c.name}${c.detail ? ` (${c.detail})` : ''}`);

/** A copy of the deploy files in a temp dir, with one file edited, to prove each check can fail. */
function mutated(file: string, edit: (text: string) => string): string {
  const dir = mkdtempSync(join(tmpdir(), 'vanta-deploy-'));
  for (const f of DEPLOY_FILES) cpSync(join(ROOT, f), join(dir, f), { recursive: true });
  const path = join(dir, file);
  const before = readFileSync(path, 'utf8');
  const after = edit(before);
  assert.notEqual(after, before, `the edit to ${file} changed nothing`);
  writeFileSync(path, after);
  return dir;
}

describe('deploy files (validated without a Docker engine)', function () {
  this.timeout(30_000);
  const dirs: string[] = [];
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  const failuresAfter = (file: string, edit: (text: string) => string) => {
    const dir = mutated(file, edit);
    dirs.push(dir);
    return failures(validateDeploy(dir));
  };

  it('compose.yaml, Dockerfile and deploy/prometheus.yml pass every check', () => {
    const checks = validateDeploy(ROOT);
    assert.deepEqual(failures(checks), []);
    assert.ok(checks.length >= 40, `only ${checks.length} checks ran`);
  });

  it('the CLI prints the checks and exits 0', () => {
    const result = spawnSync(process.execPath, [join(ROOT, 'scripts/validate-deploy.ts'), ROOT], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /0 failed/);
  });

  it('rejects a compose file that breaks the compose-spec schema', () => {
    const found = failuresAfter('compose.yaml', (t) => t.replace('    stop_grace_period: 25s', '    stop_grace_period: soon'));
    assert.ok(found.some((f) => f.includes('compose-spec JSON schema') && f.includes('stop_grace_period')), found.join('\n'));
  });

  it('rejects duplicate YAML keys', () => {
    const found = failuresAfter('compose.yaml', (t) => t.replace('      REDIS_URL: redis://redis:6379', '      REDIS_URL: redis://redis:6379\n      REDIS_URL: redis://other:6379'));
    assert.ok(found.some((f) => f.includes('parses as YAML')), found.join('\n'));
  });

  it('rejects a dependency on a service without a healthcheck', () => {
    const found = failuresAfter('compose.yaml', (t) => t.replace(/ {4}healthcheck:\n {6}test: \["CMD", "redis-cli", "ping"\]\n( {6}\w+: \w+\n)+/, ''));
    assert.ok(found.some((f) => f.includes('redis waits') || f.includes('redis to be healthy')), found.join('\n'));
  });

  it('rejects live mode as the default and a port published on all interfaces', () => {
    const found = failuresAfter('compose.yaml', (t) => t.replace('${VANTA_MODE:-sandbox}', '${VANTA_MODE:-live}').replace('"127.0.0.1:9090:9090"', '"9090:9090"'));
    assert.ok(found.some((f) => f.includes('config loader') && f.includes('Live mode prerequisites')), found.join('\n'));
    assert.ok(found.some((f) => f.includes('published ports') && f.includes('prometheus')), found.join('\n'));
  });

  it('rejects an engine Vault policy that can rotate, reconfigure or create keys, or uses a wildcard', () => {
    const rotate = failuresAfter('deploy/vault/vanta-engine.hcl', (t) => `${t}path "transit/keys/vanta-wallets/rotate" { capabilities = ["update"] }\n`);
    assert.ok(rotate.some((f) => f.includes('engine policy') && f.includes('transit/keys/vanta-wallets/rotate: grants [update]')), rotate.join('\n'));
    const create = failuresAfter('deploy/vault/vanta-engine.hcl', (t) => t.replace('path "transit/encrypt/vanta-wallets" { capabilities = ["update"] }', 'path "transit/encrypt/vanta-wallets" { capabilities = ["create", "update"] }'));
    assert.ok(create.some((f) => f.includes('transit/encrypt/vanta-wallets: grants [create, update]')), create.join('\n'));
    const glob = failuresAfter('deploy/vault/vanta-engine.hcl', (t) => `${t}path "transit/*" { capabilities = ["read"] }\n`);
    assert.ok(glob.some((f) => f.includes('wildcard paths: transit/*')), glob.join('\n'));
  });

  it('rejects a rotation policy that can decrypt, or may set any key parameter', () => {
    const decrypt = failuresAfter('deploy/vault/vanta-rotation.hcl', (t) => `${t}path "transit/decrypt/vanta-wallets" { capabilities = ["update"] }\n`);
    assert.ok(decrypt.some((f) => f.includes('rotation policy') && f.includes('transit/decrypt/vanta-wallets: grants [update], should grant []')), decrypt.join('\n'));
    const anyParameter = failuresAfter('deploy/vault/vanta-rotation.hcl', (t) => t.replace(/\n\s*allowed_parameters = \{[^}]*\}/, ''));
    assert.ok(anyParameter.some((f) => f.includes('config limited to min_decryption_version') && f.includes('any parameter')), anyParameter.join('\n'));
  });

  it('rejects compose wiring that gives the app the root token, skips a policy, or hands out the operator token', () => {
    const root = failuresAfter('compose.yaml', (t) => t.replace('      VAULT_TOKEN: ${VAULT_ENGINE_TOKEN:-vanta-dev-engine-token}', '      VAULT_TOKEN: ${VAULT_DEV_ROOT_TOKEN:-vanta-dev-root-token}'));
    assert.ok(root.some((f) => f.includes("app uses the engine's token") && f.includes('root token')), root.join('\n'));
    const skipped = failuresAfter('compose.yaml', (t) => t.replace('        vault policy write vanta-rotation /vanta/policies/vanta-rotation.hcl\n', ''));
    assert.ok(skipped.some((f) => f.includes('writes the vanta-engine and vanta-rotation policies')), skipped.join('\n'));
    const broad = failuresAfter('compose.yaml', (t) => t.replace('-policy=vanta-engine -no-default-policy', '-policy=vanta-engine -policy=vanta-rotation'));
    assert.ok(broad.some((f) => f.includes('engine token with the vanta-engine policy alone')), broad.join('\n'));
    const operator = failuresAfter('compose.yaml', (t) => t.replace('      VAULT_TRANSIT_KEY: vanta-wallets\n', '      VAULT_TRANSIT_KEY: vanta-wallets\n      VAULT_OPERATOR_TOKEN: oops\n'));
    assert.ok(operator.some((f) => f.includes('no service holds VAULT_OPERATOR_TOKEN') && f.includes('app')), operator.join('\n'));
  });

  it('rejects a Dockerfile that runs as root, installs dev dependencies or uses shell-form CMD', () => {
    const found = failuresAfter('Dockerfile', (t) =>
      t
        .replace('USER node\n', '')
        .replace('npm ci --omit=dev --no-audit', 'npm ci --no-audit')
        .replace('CMD ["node", "src/main.ts"]', 'CMD node src/main.ts'),
    );
    for (const expected of ['non-root user', 'runtime dependencies only', 'exec form']) {
      assert.ok(found.some((f) => f.includes(expected)), `${expected} not reported:\n${found.join('\n')}`);
    }
  });

  it('reports dockerfile-utils lint errors with their line', () => {
    const found = failuresAfter('Dockerfile', (t) => t.replace('--interval=15s', '--interval=15q'));
    assert.ok(found.some((f) => f.includes('dockerfile-utils lint') && /line \d+/.test(f)), found.join('\n'));
  });

  it('rejects a Prometheus config promtool refuses, or one that scrapes the wrong port', () => {
    const broken = failuresAfter('deploy/prometheus.yml', (t) => t.replace('scrape_interval: 15s', 'scrape_interval: often'));
    assert.ok(broken.some((f) => f.includes('promtool check config')), broken.join('\n'));
    const wrongPort = failuresAfter('deploy/prometheus.yml', (t) => t.replace("'app:8080'", "'app:9999'"));
    assert.ok(wrongPort.some((f) => f.includes('job vanta scrapes app:8080')), wrongPort.join('\n'));
  });
});
