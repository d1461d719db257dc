import { VantaError } from '../../../errors.ts';

/**
 * What an RPC node's error means for the transaction pipeline. viem's error messages carry the
 * RPC URL (often with an API key) and the request body, so only the node's own words (`details`)
 * or the first line ever leave this module: for logs, the database and users.
 */

/**
 * A node's answer to eth_sendRawTransaction that was not a plain "accepted":
 * - `known`: it already has this very transaction;
 * - `nonce-used`: the wallet's nonce is past this one (ours mined, or another transaction did):
 *   receipts decide which;
 * - `refused`: it will not take this transaction (funds, fees, gas): it is not in its pool;
 * - `unknown`: no verdict (timeout, transport error, anything else): try again.
 */
export type BroadcastAnswer = { readonly kind: 'known' | 'nonce-used' | 'refused' | 'unknown'; readonly reason: string };

const KNOWN = /already known|known transaction|already imported|already in (the )?(tx)?pool|already exists/i;
const NONCE_USED = /nonce too low|nonce has already been used|nonce expired|old nonce/i;
const REFUSED =
  /insufficient funds|intrinsic gas too low|exceeds block gas limit|invalid sender|max fee per gas less than block base fee|fee cap (is )?(less than|lower than|too low)|feecap too low|underpriced|tip (is )?(higher|above) (than )?(the )?fee cap|max priority fee per gas higher than max fee per gas|exceeds the configured cap/i;

export function classifyBroadcastError(err: unknown): BroadcastAnswer {
  const text = errorText(err);
  const reason = nodeReason(err);
  if (KNOWN.test(text)) return { kind: 'known', reason };
  if (NONCE_USED.test(text)) return { kind: 'nonce-used', reason };
  if (REFUSED.test(text)) return { kind: 'refused', reason };
  return { kind: 'unknown', reason };
}

/** True for viem's "no receipt (yet)" answer, as opposed to a lookup that failed. */
export function isReceiptNotFound(err: unknown): boolean {
  return err instanceof Error && err.name === 'TransactionReceiptNotFoundError';
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

export function rpcError(err: unknown): VantaError {
  return new VantaError('RPC_UNAVAILABLE', `The blockchain node did not answer properly (${nodeReason(err)}). Nothing was lost; the engine retries.`, { cause: err, retryable: true });
}

/** The node's own words for an error (viem's `details`), else the first line of the message; never a URL. */
export function nodeReason(err: unknown): string {
  const details = err instanceof Error ? (err as { details?: unknown }).details : undefined;
  const text = typeof details === 'string' && details.trim() ? details : shortReason(errorText(err));
  return text.replace(/\b(?:https?|wss?):\/\/\S+/gi, '<rpc url>').trim().slice(0, 300);
}

export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const details = (err as { details?: unknown }).details;
    return `${err.message}\n${typeof details === 'string' ? details : ''}`;
  }
  return String(err);
}

export function shortReason(text: string): string {
  return (text.split('\n')[0] ?? text).slice(0, 160);
}
