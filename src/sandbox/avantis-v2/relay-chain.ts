/**
 * What the chain would do with a blitz relay (AVANTIS-V2.md §9.4, §9.5, §10), applied to the
 * doubles' Ledger. The gateway double accepts relays and reports them Finalised but does not
 * execute them; this module is the missing half, for the two calls delegate registration and
 * revocation need:
 *
 * - `setDelegateWithSig(bytes signature, bytes userIntent)` on the TradingRouter, from anyone
 *   (§9.5: permissionless): the DelegateReq must decode canonically, carry a known ToS text, be
 *   signed by its trader over the trading domain, be within its deadline, and its nonce must be
 *   unused in the TRADER's bitmap (§8.3: the signer's); then the delegate is enabled until expiry.
 * - `removeDelegate(address)` on the TradingRouter: removes the sender's delegate.
 *
 * A type-4 relay runs `execute(mode, executionData)` in the account at `to`: the authorization must
 * be signed by that account, and the Execute signature too (§10). A type-2 relay calls the
 * TradingRouter from the relayer. Every call is checked before any is applied: a revert applies
 * nothing, as on chain.
 *
 * ASSUMED: revert names (`InvalidSignature`, `InvalidNonce`, `InvalidDeadline`, …) are ours; the
 * v2 ABI's error names are unpublished (§14).
 */
import { decodeFunctionData, getAddress, isAddress, recoverAddress, type Address, type Hex } from 'viem';
import { recoverAuthorizationAddress } from 'viem/utils';
import { tradingV2Abi } from '../../infra/chain/avantis/v2/abi.ts';
import type { BlitzTxParams } from '../../infra/chain/avantis-v2/blitz-client.ts';
import { decodeIntent, encodeIntent, intentDigest, KNOWN_TOS, type IntentDomain } from '../../infra/chain/avantis-v2/intents.ts';
import { decodeExecuteCalldata, executeDigest, EXECUTE_MODE, type SmartAccountCall } from '../../infra/chain/avantis-v2/smart-account.ts';
import type { Ledger } from './ledger.ts';

const ROUTER_ABI = [
  { type: 'function', name: 'setDelegateWithSig', stateMutability: 'nonpayable', inputs: [{ name: 'signature', type: 'bytes' }, { name: 'userIntent', type: 'bytes' }], outputs: [] },
  ...tradingV2Abi.filter((f) => f.type === 'function' && f.name === 'removeDelegate'),
] as const;

export interface RelayChainOptions {
  readonly chainId: number;
  readonly tradingDomain: IntentDomain;
  readonly tradingRouter: Address;
  readonly ledger: Ledger;
}

export type RelayEffect =
  | { readonly kind: 'delegate-set'; readonly trader: Address; readonly delegate: Address; readonly expiry: bigint; readonly nonce: bigint; readonly signature: Hex }
  | { readonly kind: 'delegate-removed'; readonly trader: Address; readonly delegate: Address };

/** A relay the chain would revert; nothing was applied. */
export class RelayReverted extends Error {
  override readonly name = 'RelayReverted';
}

/** Checks a relay like the chain would and applies its effects to the ledger; throws RelayReverted otherwise. */
export async function applyRelay(o: RelayChainOptions, txParams: BlitzTxParams): Promise<RelayEffect[]> {
  const { sender, calls } = await unwrap(o, txParams);
  const effects: RelayEffect[] = [];
  const usedNonces = new Set<string>();
  for (const call of calls) effects.push(await check(o, sender, call, usedNonces));
  for (const effect of effects) {
    if (effect.kind === 'delegate-set') {
      o.ledger.useNonce(effect.trader, effect.nonce);
      o.ledger.setDelegate(effect.trader, effect.delegate, effect.expiry);
    } else o.ledger.removeDelegate(effect.trader, effect.delegate);
  }
  return effects;
}

/** Applies one call sent directly by `sender` (an EIP-1559 transaction from that account). */
export async function applyCall(o: RelayChainOptions, sender: Address, call: SmartAccountCall): Promise<RelayEffect> {
  const effect = await check(o, sender, call, new Set());
  if (effect.kind === 'delegate-set') {
    o.ledger.useNonce(effect.trader, effect.nonce);
    o.ledger.setDelegate(effect.trader, effect.delegate, effect.expiry);
  } else o.ledger.removeDelegate(effect.trader, effect.delegate);
  return effect;
}

async function unwrap(o: RelayChainOptions, tx: BlitzTxParams): Promise<{ sender: Address; calls: readonly SmartAccountCall[] }> {
  if (tx.chainId !== o.chainId) throw new RelayReverted(`wrong chain ${tx.chainId}`);
  if (tx.transactionType === 2) return { sender: getAddress('0x000000000000000000000000000000000000b117'), calls: [{ to: tx.to, value: BigInt(tx.value), data: tx.data }] };
  const account = getAddress(tx.to);
  const auth = tx.authorizationList?.[0];
  if (auth === undefined) throw new RelayReverted('no authorization');
  const authority = await recoverAuthorizationAddress({
    authorization: { address: auth['address'] as Address, chainId: Number(auth['chainId']), nonce: Number(auth['nonce']), r: auth['r'] as Hex, s: auth['s'] as Hex, yParity: Number(auth['yParity']) },
  }).catch(() => null);
  if (authority !== account) throw new RelayReverted('the authorization is not signed by the account');
  let decoded;
  try {
    decoded = decodeExecuteCalldata(tx.data);
  } catch {
    throw new RelayReverted('not an execute(bytes32,bytes) call');
  }
  if (decoded.mode !== EXECUTE_MODE) throw new RelayReverted('unsupported execute mode');
  const signer = await recoverAddress({ hash: executeDigest(account, o.chainId, decoded.calls, decoded.nonce), signature: decoded.signature }).catch(() => null);
  if (signer !== account) throw new RelayReverted('the Execute signature is not the account’s');
  return { sender: account, calls: decoded.calls };
}

async function check(o: RelayChainOptions, sender: Address, call: SmartAccountCall, used: Set<string>): Promise<RelayEffect> {
  if (getAddress(call.to) !== getAddress(o.tradingRouter)) throw new RelayReverted(`call to ${call.to}, not the TradingRouter`);
  let fn;
  try {
    fn = decodeFunctionData({ abi: ROUTER_ABI, data: call.data });
  } catch {
    throw new RelayReverted(`unknown TradingRouter call ${call.data.slice(0, 10)}`);
  }
  if (fn.functionName === 'removeDelegate') {
    const [delegate] = fn.args;
    if (!isAddress(delegate)) throw new RelayReverted('removeDelegate needs an address');
    return { kind: 'delegate-removed', trader: sender, delegate: getAddress(delegate) };
  }
  const [signature, userIntent] = fn.args as readonly [Hex, Hex];
  let message;
  try {
    message = decodeIntent('DelegateReq', userIntent);
    if (encodeIntent('DelegateReq', message).toLowerCase() !== userIntent.toLowerCase()) throw new Error('not canonical');
  } catch {
    throw new RelayReverted('userIntent is not a DelegateReq');
  }
  if (!KNOWN_TOS.includes(message.tnc)) throw new RelayReverted('InvalidTnc');
  if (!/^0x[0-9a-fA-F]{128}(1b|1c)$/.test(signature)) throw new RelayReverted('InvalidSignature: not 65 bytes with v 27/28');
  const signer = await recoverAddress({ hash: intentDigest(o.tradingDomain, 'DelegateReq', message), signature }).catch(() => null);
  if (signer === null || getAddress(signer) !== getAddress(message.trader)) throw new RelayReverted('InvalidSignature: not signed by the trader');
  if (message.deadline / 1000n < o.ledger.nowSeconds()) throw new RelayReverted('InvalidDeadline');
  const key = `${message.trader.toLowerCase()}:${message.nonce}`;
  if (o.ledger.isNonceUsed(message.trader, message.nonce) || used.has(key)) throw new RelayReverted('InvalidNonce');
  used.add(key);
  return { kind: 'delegate-set', trader: getAddress(message.trader), delegate: getAddress(message.delegate), expiry: message.expiry, nonce: message.nonce, signature };
}
