/**
 * Runs `tick` every `intervalMs` until stopped; a failed tick is reported and
 * the loop carries on. `stop()` wakes a sleeping loop at once and resolves
 * when the tick in progress (if any) has finished. Shared by the keeper and the
 * price simulator.
 */
export interface TickLoop {
  start(): void;
  stop(): Promise<void>;
}

export function createTickLoop(options: { tick: () => Promise<unknown>; intervalMs: number; onError: (err: unknown) => void }): TickLoop {
  let loop: Promise<void> | undefined;
  let stopped = false;
  let wake: (() => void) | undefined;
  return {
    start() {
      if (loop) return;
      loop = (async () => {
        while (!stopped) {
          try {
            await options.tick();
          } catch (err) {
            options.onError(err);
          }
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
      stopped = true;
      wake?.();
      await loop;
    },
  };
}
