import { encodeFunctionData, erc20Abi, type Address, type PublicClient } from 'viem';
import { VantaError } from '../../../errors.ts';
import type { TxOutcome, TxPipeline } from './pipeline.ts';

/**
 * Keeps the USDC allowance to TradingStorage (the contract that pulls the
 * collateral) just large enough for the order at hand: no approval when the
 * current one covers it, and never an unlimited one. A leaked or buggy
 * spender can then take at most one order's collateral.
 *
 * The approval is its own intent, `<orderId>:approve`, so a crash between the
 * approval and the order resumes it instead of approving twice.
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

export async function ensureUsdcAllowance(deps: { client: PublicClient; pipeline: TxPipeline }, p: AllowanceParams): Promise<'sufficient' | TxOutcome> {
  if (p.amount <= 0n) throw new VantaError('BAD_INPUT', 'The order amount must be positive.');
  const current = await deps.client.readContract({ address: p.usdc, abi: erc20Abi, functionName: 'allowance', args: [p.owner, p.spender] });
  if (current >= p.amount) return 'sufficient';
  const outcome = await deps.pipeline.execute({
    id: `${p.orderId}:approve`,
    userId: p.userId,
    from: p.owner,
    kind: 'approve',
    request: { to: p.usdc, data: encodeFunctionData({ abi: erc20Abi, functionName: 'approve', args: [p.spender, p.amount] }), value: 0n },
  });
  if (outcome.status !== 'mined') throw outcome.error;
  return outcome;
}
