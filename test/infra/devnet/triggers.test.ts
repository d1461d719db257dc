import assert from 'node:assert/strict';
import type { Address } from 'viem';
import { LIMIT_KIND } from '../../../src/infra/devnet/keeper.ts';
import type { OpenLimitOrder, Trade } from '../../../src/infra/devnet/sim-reads.ts';
import {
  ETH,
  EXEC_FEE_WEI,
  LEVERAGE,
  PERCENT,
  PRICE,
  USDC,
  eventsOf,
  expectedClose,
  referenceAbi,
  requestOpen,
  useSimulator,
  tradeInput,
  type OpenRequest,
  type SimFixture,
} from './fixture.ts';

interface LimitExecuted {
  orderId: bigint;
  limitIndex: bigint;
  t: Trade;
  orderType: number;
  price: bigint;
  positionSizeUSDC: bigint;
  percentProfit: bigint;
  usdcSentToTrader: bigint;
}

const callbacksAbi = referenceAbi('TradingCallbacks');
const tradingAbi = referenceAbi('Trading');
const storageAbi = referenceAbi('TradingStorage');
const CLOSE_FEE_P = PERCENT('0.045');
const STOP = 1;
const LIMIT = 2;

describe('devnet Avantis simulator: TP, SL, liquidation and limit orders', function () {
  let f: SimFixture;
  useSimulator((fixture) => (f = fixture));

  async function keeperTick() {
    const keeper = f.keeper();
    try {
      return await keeper.tick();
    } finally {
      await keeper.stop();
    }
  }

  async function openFilled(trader: Address, request: OpenRequest): Promise<Trade> {
    await requestOpen(f, trader, request);
    await keeperTick();
    const trade = await f.reads.openTrade(trader, request.pairIndex ?? ETH, 0n);
    assert.notEqual(trade.leverage, 0n, 'the trade is open');
    return trade;
  }

  async function lastLimitExecuted(): Promise<{ args: LimitExecuted; address: string }> {
    const logs = await f.clients.publicClient.getContractEvents({ abi: callbacksAbi, eventName: 'LimitExecuted', fromBlock: 'latest' });
    assert.equal(logs.length, 1, 'one LimitExecuted in the last block');
    const [log] = logs;
    assert.ok(log);
    return { args: log.args as unknown as LimitExecuted, address: log.address };
  }

  const triggerCases = [
    { name: 'take profit of a long', kind: LIMIT_KIND.TP, buy: true, tp: '3300', sl: '0', exitAt: '3310' },
    { name: 'stop loss of a short', kind: LIMIT_KIND.SL, buy: false, tp: '0', sl: '3100', exitAt: '3105' },
  ] as const;

  for (const c of triggerCases) {
    it(`closes on the ${c.name} through executeLimitOrder, conserving USDC`, async function () {
      const trader = f.traders[0] as Address;
      await f.fund(trader, USDC('5000'));
      await f.setPrice(ETH, PRICE('3000'));
      const total = await f.usdcTotal();
      const trade = await openFilled(trader, { buy: c.buy, collateral: USDC('1000'), leverage: LEVERAGE('10'), openPrice: PRICE('3000'), tp: PRICE(c.tp), sl: PRICE(c.sl) });
      if (c.kind === LIMIT_KIND.SL) assert.equal(trade.sl, PRICE(c.sl));
      else assert.equal(trade.tp, PRICE(c.tp));

      await f.setPrice(ETH, PRICE(c.buy ? '3290' : '3095')); // not yet
      assert.deepEqual((await keeperTick()).limitOrdersExecuted, []);

      await f.setPrice(ETH, PRICE(c.exitAt));
      const report = await keeperTick();
      assert.deepEqual(report.limitOrdersExecuted, [{ kind: c.kind, trader, pairIndex: ETH, index: 0n }]);
      const { args, address } = await lastLimitExecuted();
      assert.equal(address, f.deployment.tradingCallbacks.toLowerCase());
      const expected = expectedClose({ openPrice: trade.openPrice, closePrice: PRICE(c.exitAt), buy: c.buy, leverage: trade.leverage, collateral: trade.initialPosToken, closeFeeP: CLOSE_FEE_P });
      assert.equal(args.orderType, c.kind);
      assert.equal(args.price, PRICE(c.exitAt), 'filled at the oracle price (no guaranteed TP/SL price)');
      assert.equal(args.percentProfit, expected.percentProfit);
      assert.equal(args.usdcSentToTrader, expected.value);
      assert.equal(await f.usdc(trader), USDC('4000') + expected.value);
      assert.equal((await f.reads.openTrade(trader, ETH, 0n)).leverage, 0n);
      assert.equal(await f.usdcTotal(), total);
      const books = await f.storageBooks();
      assert.equal(books.held, books.booked);

      const initiated = await f.clients.publicClient.getContractEvents({ abi: tradingAbi, eventName: 'LimitOrderInitiated', fromBlock: 'latest' });
      assert.equal(initiated[0]?.address, f.deployment.trading.toLowerCase());
      assert.equal((initiated[0]?.args as { orderId: bigint }).orderId, args.orderId);
    });
  }

  it('liquidates at the 85 % threshold price: the trader gets nothing, the vault the rest', async function () {
    const trader = f.traders[1] as Address;
    await f.fund(trader, USDC('1000'));
    await f.setPrice(ETH, PRICE('3000'));
    const total = await f.usdcTotal();
    const vaultBefore = await f.usdc(f.deployment.vaultManager);
    const trade = await openFilled(trader, { buy: true, collateral: USDC('500'), leverage: LEVERAGE('20'), openPrice: PRICE('3000') });

    const liq = await f.reads.liquidationPrice(trade);
    const notional = (trade.initialPosToken * trade.leverage) / 10n ** 10n;
    const expectedLiq = trade.openPrice - (trade.openPrice * ((trade.initialPosToken * 85n) / 100n)) / notional;
    assert.equal(liq, expectedLiq, 'AVANTIS.md §4.5 liquidation price');

    await f.setPrice(ETH, liq + PRICE('1'));
    assert.deepEqual((await keeperTick()).limitOrdersExecuted, [], 'one dollar above: still open');
    await f.setPrice(ETH, liq);
    assert.deepEqual((await keeperTick()).limitOrdersExecuted, [{ kind: LIMIT_KIND.LIQ, trader, pairIndex: ETH, index: 0n }]);

    const { args } = await lastLimitExecuted();
    assert.equal(args.orderType, LIMIT_KIND.LIQ);
    assert.equal(args.usdcSentToTrader, 0n);
    const fees = await readStorage<bigint>('govFeesUSDC');
    assert.equal(await f.usdc(trader), USDC('500'));
    assert.equal(await f.usdc(f.deployment.vaultManager), vaultBefore + USDC('500') - fees, 'the vault keeps the collateral less the fees');
    assert.equal(await f.usdcTotal(), total);
  });

  it('pulls an SL beyond −80 % back to the bound at fill time', async function () {
    const trader = f.traders[1] as Address;
    await f.fund(trader, USDC('1000'));
    await f.setPrice(ETH, PRICE('3000'));
    const trade = await openFilled(trader, { buy: true, collateral: USDC('100'), leverage: LEVERAGE('10'), openPrice: PRICE('3000'), sl: PRICE('2000') });
    const bound = trade.openPrice - (trade.openPrice * PERCENT('80')) / 100n / trade.leverage;
    assert.equal(trade.sl, bound);
  });

  it('places a limit order in escrow, enforces the 30-block timelock, and fills it when the price comes', async function () {
    const trader = f.traders[2] as Address;
    await f.fund(trader, USDC('2000'));
    await f.setPrice(ETH, PRICE('3000'));
    const total = await f.usdcTotal();
    const request = { buy: true, collateral: USDC('1000'), leverage: LEVERAGE('5'), openPrice: PRICE('2900'), type: LIMIT, slippageP: PERCENT('1') };
    const receipt = await f.trading(trader, 'openTrade', [tradeInput(trader, request), LIMIT, request.slippageP], EXEC_FEE_WEI);
    const [placed] = eventsOf<{ trader: Address; index: bigint; openPrice: bigint; orderType: number; collateral: bigint; executionFee: bigint }>(receipt, tradingAbi, 'OpenLimitPlaced');
    assert.equal(placed?.address, f.deployment.trading.toLowerCase());
    assert.deepEqual(
      { index: placed.args.index, price: placed.args.openPrice, type: placed.args.orderType, collateral: placed.args.collateral, fee: placed.args.executionFee },
      { index: 0n, price: PRICE('2900'), type: LIMIT, collateral: USDC('1000'), fee: EXEC_FEE_WEI },
    );
    assert.equal(await f.usdc(trader), USDC('1000'), 'collateral escrowed');
    const order: OpenLimitOrder = await readStorage('getOpenLimitOrder', [trader, ETH, 0n]);
    assert.equal(order.price, PRICE('2900'));

    await assert.rejects(f.trading(trader, 'cancelOpenLimitOrder', [ETH, 0n]), /LIMIT_TIMELOCK/);
    await assert.rejects(f.trading(trader, 'updateOpenLimitOrder', [ETH, 0n, PRICE('2950'), PERCENT('1'), 0n, 0n]), /LIMIT_TIMELOCK/);
    assert.deepEqual((await keeperTick()).limitOrdersExecuted, [], 'price above a long limit: no fill');

    await f.mine(30);
    const update = await f.trading(trader, 'updateOpenLimitOrder', [ETH, 0n, PRICE('2950'), PERCENT('1'), 0n, 0n]);
    assert.equal(eventsOf<{ newPrice: bigint }>(update, tradingAbi, 'OpenLimitUpdated')[0]?.args.newPrice, PRICE('2950'));
    await assert.rejects(f.trading(trader, 'cancelOpenLimitOrder', [ETH, 0n]), /LIMIT_TIMELOCK/, 'an update restarts the timelock');

    await f.setPrice(ETH, PRICE('2940'));
    assert.deepEqual((await keeperTick()).limitOrdersExecuted, [{ kind: LIMIT_KIND.OPEN, trader, pairIndex: ETH, index: 0n }]);
    const { args } = await lastLimitExecuted();
    const fillPrice = PRICE('2940') + (PRICE('2940') * PERCENT('0.01')) / 100n / 10n ** 10n;
    assert.equal(args.orderType, LIMIT_KIND.OPEN);
    assert.equal(args.price, fillPrice);
    assert.equal(args.percentProfit, PRICE('2950'), 'v1 carries the limit price in percentProfit on OPEN');
    assert.equal(args.t.initialPosToken, USDC('1000') - USDC('2.25'));
    assert.deepEqual(await f.reads.openTrade(trader, ETH, 0n), args.t);
    assert.equal(await readStorage('hasOpenLimitOrder', [trader, ETH, 0n]), false);
    assert.equal(await f.usdcTotal(), total);
    const books = await f.storageBooks();
    assert.equal(books.held, books.booked);
  });

  it('cancels a stop order after the timelock with a full refund', async function () {
    const trader = f.traders[3] as Address;
    await f.fund(trader, USDC('500'));
    await f.setPrice(ETH, PRICE('3000'));
    const request = { buy: true, collateral: USDC('500'), leverage: LEVERAGE('2'), openPrice: PRICE('3100'), type: STOP };
    await f.trading(trader, 'openTrade', [tradeInput(trader, request), STOP, PERCENT('1')]);
    assert.deepEqual((await keeperTick()).limitOrdersExecuted, [], 'a long stop waits for the price to rise');
    await f.mine(30);
    const receipt = await f.trading(trader, 'cancelOpenLimitOrder', [ETH, 0n]);
    const [canceled] = eventsOf<{ collateral: bigint }>(receipt, tradingAbi, 'OpenLimitCanceled');
    assert.equal(canceled?.args.collateral, USDC('500'));
    assert.equal(await f.usdc(trader), USDC('500'));
    assert.equal(await readStorage('openLimitOrdersCount', [trader, ETH]), 0n);
  });

  function readStorage<T>(functionName: string, args: readonly unknown[] = []): Promise<T> {
    return f.clients.publicClient.readContract({ address: f.deployment.tradingStorage, abi: storageAbi, functionName, args }) as Promise<T>;
  }
});
