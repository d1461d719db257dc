/**
 * math.ts against the contracts' own answers on the devnet: fills, fees, stored collateral,
 * percent profit, liquidation price, payout, TP/SL correction and margin leverage. Each
 * expectation comes from the chain (events, storage, PairStorage / PairInfos views); the
 * TypeScript must agree to the last unit.
 */
import assert from 'node:assert/strict';
import { parseEventLogs, type Address } from 'viem';
import { readContract } from 'viem/actions';
import { callbacksAbi, pairInfosAbi, pairStorageAbi } from '../../../../src/infra/chain/avantis/abi-v1.ts';
import { TradeRejectedError } from '../../../../src/infra/chain/avantis/errors.ts';
import * as m from '../../../../src/infra/chain/avantis/math.ts';
import { readLiqThreshold } from '../../../../src/infra/chain/avantis/reads.ts';
import { leverage, percent, price, usdc } from '../../../../src/infra/chain/avantis/units.ts';
import { ETH } from '../../devnet/fixture.ts';
import { useClientFixture, type ClientFixture } from './helpers.ts';

const SOL = 2n;

describe('Avantis math matches the contracts on the devnet', function () {
  let f: ClientFixture;
  useClientFixture((fixture) => (f = fixture));

  const client = () => f.sim.clients.publicClient;
  const pairView = <T>(functionName: 'correctTp' | 'correctSl', args: readonly [bigint, bigint, bigint, boolean, bigint]) =>
    readContract(client(), { address: f.addresses.pairStorage, abi: pairStorageAbi, functionName, args }) as Promise<T>;
  const percentProfitView = (args: readonly [bigint, bigint, boolean, bigint, bigint]) =>
    readContract(client(), { address: f.addresses.pairStorage, abi: pairStorageAbi, functionName: 'currentPercentProfit', args });

  /** Opens at the oracle price, lets the keeper fill, returns the fill event and the stored position. */
  async function openFilled(who: Address, p: { pairIndex: bigint; long: boolean; collateral: bigint; lev: bigint; oracle: bigint; tp?: bigint; sl?: bigint }) {
    await f.sim.call(who, 'SimUSDC', f.addresses.usdc, 'mint', [who, p.collateral]);
    await f.send(who, f.protocol.approveUsdc());
    await f.sim.setPrice(p.pairIndex, p.oracle);
    const call = f.protocol.openTrade({
      trader: who,
      pairIndex: p.pairIndex,
      long: p.long,
      collateral: p.collateral,
      leverage: p.lev,
      price: p.oracle,
      kind: 'market',
      slippageP: percent('1'),
      ...(p.tp === undefined ? {} : { tp: p.tp }),
      ...(p.sl === undefined ? {} : { sl: p.sl }),
      executionFeeWei: 0n,
    });
    await f.send(who, call);
    const block = await client().getBlockNumber({ cacheTime: 0 });
    await f.keeperTick();
    const logs = await client().getLogs({ address: f.addresses.tradingCallbacks, fromBlock: block + 1n });
    const [fill] = parseEventLogs({ abi: callbacksAbi, logs, eventName: 'MarketExecuted' });
    assert.ok(fill, 'filled');
    const position = await f.protocol.reads.position(who, p.pairIndex, fill.args.t.index);
    assert.ok(position);
    return { fill: fill.args, position };
  }

  it('fill price with spread, open fee, stored collateral, open interest and liquidation price', async function () {
    const cases = [
      { pairIndex: ETH, long: true, collateral: usdc('1000'), lev: leverage('10'), oracle: price('3000') },
      { pairIndex: SOL, long: false, collateral: usdc('333.333333'), lev: leverage('7.5'), oracle: price('151.2345678') },
    ];
    for (const [i, c] of cases.entries()) {
      const who = f.sim.traders[i] as Address;
      const pair = await f.protocol.reads.pair(c.pairIndex);
      const { fill, position } = await openFilled(who, c);
      const fillPrice = m.fillPrice({ oraclePrice: c.oracle, spreadP: pair.spreadP, long: c.long });
      assert.equal(fill.price, fillPrice, 'fill price');
      const openFeeP = await f.protocol.reads.openFeeP(c.pairIndex, m.notional(c.collateral, c.lev), c.long);
      const stored = m.storedCollateral({ collateral: c.collateral, leverage: c.lev, openFeeP });
      assert.equal(position.collateral, stored, 'initialPosToken');
      assert.equal(fill.positionSizeUSDC, stored, 'MarketExecuted carries the stored collateral');
      assert.equal(position.notional, m.openInterest({ collateral: c.collateral, leverage: c.lev, openFeeP }), 'openInterestUSDC');
      assert.equal(
        position.liquidationPrice,
        m.liquidationPrice({ openPrice: position.openPrice, long: c.long, collateral: position.collateral, leverage: position.leverage, liqThreshold: await readLiqThreshold(client(), { addresses: f.addresses }) }),
        'liquidation price = PairInfos.getTradeLiquidationPrice',
      );
    }
    assert.equal(await readContract(client(), { address: f.addresses.pairInfos, abi: pairInfosAbi, functionName: 'liqThreshold' }), m.DEFAULT_LIQ_THRESHOLD);
  });

  it('TP default (max gain) and the SL bound as the contract stores and corrects them', async function () {
    const who = f.sim.traders[2] as Address;
    const pair = await f.protocol.reads.pair(ETH);
    const { position } = await openFilled(who, { pairIndex: ETH, long: true, collateral: usdc('500'), lev: leverage('25'), oracle: price('3000'), sl: price('2950') });
    assert.equal(position.tp, m.defaultTp({ openPrice: position.openPrice, leverage: position.leverage, long: true, maxGainP: pair.maxGainP }), 'tp 0 → max-gain price');

    for (const long of [true, false]) {
      for (const [open, lev, level] of [
        [price('3000'), leverage('10'), price('2500')],
        [price('3000'), leverage('10'), price('3900')],
        [price('0.1523'), leverage('75'), price('0.15')],
        [price('60000'), leverage('1'), 0n],
        [price('60000'), leverage('2.5'), price('1000000')],
      ] as const) {
        const tp = await pairView<bigint>('correctTp', [open, lev, level, long, ETH]);
        assert.equal(m.correctTp({ openPrice: open, leverage: lev, tp: level, long, maxGainP: pair.maxGainP }), tp, `correctTp ${long} ${open} ${lev} ${level}`);
        const sl = await pairView<bigint>('correctSl', [open, lev, level, long, ETH]);
        assert.equal(m.correctSl({ openPrice: open, leverage: lev, sl: level, long, maxSlP: pair.maxSlP }), sl, `correctSl ${long} ${open} ${lev} ${level}`);
      }
    }
  });

  it('percent profit (clamped), close fee and payout equal the close the keeper settles', async function () {
    const pair = await f.protocol.reads.pair(ETH);
    for (const p of [
      { long: true, close: price('3150'), who: 3 },
      { long: false, close: price('3123.4567'), who: 4 },
      { long: true, close: price('2801'), who: 5 },
    ]) {
      const who = f.sim.traders[p.who] as Address;
      const { position } = await openFilled(who, { pairIndex: ETH, long: p.long, collateral: usdc('1000'), lev: leverage('10'), oracle: price('3000') });
      await f.sim.setPrice(ETH, p.close);
      const before = await f.protocol.reads.usdcBalance(who);
      await f.send(who, f.protocol.closeTrade({ pairIndex: ETH, index: position.index, collateralToClose: position.collateral, wantedPrice: p.close, executionFeeWei: 0n }));
      const block = await client().getBlockNumber({ cacheTime: 0 });
      await f.keeperTick();
      const logs = await client().getLogs({ address: f.addresses.tradingCallbacks, fromBlock: block + 1n });
      const [closed] = parseEventLogs({ abi: callbacksAbi, logs, eventName: 'MarketExecuted' });
      assert.ok(closed && !closed.args.open);

      const quote = m.closeQuote({ openPrice: position.openPrice, closePrice: p.close, long: p.long, leverage: position.leverage, collateral: position.collateral, closeFeeP: pair.closeFeeP, maxGainP: pair.maxGainP });
      assert.equal(closed.args.percentProfit, quote.percentProfit, 'percent profit');
      assert.equal(closed.args.usdcSentToTrader, quote.value, 'payout');
      assert.equal((await f.protocol.reads.usdcBalance(who)) - before, quote.value, 'USDC received');
      const [value, pnl, fees] = await readContract(client(), {
        address: f.addresses.pairInfos,
        abi: pairInfosAbi,
        functionName: 'getTradeValuePure',
        args: [position.collateral, quote.percentProfit, 0n, quote.closingFee, 0n],
      });
      assert.deepEqual({ value, pnl, fees }, { value: quote.value, pnl: quote.pnl, fees: quote.closingFee }, 'getTradeValuePure');
    }
  });

  it('percent profit and liquidation price agree with the pure views over a grid, including the clamps', async function () {
    const pair = await f.protocol.reads.pair(ETH);
    const opens = [price('3000'), price('0.000123'), price('64999.99')];
    const levs = [leverage('1'), leverage('13.7'), leverage('75')];
    const moves = [-100n, -3n, 0n, 7n, 4000n];
    for (const open of opens) {
      for (const lev of levs) {
        for (const move of moves) {
          const current = (open * (1000n + move)) / 1000n;
          for (const long of [true, false]) {
            const onChain = await percentProfitView([open, current, long, lev, ETH]);
            assert.equal(m.percentProfit({ openPrice: open, currentPrice: current, long, leverage: lev, maxGainP: pair.maxGainP }), onChain, `${open} ${current} ${long} ${lev}`);
          }
        }
        for (const rolloverFee of [0n, usdc('3.5')]) {
          const collateral = usdc('777.77');
          const onChain = await readContract(client(), { address: f.addresses.pairInfos, abi: pairInfosAbi, functionName: 'getTradeLiquidationPricePure', args: [open, false, collateral, lev, rolloverFee] });
          assert.equal(m.liquidationPrice({ openPrice: open, long: false, collateral, leverage: lev, rolloverFee }), onChain);
          const onChainLong = await readContract(client(), { address: f.addresses.pairInfos, abi: pairInfosAbi, functionName: 'getTradeLiquidationPricePure', args: [open, true, collateral, lev, rolloverFee] });
          assert.equal(m.liquidationPrice({ openPrice: open, long: true, collateral, leverage: lev, rolloverFee }), onChainLong);
        }
      }
    }
  });

  it('slippage: the fill check predicts which order fills and which is refunded', async function () {
    const pair = await f.protocol.reads.pair(2n);
    const who = f.sim.traders[6] as Address;
    await f.sim.call(who, 'SimUSDC', f.addresses.usdc, 'mint', [who, usdc('1000')]);
    await f.send(who, f.protocol.approveUsdc());
    await f.sim.setPrice(SOL, price('150'));
    const fill = m.fillPrice({ oraclePrice: price('150'), spreadP: pair.spreadP, long: true });
    // The 0.02 % spread alone breaks a 0.01 % slippage band; 0.03 % absorbs it.
    for (const [slippage, fills] of [
      [percent('0.01'), false],
      [percent('0.03'), true],
    ] as const) {
      assert.equal(m.isWithinSlippage({ fillPrice: fill, wantedPrice: price('150'), slippageP: slippage, long: true }), fills);
      const call = f.protocol.openTrade({ trader: who, pairIndex: SOL, long: true, collateral: usdc('100'), leverage: leverage('2'), price: price('150'), kind: 'market', slippageP: slippage, executionFeeWei: 0n });
      await f.send(who, call);
      await f.keeperTick();
      assert.equal((await f.protocol.reads.positions(who, [SOL])).length, fills ? 1 : 0);
    }
  });

  it('new leverage after a margin update, and the withdraw threshold', async function () {
    const who = f.sim.traders[7] as Address;
    const { position } = await openFilled(who, { pairIndex: ETH, long: true, collateral: usdc('1000'), lev: leverage('10'), oracle: price('3000') });
    await f.sim.call(who, 'SimUSDC', f.addresses.usdc, 'mint', [who, usdc('123.456789')]);
    await f.send(who, f.protocol.updateMargin({ pairIndex: ETH, index: 0n, kind: 'deposit', amount: usdc('123.456789'), priceUpdateData: await f.sim.priceUpdateData(ETH) }));
    const after = await f.protocol.reads.position(who, ETH, 0n);
    assert.equal(after?.leverage, m.marginUpdate({ notional: position.notional, collateral: position.collateral, amount: usdc('123.456789'), kind: 'deposit' }).leverage);

    const attempt = async (at: bigint, amount: bigint) => {
      await f.sim.setPrice(ETH, at);
      const predicted = m.isWithdrawable({ long: true, openPrice: after.openPrice, price: at, notional: after.notional, collateralAfter: after.collateral - amount });
      const call = f.protocol.updateMargin({ pairIndex: ETH, index: 0n, kind: 'withdraw', amount, priceUpdateData: await f.sim.priceUpdateData(ETH) });
      let accepted = true;
      try {
        await f.protocol.simulate({ account: who, call });
      } catch (error) {
        assert.ok(error instanceof TradeRejectedError && error.reason === 'withdraw-too-large', String(error));
        accepted = false;
      }
      return { predicted, accepted };
    };
    assert.deepEqual(await attempt(price('2760'), usdc('100')), { predicted: true, accepted: true });
    assert.deepEqual(await attempt(price('2730'), usdc('100')), { predicted: false, accepted: false });
  });
});
