import type { Address, Hex, PublicClient, TransactionReceipt } from 'viem';
import type { Clock } from '../../clock.ts';
import { isReceiptNotFound, nodeReason } from './node-errors.ts';
import type { TxAttempt, TxIntent } from './outbox.ts';

/**
 * Decides whether an intent was superseded: whether another transaction used its nonce. Called
 * only once the wallet's confirmed nonce is past the intent's and no receipt of ours was found,
 * which is also what a node shows while its receipts lag its state, or while it errors. So
 * "superseded" needs proof, one of:
 *
 * (a) the transaction that used our nonce, found on some RPC, is none of our attempts: a binary
 *     search over the wallet's nonce at recent blocks finds the block where the nonce moved, and
 *     that block holds the wallet's transaction with our nonce. If it is one of ours instead, it
 *     mined and we only wait for its receipt: that intent can never be declared superseded.
 * (b) where (a) cannot be had (a node without historic state, a move older than the search
 *     window): on EVERY configured RPC the nonce is confirmed past ours and none of our attempts
 *     has a receipt, and that has held continuously for `waitMs`.
 *
 * An RPC that errors proves nothing either way: the verdict waits.
 */

export type Evidence =
  /** One of our attempts has a receipt on some RPC. */
  | { readonly kind: 'mined'; readonly attempt: TxAttempt; readonly receipt: TransactionReceipt }
  /** The chain shows one of our attempts used the nonce; its receipt is not served yet. */
  | { readonly kind: 'ours'; readonly hash: Hex; readonly blockNumber: bigint }
  | { readonly kind: 'superseded'; readonly proof: string }
  | { readonly kind: 'undecided'; readonly why: string };

export interface SupersessionOptions {
  /** One client per configured RPC URL. */
  readonly rpcs: readonly PublicClient[];
  readonly clock: Clock;
  /** How long proof (b) must hold. */
  readonly waitMs: number;
  /** How many recent blocks proof (a) searches. */
  readonly scanBlocks: number;
  /** The intent that stored an attempt with this hash (to name it in a proof), if any. */
  readonly intentOfAttempt: (hash: Hex) => Promise<string | null>;
}

export class SupersessionJudge {
  readonly #o: SupersessionOptions;
  /** Since when (b) has held without a break, per intent. In memory: after a restart the wait starts over, which only delays a verdict. */
  readonly #suspectSince = new Map<string, number>();
  /** Intents whose nonce the chain showed used by one of our own attempts. */
  readonly #ours = new Map<string, { hash: Hex; blockNumber: bigint }>();

  constructor(options: SupersessionOptions) {
    if (!options.rpcs.length) throw new Error('SupersessionJudge needs at least one RPC client');
    this.#o = options;
  }

  /** The intent's nonce is open again or the intent is final: drop what was observed. */
  forget(intentId: string): void {
    this.#suspectSince.delete(intentId);
    this.#ours.delete(intentId);
  }

  async judge(intent: TxIntent, attempts: readonly TxAttempt[]): Promise<Evidence> {
    const { rpcs } = this.#o;
    const problems: string[] = [];
    const note = (rpc: number, what: string, err: unknown) => problems.push(`RPC ${rpc + 1} of ${rpcs.length}: ${what} failed (${nodeReason(err)})`);

    // Any receipt of ours anywhere settles it.
    let receiptsComplete = true;
    for (const [i, rpc] of rpcs.entries()) {
      for (const attempt of attempts) {
        try {
          const receipt = await rpc.getTransactionReceipt({ hash: attempt.hash });
          return { kind: 'mined', attempt, receipt };
        } catch (err) {
          if (isReceiptNotFound(err)) continue;
          receiptsComplete = false;
          note(i, 'a receipt lookup', err);
        }
      }
    }

    const known = this.#ours.get(intent.id);
    if (known) return { kind: 'ours', ...known };

    // (a) Find the transaction that used the nonce.
    const ourHashes = new Set(attempts.map((a) => a.hash.toLowerCase()));
    for (const [i, rpc] of rpcs.entries()) {
      try {
        const found = await locate(rpc, intent.wallet, intent.nonce, this.#o.scanBlocks);
        if (found.kind !== 'found') {
          problems.push(`RPC ${i + 1} of ${rpcs.length}: ${found.kind === 'not-moved' ? 'has not seen the nonce move' : found.kind === 'out-of-window' ? `the nonce moved more than ${this.#o.scanBlocks} blocks ago` : 'the block where the nonce moved holds no transaction of the wallet at that nonce'}`);
          continue;
        }
        if (ourHashes.has(found.hash.toLowerCase())) {
          const ours = { hash: found.hash, blockNumber: found.blockNumber };
          this.#ours.set(intent.id, ours);
          this.#suspectSince.delete(intent.id);
          return { kind: 'ours', ...ours };
        }
        // Mined by the chain's own account: the receipt of the other transaction is the proof.
        const receipt = await rpc.getTransactionReceipt({ hash: found.hash });
        const owner = await this.#o.intentOfAttempt(found.hash);
        return {
          kind: 'superseded',
          proof:
            `nonce ${intent.nonce} was used by transaction ${found.hash} (mined in block ${receipt.blockNumber}, seen on RPC ${i + 1} of ${rpcs.length}), ` +
            `${owner ? `an attempt of intent ${owner}` : 'which this engine did not send'}; none of our ${describeAttempts(attempts)} was mined`,
        };
      } catch (err) {
        note(i, 'looking up the transaction that used the nonce', err);
      }
    }

    // (b) Every RPC agrees, for long enough.
    for (const [i, rpc] of rpcs.entries()) {
      let confirmed: number;
      try {
        confirmed = await rpc.getTransactionCount({ address: intent.wallet, blockTag: 'latest' });
      } catch (err) {
        note(i, 'reading the nonce', err);
        return { kind: 'undecided', why: problems.join('; ') };
      }
      if (confirmed <= intent.nonce) {
        // One RPC has not seen the nonce move: the clock starts again once it has.
        this.#suspectSince.delete(intent.id);
        return { kind: 'undecided', why: `RPC ${i + 1} of ${rpcs.length} has not seen nonce ${intent.nonce} confirmed` };
      }
    }
    if (!receiptsComplete) return { kind: 'undecided', why: problems.join('; ') };
    const now = this.#o.clock.now();
    const since = this.#suspectSince.get(intent.id) ?? now;
    this.#suspectSince.set(intent.id, since);
    if (now - since < this.#o.waitMs) {
      return { kind: 'undecided', why: `nonce ${intent.nonce} confirmed past on every RPC with no receipt of ours for ${now - since} ms of ${this.#o.waitMs} ms` };
    }
    return {
      kind: 'superseded',
      proof:
        `nonce ${intent.nonce} confirmed past on all ${rpcs.length} RPCs for ${Math.round((now - since) / 1000)} s with no receipt for any of our ${describeAttempts(attempts)}; ` +
        `the transaction that used it could not be looked up (${problems.join('; ') || 'no RPC answered'})`,
    };
  }
}

type Located = { kind: 'found'; hash: Hex; blockNumber: bigint } | { kind: 'not-moved' } | { kind: 'out-of-window' } | { kind: 'not-in-block' };

/**
 * The wallet's transaction with `nonce`, by binary search over the nonce at block heights (the
 * nonce never decreases): about log2(window) reads of historic state, then one block.
 */
async function locate(rpc: PublicClient, wallet: Address, nonce: number, window: number): Promise<Located> {
  const at = (blockNumber: bigint) => rpc.getTransactionCount({ address: wallet, blockNumber });
  let hi = await rpc.getBlockNumber({ cacheTime: 0 });
  if ((await at(hi)) <= nonce) return { kind: 'not-moved' };
  let lo = hi > BigInt(window) ? hi - BigInt(window) : 0n;
  if ((await at(lo)) > nonce) return { kind: 'out-of-window' };
  // at(lo) <= nonce < at(hi): the transaction with `nonce` is in a block in (lo, hi].
  while (hi - lo > 1n) {
    const mid = (lo + hi) / 2n;
    if ((await at(mid)) > nonce) hi = mid;
    else lo = mid;
  }
  const block = await rpc.getBlock({ blockNumber: hi, includeTransactions: true });
  const tx = block.transactions.find((t) => t.from.toLowerCase() === wallet.toLowerCase() && t.nonce === nonce);
  return tx ? { kind: 'found', hash: tx.hash, blockNumber: hi } : { kind: 'not-in-block' };
}

function describeAttempts(attempts: readonly TxAttempt[]): string {
  const shown = attempts.slice(0, 3).map((a) => a.hash);
  const more = attempts.length > shown.length ? `, and ${attempts.length - shown.length} more` : '';
  return `${attempts.length} attempt(s) (${shown.join(', ')}${more})`;
}
