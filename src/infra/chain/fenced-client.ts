import { createPublicClient, custom, type PublicClient } from 'viem';
import type { Fence } from '../db/fence.ts';

/** JSON-RPC methods that put a transaction on the network. */
const SENDS = new Set(['eth_sendRawTransaction', 'eth_sendTransaction']);

/**
 * The chain client an engine sends through: before every broadcast it checks that this engine
 * still holds its lease (ADR 0010: the epoch in the database, then that the answer is not stale by
 * the lease's own clock) and refuses otherwise (FencedError, or a retryable LEASE_UNCONFIRMED).
 * Reads go straight through. This sits under everything that sends (the transaction pipeline,
 * allowances), so an owner that was paused past its lease and wakes up mid-order cannot put a
 * transaction on the network, whatever step it was at. The outbox's own fenced steps keep its
 * rows right; this keeps the network right. What is left is a pause between the last check and
 * the socket write (microseconds): it can only send bytes the outbox already held for that order
 * before the pause (same nonce), so the chain still takes one transaction for it at most.
 *
 * On a database owned outright (the embedded one) there is nothing to check: the client is returned as is.
 */
export function fencedChainClient(client: PublicClient, fence: Fence): PublicClient {
  if (fence.epoch === 0) return client;
  return createPublicClient({
    ...(client.chain ? { chain: client.chain } : {}),
    pollingInterval: client.pollingInterval,
    // No retries here: the wrapped client retries RPC failures itself, and a refusal is final.
    transport: custom(
      {
        async request({ method, params }: { method: string; params?: unknown }) {
          if (SENDS.has(method)) await fence.assert('broadcast a transaction');
          return client.request({ method, params } as never);
        },
      },
      { retryCount: 0 },
    ),
  });
}
