import assert from 'node:assert/strict';
import { maxUint256, type Address } from 'viem';
import { TradeRejectedError } from '../../../../src/infra/chain/avantis/errors.ts';
import { positionFromJson, positionToJson } from '../../../../src/infra/chain/avantis/json.ts';
import { marginUpdate, storedCollateral } from '../../../../src/infra/chain/avantis/math.ts';
import { leverage, percent, price, usdc } from '../../../../src/infra/chain/avantis/units.ts';
import { ETH, BTC } from '../../devnet/fixture.ts';
import { useClientFixture, type ClientFixture } from './helpers.ts';

describe('Avantis protocol client (v1) on the devnet simulator: every write path', function () {
  let f: ClientFixture;
  useClientFixture((fixture) => (f = fixture));

  const trader = (i: number) => f.sim.traders[i] as Address;

  /** Mints test USDC, then approves TradingStorage with the client's own builder. */
  async function fundAndApprove(who: Address, amount: string): Promise<void> {
    await f.sim.call(who, 'SimUSDC', f.addresses.usdc, 'mint', [who, usdc(amount)]);
    await f.send(who, f.protocol.approveUsdc());
  }

  async function openMarket(who: Address, p: { pairIndex: bigint; long: boolean; collateral: string; lev: string; at: string; tp?: string; sl?: string }) {
    const call = f.protocol.openTrade({
      trader: who,
      pairIndex: p.pairIndex,
      long: p.long,
      collateral: usdc(p.collateral),
      leverage: leverage(p.lev),
      price: price(p.at),
      kind: 'market',
      slippageP: percent('1'),
      ...(p.tp === undefined ? {} : { tp: price(p.tp) }),
      ...(p.sl === undefined ? {} : { sl: price(p.sl) }),
      executionFeeWei: await f.protocol.reads.executionFee(),
    });
    return f.send(who, call);
  }

  it('opens a market long and a short, reads them after the keeper fills, closes part then all', async function () {
    const alice = trader(0);
    await fundAndApprove(alice, '5000');
    assert.equal(await f.protocol.reads.usdcAllowance(alice), maxUint256, 'TradingStorage is the approved spender');
    await f.sim.setPrice(ETH, price('3000'));
    await f.sim.setPrice(BTC, price('60000'));

    await openMarket(alice, { pairIndex: ETH, long: true, collateral: '1000', lev: '10', at: '3000', sl: '2800' });
    await openMarket(alice, { pairIndex: BTC, long: false, collateral: '500', lev: '5', at: '60000' });
    const pending = await f.protocol.reads.pendingMarketOrders(alice);
    assert.deepEqual(
      pending.map((o) => ({ pair: o.trade.pairIndex, open: o.open, wanted: o.wantedPrice })),
      [
        { pair: ETH, open: true, wanted: price('3000') },
        { pair: BTC, open: true, wanted: price('60000') },
      ],
    );

    await f.keeperTick();
    assert.deepEqual(await f.protocol.reads.pendingMarketOrders(alice), []);
    const eth = await f.protocol.reads.pair(ETH);
    const positions = await f.protocol.reads.positions(alice, [ETH, BTC]);
    assert.equal(positions.length, 2);
    const [long, short] = positions as [(typeof positions)[0], (typeof positions)[0]];
    assert.deepEqual(
      { pair: long.pairIndex, index: long.index, long: long.long, sl: long.sl, leverage: long.leverage },
      { pair: ETH, index: 0n, long: true, sl: price('2800'), leverage: leverage('10') },
    );
    assert.equal(long.collateral, storedCollateral({ collateral: usdc('1000'), leverage: leverage('10'), openFeeP: eth.openFeeP }));
    assert.ok(long.liquidationPrice !== null && long.liquidationPrice < long.openPrice);
    assert.equal(short.long, false);
    assert.equal(short.pairIndex, BTC);

    const before = await f.protocol.reads.usdcBalance(alice);
    const half = long.collateral / 2n;
    const fee = await f.protocol.reads.executionFee();
    await f.send(alice, f.protocol.closeTrade({ pairIndex: ETH, index: 0n, collateralToClose: half, wantedPrice: price('3000'), executionFeeWei: fee }));
    assert.equal((await f.protocol.reads.position(alice, ETH, 0n))?.beingMarketClosed, true, 'marked while the close waits for the keeper');
    await f.keeperTick();
    const partial = await f.protocol.reads.position(alice, ETH, 0n);
    assert.equal(partial?.collateral, long.collateral - half, 'a partial close takes collateral off');
    assert.equal(partial.beingMarketClosed, false);

    await f.send(alice, f.protocol.closeTrade({ pairIndex: ETH, index: 0n, collateralToClose: partial.collateral, wantedPrice: price('3000'), executionFeeWei: fee }));
    await f.keeperTick();
    assert.equal(await f.protocol.reads.position(alice, ETH, 0n), null, 'a full close empties the slot');
    assert.ok((await f.protocol.reads.usdcBalance(alice)) > before + usdc('990'), 'both halves paid out');
    assert.deepEqual((await f.protocol.reads.positions(alice)).map((p) => p.pairIndex), [BTC], 'every pair scanned by default');
  });

  it('places, updates (after the timelock) and cancels a limit order, and fills a stop order', async function () {
    const bob = trader(1);
    await fundAndApprove(bob, '3000');
    await f.sim.setPrice(ETH, price('3000'));
    const fee = await f.protocol.reads.executionFee();
    const limit = { trader: bob, pairIndex: ETH, long: true, collateral: usdc('400'), leverage: leverage('5'), slippageP: percent('1'), executionFeeWei: fee };
    await f.send(bob, f.protocol.openTrade({ ...limit, kind: 'limit', price: price('2900') }));
    const [placed] = await f.protocol.reads.openLimitOrders(bob, [ETH]);
    assert.deepEqual({ price: placed?.price, escrow: placed?.positionSize, index: placed?.index }, { price: price('2900'), escrow: usdc('400'), index: 0n });

    const update = f.protocol.updateLimitOrder({ pairIndex: ETH, index: 0n, long: true, price: price('2950'), slippageP: percent('2'), tp: price('3300'), sl: price('2800') });
    await assert.rejects(f.send(bob, update), (e: unknown) => e instanceof TradeRejectedError && e.reason === 'timelock');
    await f.sim.mine(Number(await f.protocol.reads.limitOrdersTimelock()));
    await f.send(bob, update);
    const [updated] = await f.protocol.reads.openLimitOrders(bob, [ETH]);
    assert.deepEqual({ price: updated?.price, tp: updated?.tp, sl: updated?.sl, slippage: updated?.slippageP }, { price: price('2950'), tp: price('3300'), sl: price('2800'), slippage: percent('2') });

    await f.sim.mine(30);
    const balance = await f.protocol.reads.usdcBalance(bob);
    await f.send(bob, f.protocol.cancelLimitOrder({ pairIndex: ETH, index: 0n }));
    assert.deepEqual(await f.protocol.reads.openLimitOrders(bob, [ETH]), []);
    assert.equal(await f.protocol.reads.usdcBalance(bob), balance + usdc('400'), 'the escrow came back');

    await f.send(bob, f.protocol.openTrade({ ...limit, kind: 'stop', price: price('3100') }));
    await f.keeperTick();
    assert.equal(await f.protocol.reads.position(bob, ETH, 0n), null, 'a stop long waits for the price to rise');
    await f.sim.setPrice(ETH, price('3100'));
    await f.keeperTick();
    const filled = await f.protocol.reads.position(bob, ETH, 0n);
    assert.equal(filled?.long, true);
    assert.ok(filled.openPrice >= price('3100'));
  });

  it('updates TP and SL with SL before TP in the call, after the timelock', async function () {
    const carol = trader(2);
    await fundAndApprove(carol, '2000');
    await f.sim.setPrice(ETH, price('3000'));
    await openMarket(carol, { pairIndex: ETH, long: true, collateral: '1000', lev: '10', at: '3000' });
    await f.keeperTick();
    await f.sim.mine(30);

    const update = f.protocol.updateTpSl({ trader: carol, pairIndex: ETH, index: 0n, tp: price('3300'), sl: price('2900'), priceUpdateData: await f.sim.priceUpdateData(ETH) });
    assert.equal(update.kind, 'transaction');
    assert.equal(update.call.value, 1n, 'the Pyth fee');
    await f.send(carol, update.call);
    const position = await f.protocol.reads.position(carol, ETH, 0n);
    assert.deepEqual({ tp: position?.tp, sl: position?.sl }, { tp: price('3300'), sl: price('2900') });
  });

  it('adds and removes margin: notional kept, leverage moved as math.marginUpdate says', async function () {
    const dave = trader(3);
    await fundAndApprove(dave, '3000');
    await f.sim.setPrice(ETH, price('3000'));
    await openMarket(dave, { pairIndex: ETH, long: false, collateral: '1000', lev: '20', at: '3000' });
    await f.keeperTick();
    const opened = await f.protocol.reads.position(dave, ETH, 0n);
    assert.ok(opened);

    const deposit = f.protocol.updateMargin({ pairIndex: ETH, index: 0n, kind: 'deposit', amount: usdc('500'), priceUpdateData: await f.sim.priceUpdateData(ETH) });
    await f.send(dave, deposit);
    const afterDeposit = await f.protocol.reads.position(dave, ETH, 0n);
    const expected = marginUpdate({ notional: opened.notional, collateral: opened.collateral, amount: usdc('500'), kind: 'deposit' });
    assert.deepEqual({ c: afterDeposit?.collateral, l: afterDeposit?.leverage, n: afterDeposit?.notional }, { c: expected.collateral, l: expected.leverage, n: opened.notional });

    await f.send(dave, f.protocol.updateMargin({ pairIndex: ETH, index: 0n, kind: 'withdraw', amount: usdc('700'), priceUpdateData: await f.sim.priceUpdateData(ETH) }));
    const afterWithdraw = await f.protocol.reads.position(dave, ETH, 0n);
    const expected2 = marginUpdate({ notional: opened.notional, collateral: expected.collateral, amount: usdc('700'), kind: 'withdraw' });
    assert.deepEqual({ c: afterWithdraw?.collateral, l: afterWithdraw?.leverage }, { c: expected2.collateral, l: expected2.leverage });
  });

  it('lets a delegate open for the trader through delegatedAction, until the delegate is removed', async function () {
    const erin = trader(4);
    const bot = trader(5);
    await fundAndApprove(erin, '1000');
    await f.sim.setPrice(ETH, price('3000'));
    const open = f.protocol.openTrade({
      trader: erin,
      pairIndex: ETH,
      long: false,
      collateral: usdc('300'),
      leverage: leverage('3'),
      price: price('3000'),
      kind: 'market',
      slippageP: percent('1'),
      executionFeeWei: await f.protocol.reads.executionFee(),
    });
    const wrapped = f.protocol.delegatedAction({ trader: erin, call: open });
    assert.equal(wrapped.value, open.value, 'the execution fee rides on the outer call');
    await assert.rejects(f.send(bot, wrapped), (e: unknown) => e instanceof TradeRejectedError && e.reason === 'not-delegate');

    await f.send(erin, f.protocol.setDelegate({ delegate: bot }));
    assert.equal(await f.protocol.reads.isDelegate(erin, bot), true);
    await f.send(bot, wrapped);
    await f.keeperTick();
    const position = await f.protocol.reads.position(erin, ETH, 0n);
    assert.equal(position?.trader, erin, 'the position is the trader’s');
    assert.equal(await f.protocol.reads.usdcBalance(bot), 0n, 'the delegate never holds USDC');

    await f.send(erin, f.protocol.removeDelegate({ delegate: bot }));
    assert.equal(await f.protocol.reads.isDelegate(erin, bot), false);
  });

  it('reads the pair catalogue, limits and the timelock; a position round-trips through its JSON form', async function () {
    assert.equal(await f.protocol.reads.pairsCount(), 22n);
    const eth = await f.protocol.reads.pair(ETH);
    assert.deepEqual(
      { name: eth.name, spread: eth.spreadP, min: eth.minLeverage, max: eth.maxLeverage, open: eth.openFeeP, close: eth.closeFeeP, minPos: eth.minPositionUsdc, maxSl: eth.maxSlP },
      { name: 'ETH/USD', spread: percent('0.01'), min: leverage('1'), max: leverage('75'), open: percent('0.045'), close: percent('0.045'), minPos: usdc('100'), maxSl: percent('80') },
    );
    const delisted = await f.protocol.reads.pair(16n);
    assert.deepEqual({ listed: delisted.listed, name: delisted.name }, { listed: false, name: '' });
    assert.equal((await f.protocol.reads.pairs()).filter((p) => p.listed).length, 19);
    assert.equal(await f.protocol.reads.limitOrdersTimelock(), 30n);
    assert.equal(await f.protocol.reads.maxTradesPerPair(), 40n);

    const frank = trader(6);
    await fundAndApprove(frank, '1000');
    await f.sim.setPrice(ETH, price('3000'));
    await openMarket(frank, { pairIndex: ETH, long: true, collateral: '250', lev: '4', at: '3000' });
    await f.keeperTick();
    const position = await f.protocol.reads.position(frank, ETH, 0n);
    assert.ok(position);
    const json = positionToJson(position);
    assert.equal(typeof json.collateral, 'string');
    assert.equal(json.leverage, '4');
    const restored = positionFromJson(JSON.parse(JSON.stringify(json)));
    assert.deepEqual(restored, position);
  });
});
