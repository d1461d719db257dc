import { encodeFunctionData, erc20Abi, isAddress, type Address } from 'viem';
import type { Logger } from 'pino';
import { VantaError, describeError, isRetryable } from '../errors.ts';
import { parseUnit } from '../infra/chain/avantis/units.ts';
import { FINAL_STATUSES } from '../infra/chain/tx/outbox.ts';
import type { TxPipeline } from '../infra/chain/tx/pipeline.ts';
import type { Wallets } from '../infra/keys/wallets.ts';
import { withCorrelation } from '../infra/logger.ts';
import type { TransferReceipt, TransferRequest } from '../machines/withdrawal.machine.ts';

/**
 * The chain side of a withdrawal: one USDC `transfer(to, amount)` from the trader's wallet, sent
 * through the transaction outbox as intent `withdrawal:<id>` (ADR 0008). Submitting the same
 * intent again (a retry, a restored actor) resumes it: what was reserved is signed with its
 * nonce, what was signed is re-sent as the same bytes. Nothing here ever signs a second
 * transaction for one withdrawal.
 *
 * Errors are sorted for the withdrawal machine: a final verdict (TX_REVERTED, TX_SUPERSEDED,
 * TX_REJECTED) ends it as failed; a refusal before anything was signed (the transfer would
 * revert, no wallet) is not retryable and ends it too; anything that may leave the transfer in
 * flight is marked retryable, so the machine keeps resuming the same intent.
 */
export interface WithdrawalGateway {
  /** Resolves once the transfer is signed and broadcast (or already final). */
  send(w: TransferRequest): Promise<void>;
  /** The chain's verdict: the mined transfer, or a final-verdict error; a retryable error when it is not known yet. */
  confirm(w: TransferRequest): Promise<TransferReceipt>;
}

export interface ChainWithdrawalGatewayDeps {
  readonly pipeline: Pick<TxPipeline, 'submit' | 'find' | 'waitForOutcome'>;
  readonly wallets: Pick<Wallets, 'find'>;
  /** The USDC token contract (the deployment's). */
  readonly usdc: Address;
  readonly logger: Logger;
}

export const withdrawalIntentId = (withdrawalId: string): string => `withdrawal:${withdrawalId}`;

export function createChainWithdrawalGateway(deps: ChainWithdrawalGatewayDeps): WithdrawalGateway {
  const { pipeline } = deps;

  async function walletOf(owner: string): Promise<Address> {
    const wallet = await deps.wallets.find(owner);
    if (!wallet) throw new VantaError('WALLET_NOT_FOUND', 'Your wallet is not set up, so nothing could be sent from it.');
    return wallet.address;
  }

  function transferData(w: TransferRequest): `0x${string}` {
    // Checked by the desk; checked again because these bytes move money.
    if (!isAddress(w.to, { strict: false }) || /^0x0{40}$/i.test(w.to)) throw new VantaError('BAD_INPUT', 'The destination is not a valid address. Nothing was sent.');
    const amount = parseUnit('usdc', w.amount);
    if (amount <= 0n) throw new VantaError('BAD_INPUT', 'The amount must be more than 0 USDC. Nothing was sent.');
    return encodeFunctionData({ abi: erc20Abi, functionName: 'transfer', args: [w.to, amount] });
  }

  /**
   * What a failed submit means for the withdrawal: once an intent exists and is not final, the
   * transfer may be signed or in flight, so whatever went wrong is retried (resuming it); with
   * no intent at all nothing was signed, and the error stands (a simulated revert in words).
   */
  async function sorted(err: unknown, intentId: string): Promise<unknown> {
    let intent;
    try {
      intent = await pipeline.find(intentId);
    } catch {
      return retryable(err, 'its transaction could not be looked up');
    }
    if (intent && !FINAL_STATUSES.includes(intent.status)) return isRetryable(err) ? err : retryable(err, 'it may be in flight');
    if (isRetryable(err) || (err instanceof VantaError && (err.code === 'TX_REJECTED' || err.code === 'LEASE_LOST'))) return err;
    if (err instanceof VantaError && (err.code === 'TRADE_REJECTED' || err.code === 'TX_SIMULATION_FAILED')) {
      const reason = (err as { revert?: unknown }).revert ?? err.details['revert'] ?? null;
      return new VantaError('TX_SIMULATION_FAILED', `The USDC transfer would fail on chain${typeof reason === 'string' && reason ? ` (${reason.slice(0, 80)})` : ''}, so nothing was sent. Check that your wallet still holds the amount.`, {
        cause: err,
      });
    }
    return err;
  }

  function retryable(err: unknown, why: string): VantaError {
    deps.logger.warn({ err, reason: why }, 'A withdrawal step failed after its transfer was signed; it is resumed, never signed again');
    return new VantaError('TX_TIMEOUT', `The transfer is not final yet (${describeError(err).message.replace(/\.$/, '')}); it is being resumed.`, { cause: err, retryable: true });
  }

  const gateway: WithdrawalGateway = {
    async send(w) {
      const id = withdrawalIntentId(w.withdrawalId);
      try {
        const request = { to: deps.usdc, data: transferData(w), value: 0n };
        await pipeline.submit({ id, userId: w.owner, from: await walletOf(w.owner), kind: 'withdrawal', request });
      } catch (err) {
        throw await sorted(err, id);
      }
    },

    async confirm(w) {
      const id = withdrawalIntentId(w.withdrawalId);
      // No intent (the nonce was released because signing failed): not a verdict; sending again starts it.
      if (!(await pipeline.find(id))) throw new VantaError('TX_TIMEOUT', 'The transfer was not signed yet; it is being sent again.', { retryable: true });
      const outcome = await pipeline.waitForOutcome(id);
      switch (outcome.status) {
        case 'mined':
          return { txHash: outcome.hash, block: outcome.receipt.blockNumber.toString() };
        case 'reverted':
          throw new VantaError('TX_REVERTED', `The transfer was mined but failed (transaction ${outcome.hash}): no USDC moved; only the gas was spent.`, { cause: outcome.error });
        case 'superseded':
          throw new VantaError('TX_SUPERSEDED', 'Another transaction from your wallet took this transfer’s place, so it can never be mined; nothing was executed.', { cause: outcome.error });
      }
    },
  };
  // Every log line of one withdrawal's chain work carries the same corr_id.
  return {
    send: (w) => withCorrelation(() => gateway.send(w), withdrawalIntentId(w.withdrawalId)),
    confirm: (w) => withCorrelation(() => gateway.confirm(w), withdrawalIntentId(w.withdrawalId)),
  };
}
