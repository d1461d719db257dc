/**
 * Runs `tick` every `intervalMs` until stopped; a failed tick is reported and
 * the loop carries on. Shared by the keeper and the price simulator.
 *
 * `stop()` aborts the signal handed to the tick in progress (so a receipt wait
 * ends at once instead of running out its timeout), wakes a sleeping loop, and
 * resolves when the tick has returned, or after `stopWaitMs` at the latest: a
 * stop must never hang on the chain it is stopping.
 */
export interface TickLoop {
  start(): void;
  stop(): Promise<void>;
}

export interface TickLoopOptions {
  readonly tick: (signal: AbortSignal) => Promise<unknown>;
  readonly intervalMs: number;
  readonly onError: (err: unknown) => void;
  /** Longest wait for the tick in progress once stop() has aborted it; default 2 s. */
  readonly stopWaitMs?: number;
}

export function createTickLoop(options: TickLoopOptions): TickLoop {
  const controller = new AbortController();
  let loop: Promise<void> | undefined;
  let wake: (() => void) | undefined;
  return {
    start() {
      if (loop || controller.signal.aborted) return;
      loop = (async () => {
        while (!controller.signal.aborted) {
          try {
            await options.tick(controller.signal);
          } catch (err) {
            // An error caused by stop() aborting the tick is the stop working, not a failure.
            if (!controller.signal.aborted) options.onError(err);
          }
          if (controller.signal.aborted) break;
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, options.intervalMs);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
        }
      })();
    },
    async stop() {
      controller.abort(new Error('stopped'));
      wake?.();
      if (!loop) return;
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, options.stopWaitMs ?? 2_000);
        timer.unref();
      });
      await Promise.race([loop, bound]);
      clearTimeout(timer);
    },
  };
}
