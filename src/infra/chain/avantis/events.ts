/**
 * Decodes Avantis logs (AVANTIS.md §5.1) into a discriminated union, trusting a log only when
 * it comes from the contract that emits it on mainnet: fills only from TradingCallbacks
 * (`TradingStorage.callbacks()`), requests only from Trading, and so on. A log from anywhere
 * else, with an unknown topic, or that does not decode, is reported as skipped with a reason
 * (and a typed error when malformed); decoding never throws.
 *
 * VERIFIED: the event fragments are the vendored v1 ABI's (abi-v1.ts, compared by the ABI
 * test). Under v2 most trading events have new topic0 values that are not public (§5.3, see
 * v2/events.ts); their logs land in `skipped` as `unknown-topic`, and v1 logs from blocks
 * before the upgrade still decode.
 */
import { decodeEventLog, getAddress, isAddress, isHex, toEventSelector, type Abi, type Address, type ContractEventArgsFromTopics, type ContractEventName, type Hex } from 'viem';
import { callbacksAbi, pairInfosAbi, priceAggregatorAbi, tradingAbi, tradingStorageAbi } from './abi-v1.ts';
import type { AvantisAddresses } from './addresses.ts';
import { ChainResponseError } from './errors.ts';

/** The contracts whose events we decode, by their role. */
export type Emitter = 'trading' | 'callbacks' | 'tradingStorage' | 'priceAggregator' | 'pairInfos';

const EMITTER_ABIS = {
  trading: tradingAbi,
  callbacks: callbacksAbi,
  tradingStorage: tradingStorageAbi,
  priceAggregator: priceAggregatorAbi,
  pairInfos: pairInfosAbi,
} as const;
type EmitterAbis = typeof EMITTER_ABIS;

const EMITTER_ADDRESS: Readonly<Record<Emitter, keyof AvantisAddresses>> = {
  trading: 'trading',
  callbacks: 'tradingCallbacks',
  tradingStorage: 'tradingStorage',
  priceAggregator: 'priceAggregator',
  pairInfos: 'pairInfos',
};

/** Where a log sits on chain, for idempotent handling and reorg checks. */
export interface LogRef {
  readonly address: Address;
  readonly blockNumber: bigint | null;
  readonly transactionHash: Hex | null;
  readonly logIndex: number | null;
}

type EventOf<E extends Emitter> = {
  [N in ContractEventName<EmitterAbis[E]>]: {
    /** `emitter.EventName`, unique across contracts (SlUpdated exists on Trading and on TradingCallbacks). */
    readonly type: `${E}.${N}`;
    readonly emitter: E;
    readonly eventName: N;
    readonly args: ContractEventArgsFromTopics<EmitterAbis[E], N, true>;
    readonly log: LogRef;
  };
}[ContractEventName<EmitterAbis[E]>];

/** Every v1 event of §5.1, discriminated by `type` (e.g. `callbacks.MarketExecuted`). */
export type AvantisEvent = { [E in Emitter]: EventOf<E> }[Emitter];
export type AvantisEventType = AvantisEvent['type'];
/** Narrows the union to one event type. */
export type AvantisEventOf<T extends AvantisEventType> = Extract<AvantisEvent, { type: T }>;

export type SkipReason =
  /** Not emitted by any configured Avantis contract. */
  | 'foreign-emitter'
  /** Emitted by an Avantis contract that does not emit this event on mainnet (e.g. a "fill" from Trading). */
  | 'unexpected-emitter'
  /** A topic0 no v1 event has (v2 events, admin events, other contracts' logs). */
  | 'unknown-topic'
  /** Right emitter and topic, but the data or topics do not decode: a bad RPC answer. */
  | 'malformed';

export interface SkippedLog {
  readonly reason: SkipReason;
  readonly log: LogRef;
  readonly topic0: Hex | null;
  /** Set when `reason` is `malformed`. */
  readonly error?: ChainResponseError;
}

export type LogDecodeResult = { readonly ok: true; readonly event: AvantisEvent } | { readonly ok: false; readonly skipped: SkippedLog };

/** The shape of a log as viem (receipts, getLogs) or a raw RPC answer gives it. */
export interface RawLog {
  readonly address: unknown;
  readonly topics: unknown;
  readonly data: unknown;
  readonly blockNumber?: unknown;
  readonly transactionHash?: unknown;
  readonly logIndex?: unknown;
}

/** topic0 → the emitters that legitimately emit it (MarketOpenCanceled has two). */
const TOPIC_EMITTERS: ReadonlyMap<Hex, readonly Emitter[]> = (() => {
  const map = new Map<Hex, Emitter[]>();
  for (const [emitter, abi] of Object.entries(EMITTER_ABIS) as [Emitter, Abi][]) {
    for (const item of abi) {
      if (item.type !== 'event') continue;
      const topic = toEventSelector(item);
      map.set(topic, [...(map.get(topic) ?? []), emitter]);
    }
  }
  return map;
})();

/** Decodes one log; never throws. */
export function decodeAvantisLog(log: RawLog, addresses: AvantisAddresses): LogDecodeResult {
  const ref = logRef(log);
  const topics = Array.isArray(log.topics) ? (log.topics as unknown[]) : null;
  const topic0 = topics?.[0];
  const skip = (reason: SkipReason, error?: ChainResponseError): LogDecodeResult => ({
    ok: false,
    skipped: { reason, log: ref, topic0: typeof topic0 === 'string' && isHex(topic0) ? topic0 : null, ...(error ? { error } : {}) },
  });
  if (!ref.address || !topics || typeof topic0 !== 'string' || !isHex(topic0) || !topics.every((t) => typeof t === 'string' && isHex(t)) || typeof log.data !== 'string' || !isHex(log.data)) {
    return skip('malformed', new ChainResponseError('A log without a valid address, topics or data was returned by the RPC.'));
  }
  const emitter = emitterOf(ref.address, addresses);
  if (!emitter) return skip('foreign-emitter');
  const legitimate = TOPIC_EMITTERS.get(topic0.toLowerCase() as Hex);
  if (!legitimate) return skip('unknown-topic');
  if (!legitimate.includes(emitter)) return skip('unexpected-emitter');
  try {
    const decoded = decodeEventLog({ abi: EMITTER_ABIS[emitter], topics: topics as [Hex, ...Hex[]], data: log.data, strict: true });
    const eventName = decoded.eventName ?? '';
    return { ok: true, event: { type: `${emitter}.${eventName}`, emitter, eventName, args: decoded.args, log: ref } as unknown as AvantisEvent };
  } catch (cause) {
    return skip('malformed', new ChainResponseError(`An Avantis ${emitter} log (topic ${topic0.slice(0, 10)}) does not decode with the v1 ABI.`, { cause }));
  }
}

/** Decodes many logs, keeping their order; every log ends up in exactly one of the two lists. */
export function decodeAvantisLogs(logs: readonly RawLog[], addresses: AvantisAddresses): { events: AvantisEvent[]; skipped: SkippedLog[] } {
  const events: AvantisEvent[] = [];
  const skipped: SkippedLog[] = [];
  for (const log of logs) {
    const result = decodeAvantisLog(log, addresses);
    if (result.ok) events.push(result.event);
    else skipped.push(result.skipped);
  }
  return { events, skipped };
}

/** Type guard for one event type: `events.filter(isEvent('callbacks.MarketExecuted'))`. */
export function isEvent<T extends AvantisEventType>(type: T): (event: AvantisEvent) => event is AvantisEventOf<T> {
  return (event): event is AvantisEventOf<T> => event.type === type;
}

function emitterOf(address: Address, addresses: AvantisAddresses): Emitter | null {
  for (const emitter of Object.keys(EMITTER_ADDRESS) as Emitter[]) {
    const configured = addresses[EMITTER_ADDRESS[emitter]];
    if (typeof configured === 'string' && configured.toLowerCase() === address.toLowerCase()) return emitter;
  }
  return null;
}

function logRef(log: RawLog): LogRef {
  return {
    address: typeof log.address === 'string' && isAddress(log.address, { strict: false }) ? getAddress(log.address) : ('' as Address),
    blockNumber: typeof log.blockNumber === 'bigint' ? log.blockNumber : null,
    transactionHash: typeof log.transactionHash === 'string' && isHex(log.transactionHash) ? log.transactionHash : null,
    logIndex: typeof log.logIndex === 'number' ? log.logIndex : null,
  };
}
