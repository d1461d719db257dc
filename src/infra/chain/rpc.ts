import { createPublicClient, fallback, http, type PublicClient, type Transport } from 'viem';
import type { Secret } from '../secret.ts';

/**
 * The clients for the chain. URLs often carry API keys, so they stay wrapped in Secret until
 * handed to a transport, and viem's errors about them (which quote the URL) are never logged or
 * stored whole (the pipeline keeps the node's own words only, see tx/node-errors.ts).
 */
export interface ChainClients {
  /** Reads and broadcasts: every configured URL in order, failing over to the next when one errors or times out. */
  readonly client: PublicClient;
  /**
   * One client per URL, in the same order, without failover: each answers for its own node. For
   * verdicts every RPC must agree on (that a transaction was superseded). With one URL, `[client]`.
   */
  readonly perUrl: readonly PublicClient[];
}

export interface ChainClientOptions {
  readonly urls: readonly Secret[];
  readonly timeoutMs?: number;
  readonly pollingIntervalMs?: number;
}

export function createChainClients(options: ChainClientOptions): ChainClients {
  if (!options.urls.length) throw new Error('createChainClient needs at least one RPC URL');
  const transportOf = (url: Secret) => http(url.reveal(), { timeout: options.timeoutMs ?? 10_000, retryCount: 1, retryDelay: 150 });
  const clientOf = (transport: Transport) => createPublicClient({ transport, pollingInterval: options.pollingIntervalMs ?? 1_000 });
  if (options.urls.length === 1) {
    const client = clientOf(transportOf(options.urls[0]!));
    return { client, perUrl: [client] };
  }
  return {
    client: clientOf(fallback(options.urls.map(transportOf), { retryCount: 1 })),
    perUrl: options.urls.map((url) => clientOf(transportOf(url))),
  };
}

/** The failover client alone (see createChainClients). */
export function createChainClient(options: ChainClientOptions): PublicClient {
  return createChainClients(options).client;
}
