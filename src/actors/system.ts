import type { InspectionEvent } from 'xstate';
import type { Logger } from 'pino';
import type { Clock } from '../infra/clock.ts';
import type { Config } from '../infra/config.ts';
import type { Database } from '../infra/db/database.ts';
import type { Fence } from '../infra/db/fence.ts';
import type { FencedError } from '../errors.ts';
import type { ActorRunStatus } from '../infra/http/inspector-source.ts';
import type { Metrics } from '../infra/metrics.ts';
import type { RiskLimits } from '../machines/risk.ts';
import type { ActorKind } from './kind.ts';
import { createPositionKind } from './kinds/position.actor.ts';
import type { OrderGateway } from './order-gateway.ts';
import { createPriceFeedKind, type PriceUpdate } from './kinds/price-feed.actor.ts';
import { createUserKind } from './kinds/user.actor.ts';
import { ActorRuntime, type QuarantineInfo, type RuntimeHandle } from './runtime.ts';

export interface VantaSystemDeps {
  readonly db: Database;
  /** The engine's lease fence (OWNED_OUTRIGHT on the embedded database). */
  readonly fence: Fence;
  /** The lease was found lost by a refused write; every actor has stopped. */
  readonly onFenced?: (error: FencedError) => void;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly clock: Clock;
  readonly supervisor: Config['supervisor'];
  readonly persistBatchMax: number;
  readonly fillTimeoutMs?: number;
  /** Per-order and per-trader limits, checked when an order is asked for (and again before signing). */
  readonly limits: RiskLimits;
  /** The chain side of positions; null/absent when no chain is attached (orders are then rejected). */
  readonly orders?: OrderGateway | null;
  readonly notifyUser?: (telegramId: number, text: string) => void;
  readonly onPrice?: (update: PriceUpdate) => void;
  readonly onHalt?: (pair: string, halted: boolean, reason: string | null) => void;
  readonly inspect?: (event: InspectionEvent) => void;
  readonly onStatus?: (id: string, status: ActorRunStatus) => void;
  readonly onQuarantine?: (info: QuarantineInfo) => void;
  /** More kinds (tests add failing or versioned machines here). */
  readonly extraKinds?: (runtime: RuntimeHandle) => readonly ActorKind[];
}

/** The runtime with every actor kind of the design wired to its effects. */
export function createVantaSystem(deps: VantaSystemDeps): ActorRuntime {
  const log = deps.logger.child({ component: 'actors' });
  return new ActorRuntime({
    db: deps.db,
    fence: deps.fence,
    ...(deps.onFenced ? { onFenced: deps.onFenced } : {}),
    logger: log,
    metrics: deps.metrics,
    clock: deps.clock,
    policy: deps.supervisor,
    batchMax: deps.persistBatchMax,
    ...(deps.inspect ? { inspect: deps.inspect } : {}),
    ...(deps.onStatus ? { onStatus: deps.onStatus } : {}),
    ...(deps.onQuarantine ? { onQuarantine: deps.onQuarantine } : {}),
    kinds: (runtime) => [
      createUserKind({
        runtime,
        logger: log.child({ kind: 'user' }),
        notifyUser: deps.notifyUser ?? ((telegramId, text) => log.info({ telegram_id: telegramId, text }, 'User notification (no chat front end attached)')),
        fillTimeoutMs: deps.fillTimeoutMs ?? 60_000,
        limits: deps.limits,
      }),
      createPositionKind({ runtime, logger: log.child({ kind: 'position' }), clock: deps.clock, orders: deps.orders ?? null }),
      createPriceFeedKind({ logger: log.child({ kind: 'price-feed' }), clock: deps.clock, onPrice: deps.onPrice ?? (() => {}), onHalt: deps.onHalt ?? (() => {}) }),
      ...(deps.extraKinds?.(runtime) ?? []),
    ],
  });
}
