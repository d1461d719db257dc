/**
 * UNVERIFIED: what changed in v2's events (AVANTIS.md §5.3, from SDK-v2 prose only). The exact
 * v2 signatures, and so their topic0 values, are not public. A v2 log of a changed event
 * therefore does not decode here; it is reported as skipped (`unknown-topic`) by the shared
 * decoder, while v1 logs from before the upgrade still decode. Under v2 the engine must learn
 * fills by polling state (TradingStorage reads, unchanged in v2) rather than from these logs.
 */

/** UNVERIFIED: v1 event name → the field count v2 emits (and what was added). */
export const V2_CHANGED_EVENTS = {
  MarketOrderInitiated: { v1Fields: 9, v2Fields: 13, added: 'minLeverage, maxLeverage, coinExposure, isCoinExposureFixed, wantedPrice' },
  MarketExecuted: { v1Fields: 8, v2Fields: 10, added: 'coinExposure, isCoinExposureFixed' },
  LimitExecuted: { v1Fields: 9, v2Fields: 10, added: 'coinExposure' },
  OIUpdated: { v1Fields: 5, v2Fields: 9, added: 'coin OI and USD OI, both sides' },
  MarginUpdated: { v1Fields: 8, v2Fields: 9, added: 'coinExposure' },
  // SDK-v2 prose says "10 → 12"; the vendored v1 event has 9 fields, so the v2 count is uncertain.
  OpenLimitPlaced: { v1Fields: 9, v2Fields: null, added: 'coinExposure, timestamp' },
  TpUpdated: { v1Fields: 5, v2Fields: 6, added: 'tradeOpenTimestamp' },
  SlUpdated: { v1Fields: 5, v2Fields: 6, added: 'tradeOpenTimestamp' },
  SlUpdateInitiated: { v1Fields: 6, v2Fields: 7, added: 'tradeOpenTimestamp' },
  FeesCharged: { v1Fields: 7, v2Fields: 8, added: 'fundingFee (PairInfos)' },
  PriceReceived: { v1Fields: 3, v2Fields: 4, added: 'PriceSourcing' },
} as const;

export type V2ChangedEvent = keyof typeof V2_CHANGED_EVENTS;

/** True when a v1 event of this name cannot be seen in v2 logs under its v1 topic. */
export function changedInV2(eventName: string): eventName is V2ChangedEvent {
  return Object.hasOwn(V2_CHANGED_EVENTS, eventName);
}
