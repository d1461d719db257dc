import assert from 'node:assert/strict';
import { decideOnFailure } from '../../src/machines/supervision.ts';

const policy = { maxRestarts: 3, windowMs: 10_000, backoffBaseMs: 100, backoffMaxMs: 350 };

describe('supervision policy', () => {
  it('restarts with exponential backoff capped at the maximum', () => {
    let failures: readonly number[] = [];
    const delays: number[] = [];
    for (const now of [1_000, 2_000, 3_000]) {
      const result = decideOnFailure(failures, now, policy);
      failures = result.failures;
      assert.equal(result.decision.type, 'restart');
      if (result.decision.type === 'restart') delays.push(result.decision.delayMs);
    }
    assert.deepEqual(delays, [100, 200, 350]);
  });

  it('quarantines once failures within the window exceed the limit', () => {
    const result = decideOnFailure([1_000, 2_000, 3_000], 4_000, policy);
    assert.deepEqual(result.decision, { type: 'quarantine', failuresInWindow: 4 });
  });

  it('forgets failures older than the window', () => {
    const result = decideOnFailure([1_000, 2_000, 3_000], 12_500, policy);
    assert.deepEqual(result.failures, [3_000, 12_500]);
    assert.deepEqual(result.decision, { type: 'restart', delayMs: 200, attempt: 2 });
  });
});
