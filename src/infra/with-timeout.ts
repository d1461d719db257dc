/**
 * `promise`'s outcome if it settles within `ms`, otherwise `onTimeout()`'s value (the promise goes
 * on; its late outcome is ignored). The timer does not hold the process open.
 */
export function withTimeout<T, U = T>(promise: Promise<T>, ms: number, onTimeout: () => U): Promise<T | U> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<U>((resolve) => {
    timer = setTimeout(() => resolve(onTimeout()), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
