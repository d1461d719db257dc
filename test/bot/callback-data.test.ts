import assert from 'node:assert/strict';
import { BadInputError } from '../../src/errors.ts';
import { MAX_CALLBACK_BYTES, decodeCallback, encodeCallback } from '../../src/bot/callback-data.ts';

const KNOWN = { 'p.close': 1, 'p.half': 1, 'o.confirm': 2 } as const;

describe('callback data', () => {
  it('round-trips an action and stays within Telegram\'s 64 bytes', () => {
    const data = encodeCallback({ action: 'o.confirm', args: ['0f3a9c', 'long'] });
    assert.equal(data, 'o.confirm:0f3a9c:long');
    assert.deepEqual(decodeCallback(data, KNOWN), { action: 'o.confirm', args: ['0f3a9c', 'long'] });
  });

  it('refuses to build a button that Telegram would reject', () => {
    assert.throws(() => encodeCallback({ action: 'p.close', args: ['x'.repeat(32), 'y'.repeat(32)] }), new RegExp(`Telegram allows ${MAX_CALLBACK_BYTES}`));
    assert.throws(() => encodeCallback({ action: 'p.close', args: ['has:colon'] }), /must be 1–32/);
    assert.throws(() => encodeCallback({ action: 'p.close', args: ['ünï'] }), /must be 1–32/);
  });

  it('refuses forged or stale presses with a clear message and no side effect', () => {
    for (const bad of ['', 'p.close', 'p.close:a:b', 'x.drop:1', 'p.close:../../etc', '__proto__:1', 'constructor:1', 'p.close:' + 'a'.repeat(80), 42, null, undefined]) {
      assert.throws(() => decodeCallback(bad, KNOWN), (e: unknown) => e instanceof BadInputError && /not valid any more/.test(e.message), String(bad));
    }
  });
});
