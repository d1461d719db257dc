import assert from 'node:assert/strict';
import { revertReason } from '../../../../src/infra/chain/tx/pipeline.ts';

describe('revert reasons', () => {
  it('finds the reason in each shape nodes and viem use, and says null when it was no revert', () => {
    const cases: [string, string | null][] = [
      ['Execution reverted with reason: LEVERAGE_INCORRECT.\n\nEstimate Gas Arguments:\n  from: 0x1', 'LEVERAGE_INCORRECT'],
      ['execution reverted: NO_TRADE', 'NO_TRADE'],
      ["VM Exception while processing transaction: reverted with reason string 'WRONG_TP'", 'WRONG_TP'],
      ['The contract function "openTrade" reverted with the following reason:\nBELOW_MIN_POS', 'BELOW_MIN_POS'],
      ['execution reverted', 'reverted without a reason'],
      ['fetch failed: connect ECONNREFUSED 127.0.0.1:8545', null],
    ];
    for (const [message, expected] of cases) assert.equal(revertReason(new Error(message)), expected, message);
  });
});
