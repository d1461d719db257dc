import { scrubSecrets } from '../logger.ts';
import type { ReadinessCheck } from './inspector-source.ts';

/** One check's outcome as /readyz reports it. */
export interface CheckResult {
  readonly ok: boolean;
  readonly required: boolean;
  readonly latency_ms: number;
  readonly error?: string;
}

export interface ReadinessReport {
  readonly status: 'ready' | 'not_ready';
  readonly checks: Record<string, CheckResult>;
}

/**
 * Runs every check at once, each bounded by `timeoutMs` so one hung
 * dependency cannot hang the probe. The instance is ready when every
 * required check passed; optional failures are reported but do not count.
 * Error messages are scrubbed: a driver error may quote a connection URL.
 */
export async function runReadiness(checks: readonly ReadinessCheck[], timeoutMs: number): Promise<ReadinessReport> {
  const results = await Promise.all(checks.map((check) => runOne(check, timeoutMs)));
  const report: Record<string, CheckResult> = {};
  checks.forEach((check, i) => {
    report[check.name] = results[i] as CheckResult;
  });
  const ready = results.every((r) => r.ok || !r.required);
  return { status: ready ? 'ready' : 'not_ready', checks: report };
}

async function runOne(check: ReadinessCheck, timeoutMs: number): Promise<CheckResult> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    // Promise.resolve().then(...) turns a synchronous throw into a rejection.
    await Promise.race([Promise.resolve().then(() => check.check()), timeout]);
    return { ok: true, required: check.required, latency_ms: elapsed(started) };
  } catch (err) {
    return { ok: false, required: check.required, latency_ms: elapsed(started), error: describeFailure(err) };
  } finally {
    clearTimeout(timer);
  }
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}

function describeFailure(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return String(scrubSecrets(message)).slice(0, 500);
}
