import { Writable } from 'node:stream';
import type { Logger } from 'pino';
import { createLogger } from '../../src/infra/logger.ts';
import { createMetrics, type Metrics } from '../../src/infra/metrics.ts';

/** A logger that prints nothing (tests that assert on log lines use captureLogger). */
export function silentLogger(): Logger {
  return createLogger({ level: 'silent' });
}

/** A logger whose JSON lines are kept in memory, synchronously, for assertions. */
export function captureLogger(level = 'trace'): { logger: Logger; lines: () => Record<string, unknown>[]; text: () => string } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const logger = createLogger({ level, destination });
  const text = () => chunks.join('');
  return {
    logger,
    text,
    lines: () =>
      text()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

export function testMetrics(): Metrics {
  return createMetrics({ version: 'test', mode: 'sandbox', collectDefault: false });
}
