import assert from 'node:assert/strict';
import { displayPrice } from '../../src/bot/render.ts';

describe('bot/render: prices as a trader reads them', () => {
  it('rounds for display only, on the decimal string, never through a float', () => {
    assert.equal(displayPrice('2995.11881108'), '2995.12');
    assert.equal(displayPrice('60155.46410961'), '60155.46');
    assert.equal(displayPrice('30.00506137'), '30.0051');
    assert.equal(displayPrice('0.14963598'), '0.149636');
    assert.equal(displayPrice('0.0000123456789'), '0.0000123457');
    assert.equal(displayPrice('1.99999999'), '2');
    assert.equal(displayPrice('999.99999'), '1000');
    assert.equal(displayPrice('3000'), '3000');
    assert.equal(displayPrice('-12.345678'), '-12.3457');
    assert.equal(displayPrice(null), '—');
    assert.equal(displayPrice('not a number'), 'not a number');
  });
});
