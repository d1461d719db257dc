/**
 * `GET /v2/meta` (AVANTIS-V2.md §6): the tx-builder's description of the deployment — chain,
 * contract addresses, the two EIP-712 domains, the open-order enum, units and defaults. It is
 * read once at start-up and is the only source of these values: the domain Vanta signs under,
 * the `_type` code of an open and the default deadline are taken from here, never written in code.
 *
 * Confidence: the shape is VERIFIED only as far as the reference goes ("from the SDK's test
 * fixture plus the keys its code reads"); live mainnet values were never seen. ASSUMED:
 * - the key `eip712.referral` (the reference says the name is inferred). It is optional here: when
 *   absent, referral intents are refused and trading intents still work;
 * - which `addresses` keys are always present: tradingRouter, tradingStorage, usdc and referral
 *   are required (the flows need them); the others are optional;
 * - that each domain's verifyingContract is the contract of the same role in `addresses`
 *   (the fixture writes `"<tradingRouter>"` / `"<referral>"`): a disagreement is refused;
 * - that `units` are written "1e10" / "1e6" (plain digits are accepted too).
 *
 * A malformed or inconsistent answer is refused as a whole with every problem listed: live
 * must not trade on half a description.
 */
import { getAddress, isAddress, type Address } from 'viem';
import { z } from 'zod';
import { V2MetaError } from './errors.ts';
import { domainKindOf, type IntentPrimaryType } from './intent-types.ts';
import type { IntentDomain } from './intents.ts';
import { RAW_DECIMALS, toRaw } from './units.ts';

const address = z.string().refine((s) => isAddress(s, { strict: false }), 'not a 20-byte hex address').transform((s) => getAddress(s));
const chainId = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const domain = z.object({ name: z.string().min(1), version: z.string().min(1), chainId, verifyingContract: address });
const decimalIntegerString = z.string().regex(/^[0-9]{1,78}$/, 'not a decimal integer string');
/** "1e10" or "10000000000" → the number of decimals (10). */
const scale = z.string().transform((s, ctx) => {
  const exponent = /^1e([0-9]{1,2})$/.exec(s)?.[1] ?? (/^10*$/.test(s) ? String(s.length - 1) : undefined);
  if (exponent === undefined) ctx.addIssue({ code: 'custom', message: `not a power of ten: ${JSON.stringify(s).slice(0, 40)}` });
  return Number(exponent);
});

const metaSchema = z.object({
  chainId,
  addresses: z.object({
    tradingRouter: address,
    tradingStorage: address,
    usdc: address,
    referral: address,
    tranche: address.optional(),
    builderCode: address.optional(),
    delegationTemplate: address.optional(),
    vaultManager: address.optional(),
  }),
  eip712: z.object({
    trading: domain,
    referral: domain.optional(),
    // The only format this build signs: r ‖ s ‖ v, 65 bytes, v 27/28 (§8.6).
    signatureFormat: z.literal('rsv-65-bytes'),
  }),
  enums: z.object({
    openOrderType: z.object({
      market: z.number().int().min(0).max(255),
      stop_limit: z.number().int().min(0).max(255),
      limit: z.number().int().min(0).max(255),
      market_pnl: z.number().int().min(0).max(255),
    }),
  }),
  units: z.object({ price: scale, leverage: scale, usdc: scale }),
  defaults: z.object({
    executionFeeWei: decimalIntegerString,
    intentDeadlineMs: z.number().int().positive().max(24 * 3600 * 1000),
    slippagePercent: z.string(),
  }),
});

export type OpenOrderTypeName = 'market' | 'stop_limit' | 'limit' | 'market_pnl';

/** The validated meta, addresses checksummed, amounts as bigint. */
export interface V2Meta {
  readonly chainId: number;
  readonly addresses: {
    readonly tradingRouter: Address;
    readonly tradingStorage: Address;
    readonly usdc: Address;
    readonly referral: Address;
    readonly tranche?: Address;
    readonly builderCode?: Address;
    readonly delegationTemplate?: Address;
    readonly vaultManager?: Address;
  };
  readonly domains: { readonly trading: IntentDomain; readonly referral: IntentDomain | null };
  readonly openOrderType: Readonly<Record<OpenOrderTypeName, number>>;
  readonly defaults: { readonly executionFeeWei: bigint; readonly intentDeadlineMs: number; readonly slippagePercent: bigint };
}

export interface ParseMetaOptions {
  /** The chain this engine is configured for: meta for another chain is refused. */
  readonly chainId?: number;
}

/** Validates a `/v2/meta` payload (the envelope's `data`); throws V2MetaError listing every problem. */
export function parseMeta(json: unknown, options: ParseMetaOptions = {}): V2Meta {
  const parsed = metaSchema.safeParse(json);
  if (!parsed.success) throw new V2MetaError(parsed.error.issues.slice(0, 10).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`));
  const m = parsed.data;
  const problems: string[] = [];
  if (options.chainId !== undefined && m.chainId !== options.chainId) problems.push(`chainId is ${m.chainId}, but this engine is configured for chain ${options.chainId}`);
  const check = (kind: 'trading' | 'referral', d: z.infer<typeof domain> | undefined, contract: Address): void => {
    if (d === undefined) return;
    if (d.chainId !== m.chainId) problems.push(`eip712.${kind}.chainId is ${d.chainId}, not the meta's chainId ${m.chainId}`);
    if (d.verifyingContract !== contract) problems.push(`eip712.${kind}.verifyingContract ${d.verifyingContract} is not the ${kind === 'trading' ? 'tradingRouter' : 'referral'} address ${contract}`);
  };
  check('trading', m.eip712.trading, m.addresses.tradingRouter);
  check('referral', m.eip712.referral, m.addresses.referral);
  // Our scaling (units.ts) must be the service's, or every amount would be off by a power of ten.
  for (const [name, ours] of [['price', RAW_DECIMALS.price], ['leverage', RAW_DECIMALS.leverage], ['usdc', RAW_DECIMALS.usdc]] as const) {
    if (m.units[name] !== ours) problems.push(`units.${name} is 1e${m.units[name]}, this build scales by 1e${ours}`);
  }
  const codes = Object.values(m.enums.openOrderType);
  if (new Set(codes).size !== codes.length) problems.push('enums.openOrderType gives two order types the same code');
  let slippagePercent = 0n;
  try {
    slippagePercent = toRaw('slippagePercent', m.defaults.slippagePercent);
  } catch {
    problems.push('defaults.slippagePercent is not a decimal percentage');
  }
  if (problems.length > 0) throw new V2MetaError(problems);
  const { tranche, builderCode, delegationTemplate, vaultManager, ...required } = m.addresses;
  return {
    chainId: m.chainId,
    addresses: {
      ...required,
      ...(tranche === undefined ? {} : { tranche }),
      ...(builderCode === undefined ? {} : { builderCode }),
      ...(delegationTemplate === undefined ? {} : { delegationTemplate }),
      ...(vaultManager === undefined ? {} : { vaultManager }),
    },
    domains: { trading: m.eip712.trading, referral: m.eip712.referral ?? null },
    openOrderType: m.enums.openOrderType,
    defaults: { executionFeeWei: BigInt(m.defaults.executionFeeWei), intentDeadlineMs: m.defaults.intentDeadlineMs, slippagePercent },
  };
}

/** The domain an intent kind is signed under (§8.1), from meta. */
export function domainFor(meta: V2Meta, primaryType: IntentPrimaryType): IntentDomain {
  if (domainKindOf(primaryType) === 'trading') return meta.domains.trading;
  if (meta.domains.referral === null) throw new V2MetaError([`/v2/meta has no eip712.referral domain, so ${primaryType} cannot be signed`]);
  return meta.domains.referral;
}

/** The `_type` code of an open order kind, from meta's enum (§6, §8.3). */
export function openOrderTypeCode(meta: V2Meta, name: OpenOrderTypeName): bigint {
  return BigInt(meta.openOrderType[name]);
}
