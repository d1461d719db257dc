import assert from 'node:assert/strict';
import { BadInputError } from '../../src/errors.ts';
import { parseLeverage, parseTextOrder, parseUsdc, parseUserId } from '../../src/bot/parse.ts';

describe('bot/parse: what a trader types', () => {
  it('reads quick orders in the documented forms', () => {
    assert.deepEqual(parseTextOrder('long eth 100 10x'), { side: 'long', pair: 'ETH', collateral: '100', leverage: 10 });
    assert.deepEqual(parseTextOrder('short btc 50 @5x'), { side: 'short', pair: 'BTC', collateral: '50', leverage: 5 });
    assert.deepEqual(parseTextOrder('  BUY  ETH/USD  $25.50   x3 '), { side: 'long', pair: 'ETH/USD', collateral: '25.5', leverage: 3 });
    assert.deepEqual(parseTextOrder('sell sol 10usdc 2.5'), { side: 'short', pair: 'SOL', collateral: '10', leverage: 2.5 });
  });

  it('leaves text that is not an order to other handlers', () => {
    assert.equal(parseTextOrder('hello there'), null);
    assert.equal(parseTextOrder('🚀🚀🚀'), null);
    assert.equal(parseTextOrder('x'.repeat(5000)), null);
  });

  it('refuses malformed orders with a message that shows the right form', () => {
    for (const bad of ['long eth', 'long eth 100', 'long eth abc 10x', 'long eth -5 10x', 'long eth NaN 10x', 'long eth 1e9 10x', 'long eth 100 0x', 'long eth 100 -3x', 'long eth 1.1234567 5x', 'long eth 100 Infinityx', 'long 🚀 100 5x']) {
      assert.throws(() => parseTextOrder(bad), (e: unknown) => e instanceof BadInputError && /order|amount|leverage|collateral/i.test(e.message), bad);
    }
  });

  it('amounts: canonical decimals, at most 6 decimals, more than zero, no exponents or huge values', () => {
    assert.equal(parseUsdc('100.500'), '100.5');
    assert.equal(parseUsdc('0.000001'), '0.000001');
    assert.equal(parseUsdc('1,000'), '1000');
    for (const bad of ['0', '0.0', '-1', 'NaN', 'Infinity', '1e3', '9999999999999', '1.0000001', '', ' ', '١٢٣']) {
      assert.throws(() => parseUsdc(bad), BadInputError, bad);
    }
  });

  it('leverage and user ids', () => {
    assert.equal(parseLeverage('10x'), 10);
    assert.equal(parseLeverage('@5'), 5);
    assert.equal(parseLeverage('x2.5'), 2.5);
    for (const bad of ['0', '-2', 'abc', '99999', '1.234', 'NaN']) assert.throws(() => parseLeverage(bad), BadInputError, bad);
    assert.equal(parseUserId('123456789'), 123456789);
    for (const bad of [undefined, '', 'abc', '-5', '0', '1'.repeat(20)]) assert.throws(() => parseUserId(bad), BadInputError, String(bad));
  });
});
