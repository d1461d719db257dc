import type { Address, Hex, PublicClient, TransactionReceipt, TransactionSerializable } from 'viem';
import { keccak256 } from 'viem';
import type { Logger } from 'pino';
import { FencedError, VantaError, describeError, isRetryable } from '../../../errors.ts';
import type { Clock } from '../../clock.ts';
import { createKeyedLock } from '../../keyed-lock.ts';
import { bumpedFees, initialFees, type FeePolicy, type Fees } from './fees.ts';
import { classifyBroadcastError, isReceiptNotFound, revertReason, rpcError } from './node-errors.ts';
import { FINAL_STATUSES, type Outbox, type TxAttempt, type TxIntent } from './outbox.ts';
import type { TxMetrics } from './metrics.ts';
import { SupersessionJudge } from './supersession.ts';

export { revertReason } from './node-errors.ts';

/**
 * The transaction pipeline: one writer per wallet, nonces that stay right
 * across restarts and external sends, and an outbox that makes every order
 * step exactly-once on chain.
 *
 *   submit(intent) ── simulate (revert reasons surface here, nothing reserved)
 *                  ── reserve nonce (durable; unique per wallet+nonce)
 *                  ── sign, store the signed attempt (durable) ── broadcast
 *   waitForOutcome ── poll receipts of every attempt (refused ones too); speed up
 *                     within the fee cap while the nonce is open; declare a
 *                     nonce taken by someone else only with proof (supersession.ts).
 *
 * Everything is keyed by the intent id (e.g. `position:abc:open`). Calling
 * submit or execute again with the same id never signs a second transaction
 * for it: it resumes where the previous call (or process) stopped, re-sending
 * the bytes it already signed. Re-broadcasting identical bytes is harmless
 * (same hash), so a crash at any point leaves at most one transaction per
 * intent on chain.
 *
 * An intent is final only when the chain says so: mined or reverted (a receipt), superseded
 * (proof that another transaction used the nonce), or rejected (a node refused its first and
 * only attempt the first time it was offered: nothing can be in flight). A refused speed-up
 * is recorded on its attempt and never offered again; the earlier attempts are still watched.
 * Every write goes through the fenced outbox and every broadcast is preceded by a lease check,
 * so an engine that lost its lease writes and sends nothing (FencedError).
 */

export interface TxRequest {
  readonly to: Address;
  readonly data: Hex;
  readonly value: bigint;
}

export interface IntentInput {
  /** Idempotency key: one per order step. */
  readonly id: string;
  /** Whose wallet signs (the keystore's user id). */
  readonly userId: string;
  readonly from: Address;
  readonly kind: string;
  readonly request: TxRequest;
}

export type TxOutcome =
  | { readonly status: 'mined'; readonly hash: Hex; readonly receipt: TransactionReceipt }
  | { readonly status: 'reverted'; readonly hash: Hex; readonly receipt: TransactionReceipt; readonly error: VantaError }
  | { readonly status: 'superseded'; readonly error: VantaError };

export type PipelineStep = 'reserved' | 'signed' | 'broadcast' | 'mined';

export interface TxSigner {
  signTransaction(userId: string, transaction: TransactionSerializable): Promise<Hex>;
}

export interface PipelineOptions {
  readonly client: PublicClient;
  readonly chainId: number;
  readonly outbox: Outbox;
  readonly signer: TxSigner;
  readonly fees: FeePolicy;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: TxMetrics;
  /** Receipt polling interval (default 1 s; tests use less). */
  readonly pollMs?: number;
  /** Re-price a transaction still unmined after this long (default 20 s). */
  readonly speedUpAfterMs?: number;
  /** How long waitForOutcome waits before TX_TIMEOUT (default 120 s); the transaction may still mine later. */
  readonly receiptTimeoutMs?: number;
  /**
   * One client per configured RPC URL (the fallback `client` answers for whichever URL is up):
   * declaring an intent superseded without having found the transaction that used its nonce
   * needs every one of them to agree. Default: `[client]`.
   */
  readonly rpcs?: readonly PublicClient[];
  /**
   * How long the nonce must stay confirmed past ours on every RPC, with no receipt of ours on
   * any, before the intent is declared superseded when the other transaction cannot be found
   * (default 30 s).
   */
  readonly supersedeAfterMs?: number;
  /** How many recent blocks are searched for the transaction that used our nonce (default 50 000, a binary search). */
  readonly proofScanBlocks?: number;
  /**
   * Turns a revert (the raw error and the reason string found in it) into a user-level error;
   * the protocol adapter provides it, so this pipeline stays protocol-agnostic.
   */
  readonly explainRevert?: (error: unknown, reason: string, intent: TxIntent) => VantaError;
  /** Called after each durable step: a seam for tracing and for the crash tests. */
  readonly onStep?: (step: PipelineStep, intent: TxIntent) => void;
  /**
   * Sandbox only: resolves once the local chain's saved state holds `block`. An outcome is
   * recorded only after it, so a crash never leaves the outbox remembering a transaction the
   * restored chain lacks (docs/adr/0011-durable-sandbox-chain.md).
   */
  readonly chainDurable?: (block: bigint) => Promise<void>;
}

export class TxPipeline {
  readonly #o: PipelineOptions;
  readonly #locks = createKeyedLock();
  readonly #lastAttemptAt = new Map<string, number>();
  readonly #judge: SupersessionJudge;
  #feeCache: { at: number; estimate: Fees; baseFee: bigint } | null = null;

  constructor(options: PipelineOptions) {
    this.#o = options;
    this.#judge = new SupersessionJudge({
      rpcs: options.rpcs?.length ? options.rpcs : [options.client],
      clock: options.clock,
      waitMs: options.supersedeAfterMs ?? 30_000,
      scanBlocks: options.proofScanBlocks ?? 50_000,
      intentOfAttempt: (hash) => options.outbox.intentOfAttempt(hash),
    });
  }

  /** Submits (or resumes) an intent and waits for its outcome. */
  async execute(input: IntentInput): Promise<TxOutcome> {
    await this.submit(input);
    return this.waitForOutcome(input.id);
  }

  /** The stored intent with this id, or null when none was ever reserved. */
  find(id: string): Promise<TxIntent | null> {
    return this.#o.outbox.find(id);
  }

  /** A wallet's intents that are not final yet (reserved, signed or broadcast). */
  inFlight(wallet: Address): Promise<TxIntent[]> {
    return this.#o.outbox.inFlight(wallet);
  }

  /**
   * Resumes a known intent exactly as it was stored (re-sending its signed bytes, reading
   * nothing else) and waits for its outcome; null when no intent has this id.
   */
  async resume(id: string): Promise<TxOutcome | null> {
    const existing = await this.#o.outbox.find(id);
    if (!existing) return null;
    await this.#resume(existing);
    return this.waitForOutcome(id);
  }

  /** Makes sure the intent is signed, stored and broadcast; resumes a previous attempt if there was one. */
  async submit(input: IntentInput): Promise<TxIntent> {
    const existing = await this.#o.outbox.find(input.id);
    if (existing) return this.#resume(existing);
    return this.#withWalletLock(input.from, async () => {
      const again = await this.#o.outbox.find(input.id);
      if (again) return this.#resume(again);
      const stop = this.#o.metrics.submitSeconds.startTimer();
      const gasLimit = await this.#simulate(input);
      const intent = await this.#reserve(input, gasLimit);
      // Reserved meanwhile under this id by someone else, and already past reserving: theirs to send.
      if (intent.status !== 'reserved') return intent;
      const { signed, attempt } = await this.#signFirst(intent);
      await this.#broadcast(signed, attempt);
      stop();
      this.#o.metrics.submitted.inc({ kind: input.kind });
      return { ...signed, status: 'broadcast' };
    });
  }

  /** Re-broadcasts every intent that is not final (call once at boot). */
  async recover(): Promise<TxIntent[]> {
    const open = await this.#o.outbox.open();
    const resumed: TxIntent[] = [];
    for (const intent of open) {
      try {
        resumed.push(await this.#resume(intent));
      } catch (err) {
        // Without the lease nothing more may be sent: stop at once.
        if (err instanceof FencedError) throw err;
        this.#o.logger.error({ err: describeError(err), intent_id: intent.id }, 'Could not resume a transaction at boot; it will be retried when its order resumes');
      }
    }
    if (open.length) this.#o.logger.info({ intents: open.length }, 'Resumed unfinished transactions');
    return resumed;
  }

  /**
   * Polls until the chain decides (a receipt for any attempt, or proof the nonce was taken) or
   * the timeout. Speeds up while the nonce is open. A lookup that fails is retried, never taken
   * for an answer.
   */
  async waitForOutcome(id: string): Promise<TxOutcome> {
    const deadline = this.#o.clock.now() + (this.#o.receiptTimeoutMs ?? 120_000);
    for (;;) {
      const intent = await this.#o.outbox.find(id);
      if (!intent) throw new VantaError('TX_REJECTED', `No transaction ${id} was submitted.`);
      let state: Settled = { kind: 'unknown' };
      let problem: string | null;
      try {
        state = await this.#settle(intent);
        if (state.kind === 'final') return state.outcome;
        problem = state.kind === 'nonce-used' ? state.why : null;
      } catch (err) {
        if (!isRetryable(err)) throw err;
        problem = describeError(err).message;
        this.#o.logger.debug({ intent_id: id, reason: problem }, 'Could not check the transaction this time; retrying');
      }
      if (this.#o.clock.now() >= deadline) {
        throw new VantaError('TX_TIMEOUT', 'The transaction has not been mined yet. It is still pending and will be tracked; nothing will be sent twice.', {
          retryable: true,
          details: { intentId: id, lastProblem: problem },
        });
      }
      if (state.kind === 'open') {
        try {
          await this.#keepMoving(intent);
        } catch (err) {
          if (!isRetryable(err)) throw err;
          this.#o.logger.warn({ intent_id: id, reason: describeError(err).message }, 'Could not re-send or speed up a pending transaction; retrying');
        }
      }
      await this.#sleep(this.#o.pollMs ?? 1_000);
    }
  }

  // ---- steps -------------------------------------------------------------

  async #simulate(input: IntentInput): Promise<bigint> {
    try {
      const gas = await this.#o.client.estimateGas({ account: input.from, to: input.request.to, data: input.request.data, value: input.request.value });
      return (gas * 12n) / 10n + 10_000n;
    } catch (err) {
      const reason = revertReason(err);
      if (reason !== null) {
        throw this.#o.explainRevert?.(err, reason, provisional(input)) ?? new VantaError('TX_SIMULATION_FAILED', `The transaction would fail: ${reason}. Nothing was sent.`, { cause: err });
      }
      throw rpcError(err);
    }
  }

  async #reserve(input: IntentInput, gasLimit: bigint): Promise<TxIntent> {
    const { outbox, client, chainId } = this.#o;
    let chainNonce: number;
    try {
      chainNonce = await client.getTransactionCount({ address: input.from, blockTag: 'pending' });
    } catch (err) {
      throw rpcError(err);
    }
    let nonce = Math.max(await outbox.nextLocalNonce(input.from, chainId), chainNonce);
    for (let tries = 0; tries < 5; tries++, nonce++) {
      const intent: TxIntent = { ...provisional(input), chainId, nonce, gasLimit };
      if (await outbox.reserve(intent)) {
        this.#o.onStep?.('reserved', intent);
        return intent;
      }
      const clash = await outbox.find(input.id);
      if (clash) return clash;
    }
    throw new VantaError('TX_REJECTED', 'Could not reserve a nonce for this wallet: another process is sending from it. Run one engine per database.');
  }

  async #signFirst(intent: TxIntent): Promise<{ signed: TxIntent; attempt: TxAttempt }> {
    try {
      const fees = await this.#feesForFirstAttempt();
      const attempt = await this.#signAndStore(intent, fees);
      const signed: TxIntent = { ...intent, status: 'signed' };
      this.#o.onStep?.('signed', signed);
      return { signed, attempt };
    } catch (err) {
      // Nothing was signed, so nothing can be on chain: free the nonce.
      await this.#o.outbox.release(intent.id);
      throw err;
    }
  }

  async #signAndStore(intent: TxIntent, fees: Fees): Promise<TxAttempt> {
    // Signing is deterministic: an order retried under a new intent after a rejection (same call,
    // same freed nonce, same fees) signs the very bytes the rejected intent stored. A transaction
    // serves one intent, so this one then tips a wei less to be a transaction of its own.
    for (let wei = 0n; wei < 3n; wei++) {
      const tip = fees.maxPriorityFeePerGas >= wei ? fees.maxPriorityFeePerGas - wei : fees.maxPriorityFeePerGas + wei;
      const raw = await this.#o.signer.signTransaction(intent.userId, {
        type: 'eip1559',
        chainId: intent.chainId,
        nonce: intent.nonce,
        to: intent.to,
        data: intent.data,
        value: intent.value,
        gas: intent.gasLimit,
        maxFeePerGas: fees.maxFeePerGas,
        maxPriorityFeePerGas: tip,
      });
      const attempt: TxAttempt = { hash: keccak256(raw), raw, maxFeePerGas: fees.maxFeePerGas, maxPriorityFeePerGas: tip, status: 'signed', error: null };
      if (await this.#o.outbox.addAttempt(intent.id, attempt)) {
        this.#lastAttemptAt.set(intent.id, this.#o.clock.now());
        return attempt;
      }
    }
    throw new VantaError('INTERNAL', `Could not store a transaction of its own for ${intent.id}: its signed bytes belong to another intent. Nothing was sent.`);
  }

  /**
   * Offers one attempt to the network and records the answer on it. A node that accepts it,
   * already has it, or says its nonce is used makes it `sent` (receipts decide the rest). A node
   * that refuses an attempt it is offered for the first time makes it `refused`: that ends the
   * intent (rejected, throws TX_REJECTED) only when no other attempt was ever acknowledged;
   * otherwise the earlier ones can still mine and the intent stays open. A refusal of an attempt
   * that was acknowledged before changes nothing: another node may still hold it.
   */
  async #broadcast(intent: TxIntent, attempt: TxAttempt): Promise<'sent' | 'refused'> {
    const { outbox, logger } = this.#o;
    // A stale owner must send nothing, not even bytes it signed before (a new owner resends them).
    await outbox.assertHeld(`broadcast transaction ${attempt.hash} for ${intent.id}`);
    let answer: ReturnType<typeof classifyBroadcastError> | null = null;
    try {
      await this.#o.client.sendRawTransaction({ serializedTransaction: attempt.raw });
    } catch (err) {
      answer = classifyBroadcastError(err);
      if (answer.kind === 'unknown') throw rpcError(err);
    }
    if (answer?.kind === 'refused') {
      if (attempt.status !== 'signed') {
        logger.warn({ intent_id: intent.id, hash: attempt.hash, reason: answer.reason }, 'A node refused to take a transaction it was offered again; it was accepted before, so it is still watched');
        return 'sent';
      }
      const verdict = await outbox.refuse(intent.id, attempt.hash, answer.reason);
      this.#o.metrics.refused.inc();
      if (verdict === 'rejected') {
        this.#lastAttemptAt.delete(intent.id);
        this.#o.metrics.outcomes.inc({ outcome: 'rejected' });
        throw rejected(intent, answer.reason);
      }
      logger.warn({ intent_id: intent.id, nonce: intent.nonce, hash: attempt.hash, reason: answer.reason }, 'The network refused a speed-up; the earlier attempt can still be mined and is still watched');
      return 'refused';
    }
    if (answer) logger.debug({ intent_id: intent.id, answer: answer.kind, reason: answer.reason }, 'Broadcast answered with a benign error');
    if (attempt.status === 'signed' || intent.status === 'reserved' || intent.status === 'signed') await outbox.markSent(intent.id, attempt.hash);
    this.#o.onStep?.('broadcast', { ...intent, status: 'broadcast' });
    return 'sent';
  }

  async #resume(intent: TxIntent): Promise<TxIntent> {
    if (FINAL_STATUSES.includes(intent.status)) return intent;
    return this.#withWalletLock(intent.wallet, async () => {
      let current = (await this.#o.outbox.find(intent.id)) ?? intent;
      if (FINAL_STATUSES.includes(current.status)) return current;
      let attempts = await this.#o.outbox.attempts(intent.id);
      if (!attempts.length) {
        // Reserved but never signed (the process stopped in between): sign now with the reserved nonce.
        current = (await this.#signFirst(current)).signed;
        attempts = await this.#o.outbox.attempts(intent.id);
      }
      const live = latestLive(attempts);
      if (!live) return current;
      try {
        await this.#broadcast(current, live);
      } catch (err) {
        // An attempt a node already took is in flight whatever this re-send says.
        if (live.status !== 'sent' || !isRetryable(err)) throw err;
        this.#o.logger.warn({ intent_id: intent.id, reason: describeError(err).message }, 'Could not re-send a pending transaction; it was sent before and is still watched');
      }
      return { ...current, status: 'broadcast' };
    });
  }

  /** Where an intent stands: final (with its outcome), its nonce still open, or used with no verdict yet. */
  async #settle(intent: TxIntent): Promise<Settled> {
    const { outbox, client } = this.#o;
    switch (intent.status) {
      case 'superseded':
        return { kind: 'final', outcome: { status: 'superseded', error: superseded(intent, intent.error) } };
      case 'rejected':
        throw rejected(intent, intent.error ?? 'refused');
      case 'mined':
      case 'reverted':
        if (intent.minedHash) return { kind: 'final', outcome: await this.#outcomeOf(intent, intent.minedHash, await this.#receipt(client, intent.minedHash)) };
        break;
      default:
        break;
    }
    const attempts = await outbox.attempts(intent.id);
    if (!attempts.length) return { kind: 'open' };
    // Every attempt, refused ones too: whichever mined decides.
    const hit = await this.#receiptOfAny(attempts);
    if (hit) return { kind: 'final', outcome: await this.#finish(intent, hit.attempt, hit.receipt) };
    let confirmed: number;
    try {
      confirmed = await client.getTransactionCount({ address: intent.wallet, blockTag: 'latest' });
    } catch (err) {
      throw rpcError(err);
    }
    if (confirmed <= intent.nonce) {
      this.#judge.forget(intent.id);
      return { kind: 'open' };
    }
    const evidence = await this.#judge.judge(intent, attempts);
    switch (evidence.kind) {
      case 'mined':
        return { kind: 'final', outcome: await this.#finish(intent, evidence.attempt, evidence.receipt) };
      case 'ours':
        return { kind: 'nonce-used', why: `transaction ${evidence.hash} was mined in block ${evidence.blockNumber}; waiting for its receipt` };
      case 'undecided':
        return { kind: 'nonce-used', why: evidence.why };
      case 'superseded': {
        await outbox.setStatus(intent.id, 'superseded', { error: evidence.proof });
        this.#forget(intent.id);
        this.#o.metrics.outcomes.inc({ outcome: 'superseded' });
        this.#o.logger.warn({ intent_id: intent.id, nonce: intent.nonce, proof: evidence.proof }, 'Another transaction used the nonce of this one; nothing was executed for it');
        return { kind: 'final', outcome: { status: 'superseded', error: superseded(intent, evidence.proof) } };
      }
    }
  }

  /** The receipt of whichever attempt has one; a lookup that failed (not "not found") is an error unless another attempt's receipt answers. */
  async #receiptOfAny(attempts: readonly TxAttempt[]): Promise<{ attempt: TxAttempt; receipt: TransactionReceipt } | null> {
    const lookups = await Promise.allSettled(attempts.map((a) => this.#o.client.getTransactionReceipt({ hash: a.hash })));
    let failure: unknown = null;
    for (const [i, lookup] of lookups.entries()) {
      if (lookup.status === 'fulfilled') return { attempt: attempts[i]!, receipt: lookup.value };
      if (!isReceiptNotFound(lookup.reason)) failure = lookup.reason;
    }
    if (failure !== null) throw rpcError(failure);
    return null;
  }

  async #receipt(client: PublicClient, hash: Hex): Promise<TransactionReceipt> {
    try {
      return await client.getTransactionReceipt({ hash });
    } catch (err) {
      throw rpcError(err);
    }
  }

  async #finish(intent: TxIntent, attempt: TxAttempt, receipt: TransactionReceipt): Promise<TxOutcome> {
    // The sandbox: recorded as mined only once the saved chain holds its block (ADR 0011).
    await this.#o.chainDurable?.(receipt.blockNumber);
    const reverted = receipt.status !== 'success';
    await this.#o.outbox.setStatus(intent.id, reverted ? 'reverted' : 'mined', { minedHash: attempt.hash, blockNumber: receipt.blockNumber });
    this.#forget(intent.id);
    this.#o.metrics.outcomes.inc({ outcome: reverted ? 'reverted' : 'mined' });
    this.#o.onStep?.('mined', { ...intent, status: reverted ? 'reverted' : 'mined', minedHash: attempt.hash, blockNumber: receipt.blockNumber });
    return this.#outcomeOf(intent, attempt.hash, receipt);
  }

  async #outcomeOf(intent: TxIntent, hash: Hex, receipt: TransactionReceipt): Promise<TxOutcome> {
    if (receipt.status === 'success') return { status: 'mined', hash, receipt };
    return { status: 'reverted', hash, receipt, error: await this.#explainReceipt(intent, receipt) };
  }

  /** While the nonce is open: offer again an attempt no node has acknowledged yet, else speed up when stuck. */
  async #keepMoving(intent: TxIntent): Promise<void> {
    await this.#withWalletLock(intent.wallet, async () => {
      const attempts = await this.#o.outbox.attempts(intent.id);
      const live = latestLive(attempts);
      if (live?.status === 'signed') {
        await this.#broadcast(intent, live);
        return;
      }
      await this.#maybeSpeedUp(intent, attempts);
    });
  }

  async #maybeSpeedUp(intent: TxIntent, attempts: readonly TxAttempt[]): Promise<void> {
    const last = this.#lastAttemptAt.get(intent.id);
    const now = this.#o.clock.now();
    if (last === undefined) {
      this.#lastAttemptAt.set(intent.id, now);
      return;
    }
    // Each speed-up refused in a row doubles the wait for the next (a wallet short of ETH stays
    // short for a while): a stuck intent collects a handful of refused attempts, not dozens.
    const refusedInARow = attempts.length - 1 - attempts.findLastIndex((a) => a.status !== 'refused');
    if (now - last < (this.#o.speedUpAfterMs ?? 20_000) * 2 ** Math.min(refusedInARow, 6)) return;
    // From the newest attempt, refused or not: a new attempt never repeats the bytes of a refused one.
    const previous = attempts.at(-1);
    if (!previous) return;
    const { estimate } = await this.#feeEstimate();
    const fees = bumpedFees(previous, estimate, this.#o.fees);
    this.#lastAttemptAt.set(intent.id, now);
    if (!fees) {
      this.#o.logger.warn({ intent_id: intent.id, cap_wei: this.#o.fees.maxFeePerGas.toString() }, 'Transaction is stuck and the fee cap leaves no room to speed it up; still waiting');
      return;
    }
    const attempt = await this.#signAndStore(intent, fees);
    this.#o.metrics.speedUps.inc();
    this.#o.logger.info({ intent_id: intent.id, nonce: intent.nonce, max_fee_wei: fees.maxFeePerGas.toString() }, 'Sped up a stuck transaction');
    await this.#broadcast(intent, attempt);
  }

  #forget(intentId: string): void {
    this.#lastAttemptAt.delete(intentId);
    this.#judge.forget(intentId);
  }

  async #explainReceipt(intent: TxIntent, receipt: TransactionReceipt): Promise<VantaError> {
    let reason = 'reverted';
    let error: unknown = null;
    try {
      await this.#o.client.call({ account: intent.wallet, to: intent.to, data: intent.data, value: intent.value, blockNumber: receipt.blockNumber - 1n });
    } catch (err) {
      error = err;
      reason = revertReason(err) ?? reason;
    }
    return this.#o.explainRevert?.(error, reason, intent) ?? new VantaError('TX_REVERTED', `The transaction was mined but failed: ${reason}. Only gas was spent.`, { details: { intentId: intent.id } });
  }

  async #feesForFirstAttempt(): Promise<Fees> {
    const { estimate, baseFee } = await this.#feeEstimate();
    const fees = initialFees(estimate, baseFee, this.#o.fees);
    if (!fees) {
      throw new VantaError('TX_FEE_CAP', `Network fees are above the configured cap (${this.#o.fees.maxFeePerGas} wei per gas). Nothing was sent; try again when fees fall, or raise TX_MAX_FEE_GWEI.`, { retryable: true });
    }
    return fees;
  }

  /** The network's fee estimate, cached for a second (one Base block) to keep the order path fast. */
  async #feeEstimate(): Promise<{ estimate: Fees; baseFee: bigint }> {
    const now = this.#o.clock.now();
    if (this.#feeCache && now - this.#feeCache.at < 1_000) return this.#feeCache;
    try {
      const [block, estimate] = await Promise.all([this.#o.client.getBlock({ blockTag: 'latest' }), this.#o.client.estimateFeesPerGas({ type: 'eip1559', chain: null })]);
      const baseFee = block.baseFeePerGas ?? 0n;
      this.#feeCache = { at: now, estimate: { maxFeePerGas: estimate.maxFeePerGas, maxPriorityFeePerGas: estimate.maxPriorityFeePerGas }, baseFee };
      return this.#feeCache;
    } catch (err) {
      throw rpcError(err);
    }
  }

  /** Serialises everything that touches one wallet's nonces inside this process. */
  #withWalletLock<T>(wallet: string, fn: () => Promise<T>): Promise<T> {
    return this.#locks.run(wallet.toLowerCase(), fn);
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.#o.clock.setTimeout(resolve, ms));
  }
}

type Settled =
  | { readonly kind: 'final'; readonly outcome: TxOutcome }
  /** The nonce is not used yet: waiting, speeding up when stuck. */
  | { readonly kind: 'open' }
  /** The nonce is used but the chain has not yet said by whom (or its receipt is not served yet): no speed-up can help. */
  | { readonly kind: 'nonce-used'; readonly why: string }
  /** This poll's lookups failed. */
  | { readonly kind: 'unknown' };

/** The newest attempt a node did not refuse: the one to offer again. */
function latestLive(attempts: readonly TxAttempt[]): TxAttempt | undefined {
  return attempts.filter((a) => a.status !== 'refused').at(-1);
}

function provisional(input: IntentInput): TxIntent {
  return {
    id: input.id,
    userId: input.userId,
    wallet: input.from,
    chainId: 0,
    nonce: -1,
    kind: input.kind,
    to: input.request.to,
    data: input.request.data,
    value: input.request.value,
    gasLimit: 0n,
    status: 'reserved',
    minedHash: null,
    blockNumber: null,
    error: null,
  };
}

function superseded(intent: TxIntent, proof: string | null): VantaError {
  return new VantaError('TX_SUPERSEDED', `Another transaction from this wallet used nonce ${intent.nonce}, so this one can never be mined. Nothing was executed for it.`, {
    details: { intentId: intent.id, proof },
  });
}

function rejected(intent: TxIntent, reason: string): VantaError {
  return new VantaError('TX_REJECTED', `The network refused the transaction (${reason}). Nothing was executed; top up ETH for gas if that is the reason, then try again.`, {
    details: { intentId: intent.id },
  });
}
