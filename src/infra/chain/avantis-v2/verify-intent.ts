/**
 * The check that runs BEFORE any tx-builder intent answer is signed (AVANTIS-V2.md §6 "Intent
 * response"; ADR 0015).
 *
 * The tx-builder is a convenience, not an authority: it is a remote service that could be buggy,
 * compromised or impersonated, and a signature over its digest is an order on the trader's money.
 * So an answer is signed only if it is, field for field, the intent we asked for:
 *   1. `primaryType` and `signerRule` are the ones of the kind we asked for;
 *   2. `domain` equals the expected one (from /v2/meta) exactly — no extra keys;
 *   3. `types` equal OUR definitions (intent-types.ts); a changed type is tampering;
 *   4. `message` has exactly the fields of the type, each a valid value of its type, and every
 *      field we asked for (`fields`) has the value we asked for;
 *   5. the digest we compute equals the answer's `digest`;
 *   6. the abi encoding we compute equals the answer's `encodedIntent`.
 * The first difference throws V2IntentMismatchError naming the field; the caller refuses the
 * action and alerts the operator. What the caller then signs is OUR digest (equal to theirs).
 *
 * ASSUMED (the reference shows no live answer): integers may arrive as decimal strings (the
 * documented form) or as JSON safe integers (tolerated: the digest check proves the value either
 * way); `domain.chainId` may be a number or a decimal string; `types` holds the primary type and
 * its nested types (any other entry must be one of ours, unchanged; `EIP712Domain` is refused as
 * the reference says it is excluded); CancelOffchainOrder answers carry no `encodedIntent`
 * (absent, null, "" or "0x").
 */
import { getAddress, isAddress, type Address, type Hex } from 'viem';
import { V2IntentMismatchError } from './errors.ts';
import { INTENT_TYPES, isIntentPrimaryType, signerRuleOf, typesFor, type IntentPrimaryType, type IntentStructType, type SignerRule } from './intent-types.ts';
import { prepareIntent, type IntentDomain, type IntentMessage, type LocalIntent } from './intents.ts';
import { MAX_INT256, MAX_UINT256, MIN_INT256 } from './units.ts';

type DeepPartial<T> = { readonly [K in keyof T]?: T[K] extends bigint | string | boolean ? T[K] : DeepPartial<T[K]> };

/** What we asked the tx-builder for. */
export interface IntentRequest<P extends IntentPrimaryType> {
  readonly primaryType: P;
  /** The domain /v2/meta gave for this kind (meta.ts `domainFor`). */
  readonly domain: IntentDomain;
  /**
   * The message fields we chose, raw (bigint integers). Pass every field you decided — ideally
   * the whole locally built message, deadline and nonce included; fields left out are the
   * service's choice and are checked only for type and through the digest.
   */
  readonly fields: DeepPartial<IntentMessage<P>>;
}

/** A checked answer: safe to sign `digest` and submit `encodedIntent`. */
export interface VerifiedIntent<P extends IntentPrimaryType> extends LocalIntent<P> {
  /** The service's `intent` kind label, kept for logs. */
  readonly intent: string;
  readonly signerRule: SignerRule;
}

/** Checks an intent answer (the envelope's `data`) against what we asked; throws on any difference. */
export function verifyIntentAnswer<P extends IntentPrimaryType>(answer: unknown, request: IntentRequest<P>): VerifiedIntent<P> {
  const a = record(answer, 'answer');
  const intent = a.intent;
  if (typeof intent !== 'string' || intent === '') mismatch('intent', 'missing or not a string');

  // 1. The kind, and who may sign it.
  if (a.primaryType !== request.primaryType) mismatch('primaryType', `asked for ${request.primaryType}, got ${describe(a.primaryType)}`);
  const primaryType = request.primaryType;
  if (!isIntentPrimaryType(primaryType)) mismatch('primaryType', `${describe(primaryType)} is not a known intent`);
  const rule = signerRuleOf(primaryType);
  if (a.signerRule !== rule) mismatch('signerRule', `expected ${rule}, got ${describe(a.signerRule)}`);

  // 2. The domain, exactly.
  checkDomain(a.domain, request.domain);

  // 3. The types, exactly ours.
  checkTypes(a.types, primaryType);

  // 4. The message: well-formed, then equal to what we asked wherever we asked.
  const message = parseStruct(primaryType, a.message, 'message') as IntentMessage<P>;
  compareAsked(request.fields, message, 'message');

  // 5 and 6. Our own digest and encoding must be the answer's.
  const local = prepareIntent(request.domain, primaryType, message);
  if (!isHex(a.digest, 32) || a.digest.toLowerCase() !== local.digest) mismatch('digest', `the answer's digest ${describe(a.digest)} is not the one computed locally (${local.digest})`);
  if (local.encodedIntent === null) {
    if (!(a.encodedIntent === undefined || a.encodedIntent === null || a.encodedIntent === '' || a.encodedIntent === '0x')) mismatch('encodedIntent', `${primaryType} is never abi-encoded, but the answer carries one`);
  } else if (typeof a.encodedIntent !== 'string' || a.encodedIntent.toLowerCase() !== local.encodedIntent.toLowerCase()) {
    mismatch('encodedIntent', 'the answer\'s abi encoding is not the one computed locally');
  }
  return { ...local, intent, signerRule: rule };
}

function checkDomain(value: unknown, expected: IntentDomain): void {
  const d = record(value, 'domain');
  const keys = Object.keys(d).sort();
  if (keys.join(',') !== 'chainId,name,verifyingContract,version') mismatch('domain', `expected exactly name, version, chainId, verifyingContract; got ${describe(keys.join(', '))}`);
  if (d.name !== expected.name) mismatch('domain.name', `expected ${describe(expected.name)}, got ${describe(d.name)}`);
  if (d.version !== expected.version) mismatch('domain.version', `expected ${describe(expected.version)}, got ${describe(d.version)}`);
  const chainId = typeof d.chainId === 'number' ? d.chainId : typeof d.chainId === 'string' && /^[0-9]{1,16}$/.test(d.chainId) ? Number(d.chainId) : NaN;
  if (chainId !== expected.chainId) mismatch('domain.chainId', `expected ${expected.chainId}, got ${describe(d.chainId)}`);
  if (typeof d.verifyingContract !== 'string' || !isAddress(d.verifyingContract, { strict: false }) || !sameAddress(d.verifyingContract, expected.verifyingContract)) {
    mismatch('domain.verifyingContract', `expected ${expected.verifyingContract}, got ${describe(d.verifyingContract)}`);
  }
}

function checkTypes(value: unknown, primaryType: IntentPrimaryType): void {
  const types = record(value, 'types');
  const needed = Object.keys(typesFor(primaryType));
  for (const name of needed) if (!Object.hasOwn(types, name)) mismatch(`types.${name}`, 'missing');
  for (const [name, fields] of Object.entries(types)) {
    if (!Object.hasOwn(INTENT_TYPES, name)) mismatch(`types.${name}`, name === 'EIP712Domain' ? 'EIP712Domain must not be sent (it is added when hashing)' : 'not an Avantis intent type');
    const ours = INTENT_TYPES[name as IntentStructType] as readonly { readonly name: string; readonly type: string }[];
    const theirs = Array.isArray(fields) ? (fields as unknown[]) : null;
    if (theirs === null || theirs.length !== ours.length) mismatch(`types.${name}`, `expected ${ours.length} fields, got ${theirs === null ? describe(fields) : theirs.length}`);
    ours.forEach((field, i) => {
      const f = theirs[i];
      const same = f !== null && typeof f === 'object' && Object.keys(f).length === 2 && (f as Record<string, unknown>).name === field.name && (f as Record<string, unknown>).type === field.type;
      if (!same) mismatch(`types.${name}[${i}]`, `expected ${field.type} ${field.name}, got ${describe(f)}`);
    });
  }
}

/** Parses a message of `type` from JSON (integers as decimal strings), refusing extra or missing fields. */
function parseStruct(type: IntentStructType, value: unknown, path: string): Record<string, unknown> {
  const input = record(value, path);
  const fields = INTENT_TYPES[type] as readonly { readonly name: string; readonly type: string }[];
  for (const key of Object.keys(input)) if (!fields.some((f) => f.name === key)) mismatch(`${path}.${key}`, 'not a field of the type');
  const out: Record<string, unknown> = {};
  for (const field of fields) {
    const at = `${path}.${field.name}`;
    if (!Object.hasOwn(input, field.name)) mismatch(at, 'missing');
    out[field.name] = parseField(field.type, input[field.name], at);
  }
  return out;
}

function parseField(type: string, value: unknown, path: string): unknown {
  if (Object.hasOwn(INTENT_TYPES, type)) return parseStruct(type as IntentStructType, value, path);
  if (type === 'address') {
    if (typeof value !== 'string' || !isAddress(value, { strict: false })) mismatch(path, `not an address: ${describe(value)}`);
    return getAddress(value);
  }
  if (type === 'bool') {
    if (typeof value !== 'boolean') mismatch(path, `not true/false: ${describe(value)}`);
    return value;
  }
  if (type === 'string') {
    if (typeof value !== 'string') mismatch(path, `not a string: ${describe(value)}`);
    return value;
  }
  if (type === 'bytes32') {
    if (!isHex(value, 32)) mismatch(path, `not 32 bytes of hex: ${describe(value)}`);
    return value.toLowerCase();
  }
  const int = /^(u?)int(\d+)$/.exec(type);
  if (int === null) mismatch(path, `unsupported type ${type}`);
  const n = integer(value, path);
  const bits = BigInt(int[2]!);
  const [min, max] = int[1] === 'u' ? [0n, bits === 256n ? MAX_UINT256 : 2n ** bits - 1n] : [bits === 256n ? MIN_INT256 : -(2n ** (bits - 1n)), bits === 256n ? MAX_INT256 : 2n ** (bits - 1n) - 1n];
  if (n < min || n > max) mismatch(path, `${n} does not fit ${type}`);
  return n;
}

function integer(value: unknown, path: string): bigint {
  if (typeof value === 'string' && /^-?[0-9]{1,78}$/.test(value)) return BigInt(value);
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  return mismatch(path, `not an integer (decimal string): ${describe(value)}`);
}

/** Every field we asked for must have exactly our value (addresses compared case-insensitively). */
function compareAsked(asked: Readonly<Record<string, unknown>>, got: Readonly<Record<string, unknown>>, path: string): void {
  for (const [key, want] of Object.entries(asked)) {
    if (want === undefined) continue;
    const at = `${path}.${key}`;
    const have = got[key];
    if (want !== null && typeof want === 'object') {
      compareAsked(want as Readonly<Record<string, unknown>>, record(have, at), at);
      continue;
    }
    const same = typeof want === 'string' && typeof have === 'string' && /^0x[0-9a-fA-F]*$/.test(want) ? want.toLowerCase() === have.toLowerCase() : want === have;
    if (!same) mismatch(at, `asked for ${describe(want)}, the answer has ${describe(have)}`);
  }
}

function record(value: unknown, path: string): Readonly<Record<string, unknown>> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) mismatch(path, `not an object: ${describe(value)}`);
  return value as Readonly<Record<string, unknown>>;
}

function isHex(value: unknown, bytes: number): value is Hex {
  return typeof value === 'string' && new RegExp(`^0x[0-9a-fA-F]{${bytes * 2}}$`).test(value);
}

function sameAddress(a: string, b: Address): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

function mismatch(field: string, reason: string): never {
  throw new V2IntentMismatchError(field, reason);
}

/** A short, printable rendering of an untrusted value for an error message. */
function describe(value: unknown): string {
  const text = typeof value === 'bigint' ? value.toString() : typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
  return clean.length > 80 ? `${clean.slice(0, 79)}…` : clean;
}
