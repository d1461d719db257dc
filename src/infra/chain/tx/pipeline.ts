import type { Address, Hex, PublicClient, TransactionReceipt, TransactionSerializable } from 'viem';
import { keccak256 } from 'viem';
import type { Logger } from 'pino';
import { VantaError } from '../../../errors.ts';
import type { Clock } from '../../clock.ts';
import { createKeyedLock } from '../../keyed-lock.ts';
import { bumpedFees, initialFees, type FeePolicy, type Fees } from './fees.ts';
import type { Outbox, TxAttempt, TxIntent } from './outbox.ts';
import type { TxMetrics } from './metrics.ts';

/**
 * The transaction pipeline: one writer per wallet, nonces that stay right
 * across restarts and external sends, and an outbox that makes every order
 * step exactly-once on chain.
 *
 *   submit(intent) ── simulate (revert reasons surface here, nothing reserved)
 *                  ── reserve nonce (durable; unique per wallet+nonce)
 *                  ── sign, store the signed attempt (durable) ── broadcast
 *   waitForOutcome ── poll receipts of every attempt; speed up within the fee
 *                     cap when stuck; detect a nonce taken by someone else.
 *
 * Everything is keyed by the intent id (e.g. `position:abc:open`). Calling
 * submit or execute again with the same id never signs a second transaction
 * for it: it resumes where the previous call (or process) stopped, re-sending
 * the bytes it already signed. Re-broadcasting identical bytes is harmless
 * (same hash), so a crash at any point leaves at most one transaction per
 * intent on chain.
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
  #feeCache: { at: number; estimate: Fees; baseFee: bigint } | null = null;

  constructor(options: PipelineOptions) {
    this.#o = options;
  }

  /** Submits (or resumes) an intent and waits for its outcome. */
  async execute(input: IntentInput): Promise<TxOutcome> {
    await this.submit(input);
    return this.waitForOutcome(input.id);
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
      const signed = await this.#signFirst(intent);
      await this.#broadcast(signed, (await this.#o.outbox.attempts(intent.id)).at(-1)!);
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
        this.#o.logger.error({ err, intent_id: intent.id }, 'Could not resume a transaction at boot; it will be retried when its order resumes');
      }
    }
    if (open.length) this.#o.logger.info({ intents: open.length }, 'Resumed unfinished transactions');
    return resumed;
  }

  /** Polls until a receipt for any attempt, a taken nonce, or the timeout. Speeds up when stuck. */
  async waitForOutcome(id: string): Promise<TxOutcome> {
    const deadline = this.#o.clock.now() + (this.#o.receiptTimeoutMs ?? 120_000);
    for (;;) {
      const intent = await this.#o.outbox.find(id);
      if (!intent) throw new VantaError('TX_REJECTED', `No transaction ${id} was submitted.`);
      const settled = await this.#settle(intent);
      if (settled) return settled;
      if (this.#o.clock.now() >= deadline) {
        throw new VantaError('TX_TIMEOUT', 'The transaction has not been mined yet. It is still pending and will be tracked; nothing will be sent twice.', { retryable: true, details: { intentId: id } });
      }
      await this.#maybeSpeedUp(intent);
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

  async #signFirst(intent: TxIntent): Promise<TxIntent> {
    try {
      const fees = await this.#feesForFirstAttempt();
      await this.#signAndStore(intent, fees);
      const signed: TxIntent = { ...intent, status: 'signed' };
      this.#o.onStep?.('signed', signed);
      return signed;
    } catch (err) {
      // Nothing was signed, so nothing can be on chain: free the nonce.
      await this.#o.outbox.release(intent.id);
      throw err;
    }
  }

  async #signAndStore(intent: TxIntent, fees: Fees): Promise<TxAttempt> {
    const raw = await this.#o.signer.signTransaction(intent.userId, {
      type: 'eip1559',
      chainId: intent.chainId,
      nonce: intent.nonce,
      to: intent.to,
      data: intent.data,
      value: intent.value,
      gas: intent.gasLimit,
      maxFeePerGas: fees.maxFeePerGas,
      maxPriorityFeePerGas: fees.maxPriorityFeePerGas,
    });
    const attempt: TxAttempt = { hash: keccak256(raw), raw, ...fees };
    await this.#o.outbox.addAttempt(intent.id, attempt);
    this.#lastAttemptAt.set(intent.id, this.#o.clock.now());
    return attempt;
  }

  async #broadcast(intent: TxIntent, attempt: TxAttempt): Promise<void> {
    try {
      await this.#o.client.sendRawTransaction({ serializedTransaction: attempt.raw });
    } catch (err) {
      const message = errorText(err);
      if (/already known|known transaction|already imported|nonce too low|replacement transaction underpriced|transaction underpriced/i.test(message)) {
        // The node has it, or the nonce is used: the receipt check decides which.
        this.#o.logger.debug({ intent_id: intent.id, reason: message.slice(0, 120) }, 'Broadcast answered with a benign error');
      } else if (/insufficient funds|intrinsic gas too low|exceeds block gas limit|invalid sender|max fee per gas less than block base fee/i.test(message)) {
        await this.#o.outbox.setStatus(intent.id, 'superseded', { error: message.slice(0, 500) });
        this.#o.metrics.outcomes.inc({ outcome: 'rejected' });
        throw new VantaError('TX_REJECTED', `The network refused the transaction (${shortReason(message)}). Nothing was executed; top up ETH for gas if that is the reason, then try again.`, { details: { intentId: intent.id } });
      } else {
        throw rpcError(err);
      }
    }
    if (intent.status === 'reserved' || intent.status === 'signed') await this.#o.outbox.setStatus(intent.id, 'broadcast');
    this.#o.onStep?.('broadcast', { ...intent, status: 'broadcast' });
  }

  async #resume(intent: TxIntent): Promise<TxIntent> {
    if (intent.status === 'mined' || intent.status === 'reverted' || intent.status === 'superseded') return intent;
    return this.#withWalletLock(intent.wallet, async () => {
      let attempts = await this.#o.outbox.attempts(intent.id);
      let current = intent;
      if (!attempts.length) {
        // Reserved but never signed (the process stopped in between): sign now with the reserved nonce.
        current = await this.#signFirst(intent);
        attempts = await this.#o.outbox.attempts(intent.id);
      }
      await this.#broadcast(current, attempts.at(-1)!);
      return { ...current, status: 'broadcast' };
    });
  }

  async #settle(intent: TxIntent): Promise<TxOutcome | null> {
    const { outbox, client } = this.#o;
    if (intent.status === 'superseded') return { status: 'superseded', error: superseded(intent) };
    const attempts = await outbox.attempts(intent.id);
    for (const attempt of attempts) {
      const receipt = await client.getTransactionReceipt({ hash: attempt.hash }).catch(() => null);
      if (!receipt) continue;
      await this.#o.chainDurable?.(receipt.blockNumber);
      const reverted = receipt.status !== 'success';
      await outbox.setStatus(intent.id, reverted ? 'reverted' : 'mined', { minedHash: attempt.hash, blockNumber: receipt.blockNumber });
      this.#lastAttemptAt.delete(intent.id);
      this.#o.metrics.outcomes.inc({ outcome: reverted ? 'reverted' : 'mined' });
      this.#o.onStep?.('mined', { ...intent, status: reverted ? 'reverted' : 'mined', minedHash: attempt.hash, blockNumber: receipt.blockNumber });
      if (!reverted) return { status: 'mined', hash: attempt.hash, receipt };
      return { status: 'reverted', hash: attempt.hash, receipt, error: await this.#explainReceipt(intent, receipt) };
    }
    const mined = await client.getTransactionCount({ address: intent.wallet, blockTag: 'latest' }).catch(() => null);
    if (mined !== null && mined > intent.nonce && attempts.length) {
      // The nonce was used, but by none of our attempts (a receipt lookup can lag: check once more first).
      const late = await Promise.all(attempts.map((a) => client.getTransactionReceipt({ hash: a.hash }).catch(() => null)));
      if (late.every((r) => r === null)) {
        await outbox.setStatus(intent.id, 'superseded', { error: 'nonce used by another transaction' });
        this.#o.metrics.outcomes.inc({ outcome: 'superseded' });
        return { status: 'superseded', error: superseded(intent) };
      }
      return this.#settle(intent);
    }
    return null;
  }

  async #maybeSpeedUp(intent: TxIntent): Promise<void> {
    const last = this.#lastAttemptAt.get(intent.id);
    const now = this.#o.clock.now();
    if (last === undefined) {
      this.#lastAttemptAt.set(intent.id, now);
      return;
    }
    if (now - last < (this.#o.speedUpAfterMs ?? 20_000)) return;
    await this.#withWalletLock(intent.wallet, async () => {
      const attempts = await this.#o.outbox.attempts(intent.id);
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
    });
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

function superseded(intent: TxIntent): VantaError {
  return new VantaError('TX_SUPERSEDED', `Another transaction from this wallet used nonce ${intent.nonce}, so this one can never be mined. Nothing was executed for it.`, { details: { intentId: intent.id } });
}

const REVERT_SHAPES = [
  /reverted with reason string '([^']*)'/i,
  /reverted with reason:\s*([^\n]+?)\.?(?:\n|$)/i,
  /reverted with the following reason:\s*([^\n]+)/i,
  /execution reverted:?\s*([^\n"]*)/i,
];

/** The revert reason of a failed call or estimate, or null when the failure was not a revert. */
export function revertReason(err: unknown): string | null {
  const text = errorText(err);
  // The shapes nodes and viem use, most specific first (a regex alternation would take the leftmost).
  for (const shape of REVERT_SHAPES) {
    const found = shape.exec(text)?.[1]?.trim();
    if (found !== undefined) return found || 'reverted without a reason';
  }
  return /revert/i.test(text) ? 'reverted without a reason' : null;
}

function rpcError(err: unknown): VantaError {
  return new VantaError('RPC_UNAVAILABLE', `The blockchain node did not answer properly (${shortReason(errorText(err))}). Nothing was lost; the engine retries.`, { cause: err, retryable: true });
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const details = (err as { details?: unknown; shortMessage?: unknown }).details;
    return `${err.message}\n${typeof details === 'string' ? details : ''}`;
  }
  return String(err);
}

function shortReason(text: string): string {
  return (text.split('\n')[0] ?? text).slice(0, 160);
}
