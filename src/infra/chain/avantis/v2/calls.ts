/**
 * UNVERIFIED: v2 call builders for the writes whose signature changed (AVANTIS.md §3.5, §3.8,
 * §3.9; signatures from a third-party decoder, DEC). Everything else is built by the v1
 * builders, which v2 keeps. Check these against the verified v2 implementation before use.
 */
import { encodeFunctionData, isAddress, type Address } from 'viem';
import { BadInputError } from '../../../../errors.ts';
import type { AvantisAddresses } from '../addresses.ts';
import type { CloseTradeParams } from '../calls-v1.ts';
import type { CallRequest } from '../types.ts';
import { tradingV2Abi } from './abi.ts';

/**
 * UNVERIFIED (selector 0xe5a97c92): `closeTradeMarket(pairIndex, index, amount, wantedPrice)`.
 * v2 applies the spread on closes and checks the fill against `wantedPrice`.
 */
export function buildCloseTradeV2(addresses: AvantisAddresses, p: CloseTradeParams): CallRequest {
  if (p.collateralToClose <= 0n) throw new BadInputError('The collateral to close must be above zero.');
  if (p.wantedPrice <= 0n) throw new BadInputError('A v2 close needs the price the trader expects (wantedPrice above zero).');
  if (p.executionFeeWei < 0n) throw new BadInputError('The execution fee cannot be negative.');
  const data = encodeFunctionData({ abi: tradingV2Abi, functionName: 'closeTradeMarket', args: [p.pairIndex, p.index, p.collateralToClose, p.wantedPrice] });
  return { to: addresses.trading, data, value: p.executionFeeWei };
}

/** UNVERIFIED (selector 0xd6a510d9): `setDelegate(delegate, expiry)`, expiry in unix seconds. */
export function buildSetDelegateV2(addresses: AvantisAddresses, p: { delegate: Address; expiry?: bigint }): CallRequest {
  if (!isAddress(p.delegate, { strict: false })) throw new BadInputError(`The delegate is not an address: ${String(p.delegate).slice(0, 50)}.`);
  if (p.expiry === undefined || p.expiry <= 0n) throw new BadInputError('v2 delegation needs an expiry (unix seconds).');
  return { to: addresses.trading, data: encodeFunctionData({ abi: tradingV2Abi, functionName: 'setDelegate', args: [p.delegate, p.expiry] }), value: 0n };
}

/** UNVERIFIED (selector 0x67e7646f): `removeDelegate(delegate)`: v2 has several delegates per trader. */
export function buildRemoveDelegateV2(addresses: AvantisAddresses, p: { delegate: Address }): CallRequest {
  if (!isAddress(p.delegate, { strict: false })) throw new BadInputError(`The delegate is not an address: ${String(p.delegate).slice(0, 50)}.`);
  return { to: addresses.trading, data: encodeFunctionData({ abi: tradingV2Abi, functionName: 'removeDelegate', args: [p.delegate] }), value: 0n };
}
