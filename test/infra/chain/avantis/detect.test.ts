import assert from 'node:assert/strict';
import type { Address, Hex, PublicClient } from 'viem';
import { refusingWrites } from '../../../../src/actors/order-gateway.ts';
import { detectProtocolVersion, refusalOf } from '../../../../src/infra/chain/avantis/detect.ts';
import { ordersDouble } from '../../../helpers/orders-double.ts';
import { useSimulator, type SimFixture } from '../../devnet/fixture.ts';

const IMPLEMENTATION_SLOT = '0x360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc';
/** Returns 32 zero bytes to any call: a contract that "answers" every view. */
const ANSWERS_ANYTHING = '0x60206000f3';

describe('which Avantis generation a deployment runs, read from its code', function () {
  let f: SimFixture;
  useSimulator((fixture) => (f = fixture));
  const client = (): PublicClient => f.clients.publicClient;
  const at = (n: number): Address => `0x${n.toString(16).padStart(40, '0')}`;
  const setCode = (address: Address, bytecode: Hex) => f.clients.testClient.setCode({ address, bytecode });

  it('verifies the simulator as v1: every v1 write this build sends is in its dispatcher, no v2 sign', async () => {
    const verdict = await detectProtocolVersion(client(), f.deployment.trading);
    assert.equal(verdict.version, 'v1');
    assert.match(verdict.evidence.join('; '), /every v1 entry point this build sends \(openTrade, closeTradeMarket, updateTpAndSl, updateMargin/);
  });

  it('follows an EIP-1967 proxy to its implementation, as on mainnet', async () => {
    const proxy = at(0xa11ce);
    await setCode(proxy, '0x00');
    await f.clients.testClient.setStorageAt({ address: proxy, index: IMPLEMENTATION_SLOT, value: `0x${f.deployment.trading.slice(2).toLowerCase().padStart(64, '0')}` });
    const verdict = await detectProtocolVersion(client(), proxy);
    assert.equal(verdict.version, 'v1');
    assert.equal(verdict.codeAt.toLowerCase(), f.deployment.trading.toLowerCase());
    assert.match(verdict.evidence[0]!, /is a proxy to/);
  });

  it('refuses an upgraded implementation that dispatches v2 entry points, even with the v1 ones still there', async () => {
    const v1Code = (await client().getCode({ address: f.deployment.trading }))!;
    const upgraded = at(0xb0b);
    // The v2 close (closeTradeMarket with wantedPrice) and the batched executor, as PUSH4s.
    await setCode(upgraded, `${v1Code}63e5a97c9263fb7830cf` as Hex);
    const verdict = await detectProtocolVersion(client(), upgraded);
    assert.equal(verdict.version, 'v2');
    const reason = refusalOf(verdict, upgraded);
    assert.match(reason, /runs Avantis v2 \(Veranta\): its code has v2 entry points: closeTradeMarket\(uint256,uint256,uint256,uint256\), executeMarketOrderBatched/);
    assert.match(reason, /live mode sends no orders/);
  });

  it('refuses a contract that answers the v2-only nonceBitmap view, and one that is neither', async () => {
    const answering = at(0xc0de);
    await setCode(answering, ANSWERS_ANYTHING);
    const v2 = await detectProtocolVersion(client(), answering);
    assert.equal(v2.version, 'v2');
    assert.ok(v2.evidence.some((e) => e.includes('answers nonceBitmap')));
    const usdc = await detectProtocolVersion(client(), f.deployment.usdc);
    assert.equal(usdc.version, 'unknown');
    assert.match(refusalOf(usdc, f.deployment.usdc), /does not look like the Avantis v1 this build can verify: its code lacks the v1 entry points openTrade/);
    assert.equal((await detectProtocolVersion(client(), at(0xdead))).version, 'unknown', 'no code at all');
  });

  it('an engine that must not trade refuses opens and closes before anything is signed, and keeps following', async () => {
    const double = ordersDouble();
    const gateway = refusingWrites(double, 'The Avantis deployment runs Avantis v2.');
    const order = { positionId: 'x', owner: 'user:1', pair: 'ETH/USD', pairIndex: 0, side: 'long' as const, collateral: '10', leverage: 2, slippageBps: 50, fillTimeoutMs: 1 };
    await assert.rejects(gateway.submitOpen(order, () => {}), { code: 'PROTOCOL_UNVERIFIED', message: 'Nothing was sent: The Avantis deployment runs Avantis v2.' });
    await assert.rejects(gateway.submitClose({ positionId: 'x', owner: 'user:1', attempt: 1, trade: { owner: 'user:1', pairIndex: 0, tradeIndex: 0, side: 'long', leverage: 2, openPrice: '1', collateral: '1', openedAt: '1' } }), {
      code: 'PROTOCOL_UNVERIFIED',
    });
    assert.deepEqual(double.submitted, []);
    // Following what is already on chain still works: it only reads.
    const controller = new AbortController();
    const following = gateway.followOpen({ owner: 'user:1', orderId: 'open-y', fromBlock: '1' }, { signal: controller.signal, onProgress: () => {} });
    double.cancel('y');
    assert.deepEqual(await following, { kind: 'canceled', by: 'protocol' });
  });
});
