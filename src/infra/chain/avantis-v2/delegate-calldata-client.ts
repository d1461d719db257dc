/**
 * The tx-builder's delegate calldata route we use (AVANTIS-V2.md §6 calldata response, §7.2,
 * §11 "Revocation"): `/v2/delegate/remove {trader, delegate}` → the call the TRADER sends. The
 * answer is checked against the call we encode ourselves (target, sender, chain, value 0, data
 * byte for byte) and refused otherwise: nothing unverified is returned.
 *
 * ASSUMED: the v2 function is `removeDelegate(address)` (selector 0x67e7646f), as
 * src/infra/chain/avantis/v2/abi.ts and the devnet simulator have it; the service's own encoding
 * is not published. A different encoding is refused (DELEGATE_CALLDATA_MISMATCH), never sent.
 */
import { encodeFunctionData, isHex, type Address, type Hex } from 'viem';
import { z } from 'zod';
import { tradingV2Abi } from '../avantis/v2/abi.ts';
import { DelegateError } from '../../keys/delegate-errors.ts';
import { unwrapEnvelope } from './envelope.ts';
import { addressSchema, badShape, joinUrl, Transport, type Call, type V2HttpOptions } from './http-transport.ts';
import type { V2Meta } from './meta.ts';

export interface DelegateCalldataClientOptions extends V2HttpOptions {
  readonly baseUrl: string;
}

/** A checked call for the trader to send (as an EIP-1559 transaction, or wrapped in their 7702 account). */
export interface TraderCall {
  readonly to: Address;
  readonly from: Address;
  readonly data: Hex;
  readonly value: 0n;
  readonly chainId: number;
}

const calldataSchema = z.object({
  to: addressSchema,
  from: addressSchema,
  data: z.string().refine((s) => isHex(s, { strict: true }), 'not hex'),
  value: z.union([z.string(), z.number()]),
  chainId: z.number().int().positive(),
  description: z.string().optional(),
  meta: z.unknown().optional(),
});

/** The call `removeDelegate(delegate)` on the TradingRouter, as we encode it. */
export function removeDelegateCall(meta: Pick<V2Meta, 'chainId' | 'addresses'>, trader: Address, delegate: Address): TraderCall {
  return { to: meta.addresses.tradingRouter, from: trader, data: encodeFunctionData({ abi: tradingV2Abi, functionName: 'removeDelegate', args: [delegate] }), value: 0n, chainId: meta.chainId };
}

export class DelegateCalldataClient {
  readonly #base: string;
  readonly #http: Transport;
  constructor(options: DelegateCalldataClientOptions) {
    this.#base = options.baseUrl;
    this.#http = new Transport('tx-builder', options);
  }

  /** `POST /v2/delegate/remove` → the verified call the trader sends to revoke `delegate`. */
  async removeDelegate(meta: Pick<V2Meta, 'chainId' | 'addresses'>, trader: Address, delegate: Address, signal?: AbortSignal): Promise<TraderCall> {
    const route = '/v2/delegate/remove';
    const call: Call = { method: 'POST', route, url: joinUrl(this.#base, route), body: { trader, delegate }, policy: 'idempotent', signal };
    const answer = await this.#http.send(call);
    const data = unwrapEnvelope(answer.text, { status: answer.status, what: this.#http.what(call) });
    const parsed = calldataSchema.safeParse(data);
    if (!parsed.success) throw badShape(this.#http.what(call), parsed.error);
    const expected = removeDelegateCall(meta, trader, delegate);
    const got = parsed.data;
    const value = typeof got.value === 'number' ? BigInt(got.value) : /^0x[0-9a-fA-F]*$/.test(got.value) ? BigInt(got.value === '0x' ? 0 : got.value) : /^[0-9]+$/.test(got.value) ? BigInt(got.value) : -1n;
    const differs =
      got.to !== expected.to ? 'to' : got.from !== expected.from ? 'from' : got.chainId !== expected.chainId ? 'chainId' : value !== 0n ? 'value' : got.data.toLowerCase() !== expected.data.toLowerCase() ? 'data' : null;
    if (differs !== null) {
      throw new DelegateError(
        'DELEGATE_CALLDATA_MISMATCH',
        `The tx-builder's removeDelegate call differs from the one Vanta encodes (${differs}); it was not used. The revocation was not sent: the operator should check the tx-builder and src/infra/chain/avantis-v2/delegate-calldata-client.ts.`,
        { field: differs },
      );
    }
    return expected;
  }
}
