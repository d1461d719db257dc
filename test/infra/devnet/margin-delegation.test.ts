import assert from 'node:assert/strict';
import { encodeFunctionData, type Address } from 'viem';
import type { Trade } from '../../../src/infra/devnet/sim-reads.ts';
import {
  ETH,
  EXEC_FEE_WEI,
  LEVERAGE,
  PERCENT,
  PRICE,
  USDC,
  eventsOf,
  referenceAbi,
  requestOpen,
  useSimulator,
  tradeInput,
  type SimFixture,
} from './fixture.ts';

const tradingAbi = referenceAbi('Trading');
const PYTH_FEE_WEI = 1n; // what the SDK attaches to margin and TP/SL calls
const DEPOSIT = 0;
const WITHDRAW = 1;

describe('devnet Avantis simulator: margin, TP/SL updates and delegation', function () {
  let f: SimFixture;
  useSimulator((fixture) => (f = fixture));

  async function fillPending(): Promise<void> {
    const keeper = f.keeper();
    await keeper.tick();
    await keeper.stop();
  }

  async function openEthLong(trader: Address): Promise<Trade> {
    await f.fund(trader, USDC('3000'));
    await f.setPrice(ETH, PRICE('3000'));
    await requestOpen(f, trader, { buy: true, collateral: USDC('1000'), leverage: LEVERAGE('10'), openPrice: PRICE('3000') });
    await fillPending();
    return f.reads.openTrade(trader, ETH, 0n);
  }

  it('adds and removes margin in one step: notional kept, leverage moved, USDC moved', async function () {
    const trader = f.traders[0] as Address;
    const trade = await openEthLong(trader);
    const notional = (await f.reads.tradeInfo(trader, ETH, 0n)).openInterestUSDC;
    const total = await f.usdcTotal();

    const deposit = await f.trading(trader, 'updateMargin', [ETH, 0n, DEPOSIT, USDC('500'), await f.priceUpdateData(ETH), 0], PYTH_FEE_WEI);
    const [added] = eventsOf<{ _type: number; newTrade: Trade; trader: Address }>(deposit, tradingAbi, 'MarginUpdated');
    assert.equal(added?.address, f.deployment.trading.toLowerCase());
    assert.equal(added.args._type, DEPOSIT);
    assert.equal(added.args.newTrade.initialPosToken, trade.initialPosToken + USDC('500'));
    assert.equal(added.args.newTrade.leverage, (notional * 10n ** 10n) / (trade.initialPosToken + USDC('500')));
    assert.equal(await f.usdc(trader), USDC('1500'));
    assert.equal((await f.reads.tradeInfo(trader, ETH, 0n)).openInterestUSDC, notional, 'notional unchanged');

    await f.trading(trader, 'updateMargin', [ETH, 0n, WITHDRAW, USDC('800'), await f.priceUpdateData(ETH), 0], PYTH_FEE_WEI);
    const after = await f.reads.openTrade(trader, ETH, 0n);
    assert.equal(after.initialPosToken, trade.initialPosToken + USDC('500') - USDC('800'));
    assert.equal(after.leverage, (notional * 10n ** 10n) / after.initialPosToken);
    assert.equal(await f.usdc(trader), USDC('2300'));
    assert.equal(await f.usdcTotal(), total);
    const books = await f.storageBooks();
    assert.equal(books.held, books.booked);

    // 75x is ETH's maximum: leaving less than notional / 75 as collateral is refused.
    const tooMuch = after.initialPosToken - notional / 75n + USDC('1');
    await assert.rejects(f.trading(trader, 'updateMargin', [ETH, 0n, WITHDRAW, tooMuch, await f.priceUpdateData(ETH), 0], PYTH_FEE_WEI), /LEVERAGE_INCORRECT/);
  });

  it('refuses a withdrawal that leaves collateral + PnL under 20 %', async function () {
    const trader = f.traders[1] as Address;
    await openEthLong(trader);
    await f.setPrice(ETH, PRICE('2760')); // −8 % × 10x: about 80 % of the collateral is lost
    await assert.rejects(f.trading(trader, 'updateMargin', [ETH, 0n, WITHDRAW, USDC('100'), await f.priceUpdateData(ETH), 0], PYTH_FEE_WEI), /WITHDRAW_THRESHOLD/);
  });

  it('updates TP and SL after the timelock, within the SL bound', async function () {
    const trader = f.traders[2] as Address;
    const trade = await openEthLong(trader);
    const update = async (sl: bigint, tp: bigint) => f.trading(trader, 'updateTpAndSl', [ETH, 0n, sl, tp, await f.priceUpdateData(ETH), 0], PYTH_FEE_WEI);

    await assert.rejects(update(PRICE('2900'), PRICE('3300')), /LIMIT_TIMELOCK/, 'right after the open');
    await f.mine(30);
    await assert.rejects(update(PRICE('3050'), PRICE('3300')), /WRONG_SL/, 'an SL above the price of a long');
    await assert.rejects(update(PRICE('2500'), PRICE('3300')), /SL_TOO_BIG/, 'beyond −80 % at 10x');
    const receipt = await update(PRICE('2900'), PRICE('3300'));
    assert.equal(eventsOf<{ newTp: bigint }>(receipt, tradingAbi, 'TpUpdated')[0]?.args.newTp, PRICE('3300'));
    assert.equal(eventsOf<{ newSl: bigint }>(receipt, tradingAbi, 'SlUpdated')[0]?.args.newSl, PRICE('2900'));
    const stored = await f.reads.openTrade(trader, ETH, 0n);
    assert.deepEqual({ tp: stored.tp, sl: stored.sl, open: stored.openPrice }, { tp: PRICE('3300'), sl: PRICE('2900'), open: trade.openPrice });
    await assert.rejects(update(PRICE('2950'), PRICE('3300')), /LIMIT_TIMELOCK/, 'the timelock restarts');
  });

  it('lets a delegate trade for the trader with the trader’s USDC, and only while delegated', async function () {
    const trader = f.traders[3] as Address;
    const delegate = f.traders[4] as Address;
    const stranger = f.traders[5] as Address;
    await f.fund(trader, USDC('1000'));
    await f.setPrice(ETH, PRICE('3000'));
    const openCall = encodeFunctionData({
      abi: tradingAbi,
      functionName: 'openTrade',
      args: [tradeInput(trader, { buy: false, collateral: USDC('400'), leverage: LEVERAGE('5'), openPrice: PRICE('3000') }), 0, PERCENT('1')],
    });

    await assert.rejects(f.trading(delegate, 'delegatedAction', [trader, openCall], EXEC_FEE_WEI), /DELEGATE_NOT_APPROVED/);
    await f.trading(trader, 'setDelegate', [delegate]);
    assert.equal(await f.clients.publicClient.readContract({ address: f.deployment.trading, abi: tradingAbi, functionName: 'delegations', args: [trader] }), delegate);
    await assert.rejects(f.trading(stranger, 'delegatedAction', [trader, openCall], EXEC_FEE_WEI), /DELEGATE_NOT_APPROVED/);

    const receipt = await f.trading(delegate, 'delegatedAction', [trader, openCall], EXEC_FEE_WEI);
    const [initiated] = eventsOf<{ trader: Address }>(receipt, tradingAbi, 'MarketOrderInitiated');
    assert.equal(initiated?.args.trader, trader, 'the order is the trader’s');
    assert.equal(await f.usdc(trader), USDC('600'), 'collateral came from the trader');
    await fillPending();
    const trade = await f.reads.openTrade(trader, ETH, 0n);
    assert.equal(trade.trader, trader);
    assert.equal(trade.buy, false);

    const hijack = encodeFunctionData({ abi: tradingAbi, functionName: 'setDelegate', args: [stranger] });
    await assert.rejects(f.trading(delegate, 'delegatedAction', [trader, hijack]), /NOT_ALLOWED_IN_DELEGATION/);

    const closeCall = encodeFunctionData({ abi: tradingAbi, functionName: 'closeTradeMarket', args: [ETH, 0n, trade.initialPosToken] });
    await f.trading(delegate, 'delegatedAction', [trader, closeCall], EXEC_FEE_WEI);
    await fillPending();
    assert.equal((await f.reads.openTrade(trader, ETH, 0n)).leverage, 0n);
    assert.ok((await f.usdc(trader)) > USDC('990'), 'the payout went to the trader');
    assert.equal(await f.usdc(delegate), 0n, 'the delegate never held USDC');

    await f.trading(trader, 'removeDelegate', []);
    await assert.rejects(f.trading(delegate, 'delegatedAction', [trader, openCall], EXEC_FEE_WEI), /DELEGATE_NOT_APPROVED/);
  });

  it('lets the operator cancel a stuck market open with a refund (MarketOpenCanceled from TradingStorage)', async function () {
    const trader = f.traders[6] as Address;
    await f.fund(trader, USDC('300'));
    const { orderId } = await requestOpen(f, trader, { buy: true, collateral: USDC('300'), leverage: LEVERAGE('2'), openPrice: PRICE('3000') });
    await assert.rejects(f.trading(trader, 'cancelPendingMarketOrder', [orderId]), /ONLY_OPERATOR/);
    const receipt = await f.trading(f.keeperAddress, 'cancelPendingMarketOrder', [orderId]);
    const [canceled] = eventsOf<{ orderId: bigint }>(receipt, referenceAbi('TradingStorage'), 'MarketOpenCanceled');
    assert.equal(canceled?.address, f.deployment.tradingStorage.toLowerCase());
    assert.equal(canceled.args.orderId, orderId);
    assert.equal(await f.usdc(trader), USDC('300'));
  });
});
