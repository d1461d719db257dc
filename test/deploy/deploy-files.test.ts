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
    assert.ok(checks.length >= 30, `only ${checks.length} checks ran`);
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
