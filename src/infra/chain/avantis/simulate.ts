/**
 * Dry-runs a built call with `eth_call` from the account that will send it, so a revert is
 * known (and explained) before anything is signed. The transaction pipeline calls this, then
 * signs and sends the same `{ to, data, value }`.
 */
import type { Address, Client, Hex } from 'viem';
import { call } from 'viem/actions';
import { toChainError, type RejectionContext } from './revert.ts';
import type { CallRequest } from './types.ts';

export interface SimulateCallParams {
  /** The sender: the trader, or the delegate for a `delegatedAction`. */
  readonly account: Address;
  readonly call: CallRequest;
  /** Facts for the message if it reverts (minimum size, leverage bounds…). */
  readonly context?: RejectionContext;
}

/**
 * Returns the call's return data; throws TradeRejectedError (a revert, with a trader-facing
 * message), ChainUnavailableError (RPC down) or ChainResponseError.
 */
export async function simulateCall(client: Client, p: SimulateCallParams): Promise<Hex> {
  try {
    const result = await call(client, { account: p.account, to: p.call.to, data: p.call.data, value: p.call.value });
    return result.data ?? '0x';
  } catch (error) {
    throw toChainError(error, p.context ?? {}, 'Simulating the Avantis call');
  }
}
