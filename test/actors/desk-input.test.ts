import assert from 'node:assert/strict';
import { parseCollateral, parseLeverage, resolvePair } from '../../src/actors/desk-input.ts';
import { BadInputError } from '../../src/errors.ts';
import { PAIRS } from '../../src/infra/devnet/pairs.ts';

/** The pure parsing behind the desk's refusals (the devnet test drives them through the desk). */
describe('desk input: what traders type', () => {
  const pairs = PAIRS.map((p) => ({ name: `${p.from}/${p.to}` }));

  it('finds a pair however it is written, and only when it is unambiguous', () => {
    for (const typed of ['eth', 'ETH', 'eth/usd', 'ETH/USD', ' Eth-Usd ', 'eth_usd', 'eth usd', 'ethusd', 'ETH:USD']) {
      assert.equal(resolvePair(typed, pairs).name, 'ETH/USD', typed);
    }
    assert.equal(resolvePair('jpy', pairs).name, 'USD/JPY', 'the one pair that quotes the yen');
    assert.equal(resolvePair('usd/chf', pairs).name, 'USD/CHF');
    for (const typed of ['usd', 'ETH/BTC', 'eth/', '', '🚀', 'e'.repeat(5000), 42, null]) {
      assert.throws(() => resolvePair(typed, pairs), (err: unknown) => err instanceof BadInputError && /^Unknown pair .*\. Try one of ETH\/USD, BTC\/USD/.test(err.message) && err.message.length < 200);
    }
  });

  it('reads collateral as exact USDC units and leverage as the protocol’s 1e10', () => {
    assert.equal(parseCollateral('100'), 100_000_000n);
    assert.equal(parseCollateral(' 25.5 '), 25_500_000n);
    assert.equal(parseCollateral('0.000001'), 1n);
    assert.equal(parseCollateral('999999999999.999999'), 999_999_999_999_999_999n);
    assert.equal(parseLeverage(10), 100_000_000_000n);
    assert.equal(parseLeverage(7.5), 75_000_000_000n);
    for (const bad of ['1e2', '+5', '.5', '5.', '0x10', '١٠٠', '10 USDC', '1_000']) assert.throws(() => parseCollateral(bad), BadInputError, bad);
    for (const bad of [1e21, -1, 1.005, 10_000, Number.MIN_VALUE]) assert.throws(() => parseLeverage(bad), BadInputError, String(bad));
  });
});
