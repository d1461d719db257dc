/**
 * Sessions of the delegate connect page (src/infra/http/connect-server.ts; ADR 0018): the bot opens
 * one per trader who keeps their own wallet, sends the link, and hears the outcome.
 *
 * Kept in memory on purpose: a link lives minutes, holds nothing secret (a message to sign, which
 * the page shows anyway), and after a restart the trader asks the bot for a new link; the DelegateReq
 * of a lost link just expires (its own deadline) and its nonce is never used.
 */
import { encodeAbiParameters, encodeFunctionData, type Address, type Hex } from 'viem';
import { BadInputError } from '../errors.ts';
import { delegateMessage, randomNonce, TOS_VERANTA, type IntentDomain } from '../infra/chain/avantis-v2/intents.ts';
import { newConnectToken, type ConnectOutcome, type ConnectSession, type ConnectSessions, type SignedDelegateReq } from '../infra/http/connect-server.ts';

export interface DelegateConnectOptions {
  readonly now?: () => number;
  /** How long a link works (default 15 minutes). The DelegateReq's deadline is the same instant. */
  readonly ttlMs?: number;
  /** Pending links at once (default 10,000); the oldest is dropped beyond. */
  readonly maxSessions?: number;
  /** Told once per link when it is used (registered or failed), e.g. to message the trader. */
  readonly onComplete?: (outcome: ConnectOutcome, session: ConnectSession) => void;
}

export interface OpenConnectRequest {
  /** The trader's own wallet. */
  readonly trader: Address;
  /** The delegate key Vanta holds for this trader. */
  readonly delegate: Address;
  /** The trading domain from /v2/meta: `domainFor(meta, 'DelegateReq')`. */
  readonly domain: IntentDomain;
  /** Absolute unix SECONDS after which the delegate can no longer act. */
  readonly expirySeconds: bigint;
  /** Default TOS_VERANTA (§8.5; either known text is accepted). */
  readonly tnc?: string;
}

export interface DelegateConnectSessions extends ConnectSessions {
  /** Builds the DelegateReq locally and returns the token for the link (`connectServer.linkFor(token)`). */
  open(request: OpenConnectRequest): { token: string; session: ConnectSession };
  /** Pending and used sessions still held (for tests and metrics). */
  size(): number;
}

/** An in-memory sessions store. Used links are kept until their expiry so a reload shows the outcome. */
export function createDelegateConnectSessions(options: DelegateConnectOptions = {}): DelegateConnectSessions {
  const now = options.now ?? Date.now;
  const ttlMs = options.ttlMs ?? 15 * 60_000;
  const max = options.maxSessions ?? 10_000;
  const sessions = new Map<string, ConnectSession>();

  const sweep = (): void => {
    const t = now();
    for (const [token, s] of sessions) if (t >= s.expiresAtMs + ttlMs) sessions.delete(token);
    while (sessions.size >= max) sessions.delete(sessions.keys().next().value!);
  };

  return {
    open(request) {
      const t = now();
      if (request.expirySeconds * 1000n <= BigInt(t)) throw new BadInputError('The delegate expiry must be in the future.');
      const expiresAtMs = t + ttlMs;
      const message = delegateMessage({
        trader: request.trader,
        delegate: request.delegate,
        expirySeconds: request.expirySeconds,
        tnc: request.tnc ?? TOS_VERANTA,
        deadlineMs: BigInt(expiresAtMs),
        nonce: randomNonce(),
      });
      sweep();
      const token = newConnectToken();
      const session: ConnectSession = { trader: message.trader, domain: request.domain, message, expiresAtMs, outcome: null };
      sessions.set(token, session);
      return { token, session };
    },
    get(token) {
      return sessions.get(token) ?? null;
    },
    complete(token, outcome) {
      const session = sessions.get(token);
      if (!session || session.outcome) return;
      const done = { ...session, outcome };
      sessions.set(token, done);
      options.onComplete?.(outcome, done);
    },
    size: () => sessions.size,
  };
}

const SET_DELEGATE_WITH_SIG_ABI = [
  { type: 'function', name: 'setDelegateWithSig', stateMutability: 'nonpayable', inputs: [{ name: 'signature', type: 'bytes' }, { name: 'userIntent', type: 'bytes' }], outputs: [] },
] as const;

/**
 * Calldata of `setDelegateWithSig(bytes signature, bytes userIntent)` on the TradingRouter (§9.5,
 * selector 0xf4ec01eb): what the production `submit` wraps in the delegate's 7702 account and relays
 * through blitz (§11 step 4).
 */
export function setDelegateWithSigCalldata(signed: Pick<SignedDelegateReq, 'signature' | 'encodedIntent'>): Hex {
  return encodeFunctionData({ abi: SET_DELEGATE_WITH_SIG_ABI, functionName: 'setDelegateWithSig', args: [signed.signature, signed.encodedIntent] });
}

/** The same arguments without the selector (§9.5 "selector ‖ abi.encode(bytes, bytes)"), for checks. */
export function setDelegateWithSigArgs(signed: Pick<SignedDelegateReq, 'signature' | 'encodedIntent'>): Hex {
  return encodeAbiParameters([{ type: 'bytes' }, { type: 'bytes' }], [signed.signature, signed.encodedIntent]);
}
