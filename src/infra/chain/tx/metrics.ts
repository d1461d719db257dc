import { Counter, Histogram, exponentialBuckets, type Registry } from 'prom-client';

/** Transaction pipeline metrics, on the app's registry. */
export interface TxMetrics {
  readonly submitted: Counter<'kind'>;
  readonly outcomes: Counter<'outcome'>;
  readonly speedUps: Counter;
  /** Attempts a node refused when first offered (a refused speed-up leaves its intent open). */
  readonly refused: Counter;
  /** Order accepted → signed transaction broadcast (excludes waiting for the chain). */
  readonly submitSeconds: Histogram;
}

export function createTxMetrics(registry: Registry): TxMetrics {
  const registers = [registry];
  return {
    submitted: new Counter({ name: 'vanta_tx_submitted_total', help: 'Transactions signed and broadcast, by kind', labelNames: ['kind'], registers }),
    outcomes: new Counter({ name: 'vanta_tx_outcomes_total', help: 'Transaction outcomes: mined, reverted, superseded, rejected', labelNames: ['outcome'], registers }),
    speedUps: new Counter({ name: 'vanta_tx_speedups_total', help: 'Stuck transactions re-priced', registers }),
    refused: new Counter({ name: 'vanta_tx_attempts_refused_total', help: 'Signed attempts a node refused when first offered (funds, fees, gas); never offered again', registers }),
    submitSeconds: new Histogram({ name: 'vanta_tx_submit_duration_seconds', help: 'From accepting an order step to its signed transaction broadcast', buckets: exponentialBuckets(0.001, 2, 12), registers }),
  };
}
