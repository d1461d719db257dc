import type { OrderGateway } from '../../src/actors/order-gateway.ts';
import type { CloseFill, OpenFill } from '../../src/machines/position.machine.ts';

/**
 * A plain-object stand-in for the chain side of positions, for runtime tests
 * that are about persistence and supervision rather than the chain (the chain
 * path is tested against anvil in test/actors/order-flow.test.ts). Requests
 * are accepted at once; fills happen when the test says so.
 */
export interface OrdersDouble extends OrderGateway {
  /** Fills the open request of a position (orderId is `open-<positionId>`). */
  fill(positionId: string, openPrice: string, collateral?: string): void;
  cancel(positionId: string): void;
  closeFill(positionId: string, closePrice: string, payout: string): void;
  readonly submitted: string[];
}

export function ordersDouble(): OrdersDouble {
  const open = new Map<string, OpenFill>();
  const closes = new Map<string, CloseFill>();
  const waiters = new Set<() => void>();
  const submitted: string[] = [];
  const settle = () => {
    for (const wake of [...waiters]) wake();
  };
  const wait = <T>(lookup: () => T | undefined, signal: AbortSignal): Promise<T> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const found = lookup();
        if (found !== undefined) {
          waiters.delete(check);
          resolve(found);
        } else if (signal.aborted) {
          waiters.delete(check);
          reject(new Error('aborted'));
        }
      };
      waiters.add(check);
      signal.addEventListener('abort', check, { once: true });
      check();
    });
  return {
    submitted,
    submitOpen(order) {
      submitted.push(`open:${order.positionId}`);
      return Promise.resolve({ orderId: `open-${order.positionId}`, txHash: `0x${'0'.repeat(64)}`, block: '1' });
    },
    awaitOpenFill: (p, signal) => wait(() => open.get(p.orderId), signal),
    submitClose(p) {
      submitted.push(`close:${p.positionId}`);
      return Promise.resolve({ orderId: `close-${p.positionId}`, txHash: `0x${'1'.repeat(64)}`, block: '2' });
    },
    awaitCloseFill: (p, signal) => wait(() => closes.get(p.orderId), signal),
    fill(positionId, openPrice, collateral = '99.5') {
      open.set(`open-${positionId}`, { kind: 'filled', tradeIndex: 0, openPrice, collateral });
      settle();
    },
    cancel(positionId) {
      open.set(`open-${positionId}`, { kind: 'canceled' });
      settle();
    },
    closeFill(positionId, closePrice, payout) {
      closes.set(`close-${positionId}`, { closePrice, payout });
      settle();
    },
  };
}
