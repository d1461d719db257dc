import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../src/errors.ts';
import { CONFIG_EXIT_CODE, loadConfig } from '../../src/infra/config.ts';

const TOKEN = '123456789:AAFakeTokenForTestsOnly_abcdefghijklmnop';
const LIVE = {
  VANTA_MODE: 'live',
  DATABASE_URL: 'postgres://vanta:pw@db:5432/vanta',
  REDIS_URL: 'redis://redis:6379',
  TELEGRAM_BOT_TOKEN: TOKEN,
  BASE_RPC_URLS: 'https://rpc-a.example,https://rpc-b.example',
  VAULT_ADDR: 'https://vault:8200',
  VAULT_TOKEN: 'hvs.testtokentesttokentesttoken',
  RISK_MAX_LEVERAGE: '25',
  RISK_MAX_POSITION_USDC: '5000',
  RISK_MAX_COLLATERAL_USDC: '500',
  RISK_MAX_OPEN_POSITIONS: '10',
  RISK_MAX_DAILY_LOSS_USDC: '1000',
  ADMIN_TELEGRAM_IDS: '42',
};

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  return [];
}

describe('config', () => {
  it('starts a complete sandbox with no settings at all', () => {
    const config = loadConfig({});
    assert.equal(config.mode, 'sandbox');
    assert.equal(config.database.kind, 'pglite');
    assert.equal(config.ops.host, '127.0.0.1');
    assert.equal(config.inspector.host, '127.0.0.1');
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.supervisor), 'config is frozen');
  });

  it('names the variable and the fix for every bad value, all at once', () => {
    const found = problems({ OPS_PORT: 'eighty', LOG_LEVEL: 'loud', DATABASE_URL: 'mysql://x', TELEGRAM_BOT_TOKEN: 'nope', VANTA_MODE: 'paper' });
    assert.equal(found.length, 4);
    assert.match(found.join('\n'), /OPS_PORT: must be a port number/);
    assert.match(found.join('\n'), /LOG_LEVEL: use fatal, error/);
    assert.match(found.join('\n'), /DATABASE_URL: must start with postgres:\/\//);
    assert.match(found.join('\n'), /TELEGRAM_BOT_TOKEN: must look like 123456:ABC/);
  });

  it('never guesses between paper and live when real endpoints are configured', () => {
    assert.match(problems({ TELEGRAM_BOT_TOKEN: TOKEN })[0]!, /VANTA_MODE: .*choose the mode explicitly/);
  });

  it('accepts a complete live configuration and keeps its secrets out of JSON', () => {
    const config = loadConfig(LIVE);
    assert.equal(config.mode, 'live');
    const text = JSON.stringify(config);
    for (const secret of [TOKEN, 'hvs.testtokentesttokentesttoken', ':pw@']) assert.ok(!text.includes(secret), `${secret} leaked`);
    assert.equal(config.telegram.token?.reveal(), TOKEN);
  });

  it('refuses live mode without each safety prerequisite and names every one', () => {
    const found = problems({ VANTA_MODE: 'live', TELEGRAM_BOT_TOKEN: TOKEN, BASE_RPC_URLS: 'https://rpc.example' });
    const names = found.map((p) => p.split(':')[0]);
    assert.deepEqual(names, ['DATABASE_URL', 'REDIS_URL', 'VAULT_ADDR', 'RISK_MAX_LEVERAGE, RISK_MAX_POSITION_USDC, RISK_MAX_COLLATERAL_USDC, RISK_MAX_OPEN_POSITIONS, RISK_MAX_DAILY_LOSS_USDC', 'ADMIN_TELEGRAM_IDS']);
    const noVault = problems({ ...LIVE, VAULT_ADDR: '', VAULT_TOKEN: '' });
    assert.match(noVault.join('\n'), /VAULT_ADDR: live mode keeps wallet keys under Vault transit/);
    assert.deepEqual(problems({ ...LIVE, VAULT_ADDR: '', VAULT_TOKEN: '', ALLOW_LOCAL_KEYSTORE_IN_LIVE: 'true' }), []);
  });

  it('reads the engine lease settings with defaults that replace a dead owner within 5 s, and refuses unsafe ones', () => {
    assert.deepEqual(loadConfig({}).lease, { ttlMs: 2_500, renewEveryMs: 833, pollMs: 250 });
    assert.deepEqual(loadConfig({ LEASE_TTL_MS: '6000', LEASE_POLL_MS: '250' }).lease, { ttlMs: 6_000, renewEveryMs: 2_000, pollMs: 250 });
    const found = problems({ LEASE_TTL_MS: '2000', LEASE_RENEW_MS: '1500', LEASE_POLL_MS: '2000' });
    assert.equal(found.length, 2);
    assert.match(found[0]!, /^LEASE_RENEW_MS: renew at least twice per lease .* use at most 1000$/);
    assert.match(found[1]!, /^LEASE_POLL_MS: a standby must check more often than the lease lasts/);
    assert.match(problems({ LEASE_TTL_MS: '100' })[0]!, /^LEASE_TTL_MS: must be at least 500/);
  });

  it('refuses to expose the inspector beyond loopback without a token', () => {
    assert.match(problems({ INSPECTOR_HOST: '0.0.0.0' })[0]!, /INSPECTOR_HOST: .*set INSPECTOR_TOKEN/);
    assert.deepEqual(problems({ INSPECTOR_HOST: '0.0.0.0', INSPECTOR_TOKEN: 'a-long-enough-token-123' }), []);
  });

  it('makes the process exit with a distinct code and a message naming the variable', () => {
    const main = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
    const result = spawnSync(process.execPath, [main], { env: { PATH: process.env['PATH'] ?? '', OPS_PORT: '99999' }, encoding: 'utf8', timeout: 20_000 });
    assert.equal(result.status, CONFIG_EXIT_CODE);
    assert.match(result.stderr, /OPS_PORT: /);
  });
});
