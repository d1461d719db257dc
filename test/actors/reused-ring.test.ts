import assert from 'node:assert/strict';
import { ReusedRing } from '../../src/actors/reused-ring.ts';

interface Slot {
  n: number;
}
const fill = (slot: Slot, n: number) => {
  slot.n = n;
};
const create = (n: number): Slot => ({ n });

describe('actors/reused-ring: the most recent records, without garbage once full', () => {
  it('keeps the newest records in order, with their sequence numbers, across wrap-around', () => {
    const ring = new ReusedRing<Slot>(3);
    for (let n = 0; n < 7; n++) ring.write(fill, create, n);
    assert.equal(ring.written, 7);
    assert.equal(ring.size, 3);
    assert.deepEqual(ring.since(0), [{ n: 4, seq: 4 }, { n: 5, seq: 5 }, { n: 6, seq: 6 }], 'older records are gone');
    assert.deepEqual(ring.since(6), [{ n: 6, seq: 6 }]);
    assert.deepEqual(ring.since(7), []);
    assert.deepEqual(ring.newest(2), [{ n: 5 }, { n: 6 }]);
    assert.deepEqual(ring.newest(99), [{ n: 4 }, { n: 5 }, { n: 6 }]);
    assert.deepEqual(ring.newest(-1), []);
  });

  it('creates a slot only while filling, then reuses them; readers get copies', () => {
    const ring = new ReusedRing<Slot>(2);
    let created = 0;
    const counting = (n: number) => {
      created += 1;
      return { n };
    };
    for (let n = 0; n < 100; n++) ring.write(fill, counting, n);
    assert.equal(created, 2);
    const copy = ring.newest(1)[0]!;
    copy.n = -1;
    assert.deepEqual(ring.newest(1), [{ n: 99 }], 'changing a copy changes nothing held');
  });

  it('refuses a capacity that is not a positive whole number', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => new ReusedRing<Slot>(bad, 'test ring'), /test ring capacity/);
  });
});
