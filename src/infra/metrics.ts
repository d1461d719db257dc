import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, exponentialBuckets } from 'prom-client';

/**
 * Every metric the engine exports, built once on a per-app registry (never the
 * global one) with the `vanta_` prefix, base units and no per-user labels.
 * Tests build a fresh set and read values back with `.get()`.
 */
export interface Metrics {
  readonly registry: Registry;
  readonly actorsLive: Gauge<'kind'>;
  readonly actorTransitions: Counter<'kind'>;
  readonly actorRestarts: Counter<'kind'>;
  readonly actorQuarantines: Counter<'kind' | 'reason'>;
  readonly actorsQuarantined: Gauge<'kind'>;
  readonly actorFailures: Counter<'kind'>;
  readonly persistWrites: Counter<'outcome'>;
  readonly persistBatchSize: Histogram;
  readonly persistFlushSeconds: Histogram;
  readonly persistPending: Gauge;
  readonly persistConflicts: Counter<'kind'>;
  readonly rehydrateSeconds: Histogram;
  readonly rehydratedActors: Counter<'outcome'>;
  readonly httpRequests: Counter<'route' | 'status'>;
  readonly shutdownSeconds: Gauge;
}

export const METRIC_PREFIX = 'vanta_';

export function createMetrics(options: { version: string; mode: string; collectDefault?: boolean }): Metrics {
  const registry = new Registry();
  const registers = [registry];
  if (options.collectDefault ?? true) collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  new Gauge({ name: `${METRIC_PREFIX}build_info`, help: 'Build information; the value is always 1', labelNames: ['version', 'mode', 'node'], registers }).set(
    { version: options.version, mode: options.mode, node: process.versions.node },
    1,
  );
  const m = (name: string) => `${METRIC_PREFIX}${name}`;
  return {
    registry,
    actorsLive: new Gauge({ name: m('actors_live'), help: 'Actors currently running, by kind', labelNames: ['kind'], registers }),
    actorTransitions: new Counter({ name: m('actor_transitions_total'), help: 'Actor snapshots that changed and were queued for persistence', labelNames: ['kind'], registers }),
    actorRestarts: new Counter({ name: m('actor_restarts_total'), help: 'Actors restarted by the supervisor from their last persisted snapshot', labelNames: ['kind'], registers }),
    actorQuarantines: new Counter({ name: m('actor_quarantines_total'), help: 'Actors put in quarantine (not running until released)', labelNames: ['kind', 'reason'], registers }),
    actorsQuarantined: new Gauge({ name: m('actors_quarantined'), help: 'Actors currently in quarantine', labelNames: ['kind'], registers }),
    actorFailures: new Counter({ name: m('actor_failures_total'), help: 'Actor errors seen by the supervisor', labelNames: ['kind'], registers }),
    persistWrites: new Counter({ name: m('persist_snapshot_writes_total'), help: 'Snapshot rows written, by outcome', labelNames: ['outcome'], registers }),
    persistBatchSize: new Histogram({ name: m('persist_batch_rows'), help: 'Rows per snapshot write batch', buckets: exponentialBuckets(1, 4, 8), registers }),
    persistFlushSeconds: new Histogram({ name: m('persist_flush_duration_seconds'), help: 'Time to write one snapshot batch', buckets: exponentialBuckets(0.0005, 3, 10), registers }),
    persistPending: new Gauge({ name: m('persist_pending_rows'), help: 'Changed snapshots waiting to be written', registers }),
    persistConflicts: new Counter({ name: m('persist_conflicts_total'), help: 'Optimistic-lock conflicts: another instance owns the actor', labelNames: ['kind'], registers }),
    rehydrateSeconds: new Histogram({ name: m('rehydrate_duration_seconds'), help: 'Time to restore the actor tree at boot', buckets: exponentialBuckets(0.01, 3, 9), registers }),
    rehydratedActors: new Counter({ name: m('rehydrated_actors_total'), help: 'Actors restored at boot, by outcome', labelNames: ['outcome'], registers }),
    httpRequests: new Counter({ name: m('http_requests_total'), help: 'Ops HTTP requests', labelNames: ['route', 'status'], registers }),
    shutdownSeconds: new Gauge({ name: m('shutdown_duration_seconds'), help: 'Duration of the last graceful shutdown', registers }),
  };
}
