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
import type { NoticeSink } from './desk.ts';
import { kindOf, type ActorKind } from './kind.ts';
import { CONTROLS_ESSENTIAL, createControlsKind, tradingGate } from './kinds/controls.actor.ts';
import { createNoticeCourier } from './notice-courier.ts';
import { createPositionKind } from './kinds/position.actor.ts';
import type { OrderGateway } from './order-gateway.ts';
import { createPriceFeedKind, type PriceUpdate } from './kinds/price-feed.actor.ts';
import { createUserKind } from './kinds/user.actor.ts';
import { createWithdrawalKind, createWithdrawalReconciler } from './kinds/withdrawal.actor.ts';
import { ActorRuntime, type QuarantineInfo, type RuntimeHandle } from './runtime.ts';
import type { WithdrawalGateway } from './withdrawal-gateway.ts';

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
  /** The chain side of USDC withdrawals; null/absent where nothing is sent (withdrawals then fail, saying so). */
  readonly withdrawals?: WithdrawalGateway | null;
  /** Live: a withdrawal's destination must be on the trader's allowlist, past its waiting period (default false). */
  readonly requireWithdrawAllowlist?: boolean;
  /**
   * Where trader notices go (the Telegram front end). Called once the snapshot holding the notice
   * is durable; resolve when delivered, reject to have it retried (1 s doubling to 60 s, in order
   * per trader). At least once: after a crash a notice may come again, with the same id. Without
   * one, notices are logged and counted as delivered.
   */
  readonly notices?: NoticeSink;
  /** Backoff between delivery attempts of a notice, and how long one attempt may take (tests shorten them). */
  readonly noticeRetry?: { readonly baseMs: number; readonly maxMs: number; readonly sinkTimeoutMs?: number };
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
  const noticeLog = log.child({ component: 'notices' });
  const sink: NoticeSink =
    deps.notices ??
    ((notice) => {
      noticeLog.info({ telegram_id: notice.telegramId, notice_id: notice.id, kind: notice.kind, position_id: notice.positionId, text: notice.text }, 'Trader notice (no chat front end attached)');
      return Promise.resolve();
    });
  // The runtime and the courier need each other; the courier only runs once the runtime exists.
  const late: { runtime?: ActorRuntime } = {};
  const courier = createNoticeCourier({
    runtime: {
      get: (id) => late.runtime?.get(id),
      send: (id, event) => late.runtime?.send(id, event) ?? false,
      flushed: (ids) => late.runtime?.flushed(ids) ?? Promise.resolve(),
    },
    sink,
    logger: noticeLog,
    clock: deps.clock,
    ...(deps.noticeRetry ? { retryBaseMs: deps.noticeRetry.baseMs, retryMaxMs: deps.noticeRetry.maxMs } : {}),
    ...(deps.noticeRetry?.sinkTimeoutMs ? { sinkTimeoutMs: deps.noticeRetry.sinkTimeoutMs } : {}),
  });
  const reconciler = createWithdrawalReconciler({
    db: deps.db,
    runtime: { get: (id) => late.runtime?.get(id), send: (id, event) => late.runtime?.send(id, event) ?? false },
    isLive: (id) => late.runtime?.describe(id) !== undefined,
    logger: log.child({ component: 'withdrawals' }),
  });
  const runtime = new ActorRuntime({
    db: deps.db,
    fence: deps.fence,
    ...(deps.onFenced ? { onFenced: deps.onFenced } : {}),
    logger: log,
    metrics: deps.metrics,
    clock: deps.clock,
    policy: deps.supervisor,
    batchMax: deps.persistBatchMax,
    ...(deps.inspect ? { inspect: deps.inspect } : {}),
    // A user actor that (re)starts (restore, supervised restart, release) delivers what it still owes.
    onStatus: (id, status) => {
      if (status === 'running' && kindOf(id) === 'user') {
        courier.kick(id);
        // After this tick: a booting engine restores the user's withdrawals right after the user.
        queueMicrotask(() => void reconciler.reconcile(id).catch((err: unknown) => log.warn({ err, actor_id: id }, 'Could not check the withdrawals of a trader; checked again at its next start')));
      }
      deps.onStatus?.(id, status);
    },
    ...(deps.onQuarantine ? { onQuarantine: deps.onQuarantine } : {}),
    essentials: [CONTROLS_ESSENTIAL],
    onStop: () => courier.stop(),
    kinds: (runtime) => [
      createUserKind({
        runtime,
        logger: log.child({ kind: 'user' }),
        courier,
        fillTimeoutMs: deps.fillTimeoutMs ?? 60_000,
        limits: deps.limits,
        requireWithdrawAllowlist: deps.requireWithdrawAllowlist ?? false,
      }),
      createPositionKind({ runtime, logger: log.child({ kind: 'position' }), clock: deps.clock, orders: deps.orders ?? null, openGate: tradingGate(runtime) }),
      createWithdrawalKind({ runtime, logger: log.child({ kind: 'withdrawal' }), clock: deps.clock, withdrawals: deps.withdrawals ?? null }),
      createControlsKind(),
      createPriceFeedKind({ logger: log.child({ kind: 'price-feed' }), clock: deps.clock, onPrice: deps.onPrice ?? (() => {}), onHalt: deps.onHalt ?? (() => {}) }),
      ...(deps.extraKinds?.(runtime) ?? []),
    ],
  });
  late.runtime = runtime;
  return runtime;
}
