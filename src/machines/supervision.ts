/**
 * The supervision policy as a pure function: given an actor's recent failure
 * times, decide whether to restart it (and after how long) or quarantine it.
 * Exponential backoff; quarantine after `maxRestarts` failures within
 * `windowMs`, so a poison snapshot or a broken dependency cannot crash-loop.
 */
export interface SupervisionPolicy {
  readonly maxRestarts: number;
  readonly windowMs: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
}

export type SupervisionDecision =
  | { readonly type: 'restart'; readonly delayMs: number; readonly attempt: number }
  | { readonly type: 'quarantine'; readonly failuresInWindow: number };

export function decideOnFailure(
  previousFailures: readonly number[],
  now: number,
  policy: SupervisionPolicy,
): { readonly failures: readonly number[]; readonly decision: SupervisionDecision } {
  const failures = [...previousFailures.filter((at) => now - at < policy.windowMs), now];
  if (failures.length > policy.maxRestarts) {
    return { failures, decision: { type: 'quarantine', failuresInWindow: failures.length } };
  }
  const attempt = failures.length;
  const delayMs = Math.min(policy.backoffMaxMs, policy.backoffBaseMs * 2 ** (attempt - 1));
  return { failures, decision: { type: 'restart', delayMs, attempt } };
}
