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
 * be signed by that account for the delegation template (§10: Gelato's, or `template`) on this
 * chain (or chain 0, any chain), and the Execute signature must be the account's too. A type-2
 * relay calls the TradingRouter from the relayer. Every call is checked before any is applied: a
 * revert applies nothing, as on chain. `unwrapRelay` is the envelope check alone; the chain-backed
 * relayer double (./chain-relays.ts) uses it too.
 *
 * ASSUMED: revert names (`InvalidSignature`, `InvalidNonce`, `InvalidDeadline`, …) are ours; the
 * v2 ABI's error names are unpublished (§14).
 */
import { decodeFunctionData, getAddress, isAddress, recoverAddress, type Address, type Hex } from 'viem';
import { recoverAuthorizationAddress } from 'viem/utils';
import { tradingV2Abi } from '../../infra/chain/avantis/v2/abi.ts';
import type { BlitzTxParams } from '../../infra/chain/avantis-v2/blitz-client.ts';
import { decodeIntent, encodeIntent, intentDigest, KNOWN_TOS, type IntentDomain, type IntentMessage } from '../../infra/chain/avantis-v2/intents.ts';
import { decodeExecuteCalldata, executeDigest, EXECUTE_MODE, GELATO_DELEGATION_TEMPLATE, type SmartAccountCall } from '../../infra/chain/avantis-v2/smart-account.ts';
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
  /** The 7702 delegation template an authorization must name. Default §10's Gelato template. */
  readonly template?: Address;
}

/** A relay's envelope once checked: who the calls run as, and the calls. */
export interface UnwrappedRelay {
  /** The account the calls run from: the 7702 account at `to` (type 4), or the relayer (type 2). */
  readonly sender: Address;
  readonly calls: readonly SmartAccountCall[];
  /** Type 4 only: the authorization as signed, and the Execute nonce (for replay checks). */
  readonly authorization: { readonly address: Address; readonly chainId: number; readonly nonce: number } | null;
  readonly executeNonce: bigint | null;
}

/** The stand-in sender of a type-2 relay in the Ledger double (its relayer wallet). */
export const LEDGER_RELAYER: Address = getAddress('0x000000000000000000000000000000000000b117');

export type RelayEffect =
  | { readonly kind: 'delegate-set'; readonly trader: Address; readonly delegate: Address; readonly expiry: bigint; readonly nonce: bigint; readonly signature: Hex }
  | { readonly kind: 'delegate-removed'; readonly trader: Address; readonly delegate: Address };

/** A relay the chain would revert; nothing was applied. */
export class RelayReverted extends Error {
  override readonly name = 'RelayReverted';
}

/** Checks a relay like the chain would and applies its effects to the ledger; throws RelayReverted otherwise. */
export async function applyRelay(o: RelayChainOptions, txParams: BlitzTxParams): Promise<RelayEffect[]> {
  const { sender, calls } = await unwrapRelay(o, txParams);
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

/**
 * Checks a relay's envelope as the chain would run it (§10) and answers the calls it carries;
 * throws RelayReverted otherwise. Type 2: one call from `relayer`. Type 4: an `execute` in the
 * account at `to`, whose authorization (template, chain) and Execute signature that account signed.
 * What the calls do is not checked here.
 */
export async function unwrapRelay(o: Pick<RelayChainOptions, 'chainId' | 'template'>, tx: BlitzTxParams, relayer: Address = LEDGER_RELAYER): Promise<UnwrappedRelay> {
  if (tx.chainId !== o.chainId) throw new RelayReverted(`wrong chain ${tx.chainId}`);
  if (tx.transactionType === 2) return { sender: relayer, calls: [{ to: tx.to, value: BigInt(tx.value), data: tx.data }], authorization: null, executeNonce: null };
  const account = getAddress(tx.to);
  const auth = tx.authorizationList?.[0];
  if (auth === undefined) throw new RelayReverted('no authorization');
  let authorization: { address: Address; chainId: number; nonce: number; r: Hex; s: Hex; yParity: number };
  try {
    authorization = { address: getAddress(String(auth['address'])), chainId: Number(auth['chainId']), nonce: Number(auth['nonce']), r: auth['r'] as Hex, s: auth['s'] as Hex, yParity: Number(auth['yParity']) };
  } catch {
    throw new RelayReverted('the authorization does not name an address');
  }
  const template = getAddress(o.template ?? GELATO_DELEGATION_TEMPLATE);
  if (authorization.address !== template) throw new RelayReverted(`the authorization delegates to ${authorization.address}, not the template ${template}`);
  if (authorization.chainId !== o.chainId && authorization.chainId !== 0) throw new RelayReverted(`the authorization is for chain ${authorization.chainId}`);
  if (!Number.isSafeInteger(authorization.nonce) || authorization.nonce < 0) throw new RelayReverted('the authorization nonce is not a non-negative integer');
  const authority = await recoverAuthorizationAddress({ authorization }).catch(() => null);
  if (authority !== account) throw new RelayReverted('the authorization is not signed by the account');
  let decoded: ReturnType<typeof decodeExecuteCalldata>;
  try {
    decoded = decodeExecuteCalldata(tx.data);
  } catch {
    throw new RelayReverted('not an execute(bytes32,bytes) call');
  }
  if (decoded.mode !== EXECUTE_MODE) throw new RelayReverted('unsupported execute mode');
  const signer = await recoverAddress({ hash: executeDigest(account, o.chainId, decoded.calls, decoded.nonce), signature: decoded.signature }).catch(() => null);
  if (signer !== account) throw new RelayReverted('the Execute signature is not the account’s');
  return { sender: account, calls: decoded.calls, authorization: { address: authorization.address, chainId: authorization.chainId, nonce: authorization.nonce }, executeNonce: decoded.nonce };
}

async function check(o: RelayChainOptions, sender: Address, call: SmartAccountCall, used: Set<string>): Promise<RelayEffect> {
  if (getAddress(call.to) !== getAddress(o.tradingRouter)) throw new RelayReverted(`call to ${call.to}, not the TradingRouter`);
  let fn: ReturnType<typeof decodeFunctionData<typeof ROUTER_ABI>>;
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
  let message: IntentMessage<'DelegateReq'>;
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
