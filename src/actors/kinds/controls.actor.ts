import type { AnyActorRef } from 'xstate';
import { TradingPausedError } from '../../errors.ts';
import { CONTROLS_SYSTEM_ID, controlsMachine, controlsMachineVersion, PAIR_NAME, type TradingControlsContext } from '../../machines/controls.machine.ts';
import type { ActorKind } from '../kind.ts';
import type { OpenGate } from '../order-gateway.ts';

export { CONTROLS_SYSTEM_ID } from '../../machines/controls.machine.ts';

/** The operator's trading controls as an actor kind (no effects: it only records). */
export function createControlsKind(): ActorKind {
  return { kind: CONTROLS_SYSTEM_ID, logic: controlsMachine, version: controlsMachineVersion };
}

/** Spawned at boot when no row exists yet (ActorRuntimeOptions.essentials). */
export const CONTROLS_ESSENTIAL = { id: CONTROLS_SYSTEM_ID, input: {} } as const;

export interface TradingControls {
  readonly paused: boolean;
  readonly pausedPairs: readonly string[];
  /**
   * False when the controls actor is not running (quarantined): the operator's choice is
   * unknown, so it reads as paused (fail closed) until an operator releases it.
   */
  readonly known: boolean;
}

/**
 * What the operator decided, read from the live `controls` actor. The trading desk uses it to
 * refuse an order at once; the gateway enforces it again before signing (tradingGate below).
 */
export function readTradingControls(runtime: { get(id: string): AnyActorRef | undefined }): TradingControls {
  const snapshot = runtime.get(CONTROLS_SYSTEM_ID)?.getSnapshot() as { context?: TradingControlsContext } | undefined;
  const context = snapshot?.context;
  if (!context) return { paused: true, pausedPairs: [], known: false };
  return { paused: context.paused, pausedPairs: context.pausedPairs, known: true };
}

/** A pair as the controls name it: `eth`, `ETH`, `eth/usd` → `ETH/USD`; null when it cannot be one. */
export function pairName(input: string): string | null {
  const text = input.trim().toUpperCase();
  const name = text.includes('/') ? text : `${text}/USD`;
  return PAIR_NAME.test(name) ? name : null;
}

/**
 * Why a new open on `pair` must not be signed now, as the typed error to throw, or null when it
 * may. Closing is never checked: a trader can always get out.
 */
export function tradingPausedFor(controls: TradingControls, pair: string): TradingPausedError | null {
  if (!controls.known) {
    return new TradingPausedError(
      'Trading is paused: the operator’s trading controls are unavailable (quarantined) until an operator releases them. Nothing was sent; you can still close positions.',
    );
  }
  if (controls.paused) return new TradingPausedError('Trading is paused by the operator. Nothing was sent; you can still close positions. Try again once trading resumes.');
  const name = pairName(pair) ?? pair;
  if (controls.pausedPairs.includes(name)) {
    return new TradingPausedError(`Trading on ${name} is paused by the operator. Nothing was sent; you can still close positions. Try again once it resumes.`, { pair: name });
  }
  return null;
}

/** The gate positions hand the order gateway: the operator's controls, read live when asked. */
export function tradingGate(runtime: { get(id: string): AnyActorRef | undefined }): OpenGate {
  return (order) => {
    const refusal = tradingPausedFor(readTradingControls(runtime), order.pair);
    if (refusal) throw refusal;
  };
}
