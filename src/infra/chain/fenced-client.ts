import { createPublicClient, custom, type PublicClient } from 'viem';
import type { Fence } from '../db/fence.ts';

/** JSON-RPC methods that put a transaction on the network. */
const SENDS = new Set(['eth_sendRawTransaction', 'eth_sendTransaction']);

/**
 * The chain client an engine sends through: before every broadcast it checks, in the database,
 * that this engine still holds its lease (ADR 0010), and refuses with FencedError otherwise.
 * Reads go straight through. This sits under everything that sends (the transaction pipeline,
 * allowances), so an owner that was paused past its lease and wakes up mid-order cannot put a
 * transaction on the network, whatever step it was at. The outbox's own fenced steps keep its
 * rows right; this keeps the network right. A pause between this check and the send itself can
 * only re-send bytes the outbox already holds for that order (same hash), which is harmless.
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
