import type { Logger } from 'pino';
import { BadInputError, VantaError, describeError } from '../errors.ts';
import type { Clock } from '../infra/clock.ts';
import type { Database } from '../infra/db/database.ts';
import type { KeyStore } from '../infra/keys/keystore.ts';
import { runKeyRotation } from '../infra/keys/rotation.ts';
import type { KeyRotationMetrics } from '../infra/keys/rotation-metrics.ts';
import type { AdminDesk, EngineStats, QuarantinedView, RotationProgress } from './desk.ts';
import { kindOf } from './kind.ts';
import { CONTROLS_SYSTEM_ID, pairName, readTradingControls } from './kinds/controls.actor.ts';
import { priceFeedSystemId } from './kinds/price-feed.actor.ts';
import { userSystemId } from './kinds/user.actor.ts';
import type { ActorRuntime } from './runtime.ts';

/**
 * The operator's desk (AdminDesk in desk.ts), over the running engine. The bot has already
 * checked that the caller is an admin; this checks the input, acts through the actors (the
 * `controls` actor, the user actors, the runtime's quarantine), waits until the change is
 * durable, and writes the audit log with `by` for every action, refused ones included.
 *
 * A request that would change nothing (pausing what is paused, suspending a suspended trader)
 * is refused with a BadInputError saying so, and audited as refused.
 */
export interface AdminDeskDeps {
  readonly runtime: Pick<ActorRuntime, 'ids' | 'get' | 'send' | 'flushed' | 'quarantined' | 'release'>;
  readonly db: Database;
  readonly logger: Logger;
  readonly clock: Clock;
  /**
   * Opens the keystore a rotation runs with (main: `createKeyStoreFromConfig(config, logger, db,
   * 'rotation')`, which needs VAULT_OPERATOR_TOKEN against Vault); closed when the rotation ends.
   * Null: this engine cannot rotate keys (the desk says so).
   */
  readonly rotationKeystore: (() => Promise<KeyStore>) | null;
  readonly rotationMetrics: KeyRotationMetrics;
  readonly rotationBatchSize?: number;
}

export interface RunningAdminDesk extends AdminDesk {
  /** Stops a running key rotation between batches (it resumes at the next start) and waits for it. */
  close(): Promise<void>;
}

const OPERATOR = /^[^\s\p{Cc}]{1,100}$/u;
const ACTION = /^[a-z][a-z0-9_.:-]{0,99}$/i;

export function createAdminDesk(deps: AdminDeskDeps): RunningAdminDesk {
  const { runtime, db } = deps;
  const log = deps.logger.child({ component: 'admin' });
  let progress: RotationProgress = { state: 'idle', rewrapped: 0, remaining: 0, detail: null };
  let rotation: { readonly controller: AbortController; readonly done: Promise<void> } | null = null;

  const now = () => new Date(deps.clock.now()).toISOString();

  function operator(by: string): string {
    if (typeof by !== 'string' || !OPERATOR.test(by)) throw new BadInputError('The operator must be named (e.g. admin:12345), without spaces.');
    return by;
  }

  /** Audits a refused request, then refuses it. */
  async function refuse(by: string, action: string, subject: string, message: string): Promise<never> {
    await db.audit({ actor: by, action: `${action}.refused`, subject, details: { reason: message } });
    throw new BadInputError(message);
  }

  /** `input` resolved by `resolve`, or its refusal audited under `action` (the operator typed it: it is on record). */
  async function auditedInput<T>(who: string, action: string, input: unknown, resolve: () => T): Promise<T> {
    try {
      return resolve();
    } catch (err) {
      if (err instanceof BadInputError) return refuse(who, action, String(input).slice(0, 40), err.message);
      throw err;
    }
  }

  function controls() {
    const c = readTradingControls(runtime);
    if (!c.known) {
      throw new VantaError('ACTOR_QUARANTINED', `The trading controls (actor "${CONTROLS_SYSTEM_ID}") are not running; trading is treated as paused. Release "${CONTROLS_SYSTEM_ID}" first.`);
    }
    return c;
  }

  /** `eth` → `ETH/USD`, checked against the pairs this engine has price feeds for. */
  function pairOf(input: string, alsoAccept: readonly string[] = []): string {
    const name = typeof input === 'string' ? pairName(input) : null;
    if (name === null) throw new BadInputError(`"${String(input).slice(0, 40)}" is not a pair: name it like ETH or ETH/USD.`);
    const known = runtime
      .ids()
      .filter((id) => kindOf(id) === 'price-feed')
      .map((id) => id.slice(priceFeedSystemId('').length));
    if (known.length > 0 && !known.includes(name) && !alsoAccept.includes(name)) {
      throw new BadInputError(`${name} is not a pair this engine trades. Pairs: ${known.sort().join(', ')}.`);
    }
    return name;
  }

  async function changeControls(by: string, event: Record<string, unknown> & { type: string }, action: string, subject: string): Promise<void> {
    runtime.send(CONTROLS_SYSTEM_ID, { ...event, by, at: now() });
    await runtime.flushed([CONTROLS_SYSTEM_ID]);
    await db.audit({ actor: by, action, subject });
    log.warn({ by, action, subject }, 'Operator changed the trading controls');
  }

  function traderRef(telegramId: number): string {
    if (!Number.isSafeInteger(telegramId) || telegramId <= 0) throw new BadInputError('A trader is named by their Telegram user id, a positive whole number.');
    return userSystemId(telegramId);
  }

  async function changeAccount(by: string, telegramId: number, to: 'suspend' | 'reinstate'): Promise<void> {
    const who = operator(by);
    const action = to === 'suspend' ? 'user.suspended' : 'user.reinstated';
    const id = await auditedInput(who, action, telegramId, () => traderRef(telegramId));
    const actor = runtime.get(id);
    if (!actor) {
      const quarantined = runtime.quarantined().some((q) => q.id === id);
      return refuse(who, action, id, quarantined ? `Trader ${telegramId}'s actor is quarantined; release ${id} first.` : `No trader with Telegram id ${telegramId} has started the bot.`);
    }
    const suspended = (actor.getSnapshot() as { value: unknown }).value === 'suspended';
    if (to === 'suspend' && suspended) return refuse(who, action, id, `Trader ${telegramId} is already suspended.`);
    if (to === 'reinstate' && !suspended) return refuse(who, action, id, `Trader ${telegramId} is not suspended.`);
    runtime.send(id, { type: to === 'suspend' ? 'account.suspend' : 'account.reinstate', by: who, at: now() });
    await runtime.flushed([id]);
    await db.audit({ actor: who, action, subject: id });
    log.warn({ by: who, action, subject: id }, to === 'suspend' ? 'Operator suspended a trader' : 'Operator reinstated a trader');
  }

  return {
    stats(): Promise<EngineStats> {
      let users = 0;
      let openPositions = 0;
      let pendingOrders = 0;
      const ids = runtime.ids();
      for (const id of ids) {
        const kind = kindOf(id);
        if (kind === 'user') users += 1;
        if (kind !== 'position') continue;
        const state = topState((runtime.get(id)?.getSnapshot() as { value?: unknown } | undefined)?.value);
        if (state === 'submitting' || state === 'retryingSubmit' || state === 'awaitingFill') pendingOrders += 1;
        else if (state !== undefined) openPositions += 1;
      }
      const c = readTradingControls(runtime);
      return Promise.resolve({ users, openPositions, pendingOrders, actors: ids.length, quarantined: runtime.quarantined().length, tradingPaused: c.paused, pausedPairs: c.pausedPairs });
    },

    async pauseTrading(by, pair) {
      const who = operator(by);
      const c = controls();
      if (pair === null) {
        if (c.paused) return refuse(who, 'trading.paused', 'all', 'Trading is already paused for every pair.');
        return changeControls(who, { type: 'trading.pauseAll' }, 'trading.paused', 'all');
      }
      const name = await auditedInput(who, 'trading.pair.paused', pair, () => pairOf(pair));
      if (c.pausedPairs.includes(name)) return refuse(who, 'trading.pair.paused', name, `Trading on ${name} is already paused.`);
      return changeControls(who, { type: 'trading.pausePair', pair: name }, 'trading.pair.paused', name);
    },

    async resumeTrading(by, pair) {
      const who = operator(by);
      const c = controls();
      if (pair === null) {
        if (!c.paused) return refuse(who, 'trading.resumed', 'all', c.pausedPairs.length ? `Trading is not paused as a whole; paused pairs: ${c.pausedPairs.join(', ')}.` : 'Trading is not paused.');
        return changeControls(who, { type: 'trading.resumeAll' }, 'trading.resumed', 'all');
      }
      const name = await auditedInput(who, 'trading.pair.resumed', pair, () => pairOf(pair, c.pausedPairs));
      if (!c.pausedPairs.includes(name)) return refuse(who, 'trading.pair.resumed', name, `Trading on ${name} is not paused.`);
      return changeControls(who, { type: 'trading.resumePair', pair: name }, 'trading.pair.resumed', name);
    },

    suspendUser: (by, telegramId) => changeAccount(by, telegramId, 'suspend'),
    reinstateUser: (by, telegramId) => changeAccount(by, telegramId, 'reinstate'),

    async traders() {
      const rows = await db.sql<{ id: string }>(`select id from actor_snapshots where kind = 'user'`);
      const ids = new Set([...rows.map((r) => r.id), ...runtime.ids().filter((id) => kindOf(id) === 'user')]);
      return [...ids]
        .map((id) => Number(id.slice('user:'.length)))
        .filter((n) => Number.isSafeInteger(n) && n > 0)
        .sort((a, b) => a - b);
    },

    quarantined(): Promise<readonly QuarantinedView[]> {
      return Promise.resolve(runtime.quarantined().map((q) => ({ id: q.id, kind: q.kind, reason: q.reason })));
    },

    async release(by, actorId) {
      const who = operator(by);
      if (typeof actorId !== 'string' || actorId.trim() === '' || actorId.length > 200) throw new BadInputError('Name the actor to release by its id, e.g. user:42.');
      const id = actorId.trim();
      if (!runtime.quarantined().some((q) => q.id === id)) {
        await db.audit({ actor: who, action: 'actor.release.refused', subject: id, details: { reason: 'not quarantined' } });
        return false;
      }
      // The runtime audits the release itself (with `by`); a row that still fails is quarantined again.
      const running = await runtime.release(id, who);
      if (!running) {
        const again = runtime.quarantined().find((q) => q.id === id);
        await db.audit({ actor: who, action: 'actor.release.failed', subject: id, details: { reason: again?.reason ?? 'not restored' } });
      }
      log.warn({ by: who, actor_id: id, running }, running ? 'Operator released a quarantined actor; it runs again' : 'Operator released an actor that could not be restored');
      return running;
    },

    async startKeyRotation(by) {
      const who = operator(by);
      if (rotation) return refuse(who, 'keys.rotation.requested', 'keys', `A key rotation is already running: ${progress.rewrapped} rewrapped, ${progress.remaining} remaining.`);
      if (!deps.rotationKeystore) return refuse(who, 'keys.rotation.requested', 'keys', 'This engine cannot rotate keys. Run `npm run keys:rotate` (docs/operations-keys.md).');
      const open = deps.rotationKeystore;
      // Claimed before the first await, so a second request meanwhile is refused.
      const controller = new AbortController();
      let finish: () => void = () => {};
      rotation = { controller, done: new Promise<void>((resolve) => (finish = resolve)) };
      let keystore: KeyStore | null = null;
      try {
        keystore = await open();
        const [row] = await db.sql<{ n: string | number }>('select count(*) as n from wallets');
        await db.audit({ actor: who, action: 'keys.rotation.requested', subject: keystore.kind });
        progress = { state: 'running', rewrapped: 0, remaining: Number(row?.n ?? 0), detail: 'started' };
      } catch (err) {
        // Nothing was rotated: the keystore could not be opened (no operator token, Vault down) or the database failed.
        await keystore?.close().catch(() => {});
        rotation = null;
        finish();
        await db.audit({ actor: who, action: 'keys.rotation.refused', subject: 'keys', details: { reason: describeError(err).message } }).catch(() => {});
        throw err;
      }
      const opened = keystore;
      log.warn({ by: who, keystore: opened.kind }, 'Operator started a key rotation');
      void runKeyRotation({
        db,
        keystore: opened,
        logger: deps.logger,
        metrics: deps.rotationMetrics,
        actor: who,
        signal: controller.signal,
        ...(deps.rotationBatchSize ? { batchSize: deps.rotationBatchSize } : {}),
        onBatch: ({ rewrapped, remaining }) => {
          progress = { state: 'running', rewrapped, remaining, detail: null };
        },
      })
        .then((result) => {
          progress =
            result.outcome === 'done'
              ? { state: 'done', rewrapped: result.rewrapped, remaining: 0, detail: `Every wallet key is on key version ${result.toVersion}; older versions are retired.` }
              : {
                  state: 'failed',
                  rewrapped: result.rewrapped,
                  remaining: result.remaining,
                  detail:
                    result.outcome === 'aborted'
                      ? 'Stopped by a shutdown; start it again to resume where it stopped.'
                      : `${result.failed} wallet keys could not be rewrapped; the old key version stays allowed. Start it again to retry.`,
                };
        })
        .catch((err: unknown) => {
          progress = { ...progress, state: 'failed', detail: `${describeError(err).message} Start it again to resume.` };
        })
        .finally(async () => {
          await opened.close().catch((err: unknown) => log.warn({ err }, 'Closing the rotation keystore failed'));
          rotation = null;
          finish();
        });
    },

    rotation: () => progress,

    async audit(by, action, subject) {
      const who = operator(by);
      if (typeof action !== 'string' || !ACTION.test(action)) throw new BadInputError('An audit action is a short name like broadcast.sent.');
      if (typeof subject !== 'string' || subject.length > 500) throw new BadInputError('An audit subject is at most 500 characters.');
      await db.audit({ actor: who, action, subject });
    },

    async close() {
      const running = rotation;
      if (!running) return;
      running.controller.abort();
      await running.done;
    },
  };
}

function topState(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  return value && typeof value === 'object' ? Object.keys(value)[0] : undefined;
}
