/**
 * Failures become typed errors a trader or an operator can act on: protocol reverts map to
 * TradeRejectedError with a plain message; a wrong chain, an address without code, an
 * unreachable RPC and an RPC that answers garbage each give their own typed error.
 */
import assert from 'node:assert/strict';
import { createPublicClient, custom, encodeFunctionData, erc20Abi, http, type Address, type EIP1193RequestFn } from 'viem';
import { tradingStorageAbi } from '../../../../src/infra/chain/avantis/abi-v1.ts';
import { AvantisDeploymentError, ChainResponseError, ChainUnavailableError, TradeRejectedError, type RejectionReason } from '../../../../src/infra/chain/avantis/errors.ts';
import { createAvantisProtocol } from '../../../../src/infra/chain/avantis/protocol.ts';
import { readPairsCount, readPosition, readPositions } from '../../../../src/infra/chain/avantis/reads.ts';
import { toChainError } from '../../../../src/infra/chain/avantis/revert.ts';
import type { CallRequest } from '../../../../src/infra/chain/avantis/types.ts';
import { leverage, percent, price, usdc } from '../../../../src/infra/chain/avantis/units.ts';
import { verifyDeployment } from '../../../../src/infra/chain/avantis/verify.ts';
import { ETH } from '../../devnet/fixture.ts';
import { useClientFixture, type ClientFixture } from './helpers.ts';

describe('Avantis client: reverts and bad answers become typed errors', function () {
  let f: ClientFixture;
  useClientFixture((fixture) => (f = fixture));

  const who = () => f.sim.traders[0] as Address;
  const rejected = (reason: RejectionReason, message?: RegExp) => (error: unknown) => {
    assert.ok(error instanceof TradeRejectedError, `expected TradeRejectedError, got ${String(error)}`);
    assert.equal(error.reason, reason, error.message);
    if (message) assert.match(error.message, message);
    assert.equal(error.code, 'TRADE_REJECTED');
    return true;
  };
  const open = (p: { collateral: string; lev: string; long?: boolean }): CallRequest =>
    f.protocol.openTrade({
      trader: who(),
      pairIndex: ETH,
      long: p.long ?? true,
      collateral: usdc(p.collateral),
      leverage: leverage(p.lev),
      price: price('3000'),
      kind: 'market',
      slippageP: percent('1'),
      executionFeeWei: 0n,
    });

  async function fund(): Promise<void> {
    await f.sim.call(who(), 'SimUSDC', f.addresses.usdc, 'mint', [who(), usdc('5000')]);
    await f.send(who(), f.protocol.approveUsdc());
    await f.sim.setPrice(ETH, price('3000'));
  }

  it('maps opening reverts, with the pair’s own limits in the message', async function () {
    await fund();
    const eth = await f.protocol.reads.pair(ETH);
    const context = { minPositionUsdc: eth.minPositionUsdc, minLeverage: eth.minLeverage, maxLeverage: eth.maxLeverage };
    await assert.rejects(f.protocol.simulate({ account: who(), call: open({ collateral: '5', lev: '10' }), context }), rejected('position-too-small', /Position too small: the minimum is 100 USDC notional/));
    await assert.rejects(f.protocol.simulate({ account: who(), call: open({ collateral: '100', lev: '100' }), context }), rejected('leverage-out-of-range', /allows 1x to 75x/));

    await f.sim.call(f.sim.deployer, 'TradingStorage', f.addresses.tradingStorage, 'setMaxTradesPerPair', [1n]);
    await f.send(who(), open({ collateral: '100', lev: '2' }));
    await assert.rejects(f.protocol.simulate({ account: who(), call: open({ collateral: '100', lev: '2' }), context: { maxTradesPerPair: 1n } }), rejected('too-many-trades', /at most 1 open trades/));
  });

  it('maps USDC, position and timelock reverts, from simulate and from a send alike', async function () {
    const stranger = f.sim.traders[1] as Address;
    await assert.rejects(f.protocol.simulate({ account: stranger, call: { ...open({ collateral: '100', lev: '2' }) } }), rejected('usdc-allowance-too-low', /approve Avantis/));
    await assert.rejects(
      f.protocol.simulate({ account: who(), call: f.protocol.closeTrade({ pairIndex: ETH, index: 3n, collateralToClose: usdc('1'), wantedPrice: price('3000'), executionFeeWei: 0n }) }),
      rejected('no-trade'),
    );

    await fund();
    await f.send(who(), open({ collateral: '1000', lev: '10' }));
    await f.keeperTick();
    const tpsl = async (tp: string, sl: string) => {
      const update = f.protocol.updateTpSl({ trader: who(), pairIndex: ETH, index: 0n, tp: price(tp), sl: price(sl), priceUpdateData: await f.sim.priceUpdateData(ETH) });
      assert.equal(update.kind, 'transaction');
      return update.call;
    };
    await assert.rejects(f.protocol.simulate({ account: who(), call: await tpsl('3300', '2900'), context: { timelockBlocks: 30n } }), rejected('timelock', /wait 30 blocks/));
    await f.sim.mine(30);
    await assert.rejects(f.protocol.simulate({ account: who(), call: await tpsl('2950', '2900') }), rejected('wrong-tp'));
    await assert.rejects(f.protocol.simulate({ account: who(), call: await tpsl('3300', '2500') }), rejected('sl-too-far', /at most 80 %/));

    // Without a simulate, a local-key send fails in its gas estimate: that error maps the same way.
    const call = await tpsl('3300', '2500');
    const estimate = f.sim.clients.publicClient.estimateGas({ account: who(), to: call.to, data: call.data, value: call.value });
    await assert.rejects(estimate.catch((e: unknown) => Promise.reject(toChainError(e))), rejected('sl-too-far'));

    await f.send(who(), f.protocol.closeTrade({ pairIndex: ETH, index: 0n, collateralToClose: usdc('10'), wantedPrice: price('3000'), executionFeeWei: 0n }));
    await assert.rejects(
      f.protocol.simulate({ account: who(), call: f.protocol.closeTrade({ pairIndex: ETH, index: 0n, collateralToClose: usdc('10'), wantedPrice: price('3000'), executionFeeWei: 0n }) }),
      rejected('already-closing'),
    );
  });

  it('refuses bad input before building anything', function () {
    assert.throws(() => open({ collateral: '0', lev: '10' }), { code: 'BAD_INPUT' });
    assert.throws(() => f.protocol.openTrade({ trader: who(), pairIndex: ETH, long: true, collateral: 1n, leverage: 1n, price: price('3000'), kind: 'market', slippageP: percent('101'), executionFeeWei: 0n }), /Slippage/);
    assert.throws(() => f.protocol.openTrade({ trader: who(), pairIndex: ETH, long: true, collateral: 1n, leverage: 1n, price: price('3000'), tp: price('2900'), kind: 'market', slippageP: percent('1'), executionFeeWei: 0n }), /Take-profit on the wrong side/);
    assert.throws(() => f.protocol.openTrade({ trader: who(), pairIndex: ETH, long: false, collateral: 1n, leverage: 1n, price: price('3000'), sl: price('2900'), kind: 'market', slippageP: percent('1'), executionFeeWei: 0n }), /Stop-loss on the wrong side/);
    assert.throws(() => f.protocol.updateMargin({ pairIndex: ETH, index: 0n, kind: 'deposit', amount: 1n, priceUpdateData: [] }), /price-update bytes/);
    assert.throws(() => f.protocol.delegatedAction({ trader: who(), call: f.protocol.approveUsdc() }), /Only Trading calls/);
    assert.throws(() => f.protocol.setDelegate({ delegate: 'not-an-address' as Address }), { code: 'BAD_INPUT' });
  });

  it('verifyDeployment accepts the devnet, refuses a wrong chain id and an address without code', async function () {
    const client = f.sim.clients.publicClient;
    const report = await verifyDeployment(client, f.addresses, f.sim.anvil.chainId);
    assert.equal(report.chainId, 31337);
    assert.ok((report.codeSizes.trading ?? 0) > 1000);

    await assert.rejects(verifyDeployment(client, f.addresses, 8453), (e: unknown) => e instanceof AvantisDeploymentError && /serves chain 31337, but chain 8453/.test(e.message));
    const noCode = f.sim.traders[7] as Address;
    await assert.rejects(
      verifyDeployment(client, { ...f.addresses, pairInfos: noCode }, 31337),
      (e: unknown) => e instanceof AvantisDeploymentError && e.message.includes(`pairInfos (${noCode})`) && e.code === 'CHAIN_DEPLOYMENT_MISMATCH',
    );
  });

  it('an RPC that answers garbage gives ChainResponseError; one that is down, ChainUnavailableError', async function () {
    const real = f.sim.clients.publicClient;
    /** A custom-transport double: forwards to anvil except where `lie` answers instead. */
    const doubleClient = (lie: (method: string, params: unknown) => unknown) => {
      const request = (({ method, params }: { method: string; params?: unknown }) => {
        const answer = lie(method, params);
        return answer === undefined ? real.request({ method, params } as never) : Promise.resolve(answer);
      }) as EIP1193RequestFn;
      return createPublicClient({ transport: custom({ request }, { retryCount: 0 }) });
    };

    await assert.rejects(verifyDeployment(doubleClient((m) => (m === 'eth_chainId' ? 'banana' : undefined)), f.addresses, 31337), ChainResponseError);
    await assert.rejects(verifyDeployment(doubleClient((m) => (m === 'eth_getCode' ? { code: 42 } : undefined)), f.addresses, 31337), ChainResponseError);

    const truncated = doubleClient((m) => (m === 'eth_call' ? '0x1234' : undefined));
    await assert.rejects(readPosition(truncated, { addresses: f.addresses, trader: who(), pairIndex: ETH, index: 0n }), ChainResponseError);
    const absurdCount = doubleClient((m) => (m === 'eth_call' ? `0x${'f'.repeat(64)}` : undefined));
    await assert.rejects(readPairsCount(absurdCount, { addresses: f.addresses }), /refusing to scan/);
    const lyingCount = doubleClient((m, params) => {
      const data = (params as [{ data?: string }] | undefined)?.[0]?.data ?? '';
      return m === 'eth_call' && data.startsWith(encodeFunctionData({ abi: tradingStorageAbi, functionName: 'openTradesCount', args: [who(), ETH] }).slice(0, 10)) ? `0x${'0'.repeat(63)}3` : undefined;
    });
    await assert.rejects(readPositions(lyingCount, { addresses: f.addresses, trader: who(), pairIndexes: [ETH] }), /reports 3 trades on pair 0 but 0 slots/);

    const down = createPublicClient({ transport: http('http://127.0.0.1:9', { retryCount: 0, timeout: 2_000 }) });
    await assert.rejects(verifyDeployment(down, f.addresses, 31337), (e: unknown) => e instanceof ChainUnavailableError && e.retryable);
    await assert.rejects(f.protocol.reads.usdcBalance(who()).then(() => readPairsCount(down, { addresses: f.addresses })), ChainUnavailableError);

    // The allowance read really asks about TradingStorage as the spender.
    const spenders: string[] = [];
    const spy = doubleClient((m, params) => {
      if (m === 'eth_call') spenders.push((params as [{ data: string }])[0].data);
      return undefined;
    });
    await createAvantisProtocol({ version: 'v1', addresses: f.addresses, chainId: 31337 }, { client: spy }).reads.usdcAllowance(who());
    assert.equal(spenders[0], encodeFunctionData({ abi: erc20Abi, functionName: 'allowance', args: [who(), f.addresses.tradingStorage] }));
  });
});
