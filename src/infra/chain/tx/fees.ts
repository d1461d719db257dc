/**
 * EIP-1559 fee policy: what the network asks, within a cap the operator sets.
 * A speed-up must raise both fees by at least 12.5 % (nodes refuse a
 * replacement below +10 %; the margin covers rounding), and never above the cap.
 */
export interface FeePolicy {
  /** Hard cap on maxFeePerGas, in wei. */
  readonly maxFeePerGas: bigint;
  /** Floor for the priority fee, in wei (Base sequencer accepts very small tips). */
  readonly minPriorityFeePerGas: bigint;
}

export interface Fees {
  readonly maxFeePerGas: bigint;
  readonly maxPriorityFeePerGas: bigint;
}

/** Fees for a first attempt from the network's estimate; null when even the base fee is above the cap. */
export function initialFees(estimate: Fees, baseFeePerGas: bigint, policy: FeePolicy): Fees | null {
  if (baseFeePerGas >= policy.maxFeePerGas) return null;
  const priority = maxOf(estimate.maxPriorityFeePerGas, policy.minPriorityFeePerGas);
  const wanted = maxOf(estimate.maxFeePerGas, baseFeePerGas + priority);
  const maxFeePerGas = minOf(wanted, policy.maxFeePerGas);
  return { maxFeePerGas, maxPriorityFeePerGas: minOf(priority, maxFeePerGas - baseFeePerGas) };
}

/** Fees for a replacement of `previous`; null when the cap leaves no room for a valid bump. */
export function bumpedFees(previous: Fees, estimate: Fees, policy: FeePolicy): Fees | null {
  const bump = (v: bigint) => v + (v * 125n) / 1000n + 1n;
  const maxFeePerGas = maxOf(bump(previous.maxFeePerGas), estimate.maxFeePerGas);
  const maxPriorityFeePerGas = maxOf(bump(previous.maxPriorityFeePerGas), estimate.maxPriorityFeePerGas);
  if (bump(previous.maxFeePerGas) > policy.maxFeePerGas) return null;
  const cappedMax = minOf(maxFeePerGas, policy.maxFeePerGas);
  return { maxFeePerGas: cappedMax, maxPriorityFeePerGas: minOf(maxPriorityFeePerGas, cappedMax) };
}

const maxOf = (a: bigint, b: bigint) => (a > b ? a : b);
const minOf = (a: bigint, b: bigint) => (a < b ? a : b);
