/**
 * The EIP-712 type definitions of every Avantis v2 intent (AVANTIS-V2.md §8.2), exactly: field
 * order and the `_` / `__` prefixes are part of each typehash, so one moved or renamed field
 * gives another digest and a signature the contracts reject.
 *
 * VERIFIED: all 17 typehashes of §8.2's table are recomputed from these definitions by
 * test/infra/chain/avantis-v2/intent-types.test.ts, and the reference states they match the
 * official SDK's golden vectors (17 of 17).
 *
 * These definitions are the only ones Vanta signs. The tx-builder also sends a `types` object;
 * verify-intent.ts refuses an answer whose types differ from these in any way.
 */
import { keccak256, stringToHex, type Hex, type TypedData } from 'viem';

/** Nested in OpenTradeReq / OpenTradeCoinExposureReq as `_t` (the v1 `Trade` struct). */
const Trade = [
  { name: 'trader', type: 'address' },
  { name: 'pairIndex', type: 'uint256' },
  { name: 'index', type: 'uint256' },
  { name: 'initialPosToken', type: 'uint256' },
  { name: 'positionSizeUSDC', type: 'uint256' },
  { name: 'openPrice', type: 'uint256' },
  { name: 'buy', type: 'bool' },
  { name: 'leverage', type: 'uint256' },
  { name: 'tp', type: 'uint256' },
  { name: 'sl', type: 'uint256' },
  { name: 'timestamp', type: 'uint256' },
] as const;

/** Nested in the two increase intents as `_updateInfo`. */
const UpdatePositionSize = [
  { name: 'trader', type: 'address' },
  { name: 'pairIndex', type: 'uint256' },
  { name: 'index', type: 'uint256' },
  { name: 'openPrice', type: 'uint256' },
  { name: 'initialPosToken', type: 'uint256' },
  { name: 'leverage', type: 'uint256' },
] as const;

/** Every struct type of v2 intents: the 17 primary types and the two nested ones. */
export const INTENT_TYPES = {
  Trade,
  UpdatePositionSize,
  OpenTradeReq: [
    { name: '_t', type: 'Trade' },
    { name: '_type', type: 'uint8' },
    { name: '_slippageP', type: 'uint256' },
    { name: '_deadline', type: 'uint256' },
    { name: '_nonce', type: 'uint256' },
  ],
  OpenTradeCoinExposureReq: [
    { name: '_t', type: 'Trade' },
    { name: '_type', type: 'uint8' },
    { name: '_coinExposure', type: 'uint256' },
    { name: '_minLeverage', type: 'uint256' },
    { name: '_maxLeverage', type: 'uint256' },
    { name: '_slippageP', type: 'uint256' },
    { name: '_deadline', type: 'uint256' },
    { name: '_nonce', type: 'uint256' },
  ],
  CloseTradeReq: [
    { name: '_trader', type: 'address' },
    { name: '_pairIndex', type: 'uint256' },
    { name: '_index', type: 'uint256' },
    { name: '_openTimestamp', type: 'uint256' },
    { name: '_amount', type: 'uint256' },
    { name: '_wantedPrice', type: 'uint256' },
    { name: '_deadline', type: 'uint256' },
    { name: '_nonce', type: 'uint256' },
  ],
  CloseTradeCoinExposureReq: [
    { name: '_trader', type: 'address' },
    { name: '_pairIndex', type: 'uint256' },
    { name: '_index', type: 'uint256' },
    { name: '_openTimestamp', type: 'uint256' },
    { name: '_coinExposure', type: 'uint256' },
    { name: '_wantedPrice', type: 'uint256' },
    { name: '_deadline', type: 'uint256' },
    { name: '_nonce', type: 'uint256' },
  ],
  IncreasePositionSizeReq: [
    { name: '_updateInfo', type: 'UpdatePositionSize' },
    { name: '_slippageP', type: 'uint256' },
    { name: '_deadline', type: 'uint256' },
    { name: '_nonce', type: 'uint256' },
  ],
  IncreasePositionSizeWithCoinExposureReq: [
    { name: '_updateInfo', type: 'UpdatePositionSize' },
    { name: '_coinExposure', type: 'uint256' },
    { name: '_minLeverage', type: 'uint256' },
    { name: '_maxLeverage', type: 'uint256' },
    { name: '_slippageP', type: 'uint256' },
    { name: '_deadline', type: 'uint256' },
    { name: '_nonce', type: 'uint256' },
  ],
  // `trader` has no underscore here while the other fields do: exactly as the contract names them.
  UpdateTpSlReq: [
    { name: 'trader', type: 'address' },
    { name: '_pairIndex', type: 'uint256' },
    { name: '_index', type: 'uint256' },
    { name: '_newTp', type: 'uint256' },
    { name: '_newSl', type: 'uint256' },
    { name: '_deadline', type: 'uint256' },
    { name: '_nonce', type: 'uint256' },
  ],
  TpSlReq: [
    { name: 'trader', type: 'address' },
    { name: 'pairIndex', type: 'uint256' },
    { name: 'index', type: 'uint256' },
    { name: 'triggerType', type: 'uint8' },
    { name: 'coinSize', type: 'uint256' },
    { name: 'buy', type: 'bool' },
    { name: 'price', type: 'uint256' },
    { name: 'percentage', type: 'int256' },
    { name: 'timestamp', type: 'uint256' },
    { name: 'signTimestamp', type: 'uint256' },
    { name: 'orderType', type: 'uint8' },
    { name: 'nonce', type: 'uint256' },
  ],
  TwapOpenOrder: [
    { name: 'trader', type: 'address' },
    { name: 'pairIndex', type: 'uint256' },
    { name: 'collateral', type: 'uint256' },
    { name: 'buy', type: 'bool' },
    { name: 'isCoin', type: 'bool' },
    { name: 'coinSize', type: 'uint256' },
    { name: 'defaultLeverage', type: 'uint256' },
    { name: 'maxLeverage', type: 'uint256' },
    { name: 'runTime', type: 'uint256' },
    { name: 'nonce', type: 'uint256' },
    { name: 'deadline', type: 'uint256' },
    { name: '__reserved1', type: 'uint256' },
  ],
  TwapCloseOrder: [
    { name: 'trader', type: 'address' },
    { name: 'pairIndex', type: 'uint256' },
    { name: 'index', type: 'uint256' },
    { name: 'coinSizeToClose', type: 'uint256' },
    { name: 'runTime', type: 'uint256' },
    { name: 'nonce', type: 'uint256' },
    { name: 'deadline', type: 'uint256' },
    { name: '__reserved1', type: 'uint256' },
  ],
  TwapCancelReq: [
    { name: 'trader', type: 'address' },
    { name: 'twapId', type: 'uint256' },
    { name: 'nonce', type: 'uint256' },
    { name: 'deadline', type: 'uint256' },
  ],
  CancelOffchainOrder: [{ name: 'entityId', type: 'string' }],
  RfqOpenOrder: [
    { name: 'trader', type: 'address' },
    { name: 'pairIndex', type: 'uint256' },
    { name: 'collateral', type: 'uint256' },
    { name: 'buy', type: 'bool' },
    { name: 'isCoin', type: 'bool' },
    { name: 'coinSize', type: 'uint256' },
    { name: 'defaultLeverage', type: 'uint256' },
    { name: 'maxLeverage', type: 'uint256' },
    { name: 'wantedPrice', type: 'uint256' },
    { name: 'maxSlippageP', type: 'uint256' },
    { name: 'nonce', type: 'uint256' },
    { name: 'deadline', type: 'uint256' },
  ],
  RfqCloseOrder: [
    { name: 'trader', type: 'address' },
    { name: 'pairIndex', type: 'uint256' },
    { name: 'index', type: 'uint256' },
    { name: 'coinSizeToClose', type: 'uint256' },
    { name: 'wantedPrice', type: 'uint256' },
    { name: 'maxSlippageP', type: 'uint256' },
    { name: 'nonce', type: 'uint256' },
    { name: 'deadline', type: 'uint256' },
  ],
  // Typed order puts `deadline` before `tnc`; the Solidity struct (and so `encodedIntent`) does
  // not: see DELEGATE_REQ_SOLIDITY_ORDER.
  DelegateReq: [
    { name: 'trader', type: 'address' },
    { name: 'delegate', type: 'address' },
    { name: 'expiry', type: 'uint256' },
    { name: 'deadline', type: 'uint256' },
    { name: 'tnc', type: 'string' },
    { name: 'nonce', type: 'uint256' },
  ],
  RegisterCodeReq: [
    { name: '_code', type: 'bytes32' },
    { name: '_referrer', type: 'address' },
    { name: '_deadline', type: 'uint256' },
    { name: '_nonce', type: 'uint256' },
  ],
  SetTraderReferralCodeByUserReq: [
    { name: '_code', type: 'bytes32' },
    { name: '_referee', type: 'address' },
    { name: '_deadline', type: 'uint256' },
    { name: '_nonce', type: 'uint256' },
  ],
} as const satisfies TypedData;

export type IntentTypes = typeof INTENT_TYPES;

/** The 17 kinds a trader or delegate signs (§8.2); Trade and UpdatePositionSize only nest. */
export const INTENT_PRIMARY_TYPES = [
  'OpenTradeReq',
  'OpenTradeCoinExposureReq',
  'CloseTradeReq',
  'CloseTradeCoinExposureReq',
  'IncreasePositionSizeReq',
  'IncreasePositionSizeWithCoinExposureReq',
  'UpdateTpSlReq',
  'TpSlReq',
  'TwapOpenOrder',
  'TwapCloseOrder',
  'TwapCancelReq',
  'CancelOffchainOrder',
  'RfqOpenOrder',
  'RfqCloseOrder',
  'DelegateReq',
  'RegisterCodeReq',
  'SetTraderReferralCodeByUserReq',
] as const;

export type IntentPrimaryType = (typeof INTENT_PRIMARY_TYPES)[number];
export type IntentStructType = keyof IntentTypes;

export function isIntentPrimaryType(value: unknown): value is IntentPrimaryType {
  return typeof value === 'string' && (INTENT_PRIMARY_TYPES as readonly string[]).includes(value);
}

/**
 * Which EIP-712 domain signs each kind (§8.1): the Referral contract verifies the two referral
 * intents, the TradingRouter everything else. Both domains share name and version and differ
 * only in `verifyingContract`. VERIFIED (golden vectors) for the split; the domain values
 * themselves come from /v2/meta at start-up, never from here.
 */
export type IntentDomainKind = 'trading' | 'referral';

export function domainKindOf(primaryType: IntentPrimaryType): IntentDomainKind {
  return primaryType === 'RegisterCodeReq' || primaryType === 'SetTraderReferralCodeByUserReq' ? 'referral' : 'trading';
}

/**
 * Who may sign each kind (§6 `signerRule`): only DelegateReq must come from the trader, since a
 * delegate cannot add delegates (§4). VERIFIED by the reference (high confidence).
 */
export type SignerRule = 'trader-or-delegate' | 'trader-only';

export function signerRuleOf(primaryType: IntentPrimaryType): SignerRule {
  return primaryType === 'DelegateReq' ? 'trader-only' : 'trader-or-delegate';
}

/** The struct types a type refers to, directly or through nesting, excluding itself. */
export function nestedTypesOf(type: IntentStructType): IntentStructType[] {
  const found = new Set<IntentStructType>();
  const visit = (name: IntentStructType): void => {
    for (const field of INTENT_TYPES[name]) {
      if (isStructType(field.type) && field.type !== type && !found.has(field.type)) {
        found.add(field.type);
        visit(field.type);
      }
    }
  };
  visit(type);
  return [...found].sort();
}

/**
 * The `types` object for one kind, as viem's signTypedData and the tx-builder (§6) use it: the
 * primary type and its nested types, without `EIP712Domain`.
 */
export function typesFor(primaryType: IntentPrimaryType): Partial<IntentTypes> {
  const types: Record<string, IntentTypes[IntentStructType]> = { [primaryType]: INTENT_TYPES[primaryType] };
  for (const nested of nestedTypesOf(primaryType)) types[nested] = INTENT_TYPES[nested];
  return types;
}

/**
 * EIP-712 `encodeType`: the primary type's signature, then each referenced struct's in
 * alphabetical order. Written here (rather than taken from viem) so the typehash test checks
 * our definitions against the reference through a second, independent path.
 */
export function encodeType(type: IntentStructType): string {
  const one = (name: IntentStructType): string => `${name}(${INTENT_TYPES[name].map((f) => `${f.type} ${f.name}`).join(',')})`;
  return [type, ...nestedTypesOf(type)].map(one).join('');
}

/** keccak256 of encodeType: the typehash the contract hard-codes. */
export function typeHash(type: IntentStructType): Hex {
  return keccak256(stringToHex(encodeType(type)));
}

function isStructType(type: string): type is IntentStructType {
  return Object.hasOwn(INTENT_TYPES, type);
}
