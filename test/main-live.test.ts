import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startAnvil, type Anvil } from '../src/infra/devnet/anvil.ts';
import { createTestPostgres, type TestDatabase } from './helpers/db.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

/** Everything live mode insists on, pointed at local stand-ins (no real Base RPC exists here). */
function liveEnv(rpcUrl: string, databaseUrl: string): Record<string, string> {
  return {
    PATH: process.env['PATH'] ?? '',
    VANTA_MODE: 'live',
    DATABASE_URL: databaseUrl,
    REDIS_URL: 'redis://127.0.0.1:6379',
    TELEGRAM_BOT_TOKEN: '123456789:AAFakeTokenForTestsOnly_abcdefghijklmnop',
    BASE_RPC_URLS: rpcUrl,
    ALLOW_LOCAL_KEYSTORE_IN_LIVE: 'true',
    RISK_MAX_LEVERAGE: '10',
    RISK_MAX_POSITION_USDC: '1000',
    RISK_MAX_COLLATERAL_USDC: '500',
    RISK_MAX_OPEN_POSITIONS: '10',
    RISK_MAX_DAILY_LOSS_USDC: '100',
    ADMIN_TELEGRAM_IDS: '42',
    OPS_PORT: '0',
    INSPECTOR_PORT: '0',
    DATA_DIR: '/tmp/vanta-live-test',
  };
}

describe('live mode start-up checks against the chain', function () {
  this.timeout(60_000);
  let pg: TestDatabase;
  const anvils: Anvil[] = [];
  before(async () => {
    pg = await createTestPostgres('live');
  });
  after(async () => {
    for (const a of anvils) await a.stop();
    await pg.destroy();
  });

  it('refuses to start when the RPC serves another chain, and names both chains', async () => {
    const anvil = await startAnvil();
    anvils.push(anvil);
    const result = spawnSync(process.execPath, [MAIN], { env: liveEnv(anvil.rpcUrl, pg.url), encoding: 'utf8', timeout: 45_000 });
    assert.equal(result.status, 1);
    assert.match(result.stdout, /The RPC serves chain 31337, but chain 8453 is configured/);
  });

  it('refuses to start when the Avantis contracts have no code on that chain', async () => {
    const anvil = await startAnvil({ chainId: 8453 });
    anvils.push(anvil);
    const result = spawnSync(process.execPath, [MAIN], { env: liveEnv(anvil.rpcUrl, pg.url), encoding: 'utf8', timeout: 45_000 });
    assert.equal(result.status, 1);
    assert.match(result.stdout, /No contract code on chain 8453 at: tradingStorage \(0x8a311D7048c35985aa31C131B9A13e03a5f7422d\)/);
    assert.ok(!result.stdout.includes('AAFakeTokenForTestsOnly'), 'the bot token never reaches a log line');
  });
});
