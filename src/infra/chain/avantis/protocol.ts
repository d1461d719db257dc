/**
 * `AvantisProtocol`: the one interface the engine uses to trade on Avantis. Two adapters sit
 * behind it, chosen by one config value (`version`):
 *
 * - **v1** (VERIFIED against the vendored v1 ABI and end to end on the simulator): every write
 *   is a transaction; TP/SL is `updateTpAndSl`.
 * - **v2** (UNVERIFIED where it differs, see ./v2/): closes carry `wantedPrice`, delegation has
 *   expiries, TP/SL is a signed EIP-712 intent relayed by Avantis's API, and most events have
 *   new, unpublished topics (learn fills by polling). Everything else is shared with v1.
 *
 * The engine never branches on the version: it branches on the shapes the interface returns
 * (a TP/SL change is either a transaction or an intent to sign) and on `capabilities`.
 */
import type { Address, Client, Hex } from 'viem';
import type { AvantisAddresses } from './addresses.ts';
import {
  buildApproveUsdc,
  buildCancelLimitOrder,
  buildCloseTrade,
  buildDelegatedAction,
  buildOpenTrade,
  buildRemoveDelegate,
  buildSetDelegate,
  buildUpdateLimitOrder,
  buildUpdateMargin,
  buildUpdateTpSl,
  type CloseTradeParams,
  type OpenTradeParams,
  type SlotParams,
  type UpdateLimitOrderParams,
  type UpdateMarginParams,
  type UpdateTpSlParams,
} from './calls-v1.ts';
import { decodeAvantisLogs, type AvantisEvent, type RawLog, type SkippedLog } from './events.ts';
import * as reads from './reads.ts';
import type { RejectionContext } from './revert.ts';
import { simulateCall } from './simulate.ts';
import type { CallRequest, OpenLimitOrder, PairInfo, PendingMarketOrder, Position, Trade } from './types.ts';
import { buildCloseTradeV2, buildRemoveDelegateV2, buildSetDelegateV2 } from './v2/calls.ts';
import { buildUpdateTpSlIntent, updateTpSlRelayPaths, type UpdateTpSlTypedData } from './v2/intents.ts';
import { readIsDelegateV2 } from './v2/reads.ts';

export type ProtocolVersion = 'v1' | 'v2';

/** How a TP/SL change reaches the chain: a transaction (v1) or a signed intent for the relayer (v2, UNVERIFIED). */
export type TpSlUpdate =
  | { readonly kind: 'transaction'; readonly call: CallRequest }
  | {
      readonly kind: 'signedIntent';
      /** Sign with the trader's key (`signTypedData`); never with a delegate's. */
      readonly typedData: UpdateTpSlTypedData;
      /** UNVERIFIED: core-API paths (PUT) taking the signed TP and SL triggers. */
      readonly relayPaths: { readonly tp: string; readonly sl: string };
    };

/** What differs in behaviour between versions, for the engine to branch on instead of `version`. */
export interface ProtocolCapabilities {
  /** Fill events (MarketExecuted, LimitExecuted) decode from logs; false on v2 (new topics unknown): poll positions. */
  readonly fillEventsDecodable: boolean;
  /** TP/SL can change after open by a transaction (v1); else by a signed intent (v2). */
  readonly tpSlByTransaction: boolean;
  /** Every part of this adapter was checked against a published ABI. */
  readonly verified: boolean;
}

/** Reads bound to the configured addresses and client. */
export interface AvantisReads {
  positions(trader: Address, pairIndexes?: readonly bigint[]): Promise<Position[]>;
  position(trader: Address, pairIndex: bigint, index: bigint): Promise<Position | null>;
  pendingMarketOrders(trader: Address): Promise<PendingMarketOrder[]>;
  openLimitOrders(trader: Address, pairIndexes?: readonly bigint[]): Promise<OpenLimitOrder[]>;
  pairsCount(): Promise<bigint>;
  pair(pairIndex: bigint): Promise<PairInfo>;
  pairs(): Promise<PairInfo[]>;
  openFeeP(pairIndex: bigint, notional: bigint, long: boolean): Promise<bigint>;
  liquidationPrice(trade: Pick<Trade, 'trader' | 'pairIndex' | 'index' | 'openPrice' | 'buy' | 'initialPosToken' | 'leverage'>): Promise<bigint>;
  limitOrdersTimelock(): Promise<bigint>;
  maxTradesPerPair(): Promise<bigint>;
  usdcAllowance(owner: Address): Promise<bigint>;
  usdcBalance(owner: Address): Promise<bigint>;
  /** Whether `delegate` may currently act for `trader`. */
  isDelegate(trader: Address, delegate: Address): Promise<boolean>;
  /** ETH (wei) to attach to an open, limit open or close. */
  executionFee(): Promise<bigint>;
}

/** The protocol as the engine sees it. Writes are builders: the transaction pipeline signs and sends. */
export interface AvantisProtocol {
  readonly version: ProtocolVersion;
  readonly addresses: AvantisAddresses;
  readonly capabilities: ProtocolCapabilities;
  openTrade(p: OpenTradeParams): CallRequest;
  /** Full close when `collateralToClose` is the position's whole collateral, else partial. */
  closeTrade(p: CloseTradeParams): CallRequest;
  updateTpSl(p: UpdateTpSlParams): TpSlUpdate;
  updateMargin(p: UpdateMarginParams): CallRequest;
  cancelLimitOrder(p: SlotParams): CallRequest;
  updateLimitOrder(p: UpdateLimitOrderParams): CallRequest;
  /** USDC approval for TradingStorage (the contract that pulls collateral). */
  approveUsdc(p?: { amount?: bigint }): CallRequest;
  /** `expiry` (unix seconds) is required on v2 and ignored on v1. */
  setDelegate(p: { delegate: Address; expiry?: bigint }): CallRequest;
  /** `delegate` names which one to remove on v2; v1 has only one. */
  removeDelegate(p: { delegate: Address }): CallRequest;
  /** Wraps a built Trading call so a delegate sends it for `trader`. */
  delegatedAction(p: { trader: Address; call: CallRequest }): CallRequest;
  /** eth_call dry run from `account`; throws TradeRejectedError with a trader-facing message on revert. */
  simulate(p: { account: Address; call: CallRequest; context?: RejectionContext }): Promise<Hex>;
  decodeLogs(logs: readonly RawLog[]): { events: AvantisEvent[]; skipped: SkippedLog[] };
  readonly reads: AvantisReads;
}

export interface AvantisProtocolConfig {
  readonly version: ProtocolVersion;
  readonly addresses: AvantisAddresses;
  readonly chainId: number;
  /** How long a v2 intent stays valid. Default 60 s. */
  readonly intentTtlMs?: number;
}

export interface AvantisProtocolDeps {
  readonly client: Client;
  /** Milliseconds since the epoch; default Date.now. */
  readonly now?: () => number;
  /** A fresh 256-bit nonce for v2 intents; default crypto random. */
  readonly randomNonce?: () => bigint;
}

/** Builds the adapter for `config.version`. */
export function createAvantisProtocol(config: AvantisProtocolConfig, deps: AvantisProtocolDeps): AvantisProtocol {
  const { addresses } = config;
  const shared = {
    addresses,
    openTrade: (p: OpenTradeParams) => buildOpenTrade(addresses, p),
    updateMargin: (p: UpdateMarginParams) => buildUpdateMargin(addresses, p),
    cancelLimitOrder: (p: SlotParams) => buildCancelLimitOrder(addresses, p),
    updateLimitOrder: (p: UpdateLimitOrderParams) => buildUpdateLimitOrder(addresses, p),
    approveUsdc: (p: { amount?: bigint } = {}) => buildApproveUsdc(addresses, p),
    delegatedAction: (p: { trader: Address; call: CallRequest }) => buildDelegatedAction(addresses, p),
    simulate: (p: { account: Address; call: CallRequest; context?: RejectionContext }) => simulateCall(deps.client, p),
    decodeLogs: (logs: readonly RawLog[]) => decodeAvantisLogs(logs, addresses),
  };
  return config.version === 'v1' ? { ...shared, ...v1Specific(config, deps) } : { ...shared, ...v2Specific(config, deps) };
}

type VersionSpecific = Pick<AvantisProtocol, 'version' | 'capabilities' | 'closeTrade' | 'updateTpSl' | 'setDelegate' | 'removeDelegate' | 'reads'>;

function v1Specific(config: AvantisProtocolConfig, deps: AvantisProtocolDeps): VersionSpecific {
  const { addresses } = config;
  return {
    version: 'v1',
    capabilities: { fillEventsDecodable: true, tpSlByTransaction: true, verified: true },
    closeTrade: (p) => buildCloseTrade(addresses, p),
    updateTpSl: (p) => ({ kind: 'transaction', call: buildUpdateTpSl(addresses, p) }),
    setDelegate: (p) => buildSetDelegate(addresses, p),
    removeDelegate: () => buildRemoveDelegate(addresses),
    reads: bindReads(deps.client, addresses, async (trader, delegate) => {
      const current = await reads.readDelegate(deps.client, { addresses, trader });
      return current !== null && current.toLowerCase() === delegate.toLowerCase();
    }),
  };
}

/** UNVERIFIED: the v2 differences (see ./v2/). */
function v2Specific(config: AvantisProtocolConfig, deps: AvantisProtocolDeps): VersionSpecific {
  const { addresses } = config;
  const now = deps.now ?? Date.now;
  const randomNonce = deps.randomNonce ?? defaultNonce;
  const ttl = BigInt(config.intentTtlMs ?? 60_000);
  return {
    version: 'v2',
    capabilities: { fillEventsDecodable: false, tpSlByTransaction: false, verified: false },
    closeTrade: (p) => buildCloseTradeV2(addresses, p),
    updateTpSl: (p) => ({
      kind: 'signedIntent',
      typedData: buildUpdateTpSlIntent({
        chainId: config.chainId,
        tradingRouter: addresses.trading,
        trader: p.trader,
        pairIndex: p.pairIndex,
        index: p.index,
        tp: p.tp,
        sl: p.sl,
        deadlineMs: BigInt(now()) + ttl,
        nonce: randomNonce(),
      }),
      relayPaths: updateTpSlRelayPaths(p),
    }),
    setDelegate: (p) => buildSetDelegateV2(addresses, p),
    removeDelegate: (p) => buildRemoveDelegateV2(addresses, p),
    reads: bindReads(deps.client, addresses, (trader, delegate) =>
      readIsDelegateV2(deps.client, { addresses, trader, delegate, nowSeconds: BigInt(Math.floor(now() / 1000)) }),
    ),
  };
}

function bindReads(client: Client, addresses: AvantisAddresses, isDelegate: AvantisReads['isDelegate']): AvantisReads {
  const base = { addresses };
  return {
    positions: (trader, pairIndexes) =>
      addresses.multicall !== undefined && pairIndexes === undefined
        ? reads.readPositionsViaMulticall(client, { ...base, trader })
        : reads.readPositions(client, { ...base, trader, ...(pairIndexes === undefined ? {} : { pairIndexes }) }),
    position: (trader, pairIndex, index) => reads.readPosition(client, { ...base, trader, pairIndex, index }),
    pendingMarketOrders: (trader) => reads.readPendingMarketOrders(client, { ...base, trader }),
    openLimitOrders: (trader, pairIndexes) => reads.readOpenLimitOrders(client, { ...base, trader, ...(pairIndexes === undefined ? {} : { pairIndexes }) }),
    pairsCount: () => reads.readPairsCount(client, base),
    pair: (pairIndex) => reads.readPair(client, { ...base, pairIndex }),
    pairs: () => reads.readPairs(client, base),
    openFeeP: (pairIndex, notional, long) => reads.readOpenFeeP(client, { ...base, pairIndex, notional, long }),
    liquidationPrice: (trade) => reads.readLiquidationPrice(client, { ...base, trade }),
    limitOrdersTimelock: () => reads.readLimitOrdersTimelock(client, base),
    maxTradesPerPair: () => reads.readMaxTradesPerPair(client, base),
    usdcAllowance: (owner) => reads.readUsdcAllowance(client, { ...base, owner }),
    usdcBalance: (owner) => reads.readUsdcBalance(client, { ...base, owner }),
    isDelegate,
    executionFee: () => reads.readExecutionFee(client),
  };
}

function defaultNonce(): bigint {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return BigInt(`0x${Buffer.from(bytes).toString('hex')}`);
}
