/**
 * Registering a trader's delegate key for a wallet Vanta created (issue 9 item 3; AVANTIS-V2.md
 * §11 onboarding steps 3–5), checking it before trading, and the revocation call.
 *
 *   ensureDelegate → (already active? done) → tx-builder builds the DelegateReq (verified) →
 *   reserve in the intent store (nonce, deadline, whole message) → the tx-builder builds it again
 *   WITH the stored nonce and deadline; its digest must be the stored one → the TRADER's wallet key
 *   signs the digest → recordSigned → recordSubmitted → setDelegateWithSig relayed from the
 *   delegate's own 7702 account through blitz → recordAccepted(requestId) → poll → executed →
 *   confirm with GET /v2/delegation (canSignIntents).
 *
 * Exactly once (ADR 0016): the action id `delegate-set:<telegramId>:<n>` names one DelegateReq.
 * After a crash the next call continues it from the stored step: a reserved one is signed over the
 * stored message (RFC 6979: the same bytes), a signed one submits the STORED bytes, a submitted one
 * is first reconciled with /v2/delegation (and the trader's nonce) then resubmitted as the same
 * bytes, an accepted one is polled by request id, never relayed again. Calls for one trader are
 * serialised in this process; the store's fenced writes cover another process.
 *
 * The first tx-builder call only learns the service's ToS text (`tnc`, §8.3 "the exact ToS text
 * returned by the service"), which the stored message must carry before the store draws a nonce.
 */
import type { Address } from 'viem';
import { V2IntentMismatchError } from '../infra/chain/avantis-v2/errors.ts';
import type { BlitzClient } from '../infra/chain/avantis-v2/blitz-client.ts';
import type { DelegateCalldataClient, TraderCall } from '../infra/chain/avantis-v2/delegate-calldata-client.ts';
import { localIntentOf, type IntentStore, type StoredV2Intent } from '../infra/chain/avantis-v2/intent-store.ts';
import { domainFor, type V2Meta } from '../infra/chain/avantis-v2/meta.ts';
import type { Delegation, TxBuilderClient } from '../infra/chain/avantis-v2/tx-builder-client.ts';
import type { KeyedLock } from '../infra/keyed-lock.ts';
import { DelegateError } from '../infra/keys/delegate-errors.ts';
import type { DelegateKeys } from '../infra/keys/delegate-keys.ts';
import type { Wallets } from '../infra/keys/wallets.ts';
import type { Logger } from '../infra/logger.ts';
import { setDelegateWithSigCalldata } from './delegate-connect.ts';
import { userSystemId } from './kinds/user.actor.ts';

export type DelegationState = 'active' | 'missing' | 'expired' | 'pending';

/** What a caller acts on; `message` is written for the trader. */
export interface DelegationCheck {
  readonly state: DelegationState;
  readonly trader: Address | null;
  readonly delegate: Address | null;
  /** Unix seconds, when the chain has one (active or expired). */
  readonly expiry: bigint | null;
  /** Active but expiring within `renewBeforeSeconds`: register again (registerDelegate does). */
  readonly renewSoon: boolean;
  readonly message: string;
}

/** Steps written to the store, in order; `onStep` runs right after each (tests stop the process there). */
export type RegistrationStep = 'reserved' | 'signed' | 'submitted' | 'accepted' | 'executed';

export interface DelegateRegistrationDeps {
  readonly txBuilder: Pick<TxBuilderClient, 'meta' | 'delegateSetIntent' | 'delegation' | 'nonce'>;
  readonly calldata: Pick<DelegateCalldataClient, 'removeDelegate'>;
  readonly relayer: Pick<BlitzClient, 'relay' | 'relayStatus'>;
  readonly store: IntentStore;
  readonly wallets: Pick<Wallets, 'find' | 'signHash'>;
  readonly delegates: DelegateKeys;
  readonly lock: KeyedLock;
  readonly logger: Logger;
  readonly now?: () => number;
  /** How long a registration lasts (delegate expiry from now). Default 30 days: ASSUMED policy. */
  readonly delegateLifetimeSeconds?: number;
  /** An active delegation expiring sooner than this is renewed by registerDelegate. Default 2 days. */
  readonly renewBeforeSeconds?: number;
  /** The DelegateReq's deadline from reservation. Default 10 minutes. */
  readonly intentLifetimeMs?: number;
  /** Relay status polls before answering DELEGATE_RELAY_PENDING (the next call resumes). Default 60, every 1 s. */
  readonly maxPolls?: number;
  readonly pollIntervalMs?: number;
  readonly onStep?: (step: RegistrationStep, actionId: string) => void | Promise<void>;
}

export interface DelegateRegistration {
  /** Registers (or renews, or finishes registering) the delegate of a trader whose wallet Vanta created. */
  registerDelegate(telegramId: number): Promise<DelegationCheck>;
  /** Whether the delegate can sign intents now, for a bot-created wallet or, with `trader`, the trader's own. */
  checkDelegation(telegramId: number, trader?: Address): Promise<DelegationCheck>;
  /** The checked `removeDelegate(delegate)` call the TRADER sends (/disconnect); null when no delegate exists. */
  revocationCall(telegramId: number, trader?: Address): Promise<TraderCall | null>;
}

const MAX_ACTIONS = 10_000;

export function createDelegateRegistration(deps: DelegateRegistrationDeps): DelegateRegistration {
  const now = deps.now ?? Date.now;
  const lifetime = BigInt(deps.delegateLifetimeSeconds ?? 30 * 86_400);
  const renewBefore = BigInt(deps.renewBeforeSeconds ?? 2 * 86_400);
  const intentLifetimeMs = deps.intentLifetimeMs ?? 10 * 60_000;
  const maxPolls = deps.maxPolls ?? 60;
  const pollMs = deps.pollIntervalMs ?? 1_000;
  const nowSeconds = () => BigInt(Math.floor(now() / 1000));
  const log = deps.logger.child({ component: 'delegate-registration' });

  async function botWallet(telegramId: number): Promise<Address> {
    const wallet = await deps.wallets.find(userSystemId(telegramId));
    if (!wallet) throw new DelegateError('DELEGATE_NO_TRADER_WALLET', 'You have no Vanta wallet to enable trading for: send /start to open one, or connect your own wallet.', { telegramId });
    return wallet.address;
  }

  /** The first action id that is open or unused: each DelegateReq has its own, for ever. */
  async function currentAction(telegramId: number): Promise<{ actionId: string; intent: StoredV2Intent<'DelegateReq'> | null }> {
    for (let n = 1; n <= MAX_ACTIONS; n++) {
      const actionId = `delegate-set:${telegramId}:${n}`;
      const intent = await deps.store.find(actionId);
      if (intent === null || ['reserved', 'signed', 'submitted', 'accepted'].includes(intent.status)) return { actionId, intent: intent as StoredV2Intent<'DelegateReq'> | null };
    }
    throw new DelegateError('DELEGATE_KEY_CONFLICT', `Trader ${telegramId} has ${MAX_ACTIONS} delegate registrations; something registers in a loop. Nothing was done; the operator should look at v2_intents.`, { telegramId });
  }

  function classify(trader: Address, delegate: Address, d: Delegation, pending: boolean): DelegationCheck {
    const at = new Date(Number(d.expiry) * 1000).toISOString().replace('T', ' ').slice(0, 16);
    if (d.canSignIntents) {
      const renewSoon = d.expiry <= nowSeconds() + renewBefore;
      return { state: 'active', trader, delegate, expiry: d.expiry, renewSoon, message: `Trading is enabled: Vanta's trading key for your wallet is valid until ${at} UTC.${renewSoon ? ' It is renewed automatically; send /connect if it is your own wallet.' : ''}` };
    }
    if (pending) return { state: 'pending', trader, delegate, expiry: null, renewSoon: false, message: 'Vanta is registering its trading key for your wallet; this takes up to a minute. Try again shortly.' };
    if (d.expiry > 0n && d.expiry <= nowSeconds()) {
      return { state: 'expired', trader, delegate, expiry: d.expiry, renewSoon: true, message: `Vanta's trading key for your wallet expired on ${at} UTC, so it cannot trade for you. Send /connect to renew it; your funds and positions are untouched.` };
    }
    return { state: 'missing', trader, delegate, expiry: null, renewSoon: false, message: 'Vanta cannot trade for your wallet yet: its trading key is not registered. Send /connect to enable trading (one signature, no funds move).' };
  }

  async function check(telegramId: number, trader: Address | undefined): Promise<DelegationCheck> {
    const delegate = await deps.delegates.delegateOf(telegramId);
    const who = trader ?? (await deps.wallets.find(userSystemId(telegramId)))?.address ?? null;
    if (who === null || delegate === null) {
      return { state: 'missing', trader: who, delegate, expiry: null, renewSoon: false, message: who === null ? 'You have no wallet connected yet: send /start to open one, or connect your own wallet.' : 'Vanta cannot trade for your wallet yet: its trading key is not registered. Send /connect to enable trading (one signature, no funds move).' };
    }
    const d = await deps.txBuilder.delegation(who, delegate);
    const pending = trader === undefined && (await currentAction(telegramId)).intent !== null;
    return classify(who, delegate, d, pending);
  }

  const confirmed = (d: Delegation, intent: StoredV2Intent<'DelegateReq'>) => d.isEnabled && d.expiry === intent.message.expiry;

  async function step(stepName: RegistrationStep, actionId: string): Promise<void> {
    await deps.onStep?.(stepName, actionId);
  }

  async function register(telegramId: number): Promise<DelegationCheck> {
    const trader = await botWallet(telegramId);
    const delegate = await deps.delegates.ensureDelegate(telegramId);
    const meta = await deps.txBuilder.meta();
    for (let round = 0; round < 4; round++) {
      const { actionId, intent } = await currentAction(telegramId);
      if (intent === null) {
        const current = classify(trader, delegate, await deps.txBuilder.delegation(trader, delegate), false);
        if (current.state === 'active' && !current.renewSoon) return current;
        await reserve(actionId, trader, delegate, meta);
        continue;
      }
      const done = await drive(telegramId, actionId, intent, meta);
      if (done) return confirm(trader, delegate);
    }
    throw new DelegateError('DELEGATE_REQ_EXPIRED', 'Registering your trading key took too long and its signed request expired. Send /connect to try again.', { telegramId });
  }

  async function reserve(actionId: string, trader: Address, delegate: Address, meta: V2Meta): Promise<void> {
    const expirySeconds = Number(nowSeconds() + lifetime);
    // Learns the service's ToS text; the answer is verified like any intent (tampering is refused here).
    const probe = await deps.txBuilder.delegateSetIntent({ trader, delegate, expirySeconds });
    await deps.store.reserve({ actionId, signer: trader, domain: domainFor(meta, 'DelegateReq'), primaryType: 'DelegateReq', fields: { trader, delegate, expiry: BigInt(expirySeconds), tnc: probe.message.tnc }, lifetimeMs: intentLifetimeMs });
    await step('reserved', actionId);
  }

  /** Runs one stored action on; true when it executed, false when it ended otherwise (a new one is needed). */
  async function drive(telegramId: number, actionId: string, first: StoredV2Intent<'DelegateReq'>, meta: V2Meta): Promise<boolean> {
    let intent = first;
    const { trader, delegate } = intent.message;
    const overdue = () => intent.deadlineMs !== null && BigInt(Math.floor(now())) > intent.deadlineMs + 120_000n;
    if (intent.status === 'reserved' || intent.status === 'signed') {
      if (overdue()) {
        await deps.store.expire(actionId);
        return false;
      }
    }
    if (intent.status === 'reserved') {
      const verified = await deps.txBuilder.delegateSetIntent({ trader, delegate, expirySeconds: Number(intent.message.expiry), nonce: intent.nonce, deadlineMs: intent.deadlineMs! });
      const local = localIntentOf(intent);
      if (verified.digest !== local.digest) {
        await deps.store.recordTerminal(actionId, 'abandoned', 'the tx-builder answered another DelegateReq than the stored one');
        throw new V2IntentMismatchError('digest', `the tx-builder's DelegateReq (${verified.digest}) is not the stored one (${local.digest}); tnc "${verified.message.tnc.slice(0, 40)}…"`);
      }
      const signature = await deps.wallets.signHash(userSystemId(telegramId), local.digest);
      intent = (await deps.store.recordSigned(actionId, { digest: local.digest, encodedIntent: local.encodedIntent!, signature })) as StoredV2Intent<'DelegateReq'>;
      await step('signed', actionId);
    }
    if (intent.status === 'submitted') {
      // The bytes may have reached the relayer: did they register the delegate already?
      if (confirmed(await deps.txBuilder.delegation(trader, delegate), intent)) {
        await deps.store.recordTerminal(actionId, 'executed', 'found registered on reconcile');
        await step('executed', actionId);
        return true;
      }
      if (overdue()) {
        const { available } = await deps.txBuilder.nonce(trader, intent.nonce);
        if (available === true) await deps.store.expire(actionId, { nonceUnusedOnChain: true });
        else await deps.store.recordTerminal(actionId, 'executed', 'nonce used on chain');
        return available !== true;
      }
    }
    if (intent.status === 'signed' || intent.status === 'submitted') {
      intent = (await deps.store.recordSubmitted(actionId)) as StoredV2Intent<'DelegateReq'>;
      await step('submitted', actionId);
      const calldata = setDelegateWithSigCalldata({ signature: intent.signature!, encodedIntent: intent.encodedIntent! });
      const relay = await deps.delegates.signRelay(telegramId, { chainId: meta.chainId, tradingRouter: meta.addresses.tradingRouter, calls: [{ to: meta.addresses.tradingRouter, value: 0n, data: calldata }] });
      const requestId = await deps.relayer.relay(relay.txParams, relay.wallet);
      log.info({ action_id: actionId, request_id: requestId, submissions: intent.submissions }, 'Relayed setDelegateWithSig through blitz');
      intent = (await deps.store.recordAccepted(actionId, requestId)) as StoredV2Intent<'DelegateReq'>;
      await step('accepted', actionId);
    }
    if (intent.status !== 'accepted' || intent.trackingId === null) return false;
    return poll(actionId, intent.trackingId);
  }

  async function poll(actionId: string, requestId: string): Promise<boolean> {
    for (let i = 0; i < maxPolls; i++) {
      const status = await deps.relayer.relayStatus(requestId);
      if (status.status === 'Finalised') {
        const ok = ['success', '0x1', 1, true].includes(status.receipt?.['status'] as string | number | boolean);
        if (!ok) return fail(actionId, `the relayed transaction reverted (receipt status ${String(status.receipt?.['status'])})`);
        await deps.store.recordTerminal(actionId, 'executed');
        await step('executed', actionId);
        return true;
      }
      if (status.status === 'Failed') return fail(actionId, 'the relayer reported the relay Failed');
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
    throw new DelegateError('DELEGATE_RELAY_PENDING', 'Your trading key registration is still being confirmed on chain. Try again in a minute; nothing needs to be signed again.', { actionId, requestId });
  }

  async function fail(actionId: string, detail: string): Promise<never> {
    await deps.store.recordTerminal(actionId, 'failed', detail);
    throw new DelegateError('DELEGATE_RELAY_FAILED', `Registering your trading key failed on chain (${detail}). Send /connect to try again; nothing was moved.`, { actionId });
  }

  async function confirm(trader: Address, delegate: Address): Promise<DelegationCheck> {
    const d = await deps.txBuilder.delegation(trader, delegate);
    const result = classify(trader, delegate, d, false);
    if (result.state !== 'active') {
      throw new DelegateError('DELEGATE_NOT_CONFIRMED', 'Your trading key was registered, but Avantis does not show it yet. Try again in a minute.', { trader, delegate });
    }
    return result;
  }

  return {
    registerDelegate: (telegramId) => deps.lock.run(`delegate-registration:${telegramId}`, () => register(telegramId)),
    checkDelegation: (telegramId, trader) => check(telegramId, trader),
    async revocationCall(telegramId, trader) {
      const delegate = await deps.delegates.delegateOf(telegramId);
      if (delegate === null) return null;
      const who = trader ?? (await botWallet(telegramId));
      return deps.calldata.removeDelegate(await deps.txBuilder.meta(), who, delegate);
    },
  };
}

