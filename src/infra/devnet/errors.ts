import { VantaError, type VantaErrorOptions } from '../../errors.ts';

export type DevnetErrorCode =
  | 'DEVNET_START_FAILED'
  | 'DEVNET_DEPLOY_FAILED'
  | 'DEVNET_TX_FAILED'
  /** Another engine is running the sandbox chain of this state directory. */
  | 'DEVNET_IN_USE'
  /** The saved chain is gone but the database remembers it. */
  | 'DEVNET_STATE_MISSING'
  /** The saved chain cannot be loaded (empty, cut short or not anvil's JSON). */
  | 'DEVNET_STATE_DAMAGED'
  /** The saved chain and the database disagree: one of them was lost or replaced. */
  | 'DEVNET_STATE_MISMATCH'
  /** The chain state could not be saved, so a block cannot be reported durable. */
  | 'DEVNET_STATE_NOT_SAVED';

/**
 * The local chain (anvil plus the Avantis simulator) could not be started, deployed or driven.
 * Only the sandbox and tests use the devnet, so these never concern a user's real funds.
 */
export class DevnetError extends VantaError {
  override readonly name = 'DevnetError';
  declare readonly code: DevnetErrorCode;
  constructor(code: DevnetErrorCode, message: string, options: VantaErrorOptions = {}) {
    super(code, message, options);
  }
}
