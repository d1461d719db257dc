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
    };

export interface InspectorSource {
  /** Every live actor, parents before children. */
  actors(): ActorView[];
  /** The most recent events (bounded ring buffer), oldest first. */
  recentEvents(): InspectorEvent[];
  /** Live feed; returns the unsubscribe function. */
  subscribe(listener: (event: InspectorEvent) => void): () => void;
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
