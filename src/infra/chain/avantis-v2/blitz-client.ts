/** The blitz relayer (AVANTIS-V2.md §9.4): `POST …/relays`, `GET …/relays/{requestId}`. */
import { type Address, type Hex } from 'viem';
import { z } from 'zod';
import { Transport, type Call, joinUrl, plainJson, badShape, GATEWAY_PREFIX, type V2HttpOptions } from './http-transport.ts';

export interface BlitzTxParams {
  readonly to: Address;
  readonly data: Hex;
  readonly value: string;
  readonly gasLimit: string;
  readonly chainId: number;
  readonly transactionType: 2 | 4;
  readonly authorizationList?: readonly Readonly<Record<string, unknown>>[];
}

export interface BlitzRelayStatus {
  readonly status: 'Inflight' | 'Finalised' | 'Failed';
  readonly receipt: Readonly<Record<string, unknown>> | null;
}

export interface BlitzClientOptions extends V2HttpOptions {
  /** The gateway host; the client appends `/blitz` (§2). */
  readonly gatewayUrl: string;
}

export class BlitzClient {
  readonly #base: string;
  readonly #http: Transport;
  constructor(options: BlitzClientOptions) {
    this.#base = joinUrl(options.gatewayUrl, GATEWAY_PREFIX.blitz);
    this.#http = new Transport('blitz', options);
  }

  /**
   * `POST …/relays` → requestId. Retried on 503 (relayer wallets busy, §9.4) and 429 only; after
   * a network error or timeout it is NOT resent (§9.4) — V2TransportError with outcome 'unknown'.
   */
  async relay(txParams: BlitzTxParams, wallet: Address, signal?: AbortSignal): Promise<string> {
    const call: Call = { method: 'POST', route: '/relays', url: joinUrl(this.#base, '/relays'), body: { txParams, wallet }, policy: 'refused-only', signal };
    const what = this.#http.what(call);
    const parsed = z.object({ requestId: z.string().min(1).max(200) }).safeParse(plainJson(await this.#http.send(call), what));
    if (!parsed.success) throw badShape(what, parsed.error);
    return parsed.data.requestId;
  }

  /** `GET …/relays/{requestId}`. On Finalised, check `receipt.status` (§9.4). */
  async relayStatus(requestId: string, signal?: AbortSignal): Promise<BlitzRelayStatus> {
    const call: Call = { method: 'GET', route: '/relays/:requestId', url: joinUrl(this.#base, `/relays/${encodeURIComponent(requestId)}`), policy: 'idempotent', signal };
    const what = this.#http.what(call);
    const parsed = z.object({ status: z.enum(['Inflight', 'Finalised', 'Failed']), receipt: z.record(z.string(), z.unknown()).nullable().optional() }).safeParse(plainJson(await this.#http.send(call), what));
    if (!parsed.success) throw badShape(what, parsed.error);
    return { status: parsed.data.status, receipt: parsed.data.receipt ?? null };
  }
}
