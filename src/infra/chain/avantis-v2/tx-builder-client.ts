/**
 * The tx-builder (AVANTIS-V2.md §6, §7): `GET /v2/meta`, the five intent builders we use,
 * `/v2/delegation`, `/v2/nonce`, `/v2/positions`. Every intent answer goes through `unwrapEnvelope`
 * and then `verifyIntentAnswer` against what we asked: this client NEVER returns an unverified intent.
 */
import { type Address } from 'viem';
import { z } from 'zod';
import { unwrapEnvelope } from './envelope.ts';
import { V2IntentMismatchError } from './errors.ts';
import type { IntentPrimaryType } from './intent-types.ts';
import { KNOWN_TOS, type IntentMessage } from './intents.ts';
import { domainFor, openOrderTypeCode, parseMeta, type OpenOrderTypeName, type ParseMetaOptions, type V2Meta } from './meta.ts';
import { toRaw } from './units.ts';
import { verifyIntentAnswer, type IntentRequest, type VerifiedIntent } from './verify-intent.ts';
import { Transport, type Call, joinUrl, query, badShape, addressSchema, uintString, type V2HttpOptions } from './http-transport.ts';

export interface TxBuilderClientOptions extends V2HttpOptions {
  /** e.g. V2_DEFAULT_HOSTS.mainnet.txBuilder. */
  readonly baseUrl: string;
  /** Passed to parseMeta: meta for another chain is refused. */
  readonly meta?: ParseMetaOptions;
  /**
   * The longest deadline accepted from the service when we did not choose one (ms from now).
   * Default 10 minutes. ASSUMED sane bound; the documented default is 120 s (§6 `intentDeadlineMs`).
   */
  readonly maxServiceDeadlineMs?: number;
}

/** Common to every intent request: when given, they are sent and then checked in the answer. */
export interface ReplayFields {
  /** Any unused 256-bit value (§8.3). Recommended: choose it (randomNonce()) so it is verified. */
  readonly nonce?: bigint;
  /**
   * Unix MILLISECONDS. ASSUMED: the service reads `deadlineMs` as an absolute time (§7.3 leaves
   * it open). If it read it as a lifetime, the answer's `_deadline` would differ from what we
   * sent and verification would refuse it — safe either way.
   */
  readonly deadlineMs?: bigint;
}

/** Human units as decimal strings (§3): "100" USDC, "10" = 10x, "3500.5", "1" = 1 %. */
export interface OpenIntentRequest extends ReplayFields {
  readonly trader: Address;
  readonly pairIndex: number;
  readonly side: 'long' | 'short';
  readonly orderType: OpenOrderTypeName;
  readonly collateralUsdc: string;
  readonly leverage: string;
  readonly openPrice: string;
  readonly slippagePercent: string;
  readonly takeProfit?: string;
  readonly stopLoss?: string;
}

export interface CloseIntentRequest extends ReplayFields {
  readonly trader: Address;
  readonly pairIndex: number;
  readonly tradeIndex: number;
  readonly collateralToCloseUsdc: string;
  readonly expectedPrice?: string;
  /** Unix seconds: the position's current open time (§8.3). */
  readonly openTimestamp?: number;
}

export interface IncreaseIntentRequest extends ReplayFields {
  readonly trader: Address;
  readonly pairIndex: number;
  readonly tradeIndex: number;
  readonly additionalCollateralUsdc: string;
  readonly leverage: string;
  readonly openPrice?: string;
  readonly slippagePercent: string;
}

export interface TpSlUpdateIntentRequest extends ReplayFields {
  readonly trader: Address;
  readonly pairIndex: number;
  readonly tradeIndex: number;
  /** "0" resets TP to the pair's cap (§8.3). */
  readonly takeProfit: string;
  /** "0" removes the SL. */
  readonly stopLoss: string;
}

export interface DelegateSetIntentRequest extends ReplayFields {
  readonly trader: Address;
  readonly delegate: Address;
  /** Absolute unix SECONDS. */
  readonly expirySeconds: number;
}

export interface Delegation {
  readonly isEnabled: boolean;
  /** Unix seconds. */
  readonly expiry: bigint;
  readonly canDelegatedAction: boolean;
  readonly canSignIntents: boolean;
}

const delegationSchema = z.object({ isEnabled: z.boolean(), expiry: uintString, canDelegatedAction: z.boolean(), canSignIntents: z.boolean() });

/** ASSUMED shape of `/v2/nonce` (§14: unpublished): `{nonce}` and, with `check`, `{nonce, available}`. */
const nonceSchema = z.object({ nonce: uintString, available: z.boolean().optional() });

/**
 * ASSUMED shape of `/v2/positions` (§14: unpublished): `{trades: [...], limitOrders?: [...]}`;
 * rows are passed through as objects (raw decimal strings), only `trader/pairIndex/index` checked.
 */
const positionsSchema = z.object({
  trades: z.array(z.object({ trader: addressSchema, pairIndex: uintString, index: uintString }).passthrough()),
  limitOrders: z.array(z.record(z.string(), z.unknown())).optional(),
});

export type V2Positions = z.infer<typeof positionsSchema>;


/** What an open request asks for, raw, nonce and deadline aside: every field the answer must carry. */
export function openTradeFields(meta: V2Meta, r: OpenIntentRequest): Omit<IntentMessage<'OpenTradeReq'>, '_deadline' | '_nonce'> {
  const t = {
    trader: r.trader,
    pairIndex: BigInt(r.pairIndex),
    index: 0n,
    initialPosToken: 0n,
    positionSizeUSDC: toRaw('usdc', r.collateralUsdc),
    openPrice: toRaw('price', r.openPrice),
    buy: r.side === 'long',
    leverage: toRaw('leverage', r.leverage),
    tp: r.takeProfit === undefined ? 0n : toRaw('price', r.takeProfit),
    sl: r.stopLoss === undefined ? 0n : toRaw('price', r.stopLoss),
    timestamp: 0n,
  };
  return { _t: t, _type: openOrderTypeCode(meta, r.orderType), _slippageP: toRaw('slippagePercent', r.slippagePercent) };
}

/** What a close request asks for, raw; the wanted price and open time only when given (else the service's choice). */
export function closeTradeFields<R extends CloseIntentRequest>(r: R): CloseFieldsOf<R> {
  return {
    _trader: r.trader,
    _pairIndex: BigInt(r.pairIndex),
    _index: BigInt(r.tradeIndex),
    _amount: toRaw('usdc', r.collateralToCloseUsdc),
    ...(r.expectedPrice === undefined ? {} : { _wantedPrice: toRaw('price', r.expectedPrice) }),
    ...(r.openTimestamp === undefined ? {} : { _openTimestamp: BigInt(r.openTimestamp) }),
  } as CloseFieldsOf<R>;
}

type CloseFields = Omit<IntentMessage<'CloseTradeReq'>, '_deadline' | '_nonce'>;
/** All fields when the request names the price and the open time; otherwise those two may be missing. */
type CloseFieldsOf<R extends CloseIntentRequest> = R extends { expectedPrice: string; openTimestamp: number } ? CloseFields : Omit<CloseFields, '_wantedPrice' | '_openTimestamp'> & Partial<CloseFields>;

export class TxBuilderClient {
  readonly #base: string;
  readonly #http: Transport;
  readonly #metaOptions: ParseMetaOptions;
  readonly #maxDeadlineMs: number;
  #meta: V2Meta | null = null;

  constructor(options: TxBuilderClientOptions) {
    this.#base = options.baseUrl;
    this.#http = new Transport('tx-builder', options);
    this.#metaOptions = options.meta ?? {};
    this.#maxDeadlineMs = options.maxServiceDeadlineMs ?? 10 * 60_000;
  }

  /** `GET /v2/meta`, validated; cached after the first success (§11: read once at start-up). */
  async meta(signal?: AbortSignal): Promise<V2Meta> {
    if (this.#meta === null) this.#meta = parseMeta(await this.#get('/v2/meta', {}, signal), this.#metaOptions);
    return this.#meta;
  }

  /**
   * Reads `/v2/meta` again (the engine does on a schedule) and keeps it for new intents; an
   * intent already stored keeps the domain it was reserved under. Throws, keeping the old meta,
   * when the new one is invalid.
   */
  async refreshMeta(signal?: AbortSignal): Promise<V2Meta> {
    this.#meta = parseMeta(await this.#get('/v2/meta', {}, signal), this.#metaOptions);
    return this.#meta;
  }

  /** `GET /v2/delegation?trader&delegate`. */
  async delegation(trader: Address, delegate: Address, signal?: AbortSignal): Promise<Delegation> {
    const data = await this.#get('/v2/delegation', { trader, delegate }, signal);
    const parsed = delegationSchema.safeParse(data);
    if (!parsed.success) throw badShape(this.#http.what({ method: 'GET', route: '/v2/delegation' }), parsed.error);
    return parsed.data;
  }

  /** `GET /v2/nonce?trader[&check]`: a free nonce, or whether `check` is still free. */
  async nonce(trader: Address, check?: bigint, signal?: AbortSignal): Promise<{ readonly nonce: bigint; readonly available?: boolean }> {
    const data = await this.#get('/v2/nonce', { trader, check: check?.toString() }, signal);
    const parsed = nonceSchema.safeParse(data);
    if (!parsed.success) throw badShape(this.#http.what({ method: 'GET', route: '/v2/nonce' }), parsed.error);
    return parsed.data.available === undefined ? { nonce: parsed.data.nonce } : { nonce: parsed.data.nonce, available: parsed.data.available };
  }

  /** `GET /v2/positions?trader`. */
  async positions(trader: Address, signal?: AbortSignal): Promise<V2Positions> {
    const data = await this.#get('/v2/positions', { trader }, signal);
    const parsed = positionsSchema.safeParse(data);
    if (!parsed.success) throw badShape(this.#http.what({ method: 'GET', route: '/v2/positions' }), parsed.error);
    return parsed.data;
  }

  /** `POST /v2/intents/open` → a verified OpenTradeReq. */
  async openIntent(r: OpenIntentRequest, signal?: AbortSignal): Promise<VerifiedIntent<'OpenTradeReq'>> {
    const meta = await this.meta(signal);
    const fields = { ...openTradeFields(meta, r), ...replayFields('_deadline', '_nonce', r) };
    const body = { trader: r.trader, pairIndex: r.pairIndex, side: r.side, orderType: r.orderType, collateralUsdc: r.collateralUsdc, leverage: r.leverage, openPrice: r.openPrice, slippagePercent: r.slippagePercent, ...optional({ takeProfit: r.takeProfit, stopLoss: r.stopLoss }), ...replayBody(r) };
    const verified = await this.#intent('/v2/intents/open', body, { primaryType: 'OpenTradeReq', domain: domainFor(meta, 'OpenTradeReq'), fields }, signal);
    this.#checkServiceDeadline(verified.message._deadline, r, 'message._deadline');
    return verified;
  }

  /** `POST /v2/intents/close` → a verified CloseTradeReq. */
  async closeIntent(r: CloseIntentRequest, signal?: AbortSignal): Promise<VerifiedIntent<'CloseTradeReq'>> {
    const meta = await this.meta(signal);
    const fields = { ...closeTradeFields(r), ...replayFields('_deadline', '_nonce', r) };
    const body = { trader: r.trader, pairIndex: r.pairIndex, tradeIndex: r.tradeIndex, collateralToCloseUsdc: r.collateralToCloseUsdc, ...optional({ expectedPrice: r.expectedPrice, openTimestamp: r.openTimestamp }), ...replayBody(r) };
    const verified = await this.#intent('/v2/intents/close', body, { primaryType: 'CloseTradeReq', domain: domainFor(meta, 'CloseTradeReq'), fields }, signal);
    this.#checkServiceDeadline(verified.message._deadline, r, 'message._deadline');
    return verified;
  }

  /** `POST /v2/intents/increase` → a verified IncreasePositionSizeReq. */
  async increaseIntent(r: IncreaseIntentRequest, signal?: AbortSignal): Promise<VerifiedIntent<'IncreasePositionSizeReq'>> {
    const meta = await this.meta(signal);
    const fields = {
      _updateInfo: {
        trader: r.trader,
        pairIndex: BigInt(r.pairIndex),
        index: BigInt(r.tradeIndex),
        initialPosToken: toRaw('usdc', r.additionalCollateralUsdc),
        leverage: toRaw('leverage', r.leverage),
        ...(r.openPrice === undefined ? {} : { openPrice: toRaw('price', r.openPrice) }),
      },
      _slippageP: toRaw('slippagePercent', r.slippagePercent),
      ...replayFields('_deadline', '_nonce', r),
    };
    const body = { trader: r.trader, pairIndex: r.pairIndex, tradeIndex: r.tradeIndex, additionalCollateralUsdc: r.additionalCollateralUsdc, leverage: r.leverage, slippagePercent: r.slippagePercent, ...optional({ openPrice: r.openPrice }), ...replayBody(r) };
    const verified = await this.#intent('/v2/intents/increase', body, { primaryType: 'IncreasePositionSizeReq', domain: domainFor(meta, 'IncreasePositionSizeReq'), fields }, signal);
    this.#checkServiceDeadline(verified.message._deadline, r, 'message._deadline');
    return verified;
  }

  /** `POST /v2/intents/tpsl-update` → a verified UpdateTpSlReq (submitted to the core API). */
  async tpslUpdateIntent(r: TpSlUpdateIntentRequest, signal?: AbortSignal): Promise<VerifiedIntent<'UpdateTpSlReq'>> {
    const meta = await this.meta(signal);
    const fields = { trader: r.trader, _pairIndex: BigInt(r.pairIndex), _index: BigInt(r.tradeIndex), _newTp: toRaw('price', r.takeProfit), _newSl: toRaw('price', r.stopLoss), ...replayFields('_deadline', '_nonce', r) };
    const body = { trader: r.trader, pairIndex: r.pairIndex, tradeIndex: r.tradeIndex, takeProfit: r.takeProfit, stopLoss: r.stopLoss, ...replayBody(r) };
    const verified = await this.#intent('/v2/intents/tpsl-update', body, { primaryType: 'UpdateTpSlReq', domain: domainFor(meta, 'UpdateTpSlReq'), fields }, signal);
    this.#checkServiceDeadline(verified.message._deadline, r, 'message._deadline');
    return verified;
  }

  /** `POST /v2/intents/delegate-set` → a verified DelegateReq (trader-only), its `tnc` one of the known ToS texts. */
  async delegateSetIntent(r: DelegateSetIntentRequest, signal?: AbortSignal): Promise<VerifiedIntent<'DelegateReq'>> {
    const meta = await this.meta(signal);
    const fields = { trader: r.trader, delegate: r.delegate, expiry: BigInt(r.expirySeconds), ...replayFields('deadline', 'nonce', r) };
    const body = { trader: r.trader, delegate: r.delegate, expirySeconds: r.expirySeconds, ...replayBody(r) };
    const verified = await this.#intent('/v2/intents/delegate-set', body, { primaryType: 'DelegateReq', domain: domainFor(meta, 'DelegateReq'), fields }, signal);
    if (!KNOWN_TOS.includes(verified.message.tnc)) throw new V2IntentMismatchError('message.tnc', 'not one of the two known Avantis/Veranta terms-of-service texts');
    this.#checkServiceDeadline(verified.message.deadline, r, 'message.deadline');
    return verified;
  }

  /** A deadline the service chose must be in the future and not absurdly far (we could not compare it). */
  #checkServiceDeadline(deadline: bigint, asked: ReplayFields, field: string): void {
    if (asked.deadlineMs !== undefined) return;
    const now = BigInt(this.#http.now());
    if (deadline <= now) throw new V2IntentMismatchError(field, `the service chose a deadline already past (${deadline})`);
    if (deadline > now + BigInt(this.#maxDeadlineMs)) throw new V2IntentMismatchError(field, `the service chose a deadline more than ${this.#maxDeadlineMs} ms away (${deadline})`);
  }

  async #intent<P extends IntentPrimaryType>(route: string, body: unknown, request: IntentRequest<P>, signal: AbortSignal | undefined): Promise<VerifiedIntent<P>> {
    const call: Call = { method: 'POST', route, url: joinUrl(this.#base, route), body, policy: 'idempotent', signal };
    const answer = await this.#http.send(call);
    const data = unwrapEnvelope(answer.text, { status: answer.status, what: this.#http.what(call) });
    return verifyIntentAnswer(data, request);
  }

  async #get(route: string, params: Readonly<Record<string, string | undefined>>, signal: AbortSignal | undefined): Promise<unknown> {
    const call: Call = { method: 'GET', route, url: joinUrl(this.#base, `${route}${query(params)}`), policy: 'idempotent', signal };
    const answer = await this.#http.send(call);
    return unwrapEnvelope(answer.text, { status: answer.status, what: this.#http.what(call) });
  }
}

function replayFields<D extends string, N extends string>(deadlineKey: D, nonceKey: N, r: ReplayFields): Partial<Record<D | N, bigint>> {
  const out: Partial<Record<string, bigint>> = {};
  if (r.deadlineMs !== undefined) out[deadlineKey] = r.deadlineMs;
  if (r.nonce !== undefined) out[nonceKey] = r.nonce;
  return out;
}

function replayBody(r: ReplayFields): Record<string, string> {
  return { ...(r.nonce === undefined ? {} : { nonce: r.nonce.toString() }), ...(r.deadlineMs === undefined ? {} : { deadlineMs: r.deadlineMs.toString() }) };
}

function optional(values: Readonly<Record<string, string | number | undefined>>): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(values)) if (v !== undefined) out[k] = v;
  return out;
}

// ————————————————————————————————————— batched-market —————————————————————————————————————
