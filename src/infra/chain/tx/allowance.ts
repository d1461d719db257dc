import { encodeFunctionData, erc20Abi, type Address, type PublicClient } from 'viem';
import { VantaError } from '../../../errors.ts';
import type { TxOutcome, TxPipeline } from './pipeline.ts';

/**
 * Keeps the USDC allowance to TradingStorage (the contract that pulls the
 * collateral) just large enough for the order at hand: no approval when the
 * current one covers it, and never an unlimited one. A leaked or buggy
 * spender can then take at most one order's collateral.
 *
 * Each approval is its own intent: `<orderId>:approve` for the order's first
 * try, `<orderId>:approve:<n>` for the next ones. A crash between an approval
 * and the order resumes the approval instead of approving twice; an approval
 * that was used up meanwhile (another order of the wallet spent it while this
 * one waited to retry) is followed by a new try, never by re-reading the old,
 * finished one as if it were still there.
 */
export interface AllowanceParams {
  readonly orderId: string;
  readonly userId: string;
  readonly owner: Address;
  readonly usdc: Address;
  readonly spender: Address;
  /** USDC 1e6 the order will pull. */
  readonly amount: bigint;
}

type Pipeline = Pick<TxPipeline, 'execute' | 'find'>;

const MAX_APPROVE_TRIES = 20;

export function approveIntentId(orderId: string, attempt: number): string {
  return attempt === 1 ? `${orderId}:approve` : `${orderId}:approve:${attempt}`;
}

export async function ensureUsdcAllowance(deps: { client: PublicClient; pipeline: Pipeline }, p: AllowanceParams): Promise<'sufficient' | TxOutcome> {
  if (p.amount <= 0n) throw new VantaError('BAD_INPUT', 'The order amount must be positive.');
  // An approval of this order still in flight is resumed before anything is read (its bytes are signed).
  let attempt = 1;
  for (; attempt <= MAX_APPROVE_TRIES; attempt++) {
    const intent = await deps.pipeline.find(approveIntentId(p.orderId, attempt));
    if (!intent) break;
    if (intent.status === 'reserved' || intent.status === 'signed' || intent.status === 'broadcast') return approve(deps, p, attempt);
  }
  const current = await deps.client.readContract({ address: p.usdc, abi: erc20Abi, functionName: 'allowance', args: [p.owner, p.spender] });
  if (current >= p.amount) return 'sufficient';
  if (attempt > MAX_APPROVE_TRIES) {
    throw new VantaError('TX_REJECTED', `This order already needed ${MAX_APPROVE_TRIES} USDC approvals; something else keeps spending the wallet's allowance. Nothing more was sent.`);
  }
  return approve(deps, p, attempt);
}

async function approve(deps: { pipeline: Pipeline }, p: AllowanceParams, attempt: number): Promise<TxOutcome> {
  const outcome = await deps.pipeline.execute({
    id: approveIntentId(p.orderId, attempt),
    userId: p.userId,
    from: p.owner,
    kind: 'approve',
    request: { to: p.usdc, data: encodeFunctionData({ abi: erc20Abi, functionName: 'approve', args: [p.spender, p.amount] }), value: 0n },
  });
  if (outcome.status !== 'mined') throw outcome.error;
  return outcome;
}
