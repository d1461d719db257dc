import assert from 'node:assert/strict';
import { createPublicClient, custom, type PublicClient } from 'viem';
import { FencedError } from '../../../src/errors.ts';
import { fencedChainClient } from '../../../src/infra/chain/fenced-client.ts';
import { OWNED_OUTRIGHT, type Fence } from '../../../src/infra/db/fence.ts';

/** A node that records every request it receives. */
function node(): { client: PublicClient; methods: string[] } {
  const methods: string[] = [];
  const client = createPublicClient({
    transport: custom({
      request: ({ method }: { method: string }) => {
        methods.push(method);
        if (method === 'eth_blockNumber') return Promise.resolve('0x10');
        if (method === 'eth_sendRawTransaction') return Promise.resolve(`0x${'ab'.repeat(32)}`);
        return Promise.reject(new Error(`unexpected ${method}`));
      },
    }),
  }) as PublicClient;
  return { client, methods };
}

function fence(held: { value: boolean }): Fence {
  return {
    epoch: 7,
    sql: 'false',
    assert: (what) => (held.value ? Promise.resolve() : Promise.reject(new FencedError(7, what))),
  };
}

describe('fenced chain client', () => {
  it('checks the lease before every broadcast and never lets a fenced one reach the node; reads pass', async () => {
    const { client, methods } = node();
    const held = { value: true };
    const fenced = fencedChainClient(client, fence(held));
    const raw = '0x02f8' as const;
    assert.equal(await fenced.sendRawTransaction({ serializedTransaction: raw }), `0x${'ab'.repeat(32)}`);
    held.value = false;
    await assert.rejects(fenced.sendRawTransaction({ serializedTransaction: raw }), (err: Error) => {
      let cause: unknown = err;
      while (cause && !(cause instanceof FencedError)) cause = (cause as { cause?: unknown }).cause;
      assert.ok(cause instanceof FencedError, 'the refusal is the lease, not the node');
      return true;
    });
    assert.equal(await fenced.getBlockNumber({ cacheTime: 0 }), 16n);
    assert.deepEqual(methods, ['eth_sendRawTransaction', 'eth_blockNumber'], 'the fenced broadcast never reached the node');
  });

  it('is the client itself on a database owned outright', () => {
    const { client } = node();
    assert.equal(fencedChainClient(client, OWNED_OUTRIGHT), client);
  });
});
