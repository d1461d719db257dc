import { createPublicClient, fallback, http, type PublicClient } from 'viem';
import type { Secret } from '../secret.ts';

/**
 * The read/broadcast client for the chain: every configured RPC URL in order,
 * failing over to the next when one errors or times out. URLs often carry API
 * keys, so they stay wrapped in Secret until handed to the transport, and
 * viem's errors about them are never logged whole (the pipeline logs a short
 * reason only).
 */
export function createChainClient(options: { urls: readonly Secret[]; timeoutMs?: number; pollingIntervalMs?: number }): PublicClient {
  if (!options.urls.length) throw new Error('createChainClient needs at least one RPC URL');
  const transports = options.urls.map((url) => http(url.reveal(), { timeout: options.timeoutMs ?? 10_000, retryCount: 1, retryDelay: 150 }));
  return createPublicClient({
    transport: transports.length === 1 ? transports[0]! : fallback(transports, { retryCount: 1 }),
    pollingInterval: options.pollingIntervalMs ?? 1_000,
  });
}
