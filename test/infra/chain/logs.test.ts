import assert from 'node:assert/strict';
import { createLogScanner, isRangeRefusal } from '../../../src/infra/chain/logs.ts';

/** An eth_getLogs double that refuses spans over `max` blocks with `message`, and records what it served. */
function limitedRpc(max: bigint, message = 'query exceeds max block range 2000') {
  const served: [bigint, bigint][] = [];
  let refused = 0;
  let failNext: Error | null = null;
  return {
    served,
    get refused() {
      return refused;
    },
    failOnce(error: Error) {
      failNext = error;
    },
    request: ({ method, params }: { method: string; params: [{ fromBlock: string; toBlock: string; topics: unknown; address: unknown }] }) => {
      assert.equal(method, 'eth_getLogs');
      if (failNext) {
        const error = failNext;
        failNext = null;
        return Promise.reject(error);
      }
      const from = BigInt(params[0].fromBlock);
      const to = BigInt(params[0].toBlock);
      if (to - from + 1n > max) {
        refused += 1;
        return Promise.reject(new Error(message));
      }
      served.push([from, to]);
      // One log in block 7_777, whatever was asked, to let the visitor stop there.
      return Promise.resolve(
        from <= 7_777n && 7_777n <= to
          ? [{ address: '0x0000000000000000000000000000000000000001', topics: ['0x' + '11'.repeat(32)], data: '0x', blockNumber: '0x1e61', transactionHash: '0x' + '22'.repeat(32), logIndex: '0x0', blockHash: '0x' + '33'.repeat(32), transactionIndex: '0x0', removed: false }]
          : [],
      );
    },
  };
}

const QUERY = { addresses: ['0x0000000000000000000000000000000000000001' as const], topics0: [`0x${'11'.repeat(32)}` as const] };

describe('log scanner: any span, through RPCs that cap eth_getLogs ranges', () => {
  it('halves the range when the RPC refuses it, keeps the width it learned, and visits every block once, in order', async () => {
    const rpc = limitedRpc(300n);
    const scanner = createLogScanner(rpc as never, { initialRange: 2_000n });
    const chunks: bigint[] = [];
    const stopped = await scanner.scan(QUERY, 1_000n, 5_000n, (_logs, chunkTo) => (chunks.push(chunkTo), false));
    assert.equal(stopped, false);
    assert.equal(scanner.range, 250n, '2000 → 1000 → 500 → 250 blocks');
    assert.equal(rpc.refused, 3, 'refused once per halving, then never again');
    const covered = rpc.served.flatMap(([a, b]) => Array.from({ length: Number(b - a + 1n) }, (_, i) => a + BigInt(i)));
    assert.equal(covered.length, 4_001);
    assert.deepEqual(covered, [...covered].sort((a, b) => Number(a - b)));
    assert.equal(covered[0], 1_000n);
    assert.equal(covered.at(-1), 5_000n);
    assert.equal(chunks.at(-1), 5_000n);
  });

  it('stops where the visitor found what it was looking for, and hands over decoded logs', async () => {
    const rpc = limitedRpc(10_000n);
    const scanner = createLogScanner(rpc as never, { initialRange: 1_000n });
    let found: bigint | null = null;
    const stopped = await scanner.scan(QUERY, 5_000n, 20_000n, (logs) => {
      if (logs.length) found = logs[0]!.blockNumber;
      return logs.length > 0;
    });
    assert.equal(stopped, true);
    assert.equal(found, 7_777n, 'block numbers arrive as bigint, as the decoders expect');
    assert.equal(rpc.served.at(-1)![1], 7_999n, 'nothing read past the chunk that had it');
  });

  it('recognises the ways providers say a range is too wide, and nothing else', () => {
    for (const message of [
      'Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range',
      'query returned more than 10000 results',
      'eth_getLogs is limited to a 10,000 range',
      'block range is too wide',
      'exceed maximum block range: 2000',
      'query exceeds max block range 500',
    ]) {
      assert.ok(isRangeRefusal(new Error(message)), message);
    }
    for (const message of ['connect ECONNREFUSED 127.0.0.1:8545', 'header not found', 'Internal error']) assert.ok(!isRangeRefusal(new Error(message)), message);
  });

  it('reports any other failure as a retryable RPC error, and a one-block refusal as a failure, not a loop', async () => {
    const rpc = limitedRpc(0n, 'block range too large');
    const scanner = createLogScanner(rpc as never);
    await assert.rejects(scanner.scan(QUERY, 1n, 50n, () => false), { code: 'RPC_UNAVAILABLE', retryable: true });
    const flaky = limitedRpc(100n);
    flaky.failOnce(new Error('connect ECONNREFUSED'));
    await assert.rejects(createLogScanner(flaky as never).scan(QUERY, 1n, 50n, () => false), /Reading logs of blocks 1–50 failed \(connect ECONNREFUSED\)/);
  });
});
