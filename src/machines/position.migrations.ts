import {
  followCloseInput,
  followOpenInput,
  submitCloseInput,
  submitOpenInput,
  watchTradeInput,
  type PositionContext,
} from './position.machine.ts';

/**
 * Snapshot migrations of the position machine. A restore is not a transition: XState restarts
 * only the invoked children listed in the snapshot and runs no entry action (STACK-NOTES §1),
 * so a migration that moves an actor into a state must also write that state's children, built
 * with the same input functions the machine uses. A state with no child would wait forever.
 */

type Snapshot = Record<string, unknown>;

/** The pairs a version 1 order could name (AVANTIS.md §7.1), for migrating them to indexes. */
const V1_PAIR_INDEXES: Readonly<Record<string, number>> = { 'ETH/USD': 0, 'BTC/USD': 1, 'SOL/USD': 2, 'BNB/USD': 3, 'ARB/USD': 4, 'DOGE/USD': 5, 'AVAX/USD': 6, 'OP/USD': 7 };

/** Version 2's chain facts before anything happened. */
const V2_NOTHING_YET = {
  orderId: null,
  openTx: null,
  requestBlock: null,
  tradeIndex: null,
  openPrice: null,
  positionCollateral: null,
  fillDelayed: false,
  closeOrderId: null,
  closeTx: null,
  closeBlock: null,
  closePrice: null,
  payout: null,
  outcome: null,
  error: null,
  attempts: 0,
};

/**
 * Version 1 was a lifecycle skeleton driven by events (pending → open → closing → closed). A
 * pending v1 order never reached the chain, so it resumes by submitting. A v1 position past
 * pending had no on-chain trade behind it; rather than invent one, the migration refuses it and
 * the runtime quarantines that actor for an operator to look at.
 */
export function migratePositionV1(snapshot: Snapshot): Snapshot {
  const context = (snapshot['context'] ?? {}) as Record<string, unknown>;
  if (snapshot['value'] !== 'pending') {
    throw new Error(`a version 1 position in state ${JSON.stringify(snapshot['value'])} has no on-chain trade to resume`);
  }
  // v1 stored only the pair's name; trading the wrong pair would be worse than not trading.
  const pairIndex = V1_PAIR_INDEXES[String(context['pair'])];
  if (pairIndex === undefined) throw new Error(`a version 1 order on ${JSON.stringify(context['pair'])} has no known Avantis pair index`);
  // The children are written by the version 2 → 3 migration, which every v1 row goes through next.
  return {
    ...snapshot,
    value: 'submitting',
    children: {},
    context: {
      positionId: context['positionId'],
      owner: context['owner'],
      pair: context['pair'],
      pairIndex,
      side: context['side'],
      collateral: context['collateral'],
      leverage: context['leverage'],
      slippageBps: 50,
      fillTimeoutMs: context['fillTimeoutMs'],
      ...V2_NOTHING_YET,
    },
  };
}

/**
 * Version 3 follows the chain in every waiting state (nested `following`/`watching` states with
 * a cursor), checks a trade's identity before closing it, and numbers close tries.
 *
 * - Context gains `openedAt`, `openBlock`, `canceledBy`, `closeAttempt`, `closedBy`, `cursor`.
 *   A v2 open position never recorded its trade's opening time: `openedAt` stays null and the
 *   watch learns it from the slot (only if everything else about the trade matches).
 * - A v2 close in flight keeps its intent id as try 0 (`position:<id>:close`), so a restored
 *   close resumes its transaction instead of sending a second one.
 * - Invoked children are rebuilt for the new state; deadline timers keep their absolute deadline.
 */
export function migratePositionV2(snapshot: Snapshot): Snapshot {
  const old = (snapshot['context'] ?? {}) as Record<string, unknown>;
  const children = (snapshot['children'] ?? {}) as Record<string, unknown>;
  const state = String(snapshot['value']);
  const context = {
    ...old,
    openedAt: null,
    openBlock: null,
    canceledBy: null,
    closeAttempt: 0,
    closedBy: null,
    cursor: state === 'awaitingFill' ? (old['requestBlock'] ?? null) : state === 'awaitingClose' ? (old['closeBlock'] ?? null) : null,
  } as unknown as PositionContext;
  const child = (src: string, input: unknown) => ({ snapshot: { status: 'active', input }, src, syncSnapshot: false });
  // A timer without its snapshot fires at once (deadline 0): better early than never.
  const timer = (id: string) => (children[id] && typeof children[id] === 'object' ? children[id] : { snapshot: { status: 'active', deadline: 0 }, src: 'deadline', syncSnapshot: false });

  switch (state) {
    case 'submitting':
      return { ...snapshot, value: 'submitting', context, children: { submitOpen: child('submitOpen', submitOpenInput(context)) } };
    case 'retryingSubmit':
      return { ...snapshot, value: 'retryingSubmit', context, children: { retrySubmit: timer('retrySubmit') } };
    case 'awaitingFill':
      return { ...snapshot, value: { awaitingFill: 'following' }, context, children: { fillTimeout: timer('fillTimeout'), followOpen: child('followOpen', followOpenInput(context)) } };
    case 'open':
      return { ...snapshot, value: { open: 'watching' }, context, children: { watchTrade: child('watchTrade', watchTradeInput(context)) } };
    case 'closing':
      return { ...snapshot, value: 'closing', context, children: { submitClose: child('submitClose', submitCloseInput(context)) } };
    case 'retryingClose':
      return { ...snapshot, value: 'retryingClose', context, children: { retryClose: timer('retryClose') } };
    case 'awaitingClose':
      return { ...snapshot, value: { awaitingClose: 'following' }, context, children: { followClose: child('followClose', followCloseInput(context)) } };
    default:
      throw new Error(`a version 2 position in state ${JSON.stringify(snapshot['value'])} cannot be resumed`);
  }
}
