/**
 * A loopback double of the Avantis v2 tx-builder (AVANTIS-V2.md §6, §7): `/v2/meta`, the intent
 * builders `/v2/intents/{open,close,increase,tpsl-update,delegate-set}`, the calldata route
 * `/v2/delegate/remove` (ASSUMED encoding `removeDelegate(address)`, as the devnet simulator's), and the reads
 * `/v2/delegation`, `/v2/nonce`, `/v2/positions` from the Ledger it shares with the gateway
 * double. When the Ledger mirrors a chain, `sync` refreshes what `/v2/delegation` and
 * `/v2/nonce?check=` read from the chain first (DevnetExecutor's syncDelegation / syncNonce), so
 * they answer the chain's state even after a relay or a transaction the doubles did not send. Answers use the `{ok,data}` / `{ok:false,error:{code,message,details}}` envelope with
 * §6's codes and statuses. Each endpoint takes GET with query parameters or POST with a JSON body.
 *
 * Test controls: a per-IP request budget (429 RATE_LIMITED with Retry-After), a GEO_RESTRICTED
 * (451) switch, UPSTREAM_ERROR (502) injection, a `tamper` hook that edits the next intent answer
 * (to prove the client refuses it), and garbage answers (not JSON / wrong shape).
 *
 * ASSUMED (unpublished, §14): the `/v2/nonce` answer `{nonce}` / `{nonce, available}`; the
 * `/v2/positions` answer `{trades, limitOrders}`; `deadlineMs` is an absolute unix-ms time; every
 * `/v2/*` route counts against the rate budget; `canDelegatedAction` equals `canSignIntents`.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { encodeFunctionData, getAddress, isAddress, type Address } from 'viem';
import { tradingV2Abi } from '../../infra/chain/avantis/v2/abi.ts';
import { VantaError } from '../../errors.ts';
import { signerRuleOf } from '../../infra/chain/avantis-v2/intent-types.ts';
import { closeTradeMessage, delegateMessage, increasePositionMessage, openTradeMessage, prepareIntent, TOS_VERANTA, updateTpSlMessage, type IntentDomain, type LocalIntent } from '../../infra/chain/avantis-v2/intents.ts';
import { toRaw } from '../../infra/chain/avantis-v2/units.ts';
import type { MarketExecutor } from './executor.ts';
import { clientIp, HttpRefusal, RateBudget, readJson, record, sendJson, sendText } from './http-util.ts';
import type { Ledger } from './ledger.ts';

export interface V2Addresses {
  readonly tradingRouter: Address;
  readonly tradingStorage: Address;
  readonly usdc: Address;
  readonly referral: Address;
  readonly delegationTemplate?: Address;
}

export interface TxBuilderDoubleOptions {
  readonly chainId: number;
  readonly addresses: V2Addresses;
  /** Defaults: AvantisTrading v1 over tradingRouter / referral. */
  readonly domains?: { readonly trading?: IntentDomain; readonly referral?: IntentDomain };
  readonly ledger: Ledger;
  readonly executor: MarketExecutor;
  /** Requests per IP per window; default unlimited. */
  readonly rateLimit?: { readonly budget: number; readonly windowMs: number };
  readonly intentDeadlineMs?: number;
  /** Refreshes the Ledger from the chain before a read answers (default: none, the Ledger is the truth). */
  readonly sync?: LedgerSync;
}

/** Re-reads one fact from the chain into the Ledger. */
export interface LedgerSync {
  delegation(trader: Address, delegate: Address): Promise<void>;
  nonce(signer: Address, nonce: bigint): Promise<void>;
}

export type GarbageKind = 'not-json' | 'wrong-shape';

export const OPEN_ORDER_TYPES = { market: 0, stop_limit: 1, limit: 2, market_pnl: 3 } as const;

export class TxBuilderDouble {
  readonly #options: TxBuilderDoubleOptions;
  readonly #server: Server;
  readonly domains: { readonly trading: IntentDomain; readonly referral: IntentDomain };
  readonly rate: RateBudget | null;
  geoRestricted = false;
  /** Edits the next intent answer's `data` (then clears itself). */
  tamper: ((data: Record<string, unknown>) => void) | null = null;
  #failures: { code: string; status: number }[] = [];
  #garbage: GarbageKind[] = [];
  /** Requests served, by path (for tests). */
  readonly hits = new Map<string, number>();

  constructor(options: TxBuilderDoubleOptions) {
    this.#options = options;
    const base = { name: 'AvantisTrading', version: '1', chainId: options.chainId };
    this.domains = {
      trading: options.domains?.trading ?? { ...base, verifyingContract: options.addresses.tradingRouter },
      referral: options.domains?.referral ?? { ...base, verifyingContract: options.addresses.referral },
    };
    this.rate = options.rateLimit === undefined ? null : new RateBudget(options.rateLimit.budget, options.rateLimit.windowMs, () => options.ledger.now());
    this.#server = createServer((req, res) => void this.#handle(req, res));
  }

  /** The next `times` requests answer 502 UPSTREAM_ERROR (or another code/status). */
  failNext(times = 1, code = 'UPSTREAM_ERROR', status = 502): void {
    for (let i = 0; i < times; i++) this.#failures.push({ code, status });
  }

  /** The next request answers garbage. */
  garbageNext(kind: GarbageKind): void {
    this.#garbage.push(kind);
  }

  async listen(port = 0, host = '127.0.0.1'): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(port, host, resolve));
    const address = this.#server.address() as AddressInfo;
    return `http://${host}:${address.port}`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** The `/v2/meta` payload (§6) built from the constructor options. */
  meta(): Record<string, unknown> {
    const { chainId, addresses } = this.#options;
    return {
      chainId,
      addresses: { ...addresses },
      eip712: { trading: { ...this.domains.trading }, referral: { ...this.domains.referral }, signatureFormat: 'rsv-65-bytes' },
      enums: { openOrderType: { ...OPEN_ORDER_TYPES } },
      units: { price: '1e10', leverage: '1e10', usdc: '1e6' },
      defaults: { executionFeeWei: '100000000000000', intentDeadlineMs: this.#deadlineMs(), slippagePercent: '1' },
    };
  }

  #deadlineMs(): number {
    return this.#options.intentDeadlineMs ?? 120_000;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://double');
    this.hits.set(url.pathname, (this.hits.get(url.pathname) ?? 0) + 1);
    try {
      if (req.method !== 'GET' && req.method !== 'POST') throw new HttpRefusal(404, 'NOT_FOUND', `${req.method} is not served`);
      if (this.geoRestricted) throw new HttpRefusal(451, 'GEO_RESTRICTED', 'requests from this region are not served');
      if (this.rate !== null) {
        const wait = this.rate.take(clientIp(req));
        if (wait !== null) {
          sendJson(res, 429, { ok: false, error: { code: 'RATE_LIMITED', message: 'too many requests', details: null } }, { 'retry-after': String(Math.max(1, Math.ceil(wait / 1000))) });
          return;
        }
      }
      const failure = this.#failures.shift();
      if (failure !== undefined) throw new HttpRefusal(failure.status, failure.code, 'upstream service unavailable');
      const garbage = this.#garbage.shift();
      if (garbage === 'not-json') return sendText(res, 200, '<html>502 Bad Gateway</html>', 'text/html');
      if (garbage === 'wrong-shape') return sendJson(res, 200, { result: 'ok', payload: [1, 2, 3] });
      const fields = req.method === 'GET' ? Object.fromEntries(url.searchParams.entries()) : record(await readJson(req));
      await this.#sync(url.pathname, fields);
      const data = this.#route(url.pathname, fields);
      sendJson(res, 200, { ok: true, data });
    } catch (error) {
      if (error instanceof HttpRefusal) return sendJson(res, error.status, { ok: false, error: { code: error.code, message: error.message, details: null } });
      if (error instanceof VantaError) return sendJson(res, 400, { ok: false, error: { code: 'VALIDATION_ERROR', message: error.message, details: null } });
      sendJson(res, 500, { ok: false, error: { code: 'INTERNAL_ERROR', message: 'internal error', details: null } });
    }
  }

  /** Chain-backed reads: the Ledger is refreshed from the chain before the route reads it. */
  async #sync(path: string, f: Record<string, unknown>): Promise<void> {
    const sync = this.#options.sync;
    if (sync === undefined) return;
    if (path === '/v2/delegation') await sync.delegation(address(f, 'trader'), address(f, 'delegate'));
    else if (path === '/v2/nonce' && f.check !== undefined) await sync.nonce(address(f, 'trader'), uint(f, 'check'));
  }

  #route(path: string, f: Record<string, unknown>): unknown {
    const ledger = this.#options.ledger;
    switch (path) {
      case '/v2/meta':
        return this.meta();
      case '/v2/delegation': {
        const d = ledger.delegation(address(f, 'trader'), address(f, 'delegate'));
        const can = d.isEnabled && d.expiry > ledger.nowSeconds();
        return { isEnabled: d.isEnabled, expiry: d.expiry.toString(), canDelegatedAction: can, canSignIntents: can };
      }
      case '/v2/nonce': {
        const trader = address(f, 'trader');
        if (f.check !== undefined) {
          const check = uint(f, 'check');
          return { nonce: check.toString(), available: !ledger.isNonceUsed(trader, check) };
        }
        let nonce: bigint;
        do nonce = BigInt(`0x${randomBytes(32).toString('hex')}`);
        while (ledger.isNonceUsed(trader, nonce));
        return { nonce: nonce.toString() };
      }
      case '/v2/positions': {
        const trader = address(f, 'trader');
        return {
          trades: ledger.positions(trader).map((p) => ({ trader: p.trader, pairIndex: p.pairIndex.toString(), index: p.index.toString(), initialPosToken: p.collateral.toString(), leverage: p.leverage.toString(), openPrice: p.openPrice.toString(), buy: p.buy, tp: p.tp.toString(), sl: p.sl.toString(), timestamp: p.openedAt.toString() })),
          limitOrders: [],
        };
      }
      case '/v2/intents/open':
        return this.#answer('open', this.#open(f));
      case '/v2/intents/close':
        return this.#answer('close', this.#close(f));
      case '/v2/intents/increase':
        return this.#answer('increase', this.#increase(f));
      case '/v2/intents/tpsl-update':
        return this.#answer('tpsl-update', this.#tpsl(f));
      case '/v2/intents/delegate-set':
        return this.#answer('delegate-set', this.#delegate(f));
      case '/v2/delegate/remove': {
        // §7.2 / §11 "Revocation": the calldata the TRADER sends; §6's calldata response.
        const trader = address(f, 'trader');
        const delegate = address(f, 'delegate');
        const data = encodeFunctionData({ abi: tradingV2Abi, functionName: 'removeDelegate', args: [delegate] });
        return { to: this.#options.addresses.tradingRouter, from: trader, data, value: '0x0', chainId: this.#options.chainId, description: `Remove delegate ${delegate}`, meta: {} };
      }
      default:
        throw new HttpRefusal(404, 'NOT_FOUND', `no route ${path}`);
    }
  }

  #replay(f: Record<string, unknown>): { deadlineMs: bigint; nonce: bigint } {
    const deadlineMs = f.deadlineMs === undefined ? BigInt(this.#options.ledger.now() + this.#deadlineMs()) : uint(f, 'deadlineMs');
    const nonce = f.nonce === undefined ? BigInt(`0x${randomBytes(32).toString('hex')}`) : uint(f, 'nonce');
    return { deadlineMs, nonce };
  }

  #open(f: Record<string, unknown>): LocalIntent {
    const side = f.side;
    if (side !== 'long' && side !== 'short') throw new HttpRefusal(400, 'VALIDATION_ERROR', 'side must be long or short');
    const orderType = f.orderType;
    if (typeof orderType !== 'string' || !Object.hasOwn(OPEN_ORDER_TYPES, orderType)) throw new HttpRefusal(400, 'VALIDATION_ERROR', 'orderType must be market, limit, stop_limit or market_pnl');
    const message = openTradeMessage({
      trader: address(f, 'trader'),
      pairIndex: uint(f, 'pairIndex'),
      buy: side === 'long',
      orderType: BigInt(OPEN_ORDER_TYPES[orderType as keyof typeof OPEN_ORDER_TYPES]),
      collateral: toRaw('usdc', str(f, 'collateralUsdc')),
      leverage: toRaw('leverage', str(f, 'leverage')),
      openPrice: toRaw('price', str(f, 'openPrice')),
      slippageP: toRaw('slippagePercent', f.slippagePercent === undefined ? '1' : str(f, 'slippagePercent')),
      tp: f.takeProfit === undefined ? 0n : toRaw('price', str(f, 'takeProfit')),
      sl: f.stopLoss === undefined ? 0n : toRaw('price', str(f, 'stopLoss')),
      ...this.#replay(f),
    });
    return prepareIntent(this.domains.trading, 'OpenTradeReq', message) as unknown as LocalIntent;
  }

  #close(f: Record<string, unknown>): LocalIntent {
    const trader = address(f, 'trader');
    const pairIndex = uint(f, 'pairIndex');
    const index = uint(f, 'tradeIndex');
    const position = this.#options.ledger.position(trader, pairIndex, index);
    if (position === undefined && f.openTimestamp === undefined) throw new HttpRefusal(404, 'NOT_FOUND', 'no such position');
    const message = closeTradeMessage({
      trader,
      pairIndex,
      index,
      openTimestamp: f.openTimestamp === undefined ? position!.openedAt : uint(f, 'openTimestamp'),
      amount: toRaw('usdc', str(f, 'collateralToCloseUsdc')),
      wantedPrice: f.expectedPrice === undefined ? this.#options.executor.price(pairIndex) : toRaw('price', str(f, 'expectedPrice')),
      ...this.#replay(f),
    });
    return prepareIntent(this.domains.trading, 'CloseTradeReq', message) as unknown as LocalIntent;
  }

  #increase(f: Record<string, unknown>): LocalIntent {
    const pairIndex = uint(f, 'pairIndex');
    const message = increasePositionMessage({
      trader: address(f, 'trader'),
      pairIndex,
      index: uint(f, 'tradeIndex'),
      addedCollateral: toRaw('usdc', str(f, 'additionalCollateralUsdc')),
      leverage: toRaw('leverage', str(f, 'leverage')),
      openPrice: f.openPrice === undefined ? this.#options.executor.price(pairIndex) : toRaw('price', str(f, 'openPrice')),
      slippageP: toRaw('slippagePercent', str(f, 'slippagePercent')),
      ...this.#replay(f),
    });
    return prepareIntent(this.domains.trading, 'IncreasePositionSizeReq', message) as unknown as LocalIntent;
  }

  #tpsl(f: Record<string, unknown>): LocalIntent {
    const message = updateTpSlMessage({ trader: address(f, 'trader'), pairIndex: uint(f, 'pairIndex'), index: uint(f, 'tradeIndex'), tp: toRaw('price', str(f, 'takeProfit')), sl: toRaw('price', str(f, 'stopLoss')), ...this.#replay(f) });
    return prepareIntent(this.domains.trading, 'UpdateTpSlReq', message) as unknown as LocalIntent;
  }

  #delegate(f: Record<string, unknown>): LocalIntent {
    const message = delegateMessage({ trader: address(f, 'trader'), delegate: address(f, 'delegate'), expirySeconds: uint(f, 'expirySeconds'), tnc: TOS_VERANTA, ...this.#replay(f) });
    return prepareIntent(this.domains.trading, 'DelegateReq', message) as unknown as LocalIntent;
  }

  /** The documented intent answer (§6), integers as decimal strings; `tamper` applied last. */
  #answer(intent: string, local: LocalIntent): Record<string, unknown> {
    const data: Record<string, unknown> = {
      intent,
      signerRule: signerRuleOf(local.primaryType),
      domain: { ...local.domain },
      primaryType: local.primaryType,
      types: JSON.parse(JSON.stringify(local.types)) as unknown,
      message: jsonify(local.message),
      digest: local.digest,
      encodedIntent: local.encodedIntent,
      meta: {},
    };
    const tamper = this.tamper;
    this.tamper = null;
    tamper?.(data);
    return data;
  }
}

function jsonify(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, jsonify(v)]));
  return value;
}

function str(f: Record<string, unknown>, key: string): string {
  const v = f[key];
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  throw new HttpRefusal(400, 'VALIDATION_ERROR', `${key} is required (a decimal string)`);
}

function uint(f: Record<string, unknown>, key: string): bigint {
  const v = f[key];
  const s = typeof v === 'number' && Number.isSafeInteger(v) ? String(v) : v;
  if (typeof s !== 'string' || !/^[0-9]{1,78}$/.test(s)) throw new HttpRefusal(400, 'VALIDATION_ERROR', `${key} must be a non-negative integer`);
  return BigInt(s);
}

function address(f: Record<string, unknown>, key: string): Address {
  const v = f[key];
  if (typeof v !== 'string' || !isAddress(v, { strict: false })) throw new HttpRefusal(400, 'VALIDATION_ERROR', `${key} must be an address`);
  return getAddress(v);
}
