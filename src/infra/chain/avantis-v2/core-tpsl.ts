/**
 * The gasless route for a whole position's TP/SL (AVANTIS-V2.md §7.3, §9.2, §11 "TP/SL — whole
 * position"): an UpdateTpSlReq built by the tx-builder, checked, signed by the signer's key (the
 * trader's delegate) and PUT to the core API under the position's global trigger id, exactly once
 * across crashes. The intent store is the record (ADR 0016); every step is written before the next
 * one acts, as in the market route (gasless-market.ts):
 *
 *   reserve (nonce, deadline, the whole message) → the tx-builder builds the intent WITH them, the
 *   answer is verified field by field (TxBuilderClient) and its digest and encoding compared with
 *   the ones computed from the stored message → sign → recordSigned → recordSubmitted → PUT
 *   → 2xx: recordAccepted (synthetic tracking id) → poll `/user-data` until the position shows the
 *   new levels → executed.
 *
 * How a PUT without a stream maps onto the store (ASSUMED where marked):
 * - "accepted" = the PUT answered 2xx (§9.2: "2xx = accepted, then poll /user-data"). The PUT has no
 *   tracking id, so the route makes one: `core:<global id>:<digest>`. The global id alone names the
 *   position, not this update; the digest makes it unique per signed intent (the store refuses one
 *   tracking id for two actions). The answer body is stored as event 1 `GlobalTpSlAccepted`.
 * - "executed" = `/user-data` shows the position with `sl` equal to the signed `_newSl` and `tp`
 *   equal to `_newTp`; stored as event 2 `GlobalTpSlConfirmed` with what was read. ASSUMED (from
 *   the official TypeScript SDK's behaviour, not the reference): `_newTp = 0` resets the TP to the
 *   pair's max-gain cap, whose value we do not know, so a zero TP is confirmed on the SL alone.
 * - An accepted update not visible on the position once its deadline (plus `confirmGraceMs`) has
 *   passed, or whose position is no longer listed then, ends `failed` (event 2 `GlobalTpSlNotSeen`).
 *   ASSUMED: the operator's execution checks the signed deadline, so an update not executed by
 *   then never will be. Before that, a read that does not show it yet leaves the action accepted
 *   and throws a retryable `V2_TPSL_NOT_VISIBLE` error: `resume` polls again, never resends.
 * - The path's `{tp|sl}`: ASSUMED either global id addresses the same position and one
 *   UpdateTpSlReq carries both levels (the official SDK picks the leg being changed; the backend
 *   routes on the id's shape). This route always uses `global-tp-…` unless the TP is 0 (then
 *   `global-sl-…`), chosen from the STORED message so a resubmission goes to the same URL.
 *
 * Refusals (`V2ServiceError`, not retryable: 400 InvalidDeadline / InvalidNonce / bad body, 403
 * InvalidSigner, 404 no such position…) of the FIRST submission end the action `rejected` with the
 * service's words. Retryable ones (429, 5xx) and answers with an unknown outcome (no answer, a
 * timeout, an unparseable 2xx) leave it `submitted`: the same bytes go again at the next attempt
 * (one nonce: it executes at most once). A refusal of a RESUBMISSION proves nothing about the first
 * copy: the signer's on-chain nonce decides — spent → executed by the earlier copy; unused → it
 * stays `submitted` (an error says the outcome is not known yet) until the deadline has passed,
 * when recovery's `reconcile` step reads the nonce again and calls it expired or executed.
 */
import { getAddress, type Address, type Hex } from 'viem';
import type { Logger } from 'pino';
import type { CoreApiClient } from './core-api-client.ts';
import { shortText, V2Error, V2IntentMismatchError, V2ServiceError } from './errors.ts';
import { localIntentOf, type IntentStore, type StoredV2Intent, type StoredV2Event, type V2NextStep } from './intent-store.ts';
import type { IntentMessage } from './intents.ts';
import { domainFor, type V2Meta } from './meta.ts';
import type { TxBuilderClient } from './tx-builder-client.ts';
import { fromRaw, toRaw } from './units.ts';

export interface TpSlRequest {
  readonly trader: Address;
  readonly pairIndex: number;
  readonly tradeIndex: number;
  /** Human units ("3500.5"); "0" resets the TP to the pair's max-gain cap (§8.3). */
  readonly takeProfit: string;
  /** Human units; "0" removes the SL. */
  readonly stopLoss: string;
}

export interface TpSlUpdate {
  /** Names the action for good: the same id after a crash continues it, never starts another. */
  readonly actionId: string;
  /** The address whose key signs: the trader's delegate (or the trader itself). */
  readonly signer: Address;
  readonly request: TpSlRequest;
}

export type TpSlOutcome =
  /**
   * The position carries the new levels. `seen` is what `/user-data` showed (raw ×1e10 strings),
   * null when the execution was proved by the signer's spent nonce instead.
   */
  | { readonly outcome: 'executed'; readonly actionId: string; readonly globalId: string; readonly seen: { readonly tp: string; readonly sl: string } | null; readonly detail: string }
  /** It did not take effect, and never will: `detail` says why (the service's words when it refused). */
  | { readonly outcome: 'failed' | 'rejected' | 'expired' | 'abandoned'; readonly actionId: string; readonly detail: string };

export interface TpSlHooks {
  readonly signal?: AbortSignal;
}

export interface TpSlRouteDeps {
  readonly store: IntentStore;
  readonly txBuilder: TxBuilderClient;
  readonly core: CoreApiClient;
  /** Signs a 32-byte digest with the signer's sealed key: 65 bytes r‖s‖v. The key never leaves the keystore. */
  readonly signDigest: (signer: Address, digest: Hex) => Promise<Hex>;
  /** Whether `nonce` is still unused in `signer`'s on-chain bitmap (the proof reconciliation needs). */
  readonly nonceUnused: (signer: Address, nonce: bigint) => Promise<boolean>;
  readonly logger: Logger;
  /** How long a new intent stays valid. Default 120 s, the service's documented default (§6). ASSUMED adequate. */
  readonly lifetimeMs?: number;
  /** How often and how long one call polls `/user-data` for the new levels. Default every 1 s for 20 s. */
  readonly confirmIntervalMs?: number;
  readonly confirmForMs?: number;
  /** After the deadline, how long an accepted update may still appear before it is called failed. Default 2 min (our clock is not the block's). */
  readonly confirmGraceMs?: number;
  /** Unix ms now (tests move it). */
  readonly now?: () => number;
}

export interface TpSlRoute {
  /** Runs the update to its end (or continues it, when this id was started before). */
  update(action: TpSlUpdate, hooks?: TpSlHooks): Promise<TpSlOutcome>;
  /** Continues a stored action from its recorded step; null when no such action was stored. */
  resume(actionId: string, hooks?: TpSlHooks): Promise<TpSlOutcome | null>;
  /** Whether this action id was ever reserved (then it is continued as stored, never re-decided). */
  started(actionId: string): Promise<boolean>;
}

/** The accepted update is not on the position yet: the action stays accepted; resume polls again. */
export class V2TpSlNotVisibleError extends V2Error {
  override readonly name = 'V2TpSlNotVisibleError';
  constructor(actionId: string, shows: string) {
    super('CHAIN_UNAVAILABLE', 'V2_UPSTREAM_ERROR', `Avantis accepted the TP/SL update ${actionId} but the position does not show it yet (${shows}). It is checked again shortly; nothing is resent.`, {
      retryable: true,
      details: { actionId, reason: 'V2_TPSL_NOT_VISIBLE' },
    });
  }
}

/** A resubmission was refused, but the signer's nonce is unused: the first copy may still run. */
export class V2TpSlOutcomeUnknownError extends V2Error {
  override readonly name = 'V2TpSlOutcomeUnknownError';
  constructor(actionId: string, refusal: string) {
    super('CHAIN_UNAVAILABLE', 'V2_UPSTREAM_ERROR', `The TP/SL update ${actionId} was sent again and refused (${shortText(refusal, 160)}), but an earlier copy may still be executed: it is decided once its deadline has passed. Nothing new is signed.`, {
      retryable: true,
      details: { actionId, reason: 'V2_TPSL_OUTCOME_UNKNOWN' },
    });
  }
}

const ACCEPTED_EVENT = 'GlobalTpSlAccepted';
const CONFIRMED_EVENT = 'GlobalTpSlConfirmed';
const NOT_SEEN_EVENT = 'GlobalTpSlNotSeen';

export function createTpSlRoute(deps: TpSlRouteDeps): TpSlRoute {
  const { store, txBuilder, core, logger } = deps;
  const lifetimeMs = deps.lifetimeMs ?? 120_000;
  const intervalMs = deps.confirmIntervalMs ?? 1_000;
  const forMs = deps.confirmForMs ?? 20_000;
  const graceMs = BigInt(deps.confirmGraceMs ?? 120_000);
  const now = deps.now ?? Date.now;

  async function reserve(action: TpSlUpdate, meta: V2Meta): Promise<void> {
    const r = action.request;
    await store.reserve({
      actionId: action.actionId,
      signer: action.signer,
      domain: domainFor(meta, 'UpdateTpSlReq'),
      primaryType: 'UpdateTpSlReq',
      fields: { trader: r.trader, _pairIndex: BigInt(r.pairIndex), _index: BigInt(r.tradeIndex), _newTp: toRaw('price', r.takeProfit), _newSl: toRaw('price', r.stopLoss) },
      lifetimeMs,
    });
  }

  /** Has the tx-builder build the STORED message, checks it, signs it, stores the signature. */
  async function sign(intent: StoredV2Intent, signal?: AbortSignal): Promise<StoredV2Intent> {
    const m = messageOf(intent);
    let built: { readonly digest: Hex; readonly encodedIntent: Hex };
    try {
      // The client verifies the answer field by field against this request (nonce and deadline included).
      const answer = await txBuilder.tpslUpdateIntent(
        { trader: m.trader, pairIndex: Number(m._pairIndex), tradeIndex: Number(m._index), takeProfit: fromRaw('price', m._newTp), stopLoss: fromRaw('price', m._newSl), nonce: m._nonce, deadlineMs: m._deadline },
        signal,
      );
      const local = localIntentOf(intent);
      if (answer.digest !== local.digest) throw new V2IntentMismatchError('digest', `the service's digest ${answer.digest} is not ${local.digest}, computed from the stored message`);
      if (answer.encodedIntent === null || answer.encodedIntent !== local.encodedIntent) throw new V2IntentMismatchError('encodedIntent', 'the service encoded another message than the one stored');
      built = { digest: answer.digest, encodedIntent: answer.encodedIntent };
    } catch (error) {
      if (error instanceof V2IntentMismatchError) {
        logger.error({ admin_alert: true, action_id: intent.actionId, field: error.field, err: error }, 'The v2 tx-builder answered another TP/SL intent than the one asked for; nothing was signed');
        await store.recordTerminal(intent.actionId, 'abandoned', error.message);
      }
      throw error;
    }
    const signature = await deps.signDigest(intent.signer, built.digest);
    return store.recordSigned(intent.actionId, { digest: built.digest, encodedIntent: built.encodedIntent, signature });
  }

  /** PUTs the stored bytes; what the answer proves decides the next record. */
  async function submit(intent: StoredV2Intent, hooks: TpSlHooks): Promise<TpSlOutcome> {
    const sent = await store.recordSubmitted(intent.actionId);
    const m = messageOf(sent);
    const id = globalIdOf(m);
    let answer: unknown;
    try {
      answer = await core.putGlobalTpSl(id.kind, m.trader, Number(m._pairIndex), Number(m._index), sent.encodedIntent!, sent.signature!, hooks.signal);
    } catch (error) {
      // Only a refusal proves the PUT was not taken; anything else (429/5xx, no answer, an
      // unreadable 2xx) leaves it submitted, and the same bytes go again next time.
      if (!(error instanceof V2ServiceError) || error.retryable) throw error;
      if (sent.submissions > 1) return refusedResubmission(sent, error);
      await store.recordTerminal(sent.actionId, 'rejected', error.message);
      return { outcome: 'rejected', actionId: sent.actionId, detail: (await store.find(sent.actionId))?.detail ?? error.message };
    }
    const accepted = await store.recordAccepted(sent.actionId, trackingIdOf(id.globalId, sent.digest!));
    await store.recordEvent(sent.actionId, { seq: 1, type: ACCEPTED_EVENT, payload: { globalId: id.globalId, answer: clip(answer) } });
    return confirm(accepted, hooks);
  }

  /** A resubmission refused: the nonce on chain tells whether an earlier copy ran. */
  async function refusedResubmission(intent: StoredV2Intent, error: V2ServiceError): Promise<TpSlOutcome> {
    if (!(await deps.nonceUnused(intent.signer, intent.nonce))) {
      const detail = 'executed by an earlier submission of the same signed intent (its nonce is spent on chain)';
      await store.recordTerminal(intent.actionId, 'executed', detail);
      return { outcome: 'executed', actionId: intent.actionId, globalId: globalIdOf(messageOf(intent)).globalId, seen: null, detail };
    }
    throw new V2TpSlOutcomeUnknownError(intent.actionId, error.message);
  }

  /** Polls `/user-data` until the position shows the signed levels (or, past the deadline, ends it failed). */
  async function confirm(intent: StoredV2Intent, hooks: TpSlHooks): Promise<TpSlOutcome> {
    const m = messageOf(intent);
    const { globalId } = globalIdOf(m);
    const until = now() + forMs;
    for (;;) {
      const data = await core.userData(m.trader, hooks.signal);
      const position = data.positions.find((p) => sameUint(p['pairIndex'], m._pairIndex) && sameUint(p['index'], m._index)) ?? null;
      const seen = position === null ? null : { tp: String(position['tp']), sl: String(position['sl']) };
      if (seen !== null && sameUint(seen.sl, m._newSl) && (m._newTp === 0n || sameUint(seen.tp, m._newTp))) {
        const detail = `the position shows tp ${seen.tp}, sl ${seen.sl} on /user-data`;
        await store.recordEvent(intent.actionId, { seq: 2, type: CONFIRMED_EVENT, payload: { globalId, ...seen } }, 'executed');
        return { outcome: 'executed', actionId: intent.actionId, globalId, seen, detail };
      }
      const shows = seen === null ? 'the position is not listed' : `it shows tp ${seen.tp}, sl ${seen.sl}`;
      if (BigInt(Math.floor(now())) > m._deadline + graceMs) {
        const detail = `accepted, but /user-data never showed tp ${m._newTp}, sl ${m._newSl} before the deadline passed (${shows})`;
        logger.warn({ action_id: intent.actionId, global_id: globalId }, 'An accepted v2 TP/SL update never showed on the position');
        await store.recordEvent(intent.actionId, { seq: 2, type: NOT_SEEN_EVENT, payload: { globalId, seen } }, 'failed');
        return { outcome: 'failed', actionId: intent.actionId, detail };
      }
      if (now() + intervalMs > until) throw new V2TpSlNotVisibleError(intent.actionId, shows);
      await sleep(intervalMs, hooks.signal);
    }
  }

  async function continueFrom(intent: StoredV2Intent, next: V2NextStep, hooks: TpSlHooks): Promise<TpSlOutcome> {
    switch (next) {
      case 'sign':
        return submit(await sign(intent, hooks.signal), hooks);
      case 'submit':
      case 'resubmit':
        return submit(intent, hooks);
      case 'replay':
        return confirm(intent, hooks);
      case 'expire': {
        await store.expire(intent.actionId);
        return { outcome: 'expired', actionId: intent.actionId, detail: 'the signed TP/SL update expired before it was sent; nothing was changed' };
      }
      case 'reconcile': {
        if (await deps.nonceUnused(intent.signer, intent.nonce)) {
          await store.expire(intent.actionId, { nonceUnusedOnChain: true });
          return { outcome: 'expired', actionId: intent.actionId, detail: 'the signed TP/SL update expired; its nonce is unused on chain, so it never ran' };
        }
        const detail = 'its nonce is spent on chain: the update ran';
        await store.recordTerminal(intent.actionId, 'executed', detail);
        return { outcome: 'executed', actionId: intent.actionId, globalId: globalIdOf(messageOf(intent)).globalId, seen: null, detail };
      }
    }
  }

  async function resume(actionId: string, hooks: TpSlHooks = {}): Promise<TpSlOutcome | null> {
    const step = await store.step(actionId);
    if (!step) return null;
    messageOf(step.intent); // refuses an action of another kind before anything is done with it
    if (step.next === null) return endedOutcome(step.intent, await store.events(actionId));
    return continueFrom(step.intent, step.next, hooks);
  }

  return {
    async update(action, hooks = {}) {
      // An action started before is continued as stored; the store refuses another message under the same id.
      if ((await store.find(action.actionId)) === null) await reserve(action, await txBuilder.meta(hooks.signal));
      return (await resume(action.actionId, hooks))!;
    },
    resume,
    started: async (actionId) => (await store.find(actionId)) !== null,
  };
}

function messageOf(intent: StoredV2Intent): IntentMessage<'UpdateTpSlReq'> {
  if (intent.primaryType !== 'UpdateTpSlReq') throw new V2Error('BAD_INPUT', 'V2_BAD_REQUEST', `Action ${intent.actionId} is a ${intent.primaryType}, not a whole-position TP/SL update: it does not go through the core API.`);
  return intent.message;
}

/**
 * The position's global trigger id (§9.2), from the stored message, the trader checksummed as
 * CoreApiClient writes it in the path. See the file comment for the `tp|sl` choice.
 */
export function globalIdOf(m: IntentMessage<'UpdateTpSlReq'>): { readonly kind: 'tp' | 'sl'; readonly globalId: string } {
  const kind = m._newTp === 0n ? 'sl' : 'tp';
  return { kind, globalId: `global-${kind}-${getAddress(m.trader)}-${m._pairIndex}-${m._index}` };
}

function trackingIdOf(globalId: string, digest: Hex): string {
  return `core:${globalId}:${digest}`;
}

function sameUint(value: unknown, expected: bigint): boolean {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value) === expected;
  return typeof value === 'string' && /^[0-9]{1,78}$/.test(value) && BigInt(value) === expected;
}

/** The PUT's answer, kept small enough to store (its shape is unpublished). */
function clip(answer: unknown): unknown {
  let text: string;
  try {
    text = JSON.stringify(answer ?? null);
  } catch {
    return null;
  }
  return text.length <= 2_000 ? answer : { truncated: shortText(text, 500) };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The outcome of an action that had already ended (a second call with the same id sends nothing). */
function endedOutcome(intent: StoredV2Intent, events: readonly StoredV2Event[]): TpSlOutcome {
  const detail = intent.detail ?? '';
  switch (intent.status) {
    case 'executed': {
      const confirmed = events.find((e) => e.type === CONFIRMED_EVENT)?.payload as { tp?: unknown; sl?: unknown } | undefined;
      const seen = confirmed === undefined ? null : { tp: String(confirmed.tp), sl: String(confirmed.sl) };
      return { outcome: 'executed', actionId: intent.actionId, globalId: globalIdOf(messageOf(intent)).globalId, seen, detail: detail || (seen === null ? 'executed' : `the position showed tp ${seen.tp}, sl ${seen.sl} on /user-data`) };
    }
    case 'failed':
    case 'rejected':
    case 'expired':
    case 'abandoned':
      return { outcome: intent.status, actionId: intent.actionId, detail };
    default:
      // 'canceled' is a batched-market outcome; a TP/SL update never ends so.
      return { outcome: 'failed', actionId: intent.actionId, detail: `${intent.status}: ${detail}` };
  }
}
