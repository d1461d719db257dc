/**
 * What carries out a blitz relay once the gateway double has accepted it (AVANTIS-V2.md §9.4).
 * The gateway double validates the body, answers `{requestId}` at once and calls the injected
 * `RelayExecutor`; `GET /blitz/relays/{id}` answers Inflight until the executor has settled (and
 * for `blitzInflightPolls` polls in any case), then its outcome.
 *
 * - `acceptOnlyRelays()` (the default) DOES NOTHING with a relay: it reports it Finalised with
 *   status success, a random hash and a made-up block number. Tests that need the effect apply it
 *   themselves (./relay-chain.ts), or inject one of the others.
 * - `ledgerRelays(o)` applies the relay to the doubles' in-memory Ledger with relay-chain.ts
 *   (reverted receipt when the chain would revert); no chain is touched, hashes are random.
 * - `ChainRelayExecutor` (./chain-relays.ts) verifies the envelope and sends the calls on the devnet.
 */
import type { Address, Hex } from 'viem';
import type { BlitzTxParams } from '../../infra/chain/avantis-v2/blitz-client.ts';
import { txHash } from './executor.ts';
import { applyRelay, RelayReverted, type RelayChainOptions } from './relay-chain.ts';

/**
 * A settled relay. ASSUMED shapes (unpublished, §14): the receipt is viem-like with decimal
 * strings (`status` 'success' | 'reverted', `transactionHash`, `blockNumber`, …); a Failed relay
 * carries no receipt and an `error` text.
 */
export type RelayOutcome =
  | { readonly status: 'Finalised'; readonly receipt: Readonly<Record<string, unknown>> }
  | { readonly status: 'Failed'; readonly error: string };

export interface RelayExecutor {
  /** Carries out one accepted relay; `wallet` is the blitz body's. Never rejects for a bad relay: that is a Failed outcome. */
  execute(txParams: BlitzTxParams, wallet: Address): Promise<RelayOutcome>;
  close?(): Promise<void>;
}

/** A receipt for a relay that touched no chain. */
function madeUpReceipt(status: 'success' | 'reverted', block: bigint): Record<string, unknown> {
  const hash: Hex = txHash();
  return { status, transactionHash: hash, blockNumber: block.toString() };
}

/** The default: accepted and reported Finalised (success) without any effect. */
export function acceptOnlyRelays(): RelayExecutor {
  let block = 1000n;
  return { execute: () => Promise.resolve({ status: 'Finalised', receipt: madeUpReceipt('success', block++) }) };
}

/** Applies each relay to the Ledger as the chain would (relay-chain.ts); a revert is a reverted receipt. */
export function ledgerRelays(o: RelayChainOptions): RelayExecutor {
  let block = 1000n;
  return {
    async execute(txParams) {
      try {
        await applyRelay(o, txParams);
        return { status: 'Finalised', receipt: madeUpReceipt('success', block++) };
      } catch (error) {
        if (error instanceof RelayReverted) return { status: 'Finalised', receipt: { ...madeUpReceipt('reverted', block++), revertReason: error.message } };
        throw error;
      }
    },
  };
}
