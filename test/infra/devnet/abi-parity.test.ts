/**
 * The simulator must be indistinguishable from Avantis v1 at the ABI level (AVANTIS.md §8.3):
 * same selectors, same struct layouts and return types, same event topic0 and indexed flags, and
 * each event declared by the contract that emits it on mainnet. Reference: the v1 ABIs shipped in
 * src/infra/chain/abi/v1 (copies of the shared set, checked byte for byte when it is present).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { toEventSelector, toFunctionSelector, type Abi, type AbiEvent, type AbiFunction, type AbiParameter } from 'viem';
import { abiOf, type SimulatorContract } from '../../../src/infra/devnet/artifacts.ts';
import { referenceAbi } from './fixture.ts';

const SHARED_ABI_DIR = '/work/shared/reference/avantis-v1-abi';
const PROJECT_ABI_DIR = path.join(import.meta.dirname, '../../../src/infra/chain/abi/v1');

interface Surface {
  readonly simulator: SimulatorContract;
  readonly reference: string;
  readonly functions: readonly string[];
  readonly events: readonly string[];
}

/** AVANTIS.md §8.3, items 2–8, plus the reads the devnet keeper and the SDK use. */
const SURFACE: readonly Surface[] = [
  {
    simulator: 'TradingStorage',
    reference: 'TradingStorage',
    functions: [
      'openTrades', 'openTradesCount', 'openTradesInfo', 'getOpenLimitOrder', 'getOpenLimitOrders', 'openLimitOrdersCount',
      'hasOpenLimitOrder', 'firstEmptyTradeIndex', 'firstEmptyOpenLimitIndex', 'getPendingOrderIds', 'pendingOrderIdsCount',
      'pendingOrderIds', 'reqIDpendingMarketOrder', 'pendingMarketOpenCount', 'pendingMarketCloseCount', 'maxTradesPerPair',
      'maxPendingMarketOrders', 'openInterestUSDC', 'pairLongOI', 'pairShortOI', 'pairOI', 'totalOI', 'walletOI', 'usdc',
      'trading', 'callbacks', 'priceAggregator', 'vaultManager', 'govFeesUSDC', 'pairTradersArray', 'openLimitOrders',
    ],
    events: ['OIUpdated', 'FeesCharged', 'MarketOpenCanceled'],
  },
  {
    simulator: 'Trading',
    reference: 'Trading',
    functions: [
      'openTrade', 'closeTradeMarket', 'updateOpenLimitOrder', 'cancelOpenLimitOrder', 'updateTpAndSl', 'updateSl',
      'updateMargin', 'setDelegate', 'removeDelegate', 'delegations', 'delegatedAction', 'executeMarketOrders',
      'executeLimitOrder', 'cancelPendingMarketOrder', 'limitOrdersTimelock', 'isOperator', 'operator', 'storageT',
      'pairInfos', 'paused', '_MAX_SLIPPAGE', '__msgSender',
    ],
    events: ['MarketOrderInitiated', 'OpenLimitPlaced', 'OpenLimitUpdated', 'OpenLimitCanceled', 'TpUpdated', 'SlUpdated', 'MarginUpdated', 'LimitOrderInitiated'],
  },
  { simulator: 'TradingCallbacks', reference: 'TradingCallbacks', functions: ['storageT', 'pairInfos'], events: ['MarketExecuted', 'LimitExecuted', 'MarketOpenCanceled'] },
  {
    simulator: 'PairStorage',
    reference: 'PairStorage',
    functions: [
      'pairsCount', 'pairs', 'getPairData', 'pairMinLeverage', 'pairMaxLeverage', 'pairSpreadP', 'pairCloseFeeP',
      'pairOpenFeeP', 'pairLimitOrderFeeP', 'pairMinLevPosUSDC', 'pairGroupIndex', 'groups', 'groupsCount', 'fees', 'feesCount',
      'pairFeed', 'pairBackupFeed', 'correctTp', 'correctSl', 'currentPercentProfit', 'addGroup', 'addFee', 'addPair', 'setPairData',
    ],
    events: [],
  },
  {
    simulator: 'PairInfos',
    reference: 'PairInfos',
    functions: ['getTradeLiquidationPrice', 'getTradeLiquidationPricePure', 'getTradeRolloverFee', 'getTradeRolloverFeePure', 'getTradeValuePure', 'getTradeValue', 'liqThreshold'],
    events: ['FeesCharged'],
  },
  { simulator: 'PriceAggregator', reference: 'PriceAggregator', functions: ['openFeeP', 'pyth', 'pairsStorage', 'chainlinkValidityPeriod'], events: ['PriceReceived'] },
];

/** Canonical type of a parameter, with tuples expanded: what selectors and decoding depend on. */
function typeOf(p: AbiParameter): string {
  if (p.type.startsWith('tuple')) {
    const components = (p as { components: readonly AbiParameter[] }).components;
    return `(${components.map(typeOf).join(',')})${p.type.slice('tuple'.length)}`;
  }
  return p.type;
}

function functionShape(f: AbiFunction): string {
  const payable = f.stateMutability === 'payable' ? 'payable' : f.stateMutability === 'nonpayable' ? 'nonpayable' : 'read';
  return `${toFunctionSelector(f)} ${f.name}(${f.inputs.map(typeOf).join(',')}) -> (${f.outputs.map(typeOf).join(',')}) ${payable}`;
}

function eventShape(e: AbiEvent): string {
  return `${toEventSelector(e)} ${e.name}(${e.inputs.map((i) => `${typeOf(i)}${i.indexed ? ' indexed' : ''}`).join(',')})`;
}

const functionsNamed = (abi: Abi, name: string) => abi.filter((i): i is AbiFunction => i.type === 'function' && i.name === name);
const eventsNamed = (abi: Abi, name: string) => abi.filter((i): i is AbiEvent => i.type === 'event' && i.name === name);

describe('devnet Avantis simulator: ABI parity with v1', function () {
  it('ships byte-identical copies of the shared v1 ABIs', function () {
    if (!existsSync(SHARED_ABI_DIR)) this.skip();
    for (const surface of SURFACE) {
      const file = `${surface.reference}.json`;
      assert.equal(readFileSync(path.join(PROJECT_ABI_DIR, file), 'utf8'), readFileSync(path.join(SHARED_ABI_DIR, file), 'utf8'), file);
    }
  });

  for (const surface of SURFACE) {
    describe(surface.simulator, function () {
      const simulator = abiOf(surface.simulator);
      const reference = referenceAbi(surface.reference);

      it('has every v1 function of the surface, overloads included, with the same selector and types', function () {
        for (const name of surface.functions) {
          const expected = functionsNamed(reference, name).map(functionShape).sort();
          assert.ok(expected.length > 0, `${name} is in the v1 ABI`);
          assert.deepEqual(functionsNamed(simulator, name).map(functionShape).sort(), expected, name);
        }
      });

      it('declares every v1 event it must emit, with the same topic0 and indexed flags', function () {
        for (const name of surface.events) {
          const expected = eventsNamed(reference, name).map(eventShape);
          assert.ok(expected.length > 0, `${name} is in the v1 ABI`);
          assert.deepEqual(eventsNamed(simulator, name).map(eventShape), expected, name);
        }
      });

      it('has no function or event that shares a v1 name but not its signature', function () {
        for (const item of simulator) {
          if (item.type === 'function' && functionsNamed(reference, item.name).length > 0) {
            assert.ok(functionsNamed(reference, item.name).map(functionShape).includes(functionShape(item)), functionShape(item));
          }
          if (item.type === 'event' && eventsNamed(reference, item.name).length > 0) {
            assert.ok(eventsNamed(reference, item.name).map(eventShape).includes(eventShape(item)), eventShape(item));
          }
        }
      });
    });
  }

  it('emits each v1 event from the contract that emits it on mainnet', function () {
    const emitters: Record<string, SimulatorContract> = {
      MarketOrderInitiated: 'Trading',
      OpenLimitPlaced: 'Trading',
      OpenLimitUpdated: 'Trading',
      OpenLimitCanceled: 'Trading',
      TpUpdated: 'Trading',
      LimitOrderInitiated: 'Trading',
      MarketExecuted: 'TradingCallbacks',
      LimitExecuted: 'TradingCallbacks',
      OIUpdated: 'TradingStorage',
      PriceReceived: 'PriceAggregator',
    };
    const all: SimulatorContract[] = ['Trading', 'TradingCallbacks', 'TradingStorage', 'PairStorage', 'PairInfos', 'PriceAggregator', 'SimVaultManager'];
    for (const [event, emitter] of Object.entries(emitters)) {
      const declaredBy = all.filter((c) => eventsNamed(abiOf(c), event).length > 0);
      assert.deepEqual(declaredBy, [emitter], `${event} is declared only by ${emitter}`);
    }
  });

  it('matches the selectors and topics AVANTIS.md lists (independent spot check)', function () {
    const trading = abiOf('Trading');
    const callbacks = abiOf('TradingCallbacks');
    const selector = (abi: Abi, name: string, inputs: number) => toFunctionSelector(functionsNamed(abi, name).find((f) => f.inputs.length === inputs) as AbiFunction);
    const topic = (abi: Abi, name: string) => toEventSelector(eventsNamed(abi, name)[0] as AbiEvent);
    assert.equal(selector(trading, 'openTrade', 3), '0x19cde9a1');
    assert.equal(selector(trading, 'closeTradeMarket', 3), '0x2c3cbce4');
    assert.equal(selector(trading, 'updateTpAndSl', 6), '0x8dffdc3c');
    assert.equal(selector(trading, 'updateMargin', 6), '0xb9fe2af3');
    assert.equal(selector(trading, 'executeMarketOrders', 4), '0x53e8840c');
    assert.equal(selector(trading, 'executeLimitOrder', 7), '0xc3bd7f39');
    assert.equal(selector(trading, 'delegatedAction', 2), '0x9a10cc32');
    assert.equal(topic(trading, 'MarketOrderInitiated'), '0x9d20fe25d5b18ddf053eb042d606b6f438ec532c9978753d5284b6128063a1bd');
    assert.equal(topic(trading, 'MarginUpdated'), '0x48452067591e9581b9c1f3135e16ae22829a7c8afc6b3d6a1afa2cd295cc1133');
    assert.equal(topic(callbacks, 'MarketExecuted'), '0x5c00d8b4c6c92b4922d1bd61ef722ec9a29169acb95d956676b07be6a6643eea');
    assert.equal(topic(callbacks, 'LimitExecuted'), '0xbf3d234454deff88435a11abb8501124ff9e6923fd2fdfc730d83474b6ffbe2c');
    assert.equal(topic(callbacks, 'MarketOpenCanceled'), '0x4b2ef4d80a0964a9a8f43256d8111558389b384d2029743c1eeb6950b14d9c65');
    assert.equal(topic(abiOf('TradingStorage'), 'OIUpdated'), '0xcadf7ed5daaec5b514975523d89eb6ebbbd5d892bc7a5bbf71c5fca021975457');
    assert.equal(topic(abiOf('PriceAggregator'), 'PriceReceived'), '0x153ed01a0a6e506afbb501e4c353ea1c06dd65f8e1e9cb7afe44416e1dd77516');
  });
});
