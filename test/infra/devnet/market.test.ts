import assert from 'node:assert/strict';
import type { Address } from 'viem';
import type { Trade, TradeInfo } from '../../../src/infra/devnet/sim-reads.ts';
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
  type SimFixture,
} from './fixture.ts';

interface MarketExecuted {
  orderId: bigint;
  t: Trade;
  open: boolean;
  price: bigint;
  positionSizeUSDC: bigint;
  percentProfit: bigint;
  usdcSentToTrader: bigint;
  isPnl: boolean;
}

const callbacksAbi = referenceAbi('TradingCallbacks');
const tradingAbi = referenceAbi('Trading');
const storageAbi = referenceAbi('TradingStorage');
const OPEN_FEE_P = PERCENT('0.045');
const CLOSE_FEE_P = PERCENT('0.045');
const ETH_SPREAD_P = PERCENT('0.01');

describe('devnet Avantis simulator: market orders', function () {
  let f: SimFixture;
  useSimulator((fixture) => (f = fixture));

  const withSpread = (price: bigint, buy: boolean) => (buy ? price + (price * ETH_SPREAD_P) / 100n / 10n ** 10n : price - (price * ETH_SPREAD_P) / 100n / 10n ** 10n);

  async function fill(orderId: bigint): Promise<MarketExecuted> {
    const keeper = f.keeper();
    const report = await keeper.tick();
    await keeper.stop();
    assert.deepEqual(report.marketOrdersExecuted, [orderId]);
    const logs = await f.clients.publicClient.getContractEvents({ abi: callbacksAbi, eventName: 'MarketExecuted', fromBlock: 'latest' });
    const log = logs.find((l) => (l.args as MarketExecuted).orderId === orderId);
    assert.ok(log, 'MarketExecuted for the order');
    assert.equal(log.address, f.deployment.tradingCallbacks.toLowerCase(), 'fills are emitted by TradingCallbacks');
    return log.args;
  }

  for (const side of [
    { name: 'long in profit', buy: true, openAt: '3000', closeAt: '3150' },
    { name: 'short at a loss', buy: false, openAt: '3000', closeAt: '3060' },
  ]) {
    it(`opens, fills and closes a ${side.name} with every USDC unit accounted for`, async function () {
      const trader = f.traders[0] as Address;
      await f.fund(trader, USDC('10000'));
      await f.setPrice(ETH, PRICE(side.openAt));
      const total = await f.usdcTotal();
      const vaultBefore = await f.usdc(f.deployment.vaultManager);
      const collateral = USDC('1000');
      const leverage = LEVERAGE('10');

      const { orderId, receipt } = await requestOpen(f, trader, { buy: side.buy, collateral, leverage, openPrice: PRICE(side.openAt) });
      const [initiated] = eventsOf<{ trader: Address; open: boolean; initialPosToken: bigint; leverage: bigint; isBuy: boolean }>(receipt, tradingAbi, 'MarketOrderInitiated');
      assert.equal(initiated?.address, f.deployment.trading.toLowerCase(), 'requests are emitted by Trading');
      assert.deepEqual(
        { trader: initiated.args.trader, open: initiated.args.open, collateral: initiated.args.initialPosToken, leverage: initiated.args.leverage, buy: initiated.args.isBuy },
        { trader, open: true, collateral, leverage, buy: side.buy },
      );
      assert.equal(await f.usdc(trader), USDC('9000'), 'TradingStorage pulled the collateral');
      assert.equal((await f.reads.pendingOrder(orderId)).wantedPrice, PRICE(side.openAt));

      const opened = await fill(orderId);
      const fillPrice = withSpread(PRICE(side.openAt), side.buy);
      const openFee = (((collateral * leverage) / 10n ** 10n) * OPEN_FEE_P) / 10n ** 10n / 100n;
      assert.equal(openFee, USDC('4.5'));
      assert.equal(opened.open, true);
      assert.equal(opened.price, fillPrice);
      assert.equal(opened.t.openPrice, fillPrice);
      assert.equal(opened.t.index, 0n);
      assert.equal(opened.t.initialPosToken, collateral - openFee);
      assert.equal(opened.positionSizeUSDC, collateral - openFee);
      assert.equal(opened.t.positionSizeUSDC, opened.t.timestamp, 'v1 stores the timestamp in positionSizeUSDC');
      assert.equal(opened.usdcSentToTrader, 0n);

      const stored = await f.reads.openTrade(trader, ETH, 0n);
      assert.deepEqual(stored, opened.t);
      const maxGainDist = (fillPrice * PERCENT('2500')) / 100n / leverage;
      const maxGainPrice = side.buy ? fillPrice + maxGainDist : fillPrice > maxGainDist ? fillPrice - maxGainDist : 0n;
      assert.equal(stored.tp, maxGainPrice, 'TP 0 becomes the max-gain price (0 when a short cannot reach it)');
      const info: TradeInfo = await f.reads.tradeInfo(trader, ETH, 0n);
      const notional = ((collateral - openFee) * leverage) / 10n ** 10n;
      assert.equal(info.openInterestUSDC, notional);
      assert.equal(await oi(side.buy), notional);

      await f.setPrice(ETH, PRICE(side.closeAt));
      const close = await f.trading(trader, 'closeTradeMarket', [ETH, 0n, stored.initialPosToken], EXEC_FEE_WEI);
      const [closeRequest] = eventsOf<{ open: boolean; orderId: bigint }>(close, tradingAbi, 'MarketOrderInitiated');
      assert.equal(closeRequest?.args.open, false);
      assert.equal((await f.reads.tradeInfo(trader, ETH, 0n)).beingMarketClosed, true);
      await assert.rejects(f.trading(trader, 'closeTradeMarket', [ETH, 0n, stored.initialPosToken], EXEC_FEE_WEI), /ALREADY_BEING_CLOSED/);

      const closed = await fill(closeRequest.args.orderId);
      const expected = expectedClose({ openPrice: fillPrice, closePrice: PRICE(side.closeAt), buy: side.buy, leverage, collateral: stored.initialPosToken, closeFeeP: CLOSE_FEE_P });
      assert.equal(closed.open, false);
      assert.equal(closed.price, PRICE(side.closeAt));
      assert.equal(closed.positionSizeUSDC, stored.initialPosToken);
      assert.equal(closed.percentProfit, expected.percentProfit);
      assert.equal(closed.usdcSentToTrader, expected.value);
      assert.equal(side.buy ? expected.pnl > 0n : expected.pnl < 0n, true, 'the scenario is the one named');

      assert.equal(await f.usdc(trader), USDC('9000') + expected.value, 'the trader got exactly the trade value');
      const fees = openFee + expected.closingFee;
      assert.equal(await f.usdc(f.deployment.vaultManager), vaultBefore - expected.pnl, 'the vault paid the profit or kept the loss');
      assert.equal(await f.usdc(f.deployment.tradingStorage), fees, 'TradingStorage keeps only the fees');
      assert.equal(await readStorage<bigint>('govFeesUSDC'), fees);
      assert.equal(await f.usdcTotal(), total, 'no USDC created or lost');
      assert.equal((await f.reads.openTrade(trader, ETH, 0n)).leverage, 0n, 'the slot is free again');
      assert.equal(await oi(side.buy), 0n);
    });
  }

  it('partially closes: initialPosToken and open interest shrink, the slot stays', async function () {
    const trader = f.traders[1] as Address;
    await f.fund(trader, USDC('5000'));
    await f.setPrice(ETH, PRICE('3000'));
    const total = await f.usdcTotal();
    const { orderId } = await requestOpen(f, trader, { buy: true, collateral: USDC('2000'), leverage: LEVERAGE('5'), openPrice: PRICE('3000') });
    await fill(orderId);
    const before = await f.reads.openTrade(trader, ETH, 0n);
    const infoBefore = await f.reads.tradeInfo(trader, ETH, 0n);

    await f.setPrice(ETH, PRICE('2950'));
    const part = before.initialPosToken / 4n;
    const close = await f.trading(trader, 'closeTradeMarket', [ETH, 0n, part], EXEC_FEE_WEI);
    const [req] = eventsOf<{ orderId: bigint }>(close, tradingAbi, 'MarketOrderInitiated');
    const closed = await fill(req?.args.orderId ?? 0n);

    const after = await f.reads.openTrade(trader, ETH, 0n);
    const infoAfter = await f.reads.tradeInfo(trader, ETH, 0n);
    const expected = expectedClose({ openPrice: before.openPrice, closePrice: PRICE('2950'), buy: true, leverage: before.leverage, collateral: part, closeFeeP: CLOSE_FEE_P });
    assert.equal(closed.positionSizeUSDC, part);
    assert.equal(closed.usdcSentToTrader, expected.value);
    assert.equal(after.initialPosToken, before.initialPosToken - part);
    assert.equal(after.leverage, before.leverage);
    assert.equal(after.openPrice, before.openPrice);
    assert.equal(infoAfter.openInterestUSDC, infoBefore.openInterestUSDC - (infoBefore.openInterestUSDC * part) / before.initialPosToken);
    assert.equal(infoAfter.beingMarketClosed, false, 'a partial close frees the trade for the next close');
    assert.equal(await oi(true), infoAfter.openInterestUSDC);
    assert.equal(await f.usdcTotal(), total);
    const books = await f.storageBooks();
    assert.equal(books.held, books.booked, 'TradingStorage holds exactly what its books say');
  });

  it('cancels a market open that would fill beyond the slippage, refunding the collateral', async function () {
    const trader = f.traders[2] as Address;
    await f.fund(trader, USDC('1000'));
    await f.setPrice(ETH, PRICE('3000'));
    const { orderId } = await requestOpen(f, trader, { buy: true, collateral: USDC('500'), leverage: LEVERAGE('20'), openPrice: PRICE('3000'), slippageP: PERCENT('0.5') });
    assert.equal(await f.usdc(trader), USDC('500'));

    await f.setPrice(ETH, PRICE('3020')); // +0.67 %, beyond the 0.5 % band
    const keeper = f.keeper();
    await keeper.tick();
    await keeper.stop();

    const canceled = await f.clients.publicClient.getContractEvents({ abi: callbacksAbi, eventName: 'MarketOpenCanceled', fromBlock: 'latest' });
    assert.equal(canceled.length, 1);
    assert.equal(canceled[0]?.address, f.deployment.tradingCallbacks.toLowerCase());
    assert.deepEqual(canceled[0]?.args, { orderId, trader, pairIndex: ETH });
    assert.equal(await f.usdc(trader), USDC('1000'), 'full refund');
    assert.equal((await f.reads.openTrade(trader, ETH, 0n)).leverage, 0n);
    assert.equal((await f.reads.pendingOrder(orderId)).trade.trader, '0x0000000000000000000000000000000000000000');
  });

  it('fills within the slippage band (the boundary is inclusive)', async function () {
    const trader = f.traders[2] as Address;
    await f.fund(trader, USDC('1000'));
    await f.setPrice(ETH, PRICE('3000'));
    const { orderId } = await requestOpen(f, trader, { buy: false, collateral: USDC('500'), leverage: LEVERAGE('2'), openPrice: PRICE('3000'), slippageP: PERCENT('1') });
    // Short: may not fill below wanted − 1 %. Oracle 2970.297… minus the spread lands just above.
    await f.setPrice(ETH, PRICE('2970.6'));
    const opened = await fill(orderId);
    assert.equal(opened.open, true);
    assert.ok(opened.price >= PRICE('2970'));
  });

  it('gives each new trade the lowest free index', async function () {
    const trader = f.traders[3] as Address;
    await f.fund(trader, USDC('10000'));
    await f.setPrice(ETH, PRICE('3000'));
    const open = async () => {
      const { orderId } = await requestOpen(f, trader, { buy: true, collateral: USDC('100'), leverage: LEVERAGE('5'), openPrice: PRICE('3000') });
      return (await fill(orderId)).t.index;
    };
    assert.deepEqual([await open(), await open(), await open()], [0n, 1n, 2n]);
    const middle = await f.reads.openTrade(trader, ETH, 1n);
    const close = await f.trading(trader, 'closeTradeMarket', [ETH, 1n, middle.initialPosToken], EXEC_FEE_WEI);
    await fill(eventsOf<{ orderId: bigint }>(close, tradingAbi, 'MarketOrderInitiated')[0]?.args.orderId ?? 0n);
    assert.equal(await readStorage<bigint>('firstEmptyTradeIndex', [trader, ETH]), 1n);
    assert.equal(await open(), 1n);
    assert.equal(await readStorage<bigint>('openTradesCount', [trader, ETH]), 3n);
  });

  it('refuses requests that break the pair rules, with the v1 revert strings', async function () {
    const trader = f.traders[4] as Address;
    await f.fund(trader, USDC('10000'));
    const base = { buy: true, collateral: USDC('100'), leverage: LEVERAGE('10'), openPrice: PRICE('3000') };
    await assert.rejects(requestOpen(f, trader, { ...base, leverage: LEVERAGE('76') }), /LEVERAGE_INCORRECT/);
    await assert.rejects(requestOpen(f, trader, { ...base, collateral: USDC('9'), leverage: LEVERAGE('10') }), /BELOW_MIN_POS/);
    await assert.rejects(requestOpen(f, trader, { ...base, tp: PRICE('2900') }), /WRONG_TP/);
    await assert.rejects(requestOpen(f, trader, { ...base, sl: PRICE('3100') }), /WRONG_SL/);
    await assert.rejects(f.trading(trader, 'closeTradeMarket', [ETH, 0n, 1n], EXEC_FEE_WEI), /NO_TRADE/);
    await assert.rejects(f.trading(trader, 'executeMarketOrders', [[1n], [], 0, 0n]), /ONLY_OPERATOR/);
    assert.equal(await f.usdc(trader), USDC('10000'), 'nothing was taken');
  });

  it('sends the ETH execution fee to the operator', async function () {
    const trader = f.traders[4] as Address;
    await f.fund(trader, USDC('1000'));
    const operator = (await f.clients.publicClient.readContract({ address: f.deployment.trading, abi: tradingAbi, functionName: 'operator' })) as Address;
    const before = await f.clients.publicClient.getBalance({ address: operator });
    await requestOpen(f, trader, { buy: true, collateral: USDC('100'), leverage: LEVERAGE('10'), openPrice: PRICE('3000') });
    assert.equal((await f.clients.publicClient.getBalance({ address: operator })) - before, EXEC_FEE_WEI);
  });

  function readStorage<T>(functionName: string, args: readonly unknown[] = []): Promise<T> {
    return f.clients.publicClient.readContract({ address: f.deployment.tradingStorage, abi: storageAbi, functionName, args }) as Promise<T>;
  }

  function oi(long: boolean): Promise<bigint> {
    return readStorage<bigint>('openInterestUSDC', [ETH, long ? 0n : 1n]);
  }
});
