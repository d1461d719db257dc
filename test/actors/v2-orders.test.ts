import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Address } from 'viem';
import { startV2Orders, type V2Orders } from '../../src/actors/v2-orders.ts';
import type { PositionInput } from '../../src/machines/position.machine.ts';
import { OWNED_OUTRIGHT } from '../../src/infra/db/fence.ts';
import type { KeyStore } from '../../src/infra/keys/keystore.ts';
import { createLocalKeyStore } from '../../src/infra/keys/local-keystore.ts';
import { createWallets, type Wallets } from '../../src/infra/keys/wallets.ts';
import { MAINNET_ADDRESSES, startAvantisV2Sandbox, type AvantisV2Sandbox } from '../../src/sandbox/avantis-v2/index.ts';
import { silentLogger } from '../helpers/common.ts';
import { createTestPostgres, type TestDatabase } from '../helpers/db.ts';
import { OPEN_GATE, TEST_LIMITS } from '../helpers/runtime.ts';

/**
 * The v2 side of the engine refuses to sign anything until Avantis's own description of itself
 * (/v2/meta) is read and names the deployment the engine reads on chain; an engine that cannot
 * reach the services still starts, and its orders are refused with a reason until it can.
 */
describe('v2 orders: /v2/meta gates every order', function () {
  this.timeout(30_000);
  let pg: TestDatabase;
  let dir: string;
  let keystore: KeyStore;
  let wallets: Wallets;
  let sb: AvantisV2Sandbox;
  const started: V2Orders[] = [];

  before(async () => {
    pg = await createTestPostgres('v2orders');
    dir = mkdtempSync(join(tmpdir(), 'vanta-v2-orders-'));
    keystore = await createLocalKeyStore({ dataDir: dir, mode: 'sandbox', allowInLive: false, logger: silentLogger() });
    wallets = createWallets({ db: pg.db, keystore, logger: silentLogger() });
    await wallets.create('user:9');
    sb = await startAvantisV2Sandbox({ stepMs: 1 });
  });
  after(async () => {
    for (const v2 of started) v2.stop();
    await sb.close();
    await keystore.close();
    await pg.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const order: PositionInput = { positionId: 'm1', owner: 'user:9', pair: 'ETH/USD', pairIndex: 1, side: 'long', collateral: '100', leverage: 10, slippageBps: 50, fillTimeoutMs: 60_000 };
  async function start(options: { tradingStorage: Address; txBuilderUrl?: string }): Promise<V2Orders> {
    const v2 = await startV2Orders({
      txBuilderUrl: options.txBuilderUrl ?? sb.txBuilderUrl,
      gatewayUrl: sb.gatewayUrl,
      chainId: 8453,
      tradingStorage: options.tradingStorage,
      db: pg.db,
      fence: OWNED_OUTRIGHT,
      wallets,
      priceOf: () => Promise.resolve(3_000n * 10n ** 10n),
      blockNumber: () => Promise.resolve(1n),
      limits: TEST_LIMITS,
      chainFollower: { watchTrade: () => new Promise(() => {}) },
      metaRefreshMs: 60_000,
      logger: silentLogger(),
      http: { timeoutMs: 500, retries: 0 },
    });
    started.push(v2);
    return v2;
  }
  const signedCount = async () => Number((await pg.db.sql<{ n: string }>(`select count(*) as n from v2_intents where signature is not null`))[0]!.n);

  it('refuses every order, naming both addresses, when the services describe another deployment than the chain', async () => {
    const v2 = await start({ tradingStorage: '0x000000000000000000000000000000000000dEaD' });
    assert.equal(v2.meta(), null);
    await assert.rejects(v2.ready(), /names TradingStorage 0x8a311D7048c35985aa31C131B9A13e03a5f7422d, but the chain this engine reads has 0x000000000000000000000000000000000000dEaD/);
    await assert.rejects(v2.orders.submitOpen(order, OPEN_GATE), /not the same deployment/);
    assert.equal(await signedCount(), 0, 'nothing signed');
  });

  it('starts without the services, refuses orders with a reason while they are unreachable, and uses them once they answer', async () => {
    const dead = await start({ tradingStorage: MAINNET_ADDRESSES.tradingStorage, txBuilderUrl: 'http://127.0.0.1:1' });
    assert.equal(dead.meta(), null);
    await assert.rejects(dead.orders.submitOpen(order, OPEN_GATE), (e: Error) => /tx-builder/i.test(e.message));
    assert.equal(await signedCount(), 0);
    const live = await start({ tradingStorage: MAINNET_ADDRESSES.tradingStorage });
    await live.ready();
    assert.equal(live.meta()?.addresses.tradingStorage, MAINNET_ADDRESSES.tradingStorage);
  });
});
