import { VantaError, type VantaErrorOptions } from '../../errors.ts';

export type DevnetErrorCode = 'DEVNET_START_FAILED' | 'DEVNET_DEPLOY_FAILED' | 'DEVNET_TX_FAILED';

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
