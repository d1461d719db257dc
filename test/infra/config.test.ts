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

  it('reads the delegate connect page on loopback by default, and refuses to expose it without an https public URL', () => {
    assert.deepEqual(loadConfig({}).connect, { host: '127.0.0.1', port: 8091, publicUrl: null });
    assert.deepEqual(loadConfig({ CONNECT_HOST: '0.0.0.0', CONNECT_PORT: '0', CONNECT_PUBLIC_URL: 'https://vanta.example/' }).connect, { host: '0.0.0.0', port: 0, publicUrl: 'https://vanta.example/' });
    assert.match(problems({ CONNECT_HOST: '0.0.0.0' })[0]!, /^CONNECT_HOST: .*set CONNECT_PUBLIC_URL/);
    assert.match(problems({ CONNECT_PUBLIC_URL: 'http://vanta.example' })[0]!, /^CONNECT_PUBLIC_URL: use https:\/\//);
    assert.deepEqual(problems({ CONNECT_PUBLIC_URL: 'http://localhost:8091' }), []);
    assert.match(problems({ CONNECT_PORT: '70000' })[0]!, /^CONNECT_PORT: /);
  });

  it('reads the Telegram front end with safe defaults: real Telegram, long polling, the sandbox chat on loopback', () => {
    const sandbox = loadConfig({});
    assert.deepEqual(JSON.parse(JSON.stringify(sandbox.telegram)), { token: null, adminIds: [], apiRoot: 'https://api.telegram.org', apiRootGiven: false, transport: { kind: 'polling' } });
    assert.deepEqual(sandbox.sandboxChat, { host: '127.0.0.1', port: 8090 });
    assert.deepEqual(loadConfig({ SANDBOX_CHAT_HOST: '0.0.0.0', SANDBOX_CHAT_PORT: '0' }).sandboxChat, { host: '0.0.0.0', port: 0 });
    assert.match(problems({ SANDBOX_CHAT_PORT: '70000' })[0]!, /^SANDBOX_CHAT_PORT: /);
    const selfHosted = loadConfig({ ...LIVE, TELEGRAM_API_ROOT: 'https://bot-api.internal.example/' });
    assert.equal(selfHosted.telegram.apiRoot, 'https://bot-api.internal.example', 'no trailing slash: grammY appends /bot<token>/<method>');
    assert.equal(selfHosted.telegram.apiRootGiven, true);
  });

  it('takes a webhook with its secret token, keeps the secret out of JSON, and names each missing piece', () => {
    const secret = 'wh_secret-0123456789abcdef';
    const hook = loadConfig({ ...LIVE, TELEGRAM_TRANSPORT: 'webhook', TELEGRAM_WEBHOOK_URL: 'https://vanta.example/telegram', TELEGRAM_WEBHOOK_SECRET: secret });
    assert.equal(hook.telegram.transport.kind, 'webhook');
    if (hook.telegram.transport.kind !== 'webhook') return;
    assert.equal(hook.telegram.transport.url, 'https://vanta.example/telegram');
    assert.equal(hook.telegram.transport.secret.reveal(), secret);
    assert.deepEqual([hook.telegram.transport.host, hook.telegram.transport.port], ['127.0.0.1', 8082]);
    assert.ok(!JSON.stringify(hook).includes(secret), 'the webhook secret leaked into JSON');

    const missing = problems({ ...LIVE, TELEGRAM_TRANSPORT: 'webhook' });
    assert.deepEqual(missing.map((p) => p.split(':')[0]), ['TELEGRAM_WEBHOOK_URL', 'TELEGRAM_WEBHOOK_SECRET']);
    assert.match(missing[0]!, /public https:\/\/ URL/);
    assert.match(problems({ ...LIVE, TELEGRAM_TRANSPORT: 'hook' })[0]!, /^TELEGRAM_TRANSPORT: use polling or webhook$/);
    for (const bad of ['', 'has space', 'a'.repeat(257), 'dots.not.allowed', 'ünïcode']) {
      const found = problems({ ...LIVE, TELEGRAM_TRANSPORT: 'webhook', TELEGRAM_WEBHOOK_URL: 'https://vanta.example/tg', TELEGRAM_WEBHOOK_SECRET: bad });
      assert.equal(found.length, 1, `secret ${JSON.stringify(bad.slice(0, 20))}: ${found.join('; ')}`);
      assert.match(found[0]!, /^TELEGRAM_WEBHOOK_(SECRET: use 1 to 256 characters|SECRET: the webhook transport needs a secret)/);
      assert.ok(bad === '' || !found[0]!.includes(bad), 'the error never echoes the secret');
    }
    assert.deepEqual(problems({ ...LIVE, TELEGRAM_TRANSPORT: 'webhook', TELEGRAM_WEBHOOK_URL: 'https://vanta.example/tg', TELEGRAM_WEBHOOK_SECRET: 'a'.repeat(256) }), []);
  });

  it("holds a webhook to Telegram's rules (https, ports 443/80/88/8443) unless a self-hosted Bot API server receives it", () => {
    const webhook = { ...LIVE, TELEGRAM_TRANSPORT: 'webhook', TELEGRAM_WEBHOOK_SECRET: 's3cret' };
    assert.match(problems({ ...webhook, TELEGRAM_WEBHOOK_URL: 'http://vanta.example/tg' }).join('\n'), /TELEGRAM_WEBHOOK_URL: Telegram posts updates only to https:\/\/ URLs/);
    assert.match(problems({ ...webhook, TELEGRAM_WEBHOOK_URL: 'https://vanta.example:8080/tg' })[0]!, /only to ports 443, 80, 88 or 8443, not 8080/);
    assert.deepEqual(problems({ ...webhook, TELEGRAM_WEBHOOK_URL: 'https://vanta.example:8443/tg' }), []);
    assert.match(problems({ ...webhook, TELEGRAM_WEBHOOK_URL: 'ftp://vanta.example/tg' })[0]!, /^TELEGRAM_WEBHOOK_URL: must start with https:\/\/ or http:\/\//);
    // A self-hosted server started with --local delivers to any address and port.
    assert.deepEqual(problems({ ...webhook, TELEGRAM_API_ROOT: 'http://telegram-bot-api:8081', TELEGRAM_WEBHOOK_URL: 'http://vanta:8082/tg' }), []);
  });

  it('refuses webhook settings left behind under long polling, instead of silently ignoring them', () => {
    const found = problems({ ...LIVE, TELEGRAM_WEBHOOK_URL: 'https://vanta.example/tg', TELEGRAM_WEBHOOK_SECRET: 's3cret' });
    assert.deepEqual(found.map((p) => p.split(':')[0]), ['TELEGRAM_WEBHOOK_URL', 'TELEGRAM_WEBHOOK_SECRET']);
    assert.match(found[0]!, /TELEGRAM_TRANSPORT is polling; set TELEGRAM_TRANSPORT=webhook/);
  });

  it('never sends the bot token over clear text beyond the local network', () => {
    assert.match(problems({ ...LIVE, TELEGRAM_API_ROOT: 'http://bot-api.example.com' })[0]!, /^TELEGRAM_API_ROOT: the bot token travels in every request; use https:\/\//);
    for (const local of ['http://127.0.0.1:8081', 'http://localhost:8081', 'http://[::1]:8081', 'http://10.1.2.3', 'http://172.20.0.5:8081', 'http://192.168.1.9', 'http://telegram-bot-api:8081']) {
      assert.deepEqual(problems({ ...LIVE, TELEGRAM_API_ROOT: local }), [], local);
    }
    assert.match(problems({ ...LIVE, TELEGRAM_API_ROOT: 'http://172.32.0.1' })[0]!, /^TELEGRAM_API_ROOT: /, '172.32/16 is not private');
    assert.match(problems({ TELEGRAM_API_ROOT: 'not a url' })[0]!, /^TELEGRAM_API_ROOT: must be a URL/);
  });

  it('in the sandbox, lets TELEGRAM_API_ROOT replace the built-in Bot API double, with any Bot-API-shaped token, once the mode is chosen', () => {
    const other = { TELEGRAM_API_ROOT: 'http://127.0.0.1:9999', TELEGRAM_BOT_TOKEN: '1:test' };
    const chosen = loadConfig({ ...other, VANTA_MODE: 'sandbox' });
    assert.equal(chosen.mode, 'sandbox');
    assert.equal(chosen.telegram.apiRoot, 'http://127.0.0.1:9999');
    assert.equal(chosen.telegram.apiRootGiven, true);
    assert.equal(chosen.telegram.token?.reveal(), '1:test');
    // A token with no mode: never guessed, and the sandbox is offered by name.
    const unchosen = problems(other);
    assert.equal(unchosen.length, 1);
    assert.match(unchosen[0]!, /^VANTA_MODE: .*VANTA_MODE=paper .*VANTA_MODE=live, or VANTA_MODE=sandbox to run the local chain with the bot on TELEGRAM_API_ROOT$/);
    // Without a token the other server cannot know the bot.
    for (const env of [{ TELEGRAM_API_ROOT: 'http://127.0.0.1:9999' }, { TELEGRAM_API_ROOT: 'http://127.0.0.1:9999', VANTA_MODE: 'sandbox' }]) {
      assert.match(problems(env)[0]!, /^TELEGRAM_BOT_TOKEN: TELEGRAM_API_ROOT points the sandbox bot at another Bot API server; give the token/);
    }
    // Not Bot-API-shaped at all, or a short token going to real Telegram (sandbox with a token but no API root, or paper).
    assert.match(problems({ ...other, VANTA_MODE: 'sandbox', TELEGRAM_BOT_TOKEN: 'test' })[0]!, /^TELEGRAM_BOT_TOKEN: must look like 123456:ABC/);
    assert.match(problems({ VANTA_MODE: 'sandbox', TELEGRAM_BOT_TOKEN: '1:test' })[0]!, /^TELEGRAM_BOT_TOKEN: must look like 123456:ABC/);
    assert.match(problems({ ...LIVE, TELEGRAM_API_ROOT: 'http://127.0.0.1:9999', TELEGRAM_BOT_TOKEN: '1:test' })[0]!, /^TELEGRAM_BOT_TOKEN: must look like 123456:ABC/);
    // The sandbox may still use real Telegram with a real token on the local chain.
    const real = loadConfig({ VANTA_MODE: 'sandbox', TELEGRAM_BOT_TOKEN: TOKEN });
    assert.deepEqual([real.mode, real.telegram.apiRoot, real.telegram.apiRootGiven], ['sandbox', 'https://api.telegram.org', false]);
  });

  it('requires Redis in paper mode too, saying what it holds', () => {
    const paper = { VANTA_MODE: 'paper', TELEGRAM_BOT_TOKEN: TOKEN, BASE_RPC_URLS: 'https://rpc.example' };
    const found = problems(paper);
    assert.equal(found.length, 1);
    assert.match(found[0]!, /^REDIS_URL: paper mode keeps the bot's per-user rate limits and chat sessions in Redis/);
    assert.equal(loadConfig({ ...paper, REDIS_URL: 'redis://127.0.0.1:6379' }).mode, 'paper');
    assert.match(problems({ ...LIVE, REDIS_URL: '' }).join('\n'), /REDIS_URL: live mode keeps the bot's per-user rate limits and chat sessions/);
  });

  it('reads the withdrawal address delay (24 h unless WITHDRAW_ADDRESS_DELAY_HOURS says), and refuses a negative or absurd one', () => {
    assert.equal(loadConfig({}).withdrawals.addressDelayHours, 24);
    assert.equal(loadConfig({ WITHDRAW_ADDRESS_DELAY_HOURS: '2.5' }).withdrawals.addressDelayHours, 2.5);
    assert.equal(loadConfig({ WITHDRAW_ADDRESS_DELAY_HOURS: '0' }).withdrawals.addressDelayHours, 0);
    assert.match(problems({ WITHDRAW_ADDRESS_DELAY_HOURS: '-1' })[0]!, /^WITHDRAW_ADDRESS_DELAY_HOURS: must be 0 or more/);
    assert.match(problems({ WITHDRAW_ADDRESS_DELAY_HOURS: 'a day' })[0]!, /^WITHDRAW_ADDRESS_DELAY_HOURS: must be a number of hours/);
    assert.match(problems({ WITHDRAW_ADDRESS_DELAY_HOURS: '1000' })[0]!, /^WITHDRAW_ADDRESS_DELAY_HOURS: must be at most 720/);
  });

  it('reads the console format (auto unless LOG_FORMAT says) and NO_COLOR', () => {
    assert.deepEqual([loadConfig({}).logFormat, loadConfig({}).logColor], ['auto', true]);
    assert.deepEqual([loadConfig({ LOG_FORMAT: 'json', NO_COLOR: '1' }).logFormat, loadConfig({ NO_COLOR: '1' }).logColor], ['json', false]);
    assert.equal(loadConfig({ LOG_FORMAT: 'pretty' }).logFormat, 'pretty');
    assert.match(problems({ LOG_FORMAT: 'text' })[0]!, /^LOG_FORMAT: use pretty or json/);
  });

  it('makes the process exit with a distinct code and a message naming the variable', () => {
    const main = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
    const result = spawnSync(process.execPath, [main], { env: { PATH: process.env['PATH'] ?? '', OPS_PORT: '99999' }, encoding: 'utf8', timeout: 20_000 });
    assert.equal(result.status, CONFIG_EXIT_CODE);
    assert.match(result.stderr, /OPS_PORT: /);
  });
});
