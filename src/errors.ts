/**
 * Typed errors shared by every layer. This module is a leaf: it imports nothing,
 * so pure machines may use it too.
 *
 * Every error carries a stable `code` (for logs, metrics and tests), a message
 * that tells the reader what to do, and whether retrying can help. Messages never
 * contain secrets: callers pass identifiers, not keys or tokens.
 */

export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'CONFIG_LIVE_PREREQUISITE'
  | 'DB_UNAVAILABLE'
  | 'DB_MISSING'
  | 'PERSIST_CONFLICT'
  | 'LEASE_LOST'
  | 'LEASE_HELD'
  | 'LEASE_UNCONFIRMED'
  | 'SNAPSHOT_CORRUPT'
  | 'SNAPSHOT_VERSION_UNKNOWN'
  | 'ACTOR_UNKNOWN_KIND'
  | 'ACTOR_EXISTS'
  | 'ACTOR_NOT_FOUND'
  | 'ACTOR_QUARANTINED'
  | 'SHUTTING_DOWN'
  | 'UNAUTHORIZED'
  | 'BAD_INPUT'
  | 'VAULT_UNAVAILABLE'
  | 'VAULT_SEALED'
  | 'VAULT_PERMISSION_DENIED'
  | 'VAULT_BAD_REQUEST'
  | 'VAULT_NOT_FOUND'
  | 'VAULT_BAD_RESPONSE'
  | 'KEY_CIPHERTEXT_INVALID'
  | 'KEY_DECRYPT_FAILED'
  | 'KEY_VERSION_RETIRED'
  | 'KEY_RELEASED'
  | 'KEYSTORE_CONFIG'
  | 'WALLET_EXISTS'
  | 'WALLET_NOT_FOUND'
  | 'DEVNET_START_FAILED'
  | 'DEVNET_DEPLOY_FAILED'
  | 'DEVNET_TX_FAILED'
  | 'DEVNET_IN_USE'
  | 'DEVNET_STATE_MISSING'
  | 'DEVNET_STATE_DAMAGED'
  | 'DEVNET_STATE_MISMATCH'
  | 'DEVNET_STATE_NOT_SAVED'
  | 'CHAIN_DEPLOYMENT_MISMATCH'
  | 'CHAIN_BAD_RESPONSE'
  | 'CHAIN_UNAVAILABLE'
  | 'TRADE_REJECTED'
  | 'TRADE_GONE'
  | 'PROTOCOL_UNVERIFIED'
  | 'RISK_LIMIT'
  | 'TRADING_PAUSED'
  | 'TX_FEE_CAP'
  | 'TX_TIMEOUT'
  | 'TX_REVERTED'
  | 'TX_SUPERSEDED'
  | 'TX_REJECTED'
  | 'TX_SIMULATION_FAILED'
  | 'RPC_UNAVAILABLE'
  | 'INTERNAL';

export interface VantaErrorOptions {
  readonly cause?: unknown;
  readonly retryable?: boolean;
  readonly details?: Readonly<Record<string, string | number | boolean | null>>;
}

/** Base class: `code` is stable, `message` says what to do, `retryable` decides retries. */
export class VantaError extends Error {
  override readonly name: string = 'VantaError';
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: Readonly<Record<string, string | number | boolean | null>>;

  constructor(code: ErrorCode, message: string, options: VantaErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details ?? {};
  }
}

/** A setting is missing or wrong; the process must not start. */
export class ConfigError extends VantaError {
  override readonly name = 'ConfigError';
  /** One line per problem, each naming the variable and the fix. */
  readonly problems: readonly string[];
  constructor(code: 'CONFIG_INVALID' | 'CONFIG_LIVE_PREREQUISITE', problems: readonly string[]) {
    super(code, `${code === 'CONFIG_INVALID' ? 'Invalid configuration' : 'Live mode prerequisites missing'}:\n  - ${problems.join('\n  - ')}`);
    this.problems = problems;
  }
}

/** Another instance wrote this actor's row since we last read it: it owns the actor now. */
export class PersistConflictError extends VantaError {
  override readonly name = 'PersistConflictError';
  constructor(actorId: string) {
    super('PERSIST_CONFLICT', `Actor ${actorId} was written by another instance; this instance stopped its copy. Run one engine per database, or check for a second deployment.`, {
      details: { actorId },
    });
  }
}

/**
 * This engine no longer holds the database lease (another engine took over while this one was
 * paused or cut off): it must write and send nothing more. Never retryable by the same engine.
 */
export class FencedError extends VantaError {
  override readonly name = 'FencedError';
  constructor(epoch: number, what: string) {
    super('LEASE_LOST', `This engine lost its lease on the database (epoch ${epoch}) and did not ${what}: another engine owns the actors now. This process stops; it can rejoin as a standby.`, {
      details: { epoch },
    });
  }
}

/**
 * Another live process already uses this database where only one may (the embedded database
 * under its DATA_DIR lock). Nothing was opened or changed.
 */
export class LeaseHeldError extends VantaError {
  override readonly name = 'LeaseHeldError';
  constructor(message: string, details: Readonly<Record<string, string | number | boolean | null>>) {
    super('LEASE_HELD', message, { details });
  }
}

/** A stored snapshot cannot be restored; the actor is quarantined, the rest boot. */
export class SnapshotError extends VantaError {
  override readonly name = 'SnapshotError';
  constructor(code: 'SNAPSHOT_CORRUPT' | 'SNAPSHOT_VERSION_UNKNOWN', actorId: string, reason: string, cause?: unknown) {
    super(code, `Actor ${actorId} cannot be restored: ${reason}. It is quarantined; fix or delete its row in actor_snapshots, then release it.`, {
      cause,
      details: { actorId },
    });
  }
}

/** Bad input from a user, a callback, an RPC answer or a feed. Nothing was changed. */
export class BadInputError extends VantaError {
  override readonly name = 'BadInputError';
  constructor(message: string, details?: Readonly<Record<string, string | number | boolean | null>>) {
    super('BAD_INPUT', message, details === undefined ? {} : { details });
  }
}

/**
 * An operator paused trading (everything, or this pair): a new open is refused before anything
 * is signed. Closing is never paused. Not retryable: the order is refused, not held until later.
 */
export class TradingPausedError extends VantaError {
  override readonly name = 'TradingPausedError';
  constructor(message: string, details?: Readonly<Record<string, string | number | boolean | null>>) {
    super('TRADING_PAUSED', message, details === undefined ? {} : { details });
  }
}

/** True when trying the same thing again later may succeed. */
export function isRetryable(error: unknown): boolean {
  return error instanceof VantaError ? error.retryable : false;
}

/** A short, secret-free description of any thrown value for logs and users. */
export function describeError(error: unknown): { code: string; message: string } {
  if (error instanceof VantaError) return { code: error.code, message: error.message };
  if (error instanceof Error) return { code: 'INTERNAL', message: error.message };
  return { code: 'INTERNAL', message: String(error) };
}
