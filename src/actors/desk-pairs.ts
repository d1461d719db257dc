import type { Logger } from 'pino';
import { VantaError, describeError } from '../errors.ts';
import type { PairInfo } from '../infra/chain/avantis/types.ts';
import type { Clock } from '../infra/clock.ts';

/**
 * The pair catalogue (PairStorage: names, leverage bounds, spreads, fees) and the liquidation
 * threshold (PairInfos), read from the chain and kept in memory. Reading it costs three calls
 * per pair, and /markets must answer in milliseconds, so it is read once and refreshed in the
 * background when older than `ttlMs`: a trader may see bounds up to that old, and the chain's own
 * checks at the fill remain the last word.
 */
export interface PairCatalogue {
  /** Listed pairs, in index order. */
  pairs(): Promise<readonly PairInfo[]>;
  liqThreshold(): Promise<bigint>;
}

export interface CatalogueSnapshot {
  readonly pairs: readonly PairInfo[];
  readonly liqThreshold: bigint;
}

export function createPairCatalogue(o: { load: () => Promise<CatalogueSnapshot>; clock: Clock; ttlMs: number; logger: Logger }): PairCatalogue {
  let cached: { at: number; value: CatalogueSnapshot } | null = null;
  let loading: Promise<CatalogueSnapshot> | null = null;

  const refresh = (): Promise<CatalogueSnapshot> => {
    loading ??= o
      .load()
      .then((value) => {
        const listed = value.pairs.filter((p) => p.listed && p.name !== '');
        const fresh = { pairs: listed, liqThreshold: value.liqThreshold };
        cached = { at: o.clock.now(), value: fresh };
        return fresh;
      })
      .finally(() => {
        loading = null;
      });
    return loading;
  };

  const current = async (): Promise<CatalogueSnapshot> => {
    if (!cached) {
      try {
        return await refresh();
      } catch (cause) {
        throw new VantaError('CHAIN_UNAVAILABLE', 'The list of markets cannot be read from the chain right now; try again in a moment.', { cause, retryable: true });
      }
    }
    if (o.clock.now() - cached.at > o.ttlMs && !loading) {
      refresh().catch((err: unknown) => o.logger.warn({ err: describeError(err) }, 'Refreshing the pair catalogue failed; serving the last one read'));
    }
    return cached.value;
  };

  return {
    pairs: async () => (await current()).pairs,
    liqThreshold: async () => (await current()).liqThreshold,
  };
}
