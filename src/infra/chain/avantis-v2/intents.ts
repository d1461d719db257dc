/**
 * Avantis v2 intents built locally from raw values (AVANTIS-V2.md §8.3), hashed locally (§8.6)
 * and abi-encoded locally for submission as `userIntent` (§8.4).
 *
 * Why locally: the digest is what a key signs, and a signature is an order. Building the message
 * here from the trader's own numbers means the tx-builder can help (nonces, current timestamps)
 * but never decides what is signed; verify-intent.ts compares its answers with what is built here.
 *
 * VERIFIED (golden vectors, reproduced by test/infra/chain/avantis-v2/intents.test.ts): the
 * digests of OpenTradeReq, CloseTradeReq, UpdateTpSlReq and DelegateReq (both ToS texts).
 * VERIFIED by the reference (high confidence, not reproducible here): the §8.3 filling rules and
 * the §8.4 encoding order. ASSUMED: the abi encoding matches the contracts' `abi.decode` — no
 * encoded vector is published, so it is only checked to round-trip and to follow §8.4.
 */
import { decodeAbiParameters, encodeAbiParameters, hashDomain, hashTypedData, isAddress, stringToHex, type AbiParameter, type Address, type Hex, type TypedData } from 'viem';
import { BadInputError } from '../../../errors.ts';
import { INTENT_TYPES, typesFor, type IntentPrimaryType, type IntentStructType, type IntentTypes } from './intent-types.ts';
import { MAX_INT256, MAX_UINT256, MIN_INT256 } from './units.ts';

/** An EIP-712 domain as /v2/meta states it (§6, §8.1). Always taken from meta, never written in code. */
export interface IntentDomain {
  readonly name: string;
  readonly version: string;
  readonly chainId: number;
  readonly verifyingContract: Address;
}

type FieldValue<T extends string> = T extends 'address'
  ? Address
  : T extends 'bool'
    ? boolean
    : T extends 'string'
      ? string
      : T extends 'bytes32'
        ? Hex
        : T extends IntentStructType
          ? IntentMessage<T>
          : bigint;

/** The message of a struct type, with every integer (uint8 included) as bigint. */
export type IntentMessage<T extends IntentStructType> = { readonly [F in IntentTypes[T][number] as F['name']]: FieldValue<F['type']> };

/** Everything needed to sign and submit one intent, all computed here. */
export interface LocalIntent<P extends IntentPrimaryType = IntentPrimaryType> {
  readonly domain: IntentDomain;
  readonly primaryType: P;
  /** The primary type and its nested types, without EIP712Domain (what viem's signTypedData takes). */
  readonly types: Partial<IntentTypes>;
  readonly message: IntentMessage<P>;
  /** keccak(0x1901 ‖ domainSeparator ‖ structHash): what the key signs. */
  readonly digest: Hex;
  /** abi.encode of the struct (§8.4), submitted as `userIntent`; null for CancelOffchainOrder. */
  readonly encodedIntent: Hex | null;
}

/** The EIP-712 domain separator (§8.1). */
export function domainSeparator(domain: IntentDomain): Hex {
  // Widened to TypedData: viem's literal typing would want chainId as a bigint; a number hashes the same.
  const types: TypedData = { EIP712Domain: EIP712_DOMAIN_FIELDS };
  return hashDomain({ domain, types });
}

const EIP712_DOMAIN_FIELDS = [
  { name: 'name', type: 'string' },
  { name: 'version', type: 'string' },
  { name: 'chainId', type: 'uint256' },
  { name: 'verifyingContract', type: 'address' },
] as const;

/** The EIP-712 digest of a message under a domain (§8.6). viem adds EIP712Domain itself. */
export function intentDigest<P extends IntentPrimaryType>(domain: IntentDomain, primaryType: P, message: IntentMessage<P>): Hex {
  // Widened to TypedData: the message type is exact for each P, but viem's inference cannot follow
  // a generic P, and the test vectors prove the hashing.
  const types: TypedData = typesFor(primaryType);
  const data: Record<string, unknown> = message;
  const primary: string = primaryType;
  return hashTypedData({ domain, types, primaryType: primary, message: data });
}

/**
 * The Solidity field order of DelegateReq differs from its typed order: `tnc` comes before
 * `deadline` in the struct the contract decodes (§8.4). Every other kind keeps the typed order.
 */
export const DELEGATE_REQ_SOLIDITY_ORDER = ['trader', 'delegate', 'expiry', 'tnc', 'deadline', 'nonce'] as const;

/** The ABI tuple of a struct type, nested structs as inner tuples, in Solidity order. */
export function intentAbiParameter(type: IntentStructType): AbiParameter {
  const fields = INTENT_TYPES[type] as readonly { readonly name: string; readonly type: string }[];
  const ordered = type === 'DelegateReq' ? DELEGATE_REQ_SOLIDITY_ORDER.map((name) => fields.find((f) => f.name === name)!) : fields;
  const components = ordered.map((field): AbiParameter => (isStruct(field.type) ? { ...intentAbiParameter(field.type), name: field.name } : { name: field.name, type: field.type }));
  return { type: 'tuple', components };
}

/**
 * `abi.encode(struct)` as one tuple (§8.4): what batched-market, core and `…WithSig` take as
 * `userIntent`. CancelOffchainOrder is only ever checked off-chain and is refused here.
 */
export function encodeIntent<P extends IntentPrimaryType>(primaryType: P, message: IntentMessage<P>): Hex {
  if (primaryType === 'CancelOffchainOrder') throw new BadInputError('CancelOffchainOrder is never abi-encoded: it is signed and sent to the core API as a signature only.');
  return encodeAbiParameters([intentAbiParameter(primaryType)], [message] as readonly [unknown]);
}

/** The inverse of encodeIntent, for checks and logs (small integers come back as bigint too). */
export function decodeIntent<P extends IntentPrimaryType>(primaryType: P, encoded: Hex): IntentMessage<P> {
  const [value] = decodeAbiParameters([intentAbiParameter(primaryType)], encoded);
  return bigintsOnly(value) as IntentMessage<P>;
}

/** viem decodes uint8 as a JS number; our messages hold every integer as bigint. */
function bigintsOnly(value: unknown): unknown {
  if (typeof value === 'number') return BigInt(value);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, bigintsOnly(v)]));
  return value;
}

/** Domain + message → everything needed to sign and submit. */
export function prepareIntent<P extends IntentPrimaryType>(domain: IntentDomain, primaryType: P, message: IntentMessage<P>): LocalIntent<P> {
  return {
    domain,
    primaryType,
    types: typesFor(primaryType),
    message,
    digest: intentDigest(domain, primaryType, message),
    encodedIntent: primaryType === 'CancelOffchainOrder' ? null : encodeIntent(primaryType, message),
  };
}

// ————— builders (§8.3): raw values in, a message that follows the filling rules out —————

/** Fields every nonce-protected intent takes. */
export interface Replay {
  /** Unix milliseconds: the contract checks `deadline / 1000 >= block.timestamp` (§3). */
  readonly deadlineMs: bigint;
  /** Any unused 256-bit value: nonces are an unordered bitmap per signing address (§8.3). */
  readonly nonce: bigint;
}

export interface OpenTradeParams extends Replay {
  readonly trader: Address;
  readonly pairIndex: bigint;
  readonly buy: boolean;
  /** `_type`: the code for market / stop-limit / limit / market_pnl from meta's `enums.openOrderType`. */
  readonly orderType: bigint;
  /** USDC ×1e6. Goes into `_t.positionSizeUSDC` (not initialPosToken), as the contract expects. */
  readonly collateral: bigint;
  /** Reference price ×1e10. */
  readonly openPrice: bigint;
  /** ×1e10. */
  readonly leverage: bigint;
  /** ×1e10, 0 = none. */
  readonly tp: bigint;
  /** ×1e10, 0 = none. */
  readonly sl: bigint;
  /** Percent ×1e10. */
  readonly slippageP: bigint;
}

/** OpenTradeReq: `_t.index`, `_t.initialPosToken` and `_t.timestamp` are always 0 on open. */
export function openTradeMessage(p: OpenTradeParams): IntentMessage<'OpenTradeReq'> {
  return {
    _t: {
      trader: address('trader', p.trader),
      pairIndex: uint('pairIndex', p.pairIndex),
      index: 0n,
      initialPosToken: 0n,
      positionSizeUSDC: positive('collateral', p.collateral),
      openPrice: uint('openPrice', p.openPrice),
      buy: bool('buy', p.buy),
      leverage: positive('leverage', p.leverage),
      tp: uint('tp', p.tp),
      sl: uint('sl', p.sl),
      timestamp: 0n,
    },
    _type: uint('orderType', p.orderType, 8),
    _slippageP: uint('slippageP', p.slippageP),
    _deadline: deadlineMs(p.deadlineMs),
    _nonce: uint('nonce', p.nonce),
  };
}

export interface CloseTradeParams extends Replay {
  readonly trader: Address;
  readonly pairIndex: bigint;
  readonly index: bigint;
  /** The position's current on-chain open time in seconds; a stale one reverts PositionMismatch(). */
  readonly openTimestamp: bigint;
  /** Collateral to close, USDC ×1e6 (the whole collateral = full close). */
  readonly amount: bigint;
  /** ×1e10. */
  readonly wantedPrice: bigint;
}

export function closeTradeMessage(p: CloseTradeParams): IntentMessage<'CloseTradeReq'> {
  return {
    _trader: address('trader', p.trader),
    _pairIndex: uint('pairIndex', p.pairIndex),
    _index: uint('index', p.index),
    _openTimestamp: seconds('openTimestamp', p.openTimestamp),
    _amount: positive('amount', p.amount),
    _wantedPrice: uint('wantedPrice', p.wantedPrice),
    _deadline: deadlineMs(p.deadlineMs),
    _nonce: uint('nonce', p.nonce),
  };
}

export interface IncreasePositionParams extends Replay {
  readonly trader: Address;
  readonly pairIndex: bigint;
  readonly index: bigint;
  /** Reference price ×1e10. */
  readonly openPrice: bigint;
  /** The ADDED collateral, USDC ×1e6 (not the new total). */
  readonly addedCollateral: bigint;
  /** ×1e10, applies to the added part. */
  readonly leverage: bigint;
  /** Percent ×1e10. */
  readonly slippageP: bigint;
}

export function increasePositionMessage(p: IncreasePositionParams): IntentMessage<'IncreasePositionSizeReq'> {
  return {
    _updateInfo: {
      trader: address('trader', p.trader),
      pairIndex: uint('pairIndex', p.pairIndex),
      index: uint('index', p.index),
      openPrice: uint('openPrice', p.openPrice),
      initialPosToken: positive('addedCollateral', p.addedCollateral),
      leverage: positive('leverage', p.leverage),
    },
    _slippageP: uint('slippageP', p.slippageP),
    _deadline: deadlineMs(p.deadlineMs),
    _nonce: uint('nonce', p.nonce),
  };
}

export interface UpdateTpSlParams extends Replay {
  readonly trader: Address;
  readonly pairIndex: bigint;
  readonly index: bigint;
  /** ×1e10; 0 resets TP to the pair's max-gain cap. Both levels are always sent. */
  readonly tp: bigint;
  /** ×1e10; 0 removes the SL. */
  readonly sl: bigint;
}

export function updateTpSlMessage(p: UpdateTpSlParams): IntentMessage<'UpdateTpSlReq'> {
  return {
    trader: address('trader', p.trader),
    _pairIndex: uint('pairIndex', p.pairIndex),
    _index: uint('index', p.index),
    _newTp: uint('tp', p.tp),
    _newSl: uint('sl', p.sl),
    _deadline: deadlineMs(p.deadlineMs),
    _nonce: uint('nonce', p.nonce),
  };
}

/**
 * The two ToS texts DelegateReq.tnc may carry (§8.5), byte for byte: the Avantis one has NO space
 * after `tos.`, the Veranta one has one. VERIFIED by the golden-vector digests in the tests.
 */
export const TOS_AVANTIS =
  'I accept the Avantis Terms of Service: https://www.avantisfi.com/docs/tos.I confirm that I am not a resident of any of the following countries/regions: Belarus, Cuba, Iran, North Korea, Russia, Syria, Crimea, United Kingdom, United States of America.';
export const TOS_VERANTA =
  'I accept the Veranta Terms of Service: https://www.veranta.xyz/docs/tos. I confirm that I am not a resident of any of the following countries/regions: Belarus, Cuba, Iran, North Korea, Russia, Syria, Crimea, United Kingdom, United States of America.';
/**
 * ASSUMED: the contracts accept exactly these two texts ("contracts accept either", §1). Any other
 * text is refused here rather than signed: a trader's signature over unknown terms is not ours
 * to give.
 */
export const KNOWN_TOS: readonly string[] = [TOS_VERANTA, TOS_AVANTIS];

export interface DelegateParams extends Replay {
  /** The trader (the only allowed signer of this kind). */
  readonly trader: Address;
  /** The delegate key Vanta holds. */
  readonly delegate: Address;
  /** Absolute unix SECONDS after which the delegate can no longer act. */
  readonly expirySeconds: bigint;
  /** The exact ToS text (one of KNOWN_TOS). */
  readonly tnc: string;
}

export function delegateMessage(p: DelegateParams): IntentMessage<'DelegateReq'> {
  if (!KNOWN_TOS.includes(p.tnc)) throw new BadInputError('The terms-of-service text for delegation is not one of the two known Avantis/Veranta texts; nothing is signed.');
  const trader = address('trader', p.trader);
  const delegate = address('delegate', p.delegate);
  if (trader.toLowerCase() === delegate.toLowerCase()) throw new BadInputError('A trader cannot be its own delegate.');
  return { trader, delegate, expiry: seconds('expirySeconds', p.expirySeconds), deadline: deadlineMs(p.deadlineMs), tnc: p.tnc, nonce: uint('nonce', p.nonce) };
}

/** CancelOffchainOrder: removes a partial TP/SL stored by the core API (never abi-encoded). */
export function cancelOffchainOrderMessage(entityId: string): IntentMessage<'CancelOffchainOrder'> {
  if (typeof entityId !== 'string' || !/^[\x21-\x7e]{1,200}$/.test(entityId)) throw new BadInputError('A price-trigger id must be 1–200 printable ASCII characters.');
  return { entityId };
}

export interface PartialTpSlParams {
  readonly trader: Address;
  readonly pairIndex: bigint;
  readonly index: bigint;
  readonly kind: 'take_profit' | 'stop_loss';
  /** Either a trigger price ×1e10, or a signed percentage ×1e10 (the other field is sent as 0). */
  readonly trigger: { readonly by: 'price'; readonly price: bigint } | { readonly by: 'percentage'; readonly percentage: bigint };
  /** Size to close, coins ×1e10. */
  readonly coinSize: bigint;
  /** The side of the position. */
  readonly buy: boolean;
  /** The position's open time, unix SECONDS. */
  readonly positionTimestamp: bigint;
  /** Now, unix MILLISECONDS (not in the future). */
  readonly signTimestampMs: bigint;
  readonly nonce: bigint;
}

/**
 * TpSlReq (partial TP/SL): `triggerType` 0 price / 1 percentage, `orderType` 4 partial TP /
 * 5 partial SL (§8.3, reference high confidence; not in /v2/meta's enums). No deadline.
 */
export function partialTpSlMessage(p: PartialTpSlParams): IntentMessage<'TpSlReq'> {
  const byPrice = p.trigger.by === 'price';
  return {
    trader: address('trader', p.trader),
    pairIndex: uint('pairIndex', p.pairIndex),
    index: uint('index', p.index),
    triggerType: byPrice ? 0n : 1n,
    coinSize: positive('coinSize', p.coinSize),
    buy: bool('buy', p.buy),
    price: p.trigger.by === 'price' ? positive('price', p.trigger.price) : 0n,
    percentage: p.trigger.by === 'percentage' ? int256('percentage', p.trigger.percentage) : 0n,
    timestamp: seconds('positionTimestamp', p.positionTimestamp),
    signTimestamp: milliseconds('signTimestampMs', p.signTimestampMs),
    orderType: p.kind === 'take_profit' ? 4n : p.kind === 'stop_loss' ? 5n : invalid('kind', 'take_profit or stop_loss'),
    nonce: uint('nonce', p.nonce),
  };
}

/** A referral code as bytes32: ASCII right-padded with zero bytes (§8.3). */
export function referralCodeBytes32(code: string): Hex {
  if (typeof code !== 'string' || !/^[\x21-\x7e]{1,32}$/.test(code)) throw new BadInputError('A referral code is 1–32 printable ASCII characters.');
  return stringToHex(code, { size: 32 });
}

/** A fresh random 256-bit nonce (nonces are an unordered bitmap: ordering is irrelevant). */
export function randomNonce(fill: (bytes: Uint8Array) => Uint8Array = (b) => crypto.getRandomValues(b)): bigint {
  const bytes = fill(new Uint8Array(32));
  return BigInt(`0x${Buffer.from(bytes).toString('hex')}`);
}

// ————— input checks: a wrong value is refused here, before any digest exists —————

function isStruct(type: string): type is IntentStructType {
  return Object.hasOwn(INTENT_TYPES, type);
}

function invalid(name: string, expected: string): never {
  throw new BadInputError(`Intent field ${name} must be ${expected}.`, { field: name });
}

function uint(name: string, value: bigint, bits = 256): bigint {
  if (typeof value !== 'bigint' || value < 0n || value > (bits === 256 ? MAX_UINT256 : 2n ** BigInt(bits) - 1n)) invalid(name, `an unsigned ${bits}-bit integer (bigint)`);
  return value;
}

function positive(name: string, value: bigint): bigint {
  if (uint(name, value) === 0n) invalid(name, 'greater than zero');
  return value;
}

function int256(name: string, value: bigint): bigint {
  if (typeof value !== 'bigint' || value < MIN_INT256 || value > MAX_INT256 || value === 0n) invalid(name, 'a non-zero signed 256-bit integer (bigint)');
  return value;
}

function bool(name: string, value: boolean): boolean {
  if (typeof value !== 'boolean') invalid(name, 'true or false');
  return value;
}

function address(name: string, value: Address): Address {
  if (typeof value !== 'string' || !isAddress(value, { strict: false })) invalid(name, 'a 20-byte hex address');
  return value;
}

/**
 * Unix-time sanity bounds: a seconds value has at most 11 digits until the year 5138 and a
 * milliseconds value at least 13 since 2001, so passing one for the other is caught here
 * instead of by an InvalidDeadline revert or an expiry 1000 times too far.
 */
const MS_FLOOR = 1_000_000_000_000n;

function deadlineMs(value: bigint): bigint {
  return milliseconds('deadlineMs', value);
}

function milliseconds(name: string, value: bigint): bigint {
  if (uint(name, value) < MS_FLOOR) invalid(name, 'a unix time in milliseconds (it looks like seconds)');
  return value;
}

function seconds(name: string, value: bigint): bigint {
  if (uint(name, value) >= MS_FLOOR / 10n) invalid(name, 'a unix time in seconds (it looks like milliseconds)');
  return value;
}
