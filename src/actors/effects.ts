import type { Logger } from 'pino';

/**
 * Wraps a provided action so an exception in an effect (a closed socket, a
 * full queue) is logged instead of failing the actor: a machine's state must
 * not depend on whether a notification could be delivered.
 */
export function safeEffect<A extends unknown[]>(logger: Logger, name: string, fn: (...args: A) => void): (...args: A) => void {
  return (...args: A) => {
    try {
      fn(...args);
    } catch (err) {
      logger.error({ err, effect: name }, 'Effect failed; the actor carries on');
    }
  };
}
