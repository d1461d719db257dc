/**
 * A loopback double of the Avantis v2 gateway (AVANTIS-V2.md §2, §9) serving three services
 * under their documented prefixes:
 *
 *   /batched-market  POST /market/execute-batched (SSE), GET /tracking-id/{id}/status?afterSeq=
 *   /core            PUT /price-triggers/global-{tp|sl}-{trader}-{pairIndex}-{index}, GET /user-data?trader=
 *   /blitz           POST /relays, GET /relays/{requestId}
 *
 * Errors use the NestJS body `{statusCode, message, error}` (documented for batched-market, §9.1;
 * ASSUMED for core and blitz).
 *
 * batched-market checks, in order:
 *   1. body shape; orderType in §9.1's table and the `userIntent` decoding (canonically, i.e.
 *      re-encoding gives the same bytes) as that orderType's intent; `userSignature` 65 bytes,
 *      v 27/28 — else HTTP 400 before the stream.
 *   2. deadline: `_deadline/1000 < now` → HTTP 400 `InvalidDeadline` before the stream.
 *      ASSUMED/chosen: the deadline is a property of the request itself, checkable without chain
 *      state, like the body validation that §9.1 says is answered 400 before the stream; the real
 *      service might instead accept and fail with an Error event. The client handles both.
 *   3. stream opens: `MarketOrderAccepted {trackingId}`.
 *   4. the executor (./executor.ts) authorises and executes, as the chain would: the signer must
 *      be the trader or an enabled unexpired delegate (§4) → else Error event `InvalidSigner`
 *      (ASSUMED name: the contract error is unpublished); the nonce unused in the SIGNER's bitmap
 *      → else Error `InvalidNonce` (§13's name), consumed at initiation. With `DevnetExecutor`
 *      the contract makes these checks and its error name is the code.
 *   5. `MarketOrderInitiated` (or `IncreasePositionRequested`) when the executor reports the
 *      initiation, then `MarketOrderExecuted` / `PositionSizeIncreased`, `MarketOrderCanceled`
 *      (slippage), or Error.
 * Every event with an `id:` is recorded with its seq (1, 2, …) for the status replay. A stream
 * can be made to drop after N events (`dropNextStreamAfter`): the order still runs to the end.
 *
 * Coin-sized kinds (orderTypes 12–16) are recognised but refused with 400 by this double: its
 * executor only models USDC-sized open, close and increase.
 *
 * blitz validates the body (400 otherwise), answers `{requestId}` and hands the relay to the
 * injected `relayExecutor` (./relays.ts). By default that does nothing and reports the relay
 * Finalised with a made-up successful receipt; `ledgerRelays` applies it to the Ledger and
 * `ChainRelayExecutor` (./chain-relays.ts) sends its calls on the devnet. Polls answer Inflight
 * until the executor has settled, then Finalised `{receipt}` or Failed `{receipt: null, error}`.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getAddress, isAddress, isHex, recoverAddress, type Address, type Hex } from 'viem';
import type { BlitzTxParams } from '../../infra/chain/avantis-v2/blitz-client.ts';
import type { IntentPrimaryType } from '../../infra/chain/avantis-v2/intent-types.ts';
import { decodeIntent, encodeIntent, intentDigest, type IntentDomain, type IntentMessage } from '../../infra/chain/avantis-v2/intents.ts';
import { type Initiation, type MarketExecutor, type MarketOrder, type MarketResult } from './executor.ts';
import { HttpRefusal, readJson, record, sendJson, sendText } from './http-util.ts';
import type { Ledger } from './ledger.ts';
import { acceptOnlyRelays, type RelayExecutor, type RelayOutcome } from './relays.ts';

/** §9.1's orderType table. */
export const ORDER_TYPE_INTENT: Readonly<Record<number, IntentPrimaryType>> = {
  0: 'OpenTradeReq',
  6: 'OpenTradeReq',
  12: 'OpenTradeCoinExposureReq',
  13: 'OpenTradeCoinExposureReq',
  1: 'CloseTradeReq',
  7: 'CloseTradeReq',
  15: 'CloseTradeCoinExposureReq',
  16: 'CloseTradeCoinExposureReq',
  9: 'IncreasePositionSizeReq',
  14: 'IncreasePositionSizeWithCoinExposureReq',
};

export interface GatewayDoubleOptions {
  readonly chainId: number;
  readonly tradingDomain: IntentDomain;
  readonly tradingRouter: Address;
  readonly ledger: Ledger;
  readonly executor: MarketExecutor;
  /** Pause between stream stages. Default 5 ms. */
  readonly stepMs?: number;
  /** `:` keep-alive period. Default 15 s (§9.1). */
  readonly keepAliveMs?: number;
  /** Stream lifetime cap (intent mode). Default 60 s (§9.1). */
  readonly streamLifetimeMs?: number;
  /** Blitz: how many polls answer Inflight before Finalised. Default 1. */
  readonly blitzInflightPolls?: number;
  /** Blitz: what carries out an accepted relay. Default `acceptOnlyRelays()`: nothing, reported successful. */
  readonly relayExecutor?: RelayExecutor;
}

interface Recorded {
  readonly seq: number;
  readonly type: string;
  readonly payload: Record<string, unknown>;
  readonly at: number;
}

interface Relay {
  polls: number;
  /** Set once the relay executor has settled. */
  outcome: RelayOutcome | null;
}

export type GatewayGarbage = 'not-json' | 'wrong-shape' | 'bad-event';

export class GatewayDouble {
  readonly #o: GatewayDoubleOptions;
  readonly #server: Server;
  readonly #tracking = new Map<string, Recorded[]>();
  readonly #relays = new Map<string, Relay>();
  readonly #relayExecutor: RelayExecutor;
  readonly #relaysRunning = new Set<Promise<void>>();
  /** The next stream's socket is destroyed after this many events. */
  dropNextStreamAfter: number | null = null;
  /** Blitz answers 503 (relayer wallets busy) while true. */
  blitzBusy = false;
  /** Batched-market answers the next `n` submissions with this HTTP status (e.g. 429, 502). */
  #submitFailures: number[] = [];
  #garbage: GatewayGarbage[] = [];
  readonly submissions: { readonly orderType: number }[] = [];

  constructor(options: GatewayDoubleOptions) {
    this.#o = options;
    this.#relayExecutor = options.relayExecutor ?? acceptOnlyRelays();
    this.#server = createServer((req, res) => void this.#handle(req, res));
  }

  failNextSubmission(status: number, times = 1): void {
    for (let i = 0; i < times; i++) this.#submitFailures.push(status);
  }

  /** The next request answers garbage ('bad-event': the next stream sends an event whose data is not JSON). */
  garbageNext(kind: GatewayGarbage): void {
    this.#garbage.push(kind);
  }

  /** Recorded events of one order (for tests). */
  events(trackingId: string): readonly Recorded[] {
    return this.#tracking.get(trackingId) ?? [];
  }

  async listen(port = 0, host = '127.0.0.1'): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(port, host, resolve));
    return `http://${host}:${(this.#server.address() as AddressInfo).port}`;
  }

  /** The relay's outcome once settled, null while running, undefined for an unknown id (for tests). */
  relayOutcome(requestId: string): RelayOutcome | null | undefined {
    return this.#relays.get(requestId)?.outcome;
  }

  /** Resolves when every relay accepted so far has settled (for tests). */
  async relaysSettled(): Promise<void> {
    await Promise.all([...this.#relaysRunning]);
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    await this.relaysSettled();
    await this.#relayExecutor.close?.();
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://double');
    const path = url.pathname;
    try {
      const garbage = this.#garbage[0] === 'bad-event' ? undefined : this.#garbage.shift();
      if (garbage === 'not-json') return sendText(res, 200, 'upstream connect error or disconnect/reset before headers');
      if (garbage === 'wrong-shape') return sendJson(res, 200, { unexpected: true });
      if (req.method === 'POST' && path === '/batched-market/market/execute-batched') return await this.#submit(req, res);
      let m = /^\/batched-market\/tracking-id\/([^/]+)\/status$/.exec(path);
      if (req.method === 'GET' && m !== null) return this.#status(decodeURIComponent(m[1]!), url.searchParams.get('afterSeq'), res);
      m = /^\/core\/price-triggers\/global-(tp|sl)-(0x[0-9a-fA-F]{40})-([0-9]{1,6})-([0-9]{1,6})$/.exec(path);
      if (req.method === 'PUT' && m !== null) return await this.#putTpSl(m[2] as Address, BigInt(m[3]!), BigInt(m[4]!), req, res);
      if (req.method === 'GET' && path === '/core/user-data') return await this.#userData(url.searchParams.get('trader'), res);
      if (req.method === 'POST' && path === '/blitz/relays') return await this.#relay(req, res);
      m = /^\/blitz\/relays\/([^/]+)$/.exec(path);
      if (req.method === 'GET' && m !== null) return this.#relayStatus(decodeURIComponent(m[1]!), res);
      throw new HttpRefusal(404, 'Not Found', `Cannot ${req.method} ${path}`);
    } catch (error) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (error instanceof HttpRefusal) return nest(res, error.status, error.message);
      nest(res, 500, 'Internal server error');
    }
  }

  // ——— batched-market ———

  async #submit(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = record(await readJson(req));
    const failure = this.#submitFailures.shift();
    if (failure !== undefined) return nest(res, failure, failure === 429 ? 'Too Many Requests' : 'Upstream unavailable');
    const orderType = body.orderType;
    if (typeof orderType !== 'number' || !Object.hasOwn(ORDER_TYPE_INTENT, orderType)) return nest(res, 400, 'orderType must be one of 0, 1, 6, 7, 9, 12, 13, 14, 15, 16');
    const kind = ORDER_TYPE_INTENT[orderType]!;
    const erc712 = record(body.erc712);
    const userIntent = erc712.userIntent;
    const signature = erc712.userSignature;
    if (typeof userIntent !== 'string' || !isHex(userIntent) || userIntent.length < 66) return nest(res, 400, 'erc712.userIntent must be hex');
    if (typeof signature !== 'string' || !/^0x[0-9a-fA-F]{130}$/.test(signature)) return nest(res, 400, 'erc712.userSignature must be 65 bytes');
    const v = Number.parseInt(signature.slice(130, 132), 16);
    if (v !== 27 && v !== 28) return nest(res, 400, 'erc712.userSignature v must be 27 or 28');
    if (kind !== 'OpenTradeReq' && kind !== 'CloseTradeReq' && kind !== 'IncreasePositionSizeReq') return nest(res, 400, `orderType ${orderType} (${kind}) is not modelled by this double`);
    let message: IntentMessage<typeof kind>;
    try {
      message = decodeIntent(kind, userIntent);
      if (encodeIntent(kind, message).toLowerCase() !== userIntent.toLowerCase()) throw new Error('not canonical');
    } catch {
      return nest(res, 400, `erc712.userIntent is not an ${kind}, as orderType ${orderType} requires`);
    }
    const deadline = (message as { _deadline: bigint })._deadline;
    if (deadline / 1000n < this.#o.ledger.nowSeconds()) return nest(res, 400, 'InvalidDeadline: the intent deadline has passed');
    this.submissions.push({ orderType });

    const order = { kind: kind === 'OpenTradeReq' ? 'open' : kind === 'CloseTradeReq' ? 'close' : 'increase', orderType, message } as MarketOrder;
    const trader = order.kind === 'open' ? order.message._t.trader : order.kind === 'close' ? order.message._trader : order.message._updateInfo.trader;
    const pairIndex = order.kind === 'open' ? order.message._t.pairIndex : order.kind === 'close' ? order.message._pairIndex : order.message._updateInfo.pairIndex;
    const trackingId = randomUUID();
    const recorded: Recorded[] = [];
    this.#tracking.set(trackingId, recorded);

    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.flushHeaders();
    res.write(': connected\n\n');
    let dropAfter = this.dropNextStreamAfter;
    this.dropNextStreamAfter = null;
    let badEvent = this.#garbage[0] === 'bad-event';
    if (badEvent) this.#garbage.shift();
    let open = true;
    const keepAlive = setInterval(() => open && res.write(': keep-alive\n\n'), this.#o.keepAliveMs ?? 15_000);
    const lifetime = setTimeout(() => {
      if (!open) return;
      res.write(`event: Error\ndata: ${JSON.stringify({ status: 'timeout', code: 'STREAM_TIMEOUT', message: 'stream lifetime reached; the order may still execute', trackingId })}\n\n`);
      end();
    }, this.#o.streamLifetimeMs ?? 60_000);
    const end = (): void => {
      if (!open) return;
      open = false;
      clearInterval(keepAlive);
      clearTimeout(lifetime);
      res.end();
    };
    res.on('close', () => {
      open = false;
      clearInterval(keepAlive);
      clearTimeout(lifetime);
    });
    const emit = (type: string, payload: Record<string, unknown>): void => {
      const event: Recorded = { seq: recorded.length + 1, type, payload, at: this.#o.ledger.now() };
      recorded.push(event);
      if (!open) return;
      const data = badEvent ? '{not json' : JSON.stringify(payload);
      badEvent = false;
      const drop = dropAfter !== null && --dropAfter <= 0;
      // An injected drop destroys the socket once this event has been flushed to it.
      res.write(`event: ${type}\nid: ${event.seq}\ndata: ${data}\n\n`, () => {
        if (drop) res.socket?.destroy();
      });
      if (drop) open = false;
    };
    const step = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, this.#o.stepMs ?? 5));
    const fail = (code: string, text: string): void => emit('Error', { status: 'failed', code, message: text, trackingId });

    emit('MarketOrderAccepted', { trackingId });
    await step();
    let signer: Address | null;
    try {
      signer = await recoverAddress({ hash: intentDigest(this.#o.tradingDomain, kind, message), signature: signature as Hex });
    } catch {
      signer = null;
    }
    // Signer, nonce, initiation and fill are the executor's: on the devnet the contract decides them.
    const seen: { initiation: Initiation | null } = { initiation: null };
    const initiated = async (i: Initiation): Promise<void> => {
      const orderId = i.orderId.toString();
      if (order.kind === 'increase') {
        const u = order.message._updateInfo;
        emit('IncreasePositionRequested', { orderId, trader, pairIndex: pairIndex.toString(), index: u.index.toString(), isBuy: i.isBuy, isPnl: false, addedCollateral: u.initialPosToken.toString(), coinExposure: '0', isCoinExposureFixed: false, transactionHash: i.transactionHash });
      } else {
        emit('MarketOrderInitiated', { orderId, trader, pairIndex: pairIndex.toString(), open: order.kind === 'open', isBuy: i.isBuy, isPnl: orderType === 6 || orderType === 7, transactionHash: i.transactionHash });
      }
      seen.initiation = i;
      await step();
    };
    let result: MarketResult;
    try {
      result = await this.#o.executor.execute(order, trader, { signature: signature as Hex, encodedIntent: userIntent, signer }, { initiated });
    } catch (error) {
      // An executor bug or a dead node: the order's fate is unknown, as SUBMISSION_FAILED says (§9.1).
      result = { outcome: 'failed', code: 'SUBMISSION_FAILED', message: error instanceof Error ? error.message : String(error) };
    }
    const orderId = seen.initiation?.orderId.toString() ?? '0';
    if (result.outcome === 'failed') fail(result.code, result.message);
    else if (result.outcome === 'canceled') emit('MarketOrderCanceled', { orderId, trader, pairIndex: pairIndex.toString(), transactionHash: result.transactionHash });
    else {
      const p = result.position;
      const t = { trader: p.trader, pairIndex: p.pairIndex.toString(), index: p.index.toString(), initialPosToken: p.collateral.toString(), positionSizeUSDC: p.collateral.toString(), openPrice: p.openPrice.toString(), buy: p.buy, leverage: p.leverage.toString(), tp: p.tp.toString(), sl: p.sl.toString(), timestamp: p.openedAt.toString() };
      if (order.kind === 'increase') emit('PositionSizeIncreased', { orderId, isPnl: false, coinExposureAdded: '0', isCoinExposureFixed: false, t, transactionHash: result.transactionHash });
      else emit('MarketOrderExecuted', { orderId, open: order.kind === 'open', price: result.price.toString(), positionSizeUSDC: (p.collateral * p.leverage / 10n ** 10n).toString(), percentProfit: (result.percentProfit ?? 0n).toString(), usdcSentToTrader: result.usdcSentToTrader.toString(), isPnl: false, coinExposure: '0', isCoinExposureFixed: false, t, transactionHash: result.transactionHash });
    }
    end();
  }

  #status(trackingId: string, afterSeq: string | null, res: ServerResponse): void {
    const events = this.#tracking.get(trackingId);
    if (events === undefined) return nest(res, 404, 'Unknown tracking id');
    if (afterSeq !== null && !/^[0-9]{1,15}$/.test(afterSeq)) return nest(res, 400, 'afterSeq must be a non-negative integer');
    const after = afterSeq === null ? 0 : Number(afterSeq);
    sendJson(res, 200, { events: events.filter((e) => e.seq > after) });
  }

  // ——— core API ———

  async #putTpSl(pathTrader: Address, pairIndex: bigint, index: bigint, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = record(await readJson(req));
    const userIntent = body.userIntent;
    const signature = body.signedMessage;
    if (typeof userIntent !== 'string' || !isHex(userIntent)) return nest(res, 400, 'userIntent must be hex');
    if (typeof signature !== 'string' || !/^0x[0-9a-fA-F]{130}$/.test(signature) || ![27, 28].includes(Number.parseInt(signature.slice(130), 16))) return nest(res, 400, 'signedMessage must be 65 bytes with v 27 or 28');
    let message: IntentMessage<'UpdateTpSlReq'>;
    try {
      message = decodeIntent('UpdateTpSlReq', userIntent);
      if (encodeIntent('UpdateTpSlReq', message).toLowerCase() !== userIntent.toLowerCase()) throw new Error('not canonical');
    } catch {
      return nest(res, 400, 'userIntent is not an UpdateTpSlReq');
    }
    if (message.trader.toLowerCase() !== pathTrader.toLowerCase() || message._pairIndex !== pairIndex || message._index !== index) return nest(res, 400, 'the path does not name the position the intent is for');
    if (message._deadline / 1000n < this.#o.ledger.nowSeconds()) return nest(res, 400, 'InvalidDeadline');
    let signer: Address | null;
    try {
      signer = await recoverAddress({ hash: intentDigest(this.#o.tradingDomain, 'UpdateTpSlReq', message), signature: signature as Hex });
    } catch {
      signer = null;
    }
    if (signer === null || !this.#o.ledger.maySignFor(message.trader, signer)) return nest(res, 403, 'InvalidSigner');
    const position = this.#o.ledger.position(message.trader, pairIndex, index);
    if (position === undefined) return nest(res, 404, 'No such position');
    if (!this.#o.ledger.useNonce(signer, message._nonce)) return nest(res, 400, 'InvalidNonce');
    position.tp = message._newTp;
    position.sl = message._newSl;
    sendJson(res, 200, { success: true });
  }

  async #userData(trader: string | null, res: ServerResponse): Promise<void> {
    if (trader === null || !isAddress(trader, { strict: false })) return nest(res, 400, 'trader must be an address');
    // A chain-backed executor re-reads the trader first, so keeper fills (TP, SL, liquidation) show.
    await this.#o.executor.syncTrader?.(getAddress(trader));
    const positions = this.#o.ledger.positions(getAddress(trader)).map((p) => ({
      trader: p.trader,
      pairIndex: p.pairIndex.toString(),
      index: p.index.toString(),
      buy: p.buy,
      isPnl: false,
      collateral: p.collateral.toString(),
      leverage: p.leverage.toString(),
      openPrice: p.openPrice.toString(),
      tp: p.tp.toString(),
      sl: p.sl.toString(),
      liquidationPrice: '0',
      rolloverFee: '0',
      unrealisedFundingFee: '0',
      lossProtection: '0',
      openedAt: p.openedAt.toString(),
      priceTriggers: [],
    }));
    sendJson(res, 200, { positions, limitOrders: [] });
  }

  // ——— blitz ———

  async #relay(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = record(await readJson(req));
    if (this.blitzBusy) return nest(res, 503, 'All relayer wallets are busy, retry later');
    const tx = record(body.txParams);
    if (typeof body.wallet !== 'string' || !isAddress(body.wallet, { strict: false })) return nest(res, 400, 'wallet must be an address');
    if (typeof tx.to !== 'string' || !isAddress(tx.to, { strict: false })) return nest(res, 400, 'txParams.to must be an address');
    if (typeof tx.data !== 'string' || !isHex(tx.data)) return nest(res, 400, 'txParams.data must be hex');
    if (typeof tx.value !== 'string' || !/^[0-9]{1,78}$/.test(tx.value)) return nest(res, 400, 'txParams.value must be a decimal string');
    if (tx.chainId !== this.#o.chainId) return nest(res, 400, `txParams.chainId must be ${this.#o.chainId}`);
    if (typeof tx.gasLimit !== 'string' || !/^[0-9]{1,9}$/.test(tx.gasLimit) || Number(tx.gasLimit) > 3_000_000) return nest(res, 400, 'txParams.gasLimit must be at most 3000000');
    if (tx.transactionType === 2) {
      if (tx.to.toLowerCase() !== this.#o.tradingRouter.toLowerCase()) return nest(res, 400, 'type-2 relays are accepted only towards the TradingRouter');
    } else if (tx.transactionType === 4) {
      if (!Array.isArray(tx.authorizationList) || tx.authorizationList.length === 0) return nest(res, 400, 'type-4 relays need an authorizationList');
    } else return nest(res, 400, 'txParams.transactionType must be 2 or 4');
    const requestId = randomUUID();
    const relay: Relay = { polls: 0, outcome: null };
    this.#relays.set(requestId, relay);
    const running = this.#relayExecutor
      .execute(tx as unknown as BlitzTxParams, getAddress(body.wallet))
      .catch((error: unknown): RelayOutcome => ({ status: 'Failed', error: `the relayer could not send it: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}` }))
      .then((outcome) => {
        relay.outcome = outcome;
      });
    this.#relaysRunning.add(running);
    void running.finally(() => this.#relaysRunning.delete(running));
    sendJson(res, 201, { requestId });
  }

  #relayStatus(requestId: string, res: ServerResponse): void {
    const relay = this.#relays.get(requestId);
    if (relay === undefined) return nest(res, 404, 'Unknown request id');
    relay.polls++;
    if (relay.polls <= (this.#o.blitzInflightPolls ?? 1) || relay.outcome === null) return sendJson(res, 200, { status: 'Inflight', receipt: null });
    // ASSUMED shapes (unpublished): a viem-like receipt, status 'success' | 'reverted'; Failed names why.
    if (relay.outcome.status === 'Failed') return sendJson(res, 200, { status: 'Failed', receipt: null, error: relay.outcome.error });
    sendJson(res, 200, { status: 'Finalised', receipt: relay.outcome.receipt });
  }
}

/** The NestJS error body (§9.1). */
function nest(res: ServerResponse, status: number, message: string): void {
  const error = { 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable' }[status] ?? 'Error';
  sendJson(res, status, { statusCode: status, message, error });
}
