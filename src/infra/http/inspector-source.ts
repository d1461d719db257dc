/**
 * What the inspector server shows, as plain data. The actors layer implements
 * `InspectorSource` from XState's inspection events; the HTTP layer only
 * renders it, so infra never imports the runtime.
 */

export type ActorRunStatus = 'running' | 'restarting' | 'quarantined' | 'stopped' | 'done' | 'error';

export interface ActorView {
  /** systemId, e.g. `user:42` or `price-feed:ETH/USD`. */
  readonly id: string;
  readonly kind: string;
  /** Logical parent's systemId (`root` for top-level actors), null for the root itself. */
  readonly parent: string | null;
  readonly status: ActorRunStatus;
  /** XState state value (string or nested object), JSON. */
  readonly state: unknown;
  /** Context with secrets removed. */
  readonly context: unknown;
  /** Epoch ms of the last snapshot change. */
  readonly updatedAt: number;
}

export type InspectorEvent =
  | { readonly type: 'actor.upsert'; readonly actor: ActorView }
  | { readonly type: 'actor.removed'; readonly id: string; readonly at: number }
  | {
      readonly type: 'event';
      readonly at: number;
      /** systemId of the receiver. */
      readonly target: string;
      /** systemId of the sender, null when sent from outside the system. */
      readonly source: string | null;
      /** The event, secrets removed. */
      readonly event: { readonly type: string } & Record<string, unknown>;
    }
  | {
      /** An actor took a transition: its state value changed (or it was restored / started). */
      readonly type: 'transition';
      readonly at: number;
      /** systemId of the actor that moved. */
      readonly id: string;
      /** Type of the event that caused it (`xstate.init` when the actor started or was restored). */
      readonly event: string;
      /** The state value after the step. */
      readonly state: unknown;
    };

/** One step of an actor's recent past, for the inspector's time travel. */
export interface TransitionStep {
  readonly at: number;
  /** Type of the event that caused the step (`xstate.init` when the actor started or was restored). */
  readonly event: string;
  /** The state value after the step. */
  readonly state: unknown;
  /** The context after the step, secrets removed. */
  readonly context: unknown;
  /** Where the step was read: this process's inspection stream, or the transition journal in PostgreSQL (survives restarts). */
  readonly origin: 'live' | 'journal';
}

export interface InspectorSource {
  /** Every live actor, parents before children. */
  actors(): ActorView[];
  /**
   * Every live actor without its context (`context: null`), parents before children: what the
   * tree needs, without sanitising 100,000 contexts. With `limit`, at most `limit` actors from the
   * roots down (a page's first paint; the full tree includes them again). Without it the server
   * strips actors().
   */
  tree?(limit?: number): ActorView[];
  /** One actor in full (with its sanitised context); without it the server searches actors(). */
  actor?(id: string): ActorView | undefined;
  /** The most recent events (bounded ring buffer), oldest first. */
  recentEvents(): InspectorEvent[];
  /** Live feed; returns the unsubscribe function. */
  subscribe(listener: (event: InspectorEvent) => void): () => void;
  /**
   * An actor's recent steps, oldest first, at most `limit` (default 100): from the journal
   * (earlier runs) followed by this run's live steps, without duplicates. Empty when unknown.
   */
  history?(id: string, limit?: number): Promise<TransitionStep[]>;
}

/** One dependency's readiness probe for /readyz. */
export interface ReadinessCheck {
  readonly name: string;
  /** When false, a failure is reported but does not make the instance unready. */
  readonly required: boolean;
  /**
   * Fails only while the instance is still starting (its message says at what step): being unready
   * then is expected, and logged as information rather than a warning.
   */
  readonly startup?: boolean;
  /** Resolves when healthy; rejects (with a secret-free message) when not. */
  check(): Promise<void>;
}
