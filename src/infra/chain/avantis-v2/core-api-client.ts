/** The core API (AVANTIS-V2.md §9.2): the global TP/SL price triggers and `GET /user-data`. */
import { getAddress, type Address, type Hex } from 'viem';
import { z } from 'zod';
import { Transport, type Call, joinUrl, query, plainJson, badShape, GATEWAY_PREFIX, type V2HttpOptions } from './http-transport.ts';

export interface CoreApiClientOptions extends V2HttpOptions {
  /** The gateway host; the client appends `/core` (§2). */
  readonly gatewayUrl: string;
}

export class CoreApiClient {
  readonly #base: string;
  readonly #http: Transport;
  constructor(options: CoreApiClientOptions) {
    this.#base = joinUrl(options.gatewayUrl, GATEWAY_PREFIX.core);
    this.#http = new Transport('core', options);
  }

  /**
   * `PUT …/price-triggers/global-{tp|sl}-{trader}-{pairIndex}-{index}` with
   * `{userIntent, signedMessage}` (§9.2). 2xx = accepted; then poll `/user-data`. Retried only on
   * 429/503 (ASSUMED not idempotent: a repeat of an accepted PUT may be refused for its used nonce).
   * ASSUMED: the trader in the path is written as the checksummed address.
   */
  async putGlobalTpSl(kind: 'tp' | 'sl', trader: Address, pairIndex: number, index: number, userIntent: Hex, signedMessage: Hex, signal?: AbortSignal): Promise<unknown> {
    const route = '/price-triggers/global-:kind-:trader-:pairIndex-:index';
    const call: Call = { method: 'PUT', route, url: joinUrl(this.#base, `/price-triggers/global-${kind}-${getAddress(trader)}-${pairIndex}-${index}`), body: { userIntent, signedMessage }, policy: 'refused-only', signal };
    const answer = await this.#http.send(call);
    return answer.text === '' && answer.status >= 200 && answer.status <= 299 ? {} : plainJson(answer, this.#http.what(call));
  }

  /** `GET …/user-data?trader=` (§12.1), raw strings; only the top-level lists are checked. */
  async userData(trader: Address, signal?: AbortSignal): Promise<{ readonly positions: readonly Record<string, unknown>[]; readonly limitOrders: readonly Record<string, unknown>[] }> {
    const route = '/user-data';
    const call: Call = { method: 'GET', route, url: joinUrl(this.#base, `${route}${query({ trader })}`), policy: 'idempotent', signal };
    const what = this.#http.what(call);
    const parsed = z.object({ positions: z.array(z.record(z.string(), z.unknown())), limitOrders: z.array(z.record(z.string(), z.unknown())) }).safeParse(plainJson(await this.#http.send(call), what));
    if (!parsed.success) throw badShape(what, parsed.error);
    return parsed.data;
  }
}

// ————————————————————————————————————— blitz —————————————————————————————————————
