import assert from 'node:assert/strict';
import { BadInputError } from '../../../../src/errors.ts';
import { limitOrderFromJson, limitOrderToJson, pendingOrderFromJson, pendingOrderToJson, positionFromJson } from '../../../../src/infra/chain/avantis/json.ts';
import { executionFee, EXECUTION_FEE_FALLBACK_WEI, liquidationPrice, marginUpdate, notional } from '../../../../src/infra/chain/avantis/math.ts';
import type { OpenLimitOrder, PendingMarketOrder } from '../../../../src/infra/chain/avantis/types.ts';
import { formatUnit, leverage, parseUnit, percent, price, usdc } from '../../../../src/infra/chain/avantis/units.ts';

const TRADER = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';

describe('Avantis units, JSON forms and math input checks', function () {
  it('parses decimal strings into each unit exactly', function () {
    assert.equal(usdc('100'), 100_000_000n);
    assert.equal(usdc('0.000001'), 1n);
    assert.equal(price('3000.25'), 30_002_500_000_000n);
    assert.equal(leverage('10'), 100_000_000_000n);
    assert.equal(percent('0.045'), 450_000_000n);
    assert.equal(parseUnit('percent', '-100', { allowNegative: true }), -1_000_000_000_000n);
  });

  it('refuses malformed amounts with a BadInputError naming the problem', function () {
    for (const bad of ['', ' 1', '1 ', '1e3', '1,000', '0x10', '+5', '.5', '5.', 'NaN', '١٢', '1.2.3']) {
      assert.throws(() => usdc(bad), (e: unknown) => e instanceof BadInputError && /Not a usdc amount/.test(e.message), JSON.stringify(bad));
    }
    assert.throws(() => usdc('1.0000001'), /Too many decimals for usdc: "1.0000001" has 7, the most is 6/);
    assert.throws(() => price('-3'), /cannot be negative/);
    assert.throws(() => parseUnit('usdc', 5 as unknown as string), BadInputError);
  });

  it('formats back to the shortest exact string, round-tripping', function () {
    for (const [unit, text] of [['usdc', '995.5'], ['price', '0.0000000001'], ['leverage', '7.5'], ['percent', '-12.3456789012'], ['usdc', '0']] as const) {
      assert.equal(formatUnit(unit, parseUnit(unit, text, { allowNegative: true })), text);
    }
  });

  it('limit and pending orders survive JSON; corrupt snapshots are refused', function () {
    const order: OpenLimitOrder = { trader: TRADER, pairIndex: 0n, index: 2n, positionSize: usdc('400'), buy: true, leverage: leverage('5'), tp: price('3300'), sl: 0n, price: price('2950'), slippageP: percent('1'), block: 123n, executionFee: 350_000_000_000_000n };
    assert.deepEqual(limitOrderFromJson(JSON.parse(JSON.stringify(limitOrderToJson(order)))), order);
    const pending: PendingMarketOrder = {
      orderId: 9n,
      open: true,
      block: 77n,
      wantedPrice: price('3000'),
      slippageP: percent('1'),
      trade: { trader: TRADER, pairIndex: 1n, index: 0n, initialPosToken: 0n, positionSizeUSDC: usdc('10'), openPrice: price('3000'), buy: false, leverage: leverage('3'), tp: 0n, sl: 0n, timestamp: 0n },
    };
    assert.deepEqual(pendingOrderFromJson(JSON.parse(JSON.stringify(pendingOrderToJson(pending)))), pending);

    const json = limitOrderToJson(order) as unknown as Record<string, unknown>;
    assert.throws(() => limitOrderFromJson({ ...json, positionSize: 400 }), /positionSize must be a decimal string/);
    assert.throws(() => limitOrderFromJson({ ...json, trader: 'bob' }), /trader must be an address/);
    assert.throws(() => limitOrderFromJson({ ...json, buy: 'yes' }), /buy must be true or false/);
    assert.throws(() => limitOrderFromJson({ ...json, block: '12.5' }), /block is not an integer string/);
    assert.throws(() => positionFromJson(null), /not an object/);
  });

  it('math refuses impossible inputs instead of dividing by zero', function () {
    assert.throws(() => notional(usdc('10'), 0n), /leverage must be a positive integer/);
    assert.throws(() => liquidationPrice({ openPrice: price('1'), long: true, collateral: 0n, leverage: leverage('2') }), BadInputError);
    assert.throws(() => marginUpdate({ notional: usdc('1000'), collateral: usdc('100'), amount: usdc('100'), kind: 'withdraw' }), /close the position instead/);
    assert.throws(() => executionFee(-1n), BadInputError);
  });

  it('execution fee follows the SDK formula (935,000 × gas price + 5 gwei)', function () {
    assert.equal(executionFee(1_000_000_000n), 935_000n * 1_000_000_000n + 5_000_000_000n);
    assert.equal(EXECUTION_FEE_FALLBACK_WEI, 350_000_000_000_000n);
  });
});
