import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { decodeEventLog, type Address, type PublicClient } from 'viem';
import { createAdminDesk } from '../../src/actors/admin-desk.ts';
import { tradingGate } from '../../src/actors/kinds/controls.actor.ts';
import type { OrderGateway } from '../../src/actors/order-gateway.ts';
import type { ActorRuntime } from '../../src/actors/runtime.ts';
import type { VantaError } from '../../src/errors.ts';
import { systemClock } from '../../src/infra/clock.ts';
import { abiOf } from '../../src/infra/devnet/artifacts.ts';
import { createKeyRotationMetrics } from '../../src/infra/keys/rotation-metrics.ts';
import { silentLogger } from '../helpers/common.ts';
import { devnetGateway } from '../helpers/devnet-gateway.ts';
import { noticeLog, testSystem, topState, waitFor } from '../helpers/runtime.ts';
import { PRICE } from '../infra/devnet/fixture.ts';
import { txFixture, type TxFixture } from '../infra/chain/tx/support.ts';

describe('trading controls at the chain gateway (devnet, PostgreSQL)', function () {
  this.timeout(120_000);
  let f: TxFixture;
  const runtimes: ActorRuntime[] = [];
  before(async () => {
    f = await txFixture();
  });
  after(async () => {
    for (const r of runtimes) await r.stop();
    await f.close();
  });

  function gateway(): OrderGateway {
    return devnetGateway({ clients: f.sim.clients, chainId: f.sim.anvil.chainId, deployment: f.sim.deployment, wallets: f.wallets, pipeline: f.pipeline(), minter: f.sim.deployer });
  }
  const stateOf = (runtime: ActorRuntime, id: string) => topState(runtime.get(id)?.getSnapshot() as { value?: unknown } | undefined);
  /** Market requests the wallet sent, from the chain's own MarketOrderInitiated logs. */
  async function requests(trader: Address): Promise<{ open: number; close: number }> {
    const client = f.sim.clients.publicClient as unknown as PublicClient;
    let open = 0;
    let close = 0;
    for (const log of await client.getLogs({ address: f.sim.deployment.trading, fromBlock: 0n })) {
      if (!log.topics[1]?.toLowerCase().endsWith(trader.slice(2).toLowerCase())) continue;
      try {
        const event = decodeEventLog({ abi: abiOf('Trading'), data: log.data, topics: log.topics }) as unknown as { eventName: string; args: { open: boolean } };
        if (event.eventName !== 'MarketOrderInitiated') continue;
        if (event.args.open) open += 1;
        else close += 1;
      } catch {
        // other Trading events
      }
    }
    return { open, close };
  }
  const order = (positionId: string) => ({ type: 'order.requested', positionId, pair: 'ETH/USD', pairIndex: 0, side: 'long', collateral: '100', leverage: 10 });

  it('pause blocks a new open at the gateway but not a close; a pair pause blocks only that pair', async () => {
    await f.sim.setPrice(0n, PRICE('3000'));
    const keeper = f.sim.keeper();
    keeper.start();
    const orders = gateway();
    const log = noticeLog();
    const runtime = testSystem(f.pg.db, { orders, notices: log.sink, fillTimeoutMs: 60_000 });
    runtimes.push(runtime);
    try {
      await runtime.boot();
      const desk = createAdminDesk({ runtime, db: f.pg.db, logger: silentLogger(), clock: systemClock, rotationKeystore: null, rotationMetrics: createKeyRotationMetrics(new Registry()) });
      runtime.spawn('user:801', { input: { telegramId: 801, maxOpenPositions: 5 } });
      runtime.send('user:801', order('g1'));
      await waitFor(() => stateOf(runtime, 'position:g1') === 'open', 'the first order to fill', 30_000);
      const wallet = (await f.wallets.find('user:801'))!.address;

      await desk.pauseTrading('admin:1', null);
      runtime.send('user:801', order('g2'));
      await waitFor(() => !runtime.ids().includes('position:g2'), 'the paused order to end', 30_000);
      const refusal = log.received.find((n) => n.positionId === 'g2');
      assert.equal(refusal?.kind, 'order.refused');
      assert.match(refusal.text, /Trading is paused by the operator\. Nothing was sent; you can still close positions/);
      // The gateway itself refuses: whatever asked for the order, with the gate positions hand it.
      const direct = { positionId: 'g3', owner: 'user:801', pair: 'ETH/USD', pairIndex: 0, side: 'long' as const, collateral: '100', leverage: 10, slippageBps: 50, fillTimeoutMs: 60_000 };
      await assert.rejects(orders.submitOpen(direct, tradingGate(runtime)), (err: VantaError) => err.code === 'TRADING_PAUSED' && /paused by the operator/.test(err.message));
      assert.deepEqual(await f.pg.db.sql(`select id from tx_intents where id like 'position:g2%' or id like 'position:g3%'`), [], 'nothing was signed');
      assert.deepEqual(await requests(wallet), { open: 1, close: 0 });

      // Closing is never paused: the trader gets out, and is paid.
      await f.sim.setPrice(0n, PRICE('3030'));
      runtime.send('position:g1', { type: 'close.requested' });
      await waitFor(() => !runtime.ids().includes('position:g1'), 'the close to fill', 30_000);
      assert.deepEqual(await requests(wallet), { open: 1, close: 1 });
      // The notice follows the durable write of the trader's actor: it may land a moment after the position is gone.
      await waitFor(() => log.received.some((n) => n.positionId === 'g1' && n.kind === 'position.closed'), 'the closed notice', 10_000);
      assert.match(log.received.find((n) => n.positionId === 'g1' && n.kind === 'position.closed')!.text, /is closed at 3030\. [\d.]+ USDC was paid out\./);

      // A paused pair: ETH refused at the gateway, BTC trades.
      await desk.resumeTrading('admin:1', null);
      await desk.pauseTrading('admin:1', 'ETH');
      await assert.rejects(orders.submitOpen({ ...direct, positionId: 'g4' }, tradingGate(runtime)), /Trading on ETH\/USD is paused by the operator/);
      await f.sim.setPrice(1n, PRICE('60000'));
      runtime.send('user:801', { ...order('g5'), pair: 'BTC/USD', pairIndex: 1 });
      await waitFor(() => stateOf(runtime, 'position:g5') === 'open', 'the BTC order to fill', 30_000);
      assert.deepEqual(await requests(wallet), { open: 2, close: 1 });
    } finally {
      await keeper.stop();
      await runtime.stop();
    }
  });

  it('does not hold back an open that was signed before the pause: it resumes as it was', async () => {
    const orders = gateway();
    const runtime = testSystem(f.pg.db, { orders: null });
    runtimes.push(runtime);
    await runtime.boot();
    const desk = createAdminDesk({ runtime, db: f.pg.db, logger: silentLogger(), clock: systemClock, rotationKeystore: null, rotationMetrics: createKeyRotationMetrics(new Registry()) });
    await f.sim.setPrice(1n, PRICE('60000'));
    const input = { positionId: 'r1', owner: 'user:802', pair: 'BTC/USD', pairIndex: 1, side: 'short' as const, collateral: '50', leverage: 5, slippageBps: 50, fillTimeoutMs: 60_000 };
    const first = await orders.submitOpen(input, tradingGate(runtime));
    await desk.pauseTrading('admin:1', null);
    // The same order again (a restart resuming its step): the signed request is returned, not refused.
    assert.deepEqual(await orders.submitOpen(input, tradingGate(runtime)), first);
    await desk.resumeTrading('admin:1', null);
  });
});
