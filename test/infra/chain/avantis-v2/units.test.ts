import assert from 'node:assert/strict';
import { BadInputError } from '../../../../src/errors.ts';
import { coinExposureToRaw, fromRaw, leverageToRaw, MAX_UINT256, percentageToRaw, priceToRaw, slippagePercentToRaw, toRaw, usdcToRaw } from '../../../../src/infra/chain/avantis-v2/units.ts';

describe('Avantis v2 units: exact decimal scaling (§3)', function () {
  it('scales good values exactly', function () {
    assert.equal(usdcToRaw('100'), 100_000_000n);
    assert.equal(usdcToRaw('0.000001'), 1n);
    assert.equal(usdcToRaw('0'), 0n);
    assert.equal(priceToRaw('3500.5'), 35_005_000_000_000n);
    assert.equal(leverageToRaw('10'), 100_000_000_000n);
    assert.equal(slippagePercentToRaw('1'), 10_000_000_000n);
    assert.equal(percentageToRaw('-2.5'), -25_000_000_000n);
    assert.equal(coinExposureToRaw('0.5'), 5_000_000_000n);
    assert.equal(priceToRaw('0.0000000001'), 1n);
  });

  it('0.0003 × 1e10 is 3000000, not the 2999999 a binary float gives', function () {
    assert.equal(Math.trunc(0.0003 * 1e10), 2999999); // the trap, as the reference states it
    assert.equal(priceToRaw('0.0003'), 3_000_000n);
    assert.equal(coinExposureToRaw('0.0003'), 3_000_000n);
    for (const text of ['0.1', '0.3', '1.005', '4.35', '0.0003']) assert.equal(fromRaw('price', priceToRaw(text)), text);
  });

  it('refuses garbage, negatives, exponents, too many decimals, huge values and non-ASCII digits with BadInputError', function () {
    const refused: [string, () => bigint][] = [
      ['NaN', () => usdcToRaw('NaN')],
      ['empty', () => usdcToRaw('')],
      ['-1', () => usdcToRaw('-1')],
      ['1e5', () => usdcToRaw('1e5')],
      ['1.0000001 USDC (7 decimals)', () => usdcToRaw('1.0000001')],
      ['11 decimals of price', () => priceToRaw('1.00000000001')],
      ['huge (over uint256)', () => priceToRaw('9'.repeat(80))],
      ['longer than 100 characters', () => usdcToRaw('1'.repeat(101))],
      ['full-width digits', () => usdcToRaw('１００')],
      ['Arabic-Indic digits', () => usdcToRaw('١٢')],
      ['superscript two', () => usdcToRaw('²')],
      ['Infinity', () => usdcToRaw('Infinity')],
      ['spaces', () => usdcToRaw(' 1')],
      ['thousands separator', () => usdcToRaw('1,000')],
      ['hex', () => usdcToRaw('0x10')],
      ['plus sign', () => usdcToRaw('+5')],
      ['leading point', () => usdcToRaw('.5')],
      ['trailing point', () => usdcToRaw('5.')],
      ['two points', () => usdcToRaw('1.2.3')],
      ['a number, not a string', () => usdcToRaw(5 as unknown as string)],
      ['undefined', () => toRaw('usdc', undefined as unknown as string)],
      ['int256 overflow', () => percentageToRaw(`-${'9'.repeat(78)}`)],
    ];
    for (const [what, parse] of refused) assert.throws(parse, (e: unknown) => e instanceof BadInputError && e.code === 'BAD_INPUT', what);
    assert.throws(() => usdcToRaw('1.0000001'), /Too many decimals for usdc: "1.0000001" has 7, the most is 6/);
    assert.throws(() => usdcToRaw('-1'), /cannot be negative/);
  });

  it('accepts the largest uint256 and nothing above it', function () {
    assert.equal(toRaw('usdc', `${MAX_UINT256 / 10n ** 6n}`), (MAX_UINT256 / 10n ** 6n) * 10n ** 6n);
    assert.throws(() => toRaw('usdc', `${MAX_UINT256 / 10n ** 6n + 1n}`), BadInputError);
  });
});
