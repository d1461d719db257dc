import { assign, setup } from 'xstate';

/**
 * The operator's trading controls: one actor (systemId `controls`), persisted like every other,
 * so a pause survives restarts. It only records; the order gateway enforces it right before an
 * open is signed (src/actors/kinds/controls.actor.ts), and the trading desk reads it to refuse
 * early. Closing is never paused: a trader can always get out.
 *
 * A global pause and per-pair pauses are independent: resuming all trading does not lift a pause
 * an operator set on one pair, so an emergency stop and its end leave the pairs as they were.
 *
 * Events: `trading.pauseAll` / `trading.resumeAll` { by, at? }, `trading.pausePair` /
 * `trading.resumePair` { by, pair, at? } with `pair` as the engine names it (`ETH/USD`). An event
 * that would change nothing (pausing what is paused, a malformed pair) is ignored. The state value
 * is `trading` or `paused` (the global pause).
 */
export const controlsMachineVersion = 1;
export const CONTROLS_SYSTEM_ID = 'controls';

export interface TradingControlsContext {
  readonly paused: boolean;
  /** Sorted pair names. */
  readonly pausedPairs: readonly string[];
  /** Who made the last change (`admin:<telegram id>`), and when (ISO, as the command gave it). */
  readonly by: string | null;
  readonly since: string | null;
}

interface Change {
  readonly by: string;
  readonly at?: string | null;
}

export type ControlsEvent =
  | ({ type: 'trading.pauseAll' } & Change)
  | ({ type: 'trading.resumeAll' } & Change)
  | ({ type: 'trading.pausePair'; pair: string } & Change)
  | ({ type: 'trading.resumePair'; pair: string } & Change);

/** `ETH/USD`-like: what a pair is called everywhere in the engine. */
export const PAIR_NAME = /^[A-Z0-9]{1,20}\/[A-Z]{1,10}$/;

const stamp = (event: Change) => ({ by: event.by, since: typeof event.at === 'string' ? event.at : null });
const hasOperator = (event: { by?: unknown }) => typeof event.by === 'string' && event.by.trim() !== '';

export const controlsMachine = setup({
  types: { context: {} as TradingControlsContext, events: {} as ControlsEvent },
  guards: {
    canPauseAll: ({ event }) => hasOperator(event),
    canResumeAll: ({ event }) => hasOperator(event),
    canPausePair: ({ context, event }) => hasOperator(event) && 'pair' in event && PAIR_NAME.test(event.pair) && !context.pausedPairs.includes(event.pair),
    canResumePair: ({ context, event }) => hasOperator(event) && 'pair' in event && context.pausedPairs.includes(event.pair),
  },
}).createMachine({
  id: 'controls',
  context: { paused: false, pausedPairs: [], by: null, since: null },
  // The state value mirrors the global pause (what the inspector shows); `context.paused` is what is read.
  initial: 'trading',
  states: {
    trading: {
      on: { 'trading.pauseAll': { guard: 'canPauseAll', target: 'paused', actions: assign(({ event }) => ({ paused: true, ...stamp(event) })) } },
    },
    paused: {
      on: { 'trading.resumeAll': { guard: 'canResumeAll', target: 'trading', actions: assign(({ event }) => ({ paused: false, ...stamp(event) })) } },
    },
  },
  on: {
    'trading.pausePair': {
      guard: 'canPausePair',
      actions: assign(({ context, event }) => ({ pausedPairs: [...context.pausedPairs, event.pair].sort(), ...stamp(event) })),
    },
    'trading.resumePair': {
      guard: 'canResumePair',
      actions: assign(({ context, event }) => ({ pausedPairs: context.pausedPairs.filter((p) => p !== event.pair), ...stamp(event) })),
    },
  },
});
