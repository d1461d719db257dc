import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import pg from 'pg';
import type { Logger } from 'pino';
import { FencedError, VantaError } from '../../errors.ts';
import type { Secret } from '../secret.ts';
import type { Database } from './database.ts';
import { LEASE_NAME, leaseFence, type Fence } from './fence.ts';

/**
 * The engine lease on PostgreSQL (DESIGN.md "One owner at a time", ADR 0010): one row in
 * `engine_lease` with an epoch. The engine that holds an unexpired row owns the actors; every
 * other engine waits as a standby and takes the row over (a new epoch) once it has expired.
 *
 * Why a row with an epoch and not an advisory lock: an advisory lock lives as long as its
 * connection, and the connection of a SIGSTOPped (or GC-frozen) owner stays up, so nobody would
 * ever take over. A row expires by the database's own clock whatever the owner does, and the
 * epoch fences what a stale owner writes when it wakes up (src/infra/db/fence.ts).
 *
 * All lease traffic goes over one dedicated connection, so a pool busy with snapshot batches
 * cannot delay a renewal past the TTL. Times are the database's (`clock_timestamp()`): engines
 * on hosts with skewed clocks still agree on when a lease expires.
 */

export interface LeaseSettings {
  /** How long a lease lasts without renewal: a dead owner is replaced within about this long. */
  readonly ttlMs: number;
  /** How often the owner renews (well under the TTL). */
  readonly renewEveryMs: number;
  /** How often a standby checks whether the lease has expired. */
  readonly pollMs: number;
}

export type LeaseStatus =
  | { readonly role: 'starting' }
  | { readonly role: 'standby'; readonly holder: string; readonly epoch: number; readonly expiresInMs: number }
  | { readonly role: 'owner'; readonly epoch: number; readonly renewedAgoMs: number }
  | { readonly role: 'lost'; readonly epoch: number; readonly reason: string }
  | { readonly role: 'released'; readonly epoch: number };

export interface EngineLeaseOptions extends LeaseSettings {
  /** The lease's own connection (the same database as `db`). */
  readonly url: Secret;
  /** The engine's database: the fence's checks run on it, next to the writes they guard. */
  readonly db: Pick<Database, 'sql'>;
  readonly logger: Logger;
  /** Who we are in the lease row and in a standby's messages (default host:pid:random). */
  readonly holder?: string;
}

interface CurrentHolder {
  readonly holder: string;
  readonly epoch: number;
  readonly expiresInMs: number;
}

/** Room left for clock-rate differences between this host and the database over one TTL. */
const SAFETY_MARGIN_MS = 100;

/** Only this many connection failures are logged in a row; then one line every 60 attempts. */
const LOG_EVERY = 60;

export class EngineLease {
  readonly holder: string;
  readonly #o: EngineLeaseOptions;
  readonly #log: Logger;
  #client: pg.Client | null = null;
  #status: LeaseStatus = { role: 'starting' };
  #renewedAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #renewing: Promise<void> | null = null;
  #failures = 0;
  readonly #lostListeners: ((error: FencedError) => void)[] = [];

  constructor(options: EngineLeaseOptions) {
    this.#o = options;
    this.holder = options.holder ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.#log = options.logger.child({ component: 'lease', holder: this.holder });
  }

  status(): LeaseStatus {
    return this.#status.role === 'owner' ? { ...this.#status, renewedAgoMs: Math.round(performance.now() - this.#renewedAt) } : this.#status;
  }

  /**
   * Waits, as a standby, until this engine holds the lease; resolves with the fence every owner-only
   * write carries. Meanwhile `status()` says who holds it, and each new holder seen is logged once.
   */
  async acquire(options: { signal?: AbortSignal } = {}): Promise<Fence> {
    const started = performance.now();
    let seen: CurrentHolder | null = null;
    for (;;) {
      options.signal?.throwIfAborted();
      try {
        const taken = await this.#tryTake();
        this.#failures = 0;
        if (typeof taken === 'number') {
          this.#renewedAt = performance.now();
          this.#status = { role: 'owner', epoch: taken, renewedAgoMs: 0 };
          this.#log.info({ epoch: taken, previous_holder: seen?.holder ?? null, waited_ms: Math.round(performance.now() - started) }, `Took the engine lease (epoch ${taken}); this engine owns the actors now`);
          this.#scheduleRenewal();
          return this.#fence(taken);
        }
        if (taken) {
          if (!seen || seen.holder !== taken.holder || seen.epoch !== taken.epoch) {
            this.#log.warn(
              { lease_holder: taken.holder, epoch: taken.epoch, expires_in_ms: taken.expiresInMs, poll_ms: this.#o.pollMs },
              `Standby: the engine lease is held by ${taken.holder} (epoch ${taken.epoch}); this engine waits and takes over when it expires`,
            );
          }
          seen = taken;
          this.#status = { role: 'standby', ...taken };
        }
      } catch (err) {
        this.#connectionFailed(err, 'Cannot reach the database to take the engine lease; retrying');
      }
      await sleep(this.#o.pollMs, options.signal);
    }
  }

  /** Called once, if this engine loses the lease after taking it (another engine took over). */
  onLost(listener: (error: FencedError) => void): void {
    this.#lostListeners.push(listener);
  }

  /**
   * /readyz: resolves while this engine owns the lease and has confirmed it within the TTL;
   * otherwise rejects with what it is (standby, lost, renewal overdue).
   */
  check(): Promise<void> {
    const status = this.status();
    switch (status.role) {
      case 'owner':
        return status.renewedAgoMs <= this.#o.ttlMs
          ? Promise.resolve()
          : Promise.reject(new Error(`lease renewal overdue by ${status.renewedAgoMs - this.#o.ttlMs} ms: this engine cannot confirm it still owns the database (epoch ${status.epoch})`));
      case 'standby':
        return Promise.reject(new Error(`standby: lease held by ${status.holder} (epoch ${status.epoch})`));
      case 'lost':
        return Promise.reject(new Error(`lease lost (epoch ${status.epoch}): ${status.reason}`));
      case 'released':
        return Promise.reject(new Error(`lease released (epoch ${status.epoch}): shutting down`));
      default:
        return Promise.reject(new Error('taking the engine lease'));
    }
  }

  /**
   * Graceful stop: expires the lease now so a standby takes over at its next poll instead of
   * waiting out the TTL, then closes the connection. Call after the actors have stopped.
   */
  async release(): Promise<void> {
    const status = this.#status;
    this.#stopTimer();
    await this.#renewing;
    if (status.role === 'owner') {
      this.#status = { role: 'released', epoch: status.epoch };
      try {
        await this.#query('update engine_lease set expires_at = clock_timestamp() where name = $1 and epoch = $2', [LEASE_NAME, status.epoch]);
        this.#log.info({ epoch: status.epoch }, 'Released the engine lease; a standby can take over at once');
      } catch (err) {
        this.#log.warn({ err: { message: errorMessage(err) } }, 'Could not release the engine lease; a standby takes over when it expires');
      }
    }
    await this.close();
  }

  /** Closes the connection without touching the lease (it expires by itself). */
  async close(): Promise<void> {
    this.#stopTimer();
    const client = this.#client;
    this.#client = null;
    await client?.end().catch(() => {});
  }

  // ---- internals ---------------------------------------------------------

  /**
   * The fence of `epoch`, whose assert() (the check before a broadcast) also makes sure the
   * database's "yes" is not stale: an engine paused while that answer was on its way would read
   * it after another engine took over. So after the database answers, the engine must also still be
   * inside its own lease by its monotonic clock (counted from when its last renewal was sent, which
   * is before the database set the expiry): until then nobody can have taken over.
   */
  #fence(epoch: number): Fence {
    const inDatabase = leaseFence(this.#o.db, epoch);
    return {
      epoch,
      sql: inDatabase.sql,
      assert: async (what) => {
        await inDatabase.assert(what);
        const left = this.#renewedAt + this.#o.ttlMs - SAFETY_MARGIN_MS - performance.now();
        if (this.#status.role !== 'owner' || left <= 0) {
          throw new VantaError(
            'LEASE_UNCONFIRMED',
            `This engine could not confirm its lease in time (it was paused, or renewals are slow) and did not ${what}; it is retried once the lease is renewed.`,
            { retryable: true, details: { epoch } },
          );
        }
      },
    };
  }

  /** The epoch if we took the lease; otherwise who holds it (null if the row vanished meanwhile). */
  async #tryTake(): Promise<number | CurrentHolder | null> {
    const ttl = this.#o.ttlMs;
    // Take over an expired row. nextval is evaluated only for a matching row, so polls burn no epochs.
    const taken = await this.#query<{ epoch: string }>(
      `update engine_lease set epoch = nextval('engine_lease_epoch'), holder = $2, acquired_at = clock_timestamp(),
              renewed_at = clock_timestamp(), expires_at = clock_timestamp() + $3 * interval '1 millisecond'
        where name = $1 and expires_at <= clock_timestamp()
        returning epoch`,
      [LEASE_NAME, this.holder, ttl],
    );
    if (taken[0]) return Number(taken[0].epoch);
    const current = await this.#current();
    if (current) return current;
    // No row yet (a fresh database): the first engine to insert it owns it.
    const inserted = await this.#query<{ epoch: string }>(
      `insert into engine_lease (name, epoch, holder, expires_at)
       values ($1, nextval('engine_lease_epoch'), $2, clock_timestamp() + $3 * interval '1 millisecond')
       on conflict (name) do nothing returning epoch`,
      [LEASE_NAME, this.holder, ttl],
    );
    return inserted[0] ? Number(inserted[0].epoch) : null;
  }

  async #current(): Promise<CurrentHolder | null> {
    const rows = await this.#query<{ holder: string; epoch: string; expires_in_ms: number }>(
      `select holder, epoch, greatest(0, ceil(extract(epoch from expires_at - clock_timestamp()) * 1000))::int as expires_in_ms
         from engine_lease where name = $1`,
      [LEASE_NAME],
    );
    const row = rows[0];
    return row ? { holder: row.holder, epoch: Number(row.epoch), expiresInMs: row.expires_in_ms } : null;
  }

  #scheduleRenewal(): void {
    this.#timer = setTimeout(() => {
      this.#renewing = this.#renew().finally(() => {
        this.#renewing = null;
      });
    }, this.#o.renewEveryMs);
  }

  async #renew(): Promise<void> {
    const status = this.#status;
    if (status.role !== 'owner') return;
    const sentAt = performance.now();
    try {
      const rows = await this.#query(
        `update engine_lease set renewed_at = clock_timestamp(), expires_at = clock_timestamp() + $3 * interval '1 millisecond'
          where name = $1 and epoch = $2 returning epoch`,
        [LEASE_NAME, status.epoch, this.#o.ttlMs],
      );
      this.#failures = 0;
      if (!rows.length) {
        const now = await this.#current().catch(() => null);
        this.#lose(status.epoch, now ? `${now.holder} took it over (epoch ${now.epoch})` : 'the lease row is gone');
        return;
      }
      // The database set the new expiry after we sent the query: counting from the send is conservative.
      this.#renewedAt = sentAt;
    } catch (err) {
      // Not lost yet: every owner-only write and broadcast checks the epoch in the database, so
      // nothing unsafe can happen while we cannot reach it. The next renewal tells.
      this.#connectionFailed(err, 'Could not renew the engine lease; retrying (writes and broadcasts are fenced meanwhile)');
    }
    if (this.#status.role === 'owner') this.#scheduleRenewal();
  }

  #lose(epoch: number, reason: string): void {
    if (this.#status.role !== 'owner') return;
    this.#status = { role: 'lost', epoch, reason };
    this.#stopTimer();
    const error = new FencedError(epoch, 'keep running the actors');
    this.#log.fatal({ epoch, reason, code: error.code }, `Lost the engine lease: ${reason}. This engine stops every actor without writing anything`);
    for (const listener of this.#lostListeners.splice(0)) {
      try {
        listener(error);
      } catch (err) {
        this.#log.error({ err }, 'A lease-lost listener failed');
      }
    }
  }

  #connectionFailed(err: unknown, message: string): void {
    this.#failures += 1;
    if (this.#failures <= 3 || this.#failures % LOG_EVERY === 0) this.#log.warn({ err: { message: errorMessage(err) }, attempt: this.#failures }, message);
    const client = this.#client;
    this.#client = null;
    void client?.end().catch(() => {});
  }

  async #query<T extends object = Record<string, unknown>>(text: string, params: readonly unknown[]): Promise<T[]> {
    if (!this.#client) {
      const client = new pg.Client({
        connectionString: this.#o.url.reveal(),
        application_name: 'vanta-lease',
        connectionTimeoutMillis: Math.max(1_000, this.#o.renewEveryMs),
        // A renewal stuck behind a network fault must not hold the next one back.
        query_timeout: Math.max(1_000, this.#o.renewEveryMs),
        keepAlive: true,
      });
      // Errors on an idle connection surface here; the next query reconnects.
      client.on('error', () => {
        if (this.#client === client) this.#client = null;
      });
      await client.connect();
      this.#client = client;
    }
    return (await this.#client.query(text, params as unknown[])).rows as T[];
  }

  #stopTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
