import type { Logger } from 'pino';
import { pause, type Clock } from '../infra/clock.ts';
import { noticeSeqOf, type UserNotice } from '../machines/notices.ts';
import type { Notice, NoticeSink } from './desk.ts';
import type { RuntimeHandle } from './runtime.ts';

/**
 * Delivers the notices user actors keep in their snapshots, at least once and in order per
 * trader:
 *
 * - a notice is handed to the sink only once the snapshot holding it is durable (`flushed`), so
 *   a trader never hears of a change a crash could still undo, and a crash after the write loses
 *   nothing: the notice is still in the snapshot and goes out after the restore;
 * - when the sink resolves, the user actor gets `notice.delivered { id }` and forgets it; when it
 *   rejects, the same notice is tried again after a backoff (1 s doubling to 60 s) and the ones
 *   behind it wait, so a trader's messages never arrive out of order;
 * - `kick(userId)` is called when a notice is added and whenever a user actor (re)starts
 *   (restore, supervised restart, release), which is how every pending notice is delivered again
 *   after a restart. A sink may therefore see a notice twice (after a crash): ids are stable.
 */
export interface NoticeCourier {
  /** Delivers the pending notices of this user actor (no-op if a delivery loop already runs). */
  kick(userId: string): void;
  /** Stops delivering; waits (bounded) for sink calls in flight so their acks are written. */
  stop(): Promise<void>;
}

export interface NoticeCourierOptions {
  readonly runtime: Pick<RuntimeHandle, 'get' | 'send' | 'flushed'>;
  readonly sink: NoticeSink;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
  /** How long stop() waits for sink calls in flight (default 2 s). */
  readonly stopGraceMs?: number;
  /**
   * A sink call that has not settled by then counts as failed and is retried (default 2 min): a
   * hung call must not hold a trader's notices forever. The late answer is ignored, so that
   * notice may arrive twice.
   */
  readonly sinkTimeoutMs?: number;
}

const RETRY_BASE_MS = 1_000;
const RETRY_MAX_MS = 60_000;
const SINK_TIMEOUT_MS = 120_000;

export function createNoticeCourier(o: NoticeCourierOptions): NoticeCourier {
  const base = o.retryBaseMs ?? RETRY_BASE_MS;
  const max = o.retryMaxMs ?? RETRY_MAX_MS;
  const active = new Set<string>();
  /** Highest notice seq delivered per user in this process: a restarted actor's stale copy is not sent twice. */
  const delivered = new Map<string, number>();
  const inFlight = new Set<Promise<unknown>>();
  const stopping = new AbortController();

  const pendingOf = (userId: string): readonly UserNotice[] => {
    const snapshot = o.runtime.get(userId)?.getSnapshot() as { context?: { notices?: readonly UserNotice[] } } | undefined;
    return snapshot?.context?.notices ?? [];
  };

  /** The first notice not yet delivered; already-delivered ones still listed are acknowledged again. */
  const next = (userId: string): UserNotice | null => {
    const done = delivered.get(userId) ?? 0;
    for (const notice of pendingOf(userId)) {
      const seq = noticeSeqOf(notice.id) ?? 0;
      if (seq > done || seq === 0) return notice;
      o.runtime.send(userId, { type: 'notice.delivered', id: notice.id });
    }
    return null;
  };

  function settledWithin(call: Promise<void>, ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = o.clock.setTimeout(() => reject(new Error(`The notice sink did not answer within ${ms} ms`)), ms);
      call.then(
        () => (o.clock.clearTimeout(timer), resolve()),
        (err: unknown) => (o.clock.clearTimeout(timer), reject(err instanceof Error ? err : new Error(String(err)))),
      );
    });
  }

  async function run(userId: string): Promise<void> {
    const log = o.logger.child({ actor_id: userId });
    let failures = 0;
    try {
      while (!stopping.signal.aborted) {
        const notice = next(userId);
        if (!notice) return;
        try {
          // Everything this actor changed so far, the notice included, is on disk first.
          await o.runtime.flushed([userId]);
        } catch (err) {
          // Refused write: another engine owns this trader now (or this one lost its lease); it delivers.
          log.warn({ err, notice_id: notice.id }, 'Not delivering a notice whose snapshot was not persisted');
          return;
        }
        if (stopping.signal.aborted) return;
        try {
          const call = o.sink(toPort(notice));
          inFlight.add(call);
          try {
            await settledWithin(call, o.sinkTimeoutMs ?? SINK_TIMEOUT_MS);
          } finally {
            inFlight.delete(call);
          }
        } catch (err) {
          failures += 1;
          const delayMs = Math.min(max, base * 2 ** Math.min(failures - 1, 20));
          if (failures === 1 || failures % 10 === 0) log.warn({ err, notice_id: notice.id, kind: notice.kind, failures, retry_in_ms: delayMs }, 'Could not deliver a notice; retrying');
          await pause(o.clock, delayMs, stopping.signal);
          continue;
        }
        failures = 0;
        delivered.set(userId, Math.max(delivered.get(userId) ?? 0, noticeSeqOf(notice.id) ?? 0));
        // Sent even while stopping: the sink has it, and this ack is what keeps it from coming again.
        o.runtime.send(userId, { type: 'notice.delivered', id: notice.id });
      }
    } catch (err) {
      log.error({ err }, 'Notice delivery stopped unexpectedly; it resumes with the next notice or restart');
    } finally {
      active.delete(userId);
    }
  }

  return {
    kick(userId) {
      if (active.has(userId) || stopping.signal.aborted) return;
      active.add(userId);
      // Never inside the actor's own transition: the loop reads the snapshot that transition makes.
      queueMicrotask(() => void run(userId));
    },
    async stop() {
      stopping.abort();
      if (inFlight.size === 0) return;
      const grace = new AbortController();
      await Promise.race([Promise.allSettled([...inFlight]), pause(o.clock, o.stopGraceMs ?? 2_000, grace.signal)]);
      grace.abort();
    },
  };
}

function toPort(notice: UserNotice): Notice {
  return { id: notice.id, telegramId: notice.telegramId, kind: notice.kind, positionId: notice.positionId, text: notice.text };
}
