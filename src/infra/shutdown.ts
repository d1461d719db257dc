import type { Logger } from 'pino';
import { withTimeout } from './with-timeout.ts';

/**
 * One registry for everything that must close: resources register a named
 * close function as they start, and `run()` closes them in reverse order
 * (last started, first closed) within a grace timeout. SIGTERM and SIGINT both
 * lead here. A second signal, or the grace timeout, forces the exit.
 *
 * Each close has its own time budget: one that fails or hangs is reported and
 * left behind, and the closes after it still run. Otherwise one stuck resource
 * (a receipt wait on a dead node) would keep the database from ever closing.
 */
export interface Shutdown {
  /** Aborted as soon as shutdown begins: long loops watch it. */
  readonly signal: AbortSignal;
  /**
   * Registers a close; returns a function that unregisters it (for resources closed early).
   * `timeoutMs` overrides the default budget of this one close.
   */
  add(name: string, close: () => Promise<void> | void, options?: { readonly timeoutMs?: number }): () => void;
  /** Closes everything once; later calls return the same promise. Resolves with the exit code to use. */
  run(reason: string, exitCode?: number): Promise<number>;
  readonly isShuttingDown: boolean;
}

export interface ShutdownOptions {
  readonly logger: Logger;
  readonly graceMs: number;
  /** Budget of one close unless it names its own; default a quarter of the grace, at least 1 s. */
  readonly closeTimeoutMs?: number;
  readonly onDuration?: (seconds: number) => void;
}

interface Closer {
  readonly name: string;
  readonly close: () => Promise<void> | void;
  readonly timeoutMs: number | undefined;
}

export function createShutdown(options: ShutdownOptions): Shutdown {
  const controller = new AbortController();
  const closers: Closer[] = [];
  const defaultBudget = options.closeTimeoutMs ?? Math.max(1_000, Math.floor(options.graceMs / 4));
  let running: Promise<number> | null = null;

  const closeAll = async (reason: string, exitCode: number): Promise<number> => {
    const started = performance.now();
    options.logger.info({ reason, resources: closers.length }, 'Shutting down');
    controller.abort(new Error(`shutdown: ${reason}`));
    let code = exitCode;
    const closed: string[] = [];
    const failed: string[] = [];
    for (const { name, close, timeoutMs } of closers.splice(0).reverse()) {
      const budget = timeoutMs ?? defaultBudget;
      const t0 = performance.now();
      try {
        const outcome = await withTimeout(
          Promise.resolve().then(close).then(() => 'closed' as const),
          budget,
          () => 'timed out' as const,
        );
        if (outcome === 'timed out') {
          code = code || 1;
          failed.push(name);
          options.logger.error({ resource: name, budget_ms: budget }, `Resource did not close within ${budget} ms; left behind so the rest can close`);
          continue;
        }
        closed.push(name);
        options.logger.debug({ resource: name, ms: Math.round(performance.now() - t0) }, 'Closed resource');
      } catch (err) {
        code = code || 1;
        failed.push(name);
        options.logger.error({ err, resource: name }, 'Failed to close resource');
      }
    }
    const seconds = (performance.now() - started) / 1000;
    options.onDuration?.(seconds);
    options.logger.info({ seconds: Number(seconds.toFixed(3)), exit_code: code, closed, failed }, 'Shut down');
    return code;
  };

  return {
    signal: controller.signal,
    get isShuttingDown() {
      return running !== null;
    },
    add(name, close, addOptions = {}) {
      const entry: Closer = { name, close, timeoutMs: addOptions.timeoutMs };
      closers.push(entry);
      return () => {
        const i = closers.indexOf(entry);
        if (i >= 0) closers.splice(i, 1);
      };
    },
    run(reason, exitCode = 0) {
      running ??= withTimeout(closeAll(reason, exitCode), options.graceMs, () => {
        options.logger.error({ grace_ms: options.graceMs }, 'Shutdown exceeded its grace period; exiting anyway');
        return 1;
      });
      return running;
    },
  };
}

/**
 * Wires process signals and fatal errors to the registry. Exit codes: 0 after
 * a clean signal-driven shutdown, 1 after a fatal error, 130/143 never (we exit
 * on our own terms once resources are closed).
 */
export function installProcessHandlers(shutdown: Shutdown, logger: Logger, proc: NodeJS.Process = process): void {
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, 'Second signal received; exiting immediately');
      proc.exit(1);
    }
    void shutdown.run(`signal ${signal}`).then((code) => proc.exit(code));
  };
  proc.on('SIGTERM', onSignal);
  proc.on('SIGINT', onSignal);
  proc.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'Uncaught exception');
    void shutdown.run('uncaught exception', 1).then((code) => proc.exit(code));
  });
  proc.on('unhandledRejection', (err) => {
    logger.fatal({ err }, 'Unhandled promise rejection');
    void shutdown.run('unhandled rejection', 1).then((code) => proc.exit(code));
  });
}
