/**
 * The EIP-7702 smart-account envelope blitz relays (AVANTIS-V2.md §10, §9.4): calls wrapped in
 * `execute(bytes32 mode, bytes executionData)` sent to the signer's OWN address, which delegates
 * its code to the Gelato template through an authorization attached to every relay.
 *
 *   executionData = abi.encode((address to, uint256 value, bytes data)[] calls, bytes opData)
 *   opData        = uint192(nonce >> 64) (24 bytes) ‖ 65-byte signature of Execute(mode, calls, nonce)
 *   nonce         = key << 64, key = unix_ms * 1000 + salt (fresh per call)
 *
 * Pure functions: what to sign, and how to assemble what was signed. Signing happens in the
 * keystore's scope (src/infra/keys/delegate-keys.ts).
 */
import { concat, decodeAbiParameters, decodeFunctionData, encodeAbiParameters, encodeFunctionData, hashTypedData, numberToHex, size, slice, type Address, type Hex } from 'viem';
import { BadInputError } from '../../../errors.ts';
import type { BlitzTxParams } from './blitz-client.ts';

/** §10: the Gelato delegation template (mainnet; builder-fee orders use meta.addresses.delegationTemplate). */
export const GELATO_DELEGATION_TEMPLATE: Address = '0x5aF42746a8Af42d8a4708dF238C53F1F71abF0E0';
/** §10: the ERC-7821 batch mode with opData. */
export const EXECUTE_MODE: Hex = '0x0100000000007821000100000000000000000000000000000000000000000000';
/** §10: keccak("Execute(bytes32 mode,Call[] calls,uint256 nonce)Call(address to,uint256 value,bytes data)"). */
export const EXECUTE_TYPEHASH: Hex = '0xdf21343e200fb58137ad2784f9ea58605ec77f388015dc495486275b8eec47da';
/** §9.4: used when no estimate is available (the relayer's ceiling is 3 M). */
export const DEFAULT_RELAY_GAS = 2_000_000n;

export interface SmartAccountCall {
  readonly to: Address;
  readonly value: bigint;
  readonly data: Hex;
}

export const EXECUTE_TYPES = {
  Execute: [
    { name: 'mode', type: 'bytes32' },
    { name: 'calls', type: 'Call[]' },
    { name: 'nonce', type: 'uint256' },
  ],
  Call: [
    { name: 'to', type: 'address' },
    { name: 'value', type: 'uint256' },
    { name: 'data', type: 'bytes' },
  ],
} as const;

const EXECUTE_ABI = [
  { type: 'function', name: 'execute', stateMutability: 'payable', inputs: [{ name: 'mode', type: 'bytes32' }, { name: 'executionData', type: 'bytes' }], outputs: [] },
] as const;

const CALLS_AND_OPDATA = [
  { type: 'tuple[]', components: [{ name: 'to', type: 'address' }, { name: 'value', type: 'uint256' }, { name: 'data', type: 'bytes' }] },
  { type: 'bytes' },
] as const;

/** The typed data the account's key signs (domain GelatoDelegation 0.0.1 over the account itself). */
export function executeTypedData(account: Address, chainId: number, calls: readonly SmartAccountCall[], nonce: bigint) {
  return {
    domain: { name: 'GelatoDelegation', version: '0.0.1', chainId, verifyingContract: account },
    types: EXECUTE_TYPES,
    primaryType: 'Execute' as const,
    message: { mode: EXECUTE_MODE, calls: calls.map((c) => ({ to: c.to, value: c.value, data: c.data })), nonce },
  };
}

/** The digest of `executeTypedData` (what a relay's signature must recover from). */
export function executeDigest(account: Address, chainId: number, calls: readonly SmartAccountCall[], nonce: bigint): Hex {
  return hashTypedData(executeTypedData(account, chainId, calls, nonce));
}

/** A fresh nonce: key = unix_ms * 1000 + salt (salt 0…999), shifted left 64 bits. */
export function executeNonce(nowMs: number, salt: number): bigint {
  if (!Number.isSafeInteger(nowMs) || nowMs <= 0) throw new BadInputError('An execute nonce needs the current unix time in milliseconds.');
  if (!Number.isInteger(salt) || salt < 0 || salt > 999) throw new BadInputError('An execute nonce salt is an integer from 0 to 999.');
  return (BigInt(nowMs) * 1000n + BigInt(salt)) << 64n;
}

/** `execute(mode, abi.encode(calls, uint192(nonce >> 64) ‖ signature))`. */
export function executeCalldata(calls: readonly SmartAccountCall[], nonce: bigint, signature: Hex): Hex {
  if (size(signature) !== 65) throw new BadInputError('An execute signature is 65 bytes.');
  const opData = concat([numberToHex(nonce >> 64n, { size: 24 }), signature]);
  const executionData = encodeAbiParameters(CALLS_AND_OPDATA, [calls.map((c) => ({ to: c.to, value: c.value, data: c.data })), opData]);
  return encodeFunctionData({ abi: EXECUTE_ABI, functionName: 'execute', args: [EXECUTE_MODE, executionData] });
}

export interface DecodedExecute {
  readonly mode: Hex;
  readonly calls: readonly SmartAccountCall[];
  /** Rebuilt from the 24-byte key (the low 64 bits are 0). */
  readonly nonce: bigint;
  readonly signature: Hex;
}

/** The inverse of executeCalldata; throws on anything else. */
export function decodeExecuteCalldata(data: Hex): DecodedExecute {
  const { args } = decodeFunctionData({ abi: EXECUTE_ABI, data });
  const [mode, executionData] = args;
  const [calls, opData] = decodeAbiParameters(CALLS_AND_OPDATA, executionData);
  if (size(opData) !== 24 + 65) throw new BadInputError(`execute opData is ${size(opData)} bytes, not 24 + 65.`);
  return {
    mode,
    calls: calls.map((c) => ({ to: c.to, value: c.value, data: c.data })),
    nonce: BigInt(slice(opData, 0, 24)) << 64n,
    signature: slice(opData, 24),
  };
}

/** A signed EIP-7702 authorization as viem answers it. */
export interface SignedAuthorizationLike {
  readonly address: Address;
  readonly chainId: number;
  readonly nonce: number;
  readonly r: Hex;
  readonly s: Hex;
  readonly yParity?: number | undefined;
  readonly v?: bigint | undefined;
}

/**
 * The blitz body's `txParams` (§9.4) for a type-4 relay to the account itself. The authorization is
 * written as §9.1's example does: chainId and nonce as decimal strings, yParity a number, v "27"/"28".
 */
export function relayTxParams(account: Address, chainId: number, data: Hex, authorization: SignedAuthorizationLike, gasLimit = DEFAULT_RELAY_GAS): BlitzTxParams {
  const yParity = authorization.yParity ?? (authorization.v === 28n ? 1 : 0);
  return {
    to: account,
    data,
    value: '0',
    gasLimit: gasLimit.toString(),
    chainId,
    transactionType: 4,
    authorizationList: [
      { address: authorization.address, chainId: String(authorization.chainId), nonce: String(authorization.nonce), r: authorization.r, s: authorization.s, yParity, v: String(27 + yParity) },
    ],
  };
}
