/**
 * The event decoder on real simulator logs: every Avantis log of a trade's life decodes to its
 * typed event, from the contract that emits it; other logs are skipped with a reason; forged,
 * truncated and unknown logs never crash the decoder.
 */
import assert from 'node:assert/strict';
import { keccak256, toHex, zeroAddress, type Address, type Log, type TransactionReceipt } from 'viem';
import { ChainResponseError } from '../../../../src/infra/chain/avantis/errors.ts';
import { decodeAvantisLog, isEvent, type AvantisEvent } from '../../../../src/infra/chain/avantis/events.ts';
import { leverage, percent, price, usdc } from '../../../../src/infra/chain/avantis/units.ts';
import { ETH } from '../../devnet/fixture.ts';
import { useClientFixture, type ClientFixture } from './helpers.ts';

describe('Avantis event decoding on real devnet logs', function () {
  let f: ClientFixture;
  useClientFixture((fixture) => (f = fixture));

  const client = () => f.sim.clients.publicClient;
  const alice = () => f.sim.traders[0] as Address;

  async function logsSince(block: bigint): Promise<Log[]> {
    return client().getLogs({ fromBlock: block + 1n });
  }

  async function openAndFill(): Promise<{ request: TransactionReceipt; fillLogs: Log[] }> {
    const who = alice();
    await f.sim.call(who, 'SimUSDC', f.addresses.usdc, 'mint', [who, usdc('2000')]);
    await f.send(who, f.protocol.approveUsdc());
    await f.sim.setPrice(ETH, price('3000'));
    const call = f.protocol.openTrade({ trader: who, pairIndex: ETH, long: true, collateral: usdc('1000'), leverage: leverage('10'), price: price('3000'), kind: 'market', slippageP: percent('1'), executionFeeWei: 0n });
    const request = await f.send(who, call);
    const block = await client().getBlockNumber({ cacheTime: 0 });
    await f.keeperTick();
    return { request, fillLogs: await logsSince(block) };
  }

  it('decodes a request, its fill and a close; the fill comes from TradingCallbacks only', async function () {
    const { request, fillLogs } = await openAndFill();
    const requested = f.protocol.decodeLogs(request.logs);
    const initiated = requested.events.filter(isEvent('trading.MarketOrderInitiated'));
    assert.equal(initiated.length, 1);
    assert.deepEqual(
      { trader: initiated[0]?.args.trader, open: initiated[0]?.args.open, collateral: initiated[0]?.args.initialPosToken, lev: initiated[0]?.args.leverage },
      { trader: alice(), open: true, collateral: usdc('1000'), lev: leverage('10') },
    );
    assert.ok(
      requested.skipped.every((s) => s.reason === 'foreign-emitter' && s.log.address === f.addresses.usdc),
      'only the USDC Transfer is not ours',
    );

    const filled = f.protocol.decodeLogs(fillLogs);
    const types = filled.events.map((e) => e.type);
    for (const expected of ['priceAggregator.PriceReceived', 'tradingStorage.FeesCharged', 'tradingStorage.OIUpdated', 'callbacks.MarketExecuted'] as const) {
      assert.ok(types.includes(expected), `${expected} in ${types.join(', ')}`);
    }
    const fill = filled.events.find(isEvent('callbacks.MarketExecuted'));
    assert.ok(fill);
    assert.equal(fill.log.address, f.addresses.tradingCallbacks);
    assert.equal(fill.args.t.trader, alice());
    assert.equal(fill.args.open, true);
    assert.ok(fill.log.blockNumber !== null && fill.log.transactionHash !== null && fill.log.logIndex !== null);

    await f.sim.setPrice(ETH, price('3100'));
    const position = await f.protocol.reads.position(alice(), ETH, 0n);
    assert.ok(position);
    await f.send(alice(), f.protocol.closeTrade({ pairIndex: ETH, index: 0n, collateralToClose: position.collateral, wantedPrice: price('3100'), executionFeeWei: 0n }));
    const block = await client().getBlockNumber({ cacheTime: 0 });
    await f.keeperTick();
    const closed = f.protocol.decodeLogs(await logsSince(block));
    const closeFill = closed.events.find(isEvent('callbacks.MarketExecuted'));
    assert.equal(closeFill?.args.open, false);
    assert.ok((closeFill?.args.usdcSentToTrader ?? 0n) > usdc('1000'));
    const charged = closed.events.find(isEvent('pairInfos.FeesCharged'));
    assert.equal(charged?.args.percentProfit, closeFill?.args.percentProfit, 'PairInfos logs the same profit');
  });

  it('decodes limit placement, update and cancel, TP/SL and margin updates, and the TP fill', async function () {
    const who = alice();
    await f.sim.call(who, 'SimUSDC', f.addresses.usdc, 'mint', [who, usdc('5000')]);
    await f.send(who, f.protocol.approveUsdc());
    await f.sim.setPrice(ETH, price('3000'));
    const base = { trader: who, pairIndex: ETH, long: true, collateral: usdc('500'), leverage: leverage('5'), slippageP: percent('1'), executionFeeWei: 0n } as const;
    const seen: AvantisEvent[] = [];
    const record = (r: TransactionReceipt) => seen.push(...f.protocol.decodeLogs(r.logs).events);

    record(await f.send(who, f.protocol.openTrade({ ...base, kind: 'limit', price: price('2900') })));
    await f.sim.mine(30);
    record(await f.send(who, f.protocol.updateLimitOrder({ pairIndex: ETH, index: 0n, long: true, price: price('2950'), slippageP: percent('1'), tp: 0n, sl: 0n })));
    await f.sim.mine(30);
    record(await f.send(who, f.protocol.cancelLimitOrder({ pairIndex: ETH, index: 0n })));
    record(await f.send(who, f.protocol.openTrade({ ...base, kind: 'market', price: price('3000') })));
    await f.keeperTick();
    await f.sim.mine(30);
    const update = f.protocol.updateTpSl({ trader: who, pairIndex: ETH, index: 0n, tp: price('3500'), sl: price('2700'), priceUpdateData: await f.sim.priceUpdateData(ETH) });
    assert.equal(update.kind, 'transaction');
    record(await f.send(who, update.call));
    record(await f.send(who, f.protocol.updateMargin({ pairIndex: ETH, index: 0n, kind: 'deposit', amount: usdc('100'), priceUpdateData: await f.sim.priceUpdateData(ETH) })));

    const placed = seen.find(isEvent('trading.OpenLimitPlaced'));
    assert.deepEqual({ price: placed?.args.openPrice, type: placed?.args.orderType, collateral: placed?.args.collateral }, { price: price('2900'), type: 2, collateral: usdc('500') });
    assert.equal(seen.find(isEvent('trading.OpenLimitUpdated'))?.args.newPrice, price('2950'));
    assert.equal(seen.find(isEvent('trading.OpenLimitCanceled'))?.args.collateral, usdc('500'));
    assert.equal(seen.find(isEvent('trading.TpUpdated'))?.args.newTp, price('3500'));
    assert.equal(seen.find(isEvent('trading.SlUpdated'))?.args.newSl, price('2700'));
    const margin = seen.find(isEvent('trading.MarginUpdated'));
    assert.equal(margin?.args._type, 0);
    assert.equal(margin.args.newTrade.trader, who);

    await f.sim.setPrice(ETH, price('3500'));
    const block = await client().getBlockNumber({ cacheTime: 0 });
    await f.keeperTick();
    const triggered = f.protocol.decodeLogs(await logsSince(block)).events;
    const tp = triggered.find(isEvent('callbacks.LimitExecuted'));
    assert.deepEqual({ kind: tp?.args.orderType, trader: tp?.args.t.trader, price: tp?.args.price }, { kind: 0, trader: who, price: price('3500') }, 'a TP fill');
    assert.equal(triggered.find(isEvent('trading.LimitOrderInitiated'))?.args.trader, who);
  });

  it('skips forged, foreign, unknown and malformed logs with a reason, never throwing', async function () {
    const { fillLogs } = await openAndFill();
    const fill = fillLogs.find((l) => l.address.toLowerCase() === f.addresses.tradingCallbacks.toLowerCase());
    assert.ok(fill);
    const decode = (log: object) => decodeAvantisLog(log as Log, f.addresses);

    const fromTrading = decode({ ...fill, address: f.addresses.trading });
    assert.equal(!fromTrading.ok && fromTrading.skipped.reason, 'unexpected-emitter', 'a fill from Trading is not a fill');
    const fromStranger = decode({ ...fill, address: '0x000000000000000000000000000000000000dEaD' });
    assert.equal(!fromStranger.ok && fromStranger.skipped.reason, 'foreign-emitter');
    const unknownTopic = decode({ ...fill, topics: [keccak256(toHex('Nothing(uint256)'))] });
    assert.equal(!unknownTopic.ok && unknownTopic.skipped.reason, 'unknown-topic');

    const truncated = decode({ ...fill, data: fill.data.slice(0, 66) });
    assert.ok(!truncated.ok && truncated.skipped.reason === 'malformed' && truncated.skipped.error instanceof ChainResponseError);
    for (const garbage of [{}, null, { address: 42, topics: 'x', data: 7 }, { ...fill, topics: [] }, { ...fill, data: 'zz' }, { ...fill, address: zeroAddress, topics: ['0x1'] }]) {
      const result = decode(garbage ?? {});
      assert.equal(result.ok, false);
    }
    const batch = f.protocol.decodeLogs([fill, { ...fill, address: f.addresses.trading }, { ...fill, data: '0x' }]);
    assert.deepEqual(
      { events: batch.events.map((e) => e.type), skipped: batch.skipped.map((s) => s.reason) },
      { events: ['callbacks.MarketExecuted'], skipped: ['unexpected-emitter', 'malformed'] },
    );
  });
});
