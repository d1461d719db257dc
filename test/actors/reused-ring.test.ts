import assert from 'node:assert/strict';
import { ReusedRing } from '../../src/actors/reused-ring.ts';

interface Slot {
  n: number;
}
/** How the rings built on it write: fill a reused slot, or commit a new record while filling. */
function write(ring: ReusedRing<Slot>, n: number, create = (v: number): Slot => ({ n: v })): void {
  const slot = ring.nextSlot();
  if (!slot) return ring.commit(create(n));
  slot.n = n;
  ring.commit();
}

describe('actors/reused-ring: the most recent records, without garbage once full', () => {
  it('keeps the newest records in order, with their sequence numbers, across wrap-around', () => {
    const ring = new ReusedRing<Slot>(3);
    for (let n = 0; n < 7; n++) write(ring, n);
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
    for (let n = 0; n < 100; n++) write(ring, n, counting);
    assert.equal(created, 2);
    const copy = ring.newest(1)[0]!;
    copy.n = -1;
    assert.deepEqual(ring.newest(1), [{ n: 99 }], 'changing a copy changes nothing held');
  });

  it('refuses a capacity that is not a positive whole number', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => new ReusedRing<Slot>(bad, 'test ring'), /test ring capacity/);
  });
});
