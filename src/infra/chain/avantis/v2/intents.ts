/**
 * UNVERIFIED: v2 TP/SL changes are not transactions but EIP-712 `UpdateTpSlReq` intents the
 * trader signs and Avantis's core API relays (AVANTIS.md §3.6, §3.9). The schema comes from
 * SDK-v2 `intents_schema.py` (proven there by golden vectors); the relay endpoint comes from
 * SDK-v2 prose. Neither was checked against a live v2 deployment from here.
 */
import type { Address, TypedDataDefinition } from 'viem';
import { BadInputError } from '../../../../errors.ts';
import { INTENT_TYPES } from '../../avantis-v2/intent-types.ts';

/** UNVERIFIED: the EIP-712 domain name/version of v2 trading intents. */
export const V2_INTENT_DOMAIN = { name: 'AvantisTrading', version: '1' } as const;

/**
 * `UpdateTpSlReq`, from the one definition of every v2 intent type (VERIFIED there against the
 * reference's typehashes and golden digests: src/infra/chain/avantis-v2/intent-types.ts).
 */
export const UPDATE_TP_SL_TYPES = { UpdateTpSlReq: INTENT_TYPES.UpdateTpSlReq } as const;

export type UpdateTpSlTypedData = TypedDataDefinition<typeof UPDATE_TP_SL_TYPES, 'UpdateTpSlReq'>;

export interface UpdateTpSlIntentParams {
  readonly chainId: number;
  /** The TradingRouter (v1 Trading address): the domain's verifyingContract. */
  readonly tradingRouter: Address;
  readonly trader: Address;
  readonly pairIndex: bigint;
  readonly index: bigint;
  /** 1e10; 0 resets to the max-gain cap. */
  readonly tp: bigint;
  /** 1e10; 0 removes the SL. */
  readonly sl: bigint;
  /** Milliseconds since the epoch (v2 intent deadlines are in ms). */
  readonly deadlineMs: bigint;
  /** Any unused 256-bit value: v2 nonces are an unordered bitmap. */
  readonly nonce: bigint;
}

/** UNVERIFIED: the typed data the trader signs to change TP/SL on v2. */
export function buildUpdateTpSlIntent(p: UpdateTpSlIntentParams): UpdateTpSlTypedData {
  if (p.tp < 0n || p.sl < 0n) throw new BadInputError('TP and SL cannot be negative.');
  if (p.deadlineMs <= 0n) throw new BadInputError('The intent deadline must be in the future (milliseconds).');
  if (p.nonce < 0n || p.nonce >= 2n ** 256n) throw new BadInputError('The intent nonce must be a 256-bit unsigned integer.');
  return {
    domain: { ...V2_INTENT_DOMAIN, chainId: p.chainId, verifyingContract: p.tradingRouter },
    types: UPDATE_TP_SL_TYPES,
    primaryType: 'UpdateTpSlReq',
    message: { trader: p.trader, _pairIndex: p.pairIndex, _index: p.index, _newTp: p.tp, _newSl: p.sl, _deadline: p.deadlineMs, _nonce: p.nonce },
  };
}

/**
 * UNVERIFIED: where the core API takes a signed TP/SL intent (`PUT {prod-api}/core/price-triggers/…`).
 * Two triggers per position: the global TP and the global SL.
 */
export function updateTpSlRelayPaths(p: { trader: Address; pairIndex: bigint; index: bigint }): { tp: string; sl: string } {
  const key = `${p.trader}-${p.pairIndex}-${p.index}`;
  return { tp: `/core/price-triggers/global-tp-${key}`, sl: `/core/price-triggers/global-sl-${key}` };
}
