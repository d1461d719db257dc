import type { FollowHooks, OrderGateway } from '../../src/actors/order-gateway.ts';
import type { ClosedBy, ClosedTrade, OpenedTrade } from '../../src/machines/position.machine.ts';

/**
 * A plain-object stand-in for the chain side of positions, for runtime tests that are about
 * persistence and supervision rather than the chain (the chain path is tested against anvil in
 * test/actors/order-flow.test.ts). Requests are accepted at once; what the chain does next
 * happens when the test says so. Order ids are `open-<positionId>` and `close-<positionId>`.
 */
export interface OrdersDouble extends OrderGateway {
  /** The keeper fills the open request of a position. */
  fill(positionId: string, openPrice: string, collateral?: string): void;
  /** Avantis cancels the open request (slippage, or an operator with `by: 'operator'`). */
  cancel(positionId: string, by?: 'protocol' | 'operator'): void;
  /** The keeper fills the close request. */
  closeFill(positionId: string, closePrice: string, payout: string): void;
  /** The close request leaves the book without closing anything. */
  closeCancel(positionId: string): void;
  /** The chain closes the open trade on its own (TP, SL, liquidation). */
  chainClose(positionId: string, by: ClosedBy, closePrice: string | null, payout: string | null): void;
  /** Every submission, in order: `open:<id>` and `close:<id>:<attempt>`. */
  readonly submitted: string[];
}

export function ordersDouble(): OrdersDouble {
  const opens = new Map<string, { kind: 'filled'; trade: OpenedTrade } | { kind: 'canceled'; by: 'protocol' | 'operator' }>();
  const closes = new Map<string, { kind: 'closed'; closure: ClosedTrade } | { kind: 'close-canceled' }>();
  const chainClosed = new Map<string, ClosedTrade>();
  const openedAtOf = new Map<string, string>();
  const waiters = new Set<() => void>();
  const submitted: string[] = [];
  const settle = () => {
    for (const wake of [...waiters]) wake();
  };
  const wait = <T>(lookup: () => T | undefined, hooks: FollowHooks): Promise<T> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const found = lookup();
        if (found !== undefined) {
          waiters.delete(check);
          resolve(found);
        } else if (hooks.signal.aborted) {
          waiters.delete(check);
          reject(new Error('aborted'));
        }
      };
      waiters.add(check);
      hooks.signal.addEventListener('abort', check, { once: true });
      check();
    });
  const positionOf = (orderId: string) => orderId.replace(/^(open|close)-/, '');
  return {
    submitted,
    submitOpen(order, gate) {
      // As the chain gateway does for a new open: the operator's controls first, nothing sent otherwise.
      try {
        gate(order);
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
      submitted.push(`open:${order.positionId}`);
      return Promise.resolve({ orderId: `open-${order.positionId}`, txHash: `0x${'0'.repeat(64)}`, block: '1' });
    },
    followOpen: (p, hooks) => wait(() => opens.get(positionOf(p.orderId)), hooks),
    submitClose(p) {
      submitted.push(`close:${p.positionId}:${p.attempt}`);
      // A new close try forgets how the previous one ended.
      closes.delete(p.positionId);
      return Promise.resolve({ orderId: `close-${p.positionId}`, txHash: `0x${'1'.repeat(64)}`, block: '2' });
    },
    followClose: (p, hooks) => wait(() => closes.get(positionOf(p.orderId)), hooks),
    // Each fill gets its own opening time, which is how the watch finds its position again.
    watchTrade: (p, hooks) => wait(() => chainClosed.get(openedAtOf.get(p.trade.openedAt ?? '') ?? ''), hooks),
    fill(positionId, openPrice, collateral = '99.5') {
      const openedAt = String(1_700_000_000 + openedAtOf.size);
      openedAtOf.set(openedAt, positionId);
      opens.set(positionId, { kind: 'filled', trade: { tradeIndex: 0, openPrice, collateral, openedAt, block: '3' } });
      settle();
    },
    cancel(positionId, by = 'protocol') {
      opens.set(positionId, { kind: 'canceled', by });
      settle();
    },
    closeFill(positionId, closePrice, payout) {
      closes.set(positionId, { kind: 'closed', closure: { by: 'trader', closePrice, payout } });
      settle();
    },
    closeCancel(positionId) {
      closes.set(positionId, { kind: 'close-canceled' });
      settle();
    },
    chainClose(positionId, by, closePrice, payout) {
      chainClosed.set(positionId, { by, closePrice, payout });
      settle();
    },
  };
}
