/**
 * The durable Avantis v2 intent store (ADR 0016): it owns one action's intent (an order step,
 * keyed by a caller-given action id such as the order id) from "decided" to "terminal", so that a
 * process killed at any instant never signs one action twice with two nonces, never re-signs,
 * and never resends an order the service has accepted.
 *
 *   reserve ──► reserved ──recordSigned──► signed ──recordSubmitted──► submitted ──recordAccepted──► accepted
 *                  │                         │                           │  ▲  (re-submit: same bytes)   │
 *                  ├─ expire / abandon       ├─ expire / abandon         │  └────────┘                   ├─ recordEvent(…, terminal)
 *                  ▼                         ▼                           ├─ rejected (HTTP 400)          ▼
 *               expired | abandoned      expired | abandoned             └─ expire (proof: nonce unused) executed | canceled | failed
 *
 * - The nonce (random, 256 bits) and the deadline are drawn once, at reservation, and stored with
 *   the whole message; reserving the same action again returns them unchanged. `(signer, nonce)`
 *   is unique over every row ever written, so no nonce serves two actions.
 * - The signed bytes are stored (and checked: digest, encoding, recovered signer) before
 *   anything is sent; a second, different signature is refused.
 * - `recordSubmitted` is written BEFORE each POST: `signed` means the bytes never left the
 *   process, `submitted` means they may have.
 * - Every write is fenced by the engine lease, in the same statement (src/infra/db/fence.ts), as
 *   the transaction outbox's are: a stale owner changes nothing and gets FencedError.
 */
import { recoverAddress, type Address, type Hex } from 'viem';
import { BadInputError, VantaError } from '../../../errors.ts';
import type { Database } from '../../db/database.ts';
import { fencedWrite, LEASE_HELD, type Fence } from '../../db/fence.ts';
import { IntentStoreError } from './intent-store-errors.ts';
import { INTENT_TYPES, isIntentPrimaryType, type IntentPrimaryType, type IntentStructType } from './intent-types.ts';
import { prepareIntent, randomNonce, type IntentDomain, type IntentMessage, type LocalIntent } from './intents.ts';
import { MAX_INT256, MAX_UINT256, MIN_INT256 } from './units.ts';

export type V2ActionStatus = 'reserved' | 'signed' | 'submitted' | 'accepted' | V2Outcome;
/** How an action ended. */
export type V2Outcome = 'executed' | 'canceled' | 'failed' | 'rejected' | 'expired' | 'abandoned';
export const OPEN_STATUSES: readonly V2ActionStatus[] = ['reserved', 'signed', 'submitted', 'accepted'];

/**
 * What recovery does with a non-terminal action:
 * - `sign`: nothing was signed; sign the STORED message (same nonce; RFC 6979 gives the same bytes).
 * - `submit`: signed, never sent; submit the stored bytes.
 * - `resubmit`: sent, no tracking id came back; submit the SAME stored bytes again. They can be
 *   executed at most once (one nonce), but an error answer to the resubmission proves nothing
 *   about the first copy: reconcile with the trader's positions before calling it failed.
 * - `replay`: accepted; read the stream again by tracking id after `lastSeq`. Never resend.
 * - `expire`: its deadline (plus the clock margin) passed and the bytes never left: call expire().
 * - `reconcile`: its deadline passed but the bytes may have reached the service: check the
 *   signer's on-chain nonce bitmap; unused → expire(…, { nonceUnusedOnChain: true }), used →
 *   recordTerminal('executed').
 */
export type V2NextStep = 'sign' | 'submit' | 'resubmit' | 'replay' | 'expire' | 'reconcile';

export interface StoredV2Intent<P extends IntentPrimaryType = IntentPrimaryType> {
  readonly actionId: string;
  /** Lower case. */
  readonly signer: Address;
  readonly primaryType: P;
  readonly domain: IntentDomain;
  /** The whole message, nonce and deadline included, as it is (or will be) signed. */
  readonly message: IntentMessage<P>;
  readonly nonce: bigint;
  /** Unix ms; null for a kind without a deadline (TpSlReq). */
  readonly deadlineMs: bigint | null;
  readonly status: V2ActionStatus;
  readonly digest: Hex | null;
  readonly encodedIntent: Hex | null;
  readonly signature: Hex | null;
  readonly trackingId: string | null;
  /** The highest stream sequence number stored (the `afterSeq` of a replay), null if none. */
  readonly lastSeq: number | null;
  /** How many times recordSubmitted was called (re-submissions of the same bytes after crashes). */
  readonly submissions: number;
  /** Why it ended (the service's code and message), when it did. */
  readonly detail: string | null;
}

export interface PendingV2Action {
  readonly intent: StoredV2Intent;
  readonly next: V2NextStep;
}

export interface StoredV2Event {
  readonly seq: number;
  readonly type: string;
  readonly payload: unknown;
}

/** The fields that the store decides once, at reservation, and that the caller never passes. */
export const DECIDED_ONCE_FIELDS = ['_nonce', 'nonce', '_deadline', 'deadline', 'signTimestamp'] as const;
type DecidedOnce = (typeof DECIDED_ONCE_FIELDS)[number];

/** A message without its nonce, deadline and (TpSlReq) sign time. */
export type IntentFields<P extends IntentPrimaryType> = Omit<IntentMessage<P>, DecidedOnce>;

export interface ReserveRequest<P extends IntentPrimaryType> {
  readonly actionId: string;
  /** The address whose key will sign (the delegate, or the trader for DelegateReq). */
  readonly signer: Address;
  readonly domain: IntentDomain;
  readonly primaryType: P;
  readonly fields: IntentFields<P>;
  /**
   * How long the intent stays valid, from the first reservation (ignored when the action was
   * reserved before: its stored deadline stands). Required for every kind with a deadline.
   */
  readonly lifetimeMs?: number;
}

export interface SignedIntentBytes {
  readonly digest: Hex;
  readonly encodedIntent: Hex;
  /** 65 bytes r‖s‖v, v = 27 or 28 (§8.6). */
  readonly signature: Hex;
}

export interface StreamEvent {
  /** The SSE `id:` (STREAM_TIMEOUT has none and is not stored). */
  readonly seq: number;
  readonly type: string;
  readonly payload: unknown;
}

export interface IntentStore {
  /** Creates the action's row with a fresh nonce, or returns the stored one unchanged. Fenced. */
  reserve<P extends IntentPrimaryType>(request: ReserveRequest<P>): Promise<StoredV2Intent<P>>;
  /** Stores the signed bytes (before any submission). Idempotent for the same bytes. Fenced. */
  recordSigned(actionId: string, signed: SignedIntentBytes): Promise<StoredV2Intent>;
  /** Written right BEFORE each POST of the stored bytes; returns them. Fenced. */
  recordSubmitted(actionId: string): Promise<StoredV2Intent>;
  /** The service accepted it (`MarketOrderAccepted`). Idempotent for the same id. Fenced. */
  recordAccepted(actionId: string, trackingId: string): Promise<StoredV2Intent>;
  /** Stores one stream event; with `terminal`, ends the action in the same statement. Fenced. */
  recordEvent(actionId: string, event: StreamEvent, terminal?: 'executed' | 'canceled' | 'failed'): Promise<StoredV2Intent>;
  /**
   * Ends the action: `executed` (from submitted or accepted), `canceled`/`failed` (accepted),
   * `rejected` (submitted: refused before acceptance), `abandoned` (reserved or signed: the bytes
   * never left). The same outcome again is a no-op. Fenced.
   */
  recordTerminal(actionId: string, outcome: Exclude<V2Outcome, 'expired'>, detail?: string): Promise<StoredV2Intent>;
  /**
   * Marks an overdue, never-accepted action expired. Its nonce is never reused. A `submitted`
   * action needs proof that its nonce is unused on chain (the service may have it). Fenced.
   */
  expire(actionId: string, proof?: { readonly nonceUnusedOnChain: true }): Promise<StoredV2Intent>;
  find(actionId: string): Promise<StoredV2Intent | null>;
  events(actionId: string): Promise<StoredV2Event[]>;
  /** One action with what recovery does next; `next` is null once it has ended. Null when unknown. */
  step(actionId: string): Promise<{ readonly intent: StoredV2Intent; readonly next: V2NextStep | null } | null>;
  /** Every non-terminal action, oldest first, with what recovery does next. */
  pending(): Promise<PendingV2Action[]>;
}

export interface IntentStoreOptions {
  /** Unix ms now (tests move it). */
  readonly now?: () => number;
  /** A fresh 256-bit nonce (tests force collisions). */
  readonly nonce?: () => bigint;
  /**
   * How long after its deadline an action counts as overdue. Our clock and the block timestamp
   * differ, and the contract checks `deadline / 1000 >= block.timestamp`: an intent a little past
   * our deadline may still be executable. Default 2 minutes.
   */
  readonly deadlineMarginMs?: number;
}

/** Random draws before giving up on finding an unused nonce (a collision is ~2⁻²⁵⁶ per pair). */
const NONCE_DRAWS = 8;
const MAX_LIFETIME_MS = 7 * 24 * 3600 * 1000;
const MAX_ENCODED_BYTES = 16 * 1024;
const MAX_PAYLOAD_CHARS = 64 * 1024;

export function createIntentStore(db: Pick<Database, 'sql'>, fence: Fence, options: IntentStoreOptions = {}): IntentStore {
  const now = options.now ?? Date.now;
  const drawNonce = options.nonce ?? (() => randomNonce());
  const margin = BigInt(options.deadlineMarginMs ?? 120_000);
  const fenced = (what: string, ctes: string, params: readonly unknown[]) => fencedWrite(db, fence, what, ctes, params);
  const HELD = LEASE_HELD;

  async function find(actionId: string): Promise<StoredV2Intent | null> {
    const rows = await db.sql<Row>(`select ${COLUMNS} from v2_intents where action_id = ?`, [actionId]);
    return rows[0] ? toIntent(rows[0]) : null;
  }

  async function existing(actionId: string): Promise<StoredV2Intent> {
    const found = await find(actionId);
    if (!found) throw new IntentStoreError('V2_ACTION_UNKNOWN', actionId, `No v2 action ${actionId} is stored: it was never reserved. Nothing was written.`);
    return found;
  }

  function overdue(intent: StoredV2Intent): boolean {
    return intent.deadlineMs !== null && BigInt(Math.floor(now())) > intent.deadlineMs + margin;
  }

  function stateError(intent: StoredV2Intent, step: string, why: string): IntentStoreError {
    return new IntentStoreError('V2_ACTION_STATE', intent.actionId, `Cannot ${step} v2 action ${intent.actionId}: it is ${intent.status}. ${why} Nothing was written.`, { status: intent.status });
  }

  return {
    async reserve<P extends IntentPrimaryType>(request: ReserveRequest<P>): Promise<StoredV2Intent<P>> {
      const { actionId, primaryType } = request;
      checkActionId(actionId);
      if (!isIntentPrimaryType(primaryType)) throw new BadInputError(`Unknown v2 intent kind ${String(primaryType).slice(0, 60)}.`);
      const shape = shapeOf(primaryType);
      const signer = checkAddress('signer', request.signer);
      const domain = checkDomain(request.domain);
      const fields = serialiseFields(primaryType, request.fields);
      if (shape.deadline !== null && (!Number.isSafeInteger(request.lifetimeMs) || request.lifetimeMs! <= 0 || request.lifetimeMs! > MAX_LIFETIME_MS)) {
        throw new BadInputError(`A ${primaryType} needs a lifetime in milliseconds between 1 and ${MAX_LIFETIME_MS}.`, { field: 'lifetimeMs' });
      }
      const check = (stored: StoredV2Intent): StoredV2Intent<P> => {
        const differs: string[] = [];
        if (stored.signer !== signer) differs.push('signer');
        if (stored.primaryType !== primaryType) differs.push('kind');
        if (JSON.stringify(checkDomain(stored.domain)) !== JSON.stringify(domain)) differs.push('domain');
        else if (stored.primaryType === primaryType && JSON.stringify(withoutDecided(serialiseFields(primaryType, stored.message, true))) !== JSON.stringify(fields)) differs.push('message');
        if (differs.length) {
          throw new IntentStoreError(
            'V2_ACTION_CONFLICT',
            actionId,
            `v2 action ${actionId} was reserved before with another ${differs.join(', ')}: one action id is one intent. Nothing was written; the stored intent stands (use a new action id for a new decision).`,
            { differs: differs.join(',') },
          );
        }
        return stored as unknown as StoredV2Intent<P>;
      };
      const before = await find(actionId);
      if (before) return check(before);
      for (let draw = 0; draw < NONCE_DRAWS; draw++) {
        const nonce = drawNonce();
        if (typeof nonce !== 'bigint' || nonce < 0n || nonce > MAX_UINT256) throw new BadInputError('The nonce source gave something that is not a 256-bit unsigned integer.');
        const at = BigInt(Math.floor(now()));
        const deadlineMs = shape.deadline === null ? null : at + BigInt(request.lifetimeMs!);
        const message: Record<string, unknown> = { ...fields, [shape.nonce]: nonce.toString() };
        if (shape.deadline !== null) message[shape.deadline] = deadlineMs!.toString();
        if (shape.signTimestamp) message['signTimestamp'] = at.toString();
        // Proves the whole message signs and encodes before anything is stored.
        const full = deserialise(primaryType, message);
        try {
          prepareIntent(domain, primaryType, full as IntentMessage<P>);
        } catch (err) {
          if (err instanceof VantaError) throw err;
          throw new BadInputError(`The ${primaryType} for ${actionId} cannot be encoded: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
        }
        const inserted = await fenced(
          `reserve a v2 nonce for ${actionId}`,
          `w as (
             insert into v2_intents (action_id, signer, primary_type, domain, message, nonce, deadline_ms, status)
             select ?::text, ?::text, ?::text, ?::jsonb, ?::jsonb, ?::numeric, ?::bigint, 'reserved' where ${HELD}
             on conflict do nothing returning action_id
           )`,
          [actionId, signer, primaryType, JSON.stringify(domain), JSON.stringify(serialiseFields(primaryType, full, true)), nonce.toString(), deadlineMs?.toString() ?? null],
        );
        // Inserted, or another connection reserved this action first (its row stands), or the
        // nonce is taken by another action: draw again.
        const stored = await find(actionId);
        if (stored) return inserted === 1 ? (stored as unknown as StoredV2Intent<P>) : check(stored);
      }
      throw new IntentStoreError('V2_NONCE_EXHAUSTED', actionId, `No unused nonce for v2 action ${actionId} after ${NONCE_DRAWS} random draws: the random source is broken. Nothing was written; do not trade until it is fixed.`);
    },

    async recordSigned(actionId, signed) {
      checkActionId(actionId);
      const digest = checkHex('digest', signed?.digest, 32);
      const encodedIntent = checkHex('encodedIntent', signed?.encodedIntent);
      if ((encodedIntent.length - 2) / 2 > MAX_ENCODED_BYTES) throw new BadInputError(`An encoded intent is at most ${MAX_ENCODED_BYTES} bytes.`, { field: 'encodedIntent' });
      const signature = checkHex('signature', signed?.signature, 65);
      if (!/(1b|1c)$/.test(signature)) throw new BadInputError('A v2 intent signature ends with v = 27 or 28 (0x1b or 0x1c).', { field: 'signature' });
      const same = (i: StoredV2Intent) => i.signature === signature && i.digest === digest && i.encodedIntent === encodedIntent;
      const settle = (i: StoredV2Intent): StoredV2Intent => {
        if (same(i)) return i;
        throw new IntentStoreError(
          'V2_INTENT_RESIGNED',
          actionId,
          `v2 action ${actionId} is already signed with other bytes: an action is signed once and its stored bytes are re-submitted, never re-signed. Nothing was written; recovery must use the stored signature.`,
        );
      };
      const intent = await existing(actionId);
      if (intent.signature !== null) return settle(intent);
      if (intent.status !== 'reserved') throw stateError(intent, 'store a signature for', 'It ended before it was signed.');
      const local: LocalIntent = prepareIntent(intent.domain, intent.primaryType, intent.message);
      const problem =
        local.digest.toLowerCase() !== digest ? 'the digest' : local.encodedIntent?.toLowerCase() !== encodedIntent ? 'the encoded intent' : (await recoverSigner(digest, signature)) !== intent.signer ? 'the signer' : null;
      if (problem) {
        throw new IntentStoreError(
          'V2_SIGNATURE_MISMATCH',
          actionId,
          `The signed bytes offered for v2 action ${actionId} do not match its stored intent (${problem} differs): they are not stored and must not be sent.`,
          { field: problem },
        );
      }
      const changed = await fenced(
        `store the signature of ${actionId}`,
        `w as (
           update v2_intents set status = 'signed', digest = ?, encoded_intent = ?, signature = ?, signed_at = now(), updated_at = now()
            where action_id = ? and status = 'reserved' and signature is null and ${HELD} returning action_id
         )`,
        [digest, encodedIntent, signature, actionId],
      );
      const after = await existing(actionId);
      return changed === 1 ? after : settle(after);
    },

    async recordSubmitted(actionId) {
      checkActionId(actionId);
      const changed = await fenced(
        `record the submission of ${actionId}`,
        `w as (
           update v2_intents set status = 'submitted', submissions = submissions + 1, submitted_at = coalesce(submitted_at, now()), updated_at = now()
            where action_id = ? and status in ('signed', 'submitted') and ${HELD} returning action_id
         )`,
        [actionId],
      );
      const intent = await existing(actionId);
      if (changed === 1) return intent;
      if (intent.status === 'reserved') throw stateError(intent, 'submit', 'Nothing is signed yet: sign the stored message first.');
      if (intent.status === 'accepted') throw stateError(intent, 'submit', `The service accepted it (tracking id ${intent.trackingId}): an accepted order is never resent; replay its stream instead.`);
      throw stateError(intent, 'submit', 'It has ended.');
    },

    async recordAccepted(actionId, trackingId) {
      checkActionId(actionId);
      if (typeof trackingId !== 'string' || !/^[\x21-\x7e]{1,200}$/.test(trackingId)) throw new BadInputError('A tracking id is 1–200 printable ASCII characters.', { field: 'trackingId' });
      let changed: number;
      try {
        changed = await fenced(
          `record the acceptance of ${actionId}`,
          `w as (
             update v2_intents set status = 'accepted', tracking_id = ?, accepted_at = now(), updated_at = now()
              where action_id = ? and status = 'submitted' and ${HELD} returning action_id
           )`,
          [trackingId, actionId],
        );
      } catch (err) {
        if ((err as { code?: unknown } | null)?.code === '23505') {
          throw new IntentStoreError('V2_TRACKING_CONFLICT', actionId, `The service gave v2 action ${actionId} tracking id ${trackingId}, which another action already has. Nothing was written; the operator must check both orders.`, {
            trackingId,
          });
        }
        throw err;
      }
      const intent = await existing(actionId);
      if (changed === 1 || intent.trackingId === trackingId) return intent;
      if (intent.trackingId !== null) {
        throw new IntentStoreError(
          'V2_TRACKING_CONFLICT',
          actionId,
          `v2 action ${actionId} was accepted before as ${intent.trackingId}, and now as ${trackingId}: the service accepted one intent twice (only one can execute). Nothing was written; the operator must check the order.`,
          { trackingId, stored: intent.trackingId },
        );
      }
      throw stateError(intent, 'record an acceptance of', intent.status === 'signed' || intent.status === 'reserved' ? 'Record the submission before sending.' : 'It has ended.');
    },

    async recordEvent(actionId, event, terminal) {
      checkActionId(actionId);
      if (!Number.isSafeInteger(event?.seq) || event.seq < 0) throw new BadInputError('A stream event needs its sequence number (the SSE id), a non-negative integer.', { field: 'seq' });
      if (typeof event.type !== 'string' || !/^[\x21-\x7e]{1,100}$/.test(event.type)) throw new BadInputError('A stream event type is 1–100 printable ASCII characters.', { field: 'type' });
      let payload: string;
      try {
        payload = JSON.stringify(event.payload ?? null);
      } catch {
        throw new BadInputError('A stream event payload must be JSON.', { field: 'payload' });
      }
      if (payload.length > MAX_PAYLOAD_CHARS) throw new BadInputError(`A stream event payload is at most ${MAX_PAYLOAD_CHARS} characters.`, { field: 'payload' });
      if (terminal !== undefined && !['executed', 'canceled', 'failed'].includes(terminal)) throw new BadInputError('A stream ends an action as executed, canceled or failed.', { field: 'terminal' });
      const intent = await existing(actionId);
      if (intent.trackingId === null) throw stateError(intent, 'record a stream event for', 'Only an accepted order (with a tracking id) has a stream.');
      if (terminal !== undefined && intent.status !== 'accepted' && intent.status !== terminal) throw stateError(intent, `end as ${terminal}`, 'It has ended otherwise.');
      const prior = await db.sql<{ same: boolean }>('select type = ? and payload = ?::jsonb as same from v2_intent_events where action_id = ? and seq = ?', [event.type, payload, actionId, event.seq]);
      if (prior[0] && !prior[0].same) {
        throw new IntentStoreError('V2_EVENT_CONFLICT', actionId, `Stream event ${event.seq} of v2 action ${actionId} arrived again with other content. Nothing was written; the stored one stands.`, { seq: event.seq });
      }
      await fenced(
        `record stream event ${event.seq} of ${actionId}`,
        `ev as (
           insert into v2_intent_events (action_id, seq, type, payload) select ?::text, ?::bigint, ?::text, ?::jsonb where ${HELD}
           on conflict do nothing returning seq
         ),
         w as (
           update v2_intents set last_seq = greatest(coalesce(last_seq, 0), ?::bigint),
                  status = case when status = 'accepted' then coalesce(?::text, status) else status end,
                  ended_at = case when status = 'accepted' and ?::text is not null then now() else ended_at end,
                  updated_at = now()
            where action_id = ? and tracking_id is not null and ${HELD} returning action_id
         )`,
        [actionId, event.seq, event.type, payload, event.seq, terminal ?? null, terminal ?? null, actionId],
      );
      return existing(actionId);
    },

    async recordTerminal(actionId, outcome, detail) {
      checkActionId(actionId);
      const from: Record<Exclude<V2Outcome, 'expired'>, readonly V2ActionStatus[]> = {
        executed: ['submitted', 'accepted'],
        canceled: ['accepted'],
        failed: ['accepted'],
        rejected: ['submitted'],
        abandoned: ['reserved', 'signed'],
      };
      const allowed = from[outcome];
      if (!allowed) throw new BadInputError('An action ends as executed, canceled, failed, rejected or abandoned (expiry goes through expire()).', { field: 'outcome' });
      const text = detail === undefined ? null : cleanDetail(detail);
      const changed = await fenced(
        `record ${actionId} as ${outcome}`,
        `w as (
           update v2_intents set status = ?, detail = coalesce(?, detail), ended_at = now(), updated_at = now()
            where action_id = ? and status in (select jsonb_array_elements_text(?::jsonb)) and ${HELD} returning action_id
         )`,
        [outcome, text, actionId, JSON.stringify(allowed)],
      );
      const intent = await existing(actionId);
      if (changed === 1 || intent.status === outcome) return intent;
      throw stateError(intent, `end as ${outcome}`, `Only an action that is ${allowed.join(' or ')} can end ${outcome}.`);
    },

    async expire(actionId, proof) {
      checkActionId(actionId);
      const intent = await existing(actionId);
      if (intent.status === 'expired') return intent;
      if (intent.status === 'submitted' && proof?.nonceUnusedOnChain !== true) {
        throw stateError(intent, 'expire', "Its bytes may have reached the service: expire it only after the signer's on-chain nonce bitmap shows the nonce unused.");
      }
      if (!['reserved', 'signed', 'submitted'].includes(intent.status)) throw stateError(intent, 'expire', 'Only an action the service never accepted can expire.');
      if (!overdue(intent)) {
        throw new IntentStoreError('V2_NOT_EXPIRED', actionId, `v2 action ${actionId} is not overdue yet (deadline ${intent.deadlineMs ?? 'none'} ms + ${margin} ms margin): it may still execute. Nothing was written.`);
      }
      const changed = await fenced(
        `record ${actionId} as expired`,
        `w as (
           update v2_intents set status = 'expired', detail = coalesce(detail, 'deadline passed before the service accepted it'), ended_at = now(), updated_at = now()
            where action_id = ? and status = ? and ${HELD} returning action_id
         )`,
        [actionId, intent.status],
      );
      const after = await existing(actionId);
      if (changed === 1 || after.status === 'expired') return after;
      throw stateError(after, 'expire', 'It moved on meanwhile.');
    },

    find: (actionId) => find(actionId),

    async events(actionId) {
      const rows = await db.sql<{ seq: string | number; type: string; payload: unknown }>('select seq, type, payload from v2_intent_events where action_id = ? order by seq', [actionId]);
      return rows.map((r) => ({ seq: Number(r.seq), type: r.type, payload: r.payload }));
    },

    async step(actionId) {
      checkActionId(actionId);
      const intent = await find(actionId);
      if (!intent) return null;
      return { intent, next: OPEN_STATUSES.includes(intent.status) ? nextStep(intent, overdue(intent)) : null };
    },

    async pending() {
      const rows = await db.sql<Row>(`select ${COLUMNS} from v2_intents where status in ('reserved', 'signed', 'submitted', 'accepted') order by created_at, action_id`);
      return rows.map((row) => {
        const intent = toIntent(row);
        return { intent, next: nextStep(intent, overdue(intent)) };
      });
    },
  };
}

/** What recovery does with a non-terminal action (see V2NextStep); `late` = past its deadline and the margin. */
function nextStep(intent: StoredV2Intent, late: boolean): V2NextStep {
  if (intent.status === 'accepted') return 'replay';
  if (intent.status === 'submitted') return late ? 'reconcile' : 'resubmit';
  if (late) return 'expire';
  return intent.status === 'signed' ? 'submit' : 'sign';
}

/** The stored intent as viem's signTypedData and the batched-market body need it. */
export function localIntentOf<P extends IntentPrimaryType>(intent: StoredV2Intent<P>): LocalIntent<P> {
  return prepareIntent(intent.domain, intent.primaryType, intent.message);
}

// ————— rows —————

interface Row {
  action_id: string;
  signer: string;
  primary_type: string;
  domain: IntentDomain;
  message: Record<string, unknown>;
  nonce: string;
  deadline_ms: string | number | null;
  status: V2ActionStatus;
  digest: string | null;
  encoded_intent: string | null;
  signature: string | null;
  tracking_id: string | null;
  last_seq: string | number | null;
  submissions: number;
  detail: string | null;
}

const COLUMNS = 'action_id, signer, primary_type, domain, message, nonce::text as nonce, deadline_ms, status, digest, encoded_intent, signature, tracking_id, last_seq, submissions, detail';

function toIntent(row: Row): StoredV2Intent {
  if (!isIntentPrimaryType(row.primary_type)) throw new VantaError('INTERNAL', `v2 action ${row.action_id} has an unknown kind ${row.primary_type} in the database.`);
  return {
    actionId: row.action_id,
    signer: row.signer as Address,
    primaryType: row.primary_type,
    domain: row.domain,
    message: deserialise(row.primary_type, row.message) as IntentMessage<IntentPrimaryType>,
    nonce: BigInt(row.nonce),
    deadlineMs: row.deadline_ms === null ? null : BigInt(row.deadline_ms),
    status: row.status,
    digest: row.digest as Hex | null,
    encodedIntent: row.encoded_intent as Hex | null,
    signature: row.signature as Hex | null,
    trackingId: row.tracking_id,
    lastSeq: row.last_seq === null ? null : Number(row.last_seq),
    submissions: Number(row.submissions),
    detail: row.detail,
  };
}

// ————— messages: bigints as decimal strings, addresses and bytes in lower case, fields in typed order —————

interface Shape {
  readonly nonce: string;
  readonly deadline: string | null;
  readonly signTimestamp: boolean;
}

function shapeOf(primaryType: IntentPrimaryType): Shape {
  const names = (INTENT_TYPES[primaryType] as readonly { readonly name: string }[]).map((f) => f.name);
  const nonce = names.find((n) => n === '_nonce' || n === 'nonce');
  if (nonce === undefined) throw new BadInputError(`A ${primaryType} has no nonce: it is not an intent the store keeps.`);
  return { nonce, deadline: names.find((n) => n === '_deadline' || n === 'deadline') ?? null, signTimestamp: names.includes('signTimestamp') };
}

type Field = { readonly name: string; readonly type: string };

function withoutDecided(message: Record<string, unknown>): Record<string, unknown> {
  const decided = new Set<string>(DECIDED_ONCE_FIELDS);
  return Object.fromEntries(Object.entries(message).filter(([k]) => !decided.has(k)));
}

/**
 * The caller's fields (no decided-once field) or, with `full`, a whole message, checked against
 * the type and turned into JSON. Anything missing, extra or of the wrong type is refused.
 */
function serialiseFields(primaryType: IntentPrimaryType, value: unknown, full = false): Record<string, unknown> {
  const decided = new Set<string>(DECIDED_ONCE_FIELDS);
  const walk = (type: IntentStructType, v: unknown, path: string, top: boolean): Record<string, unknown> => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new BadInputError(`Intent field ${path || type} must be an object.`, { field: path || type });
    const fields = (INTENT_TYPES[type] as readonly Field[]).filter((f) => full || !top || !decided.has(f.name));
    const given = v as Record<string, unknown>;
    const extra = Object.keys(given).filter((k) => !fields.some((f) => f.name === k));
    if (extra.length) throw new BadInputError(`Intent ${type} has no field ${extra[0]!.slice(0, 40)}${top && !full && decided.has(extra[0]!) ? ' to give: the store decides it' : ''}.`, { field: extra[0]!.slice(0, 40) });
    const out: Record<string, unknown> = {};
    for (const f of fields) out[f.name] = leaf(f, given[f.name], path ? `${path}.${f.name}` : f.name, (t, x, p) => walk(t, x, p, false));
    return out;
  };
  return walk(primaryType, value, '', true);
}

function leaf(f: Field, v: unknown, path: string, nested: (type: IntentStructType, v: unknown, path: string) => unknown): unknown {
  const bad = (expected: string): never => {
    throw new BadInputError(`Intent field ${path} must be ${expected}.`, { field: path });
  };
  if (Object.hasOwn(INTENT_TYPES, f.type)) return nested(f.type as IntentStructType, v, path);
  switch (f.type) {
    case 'address':
      return typeof v === 'string' && /^0x[0-9a-fA-F]{40}$/.test(v) ? v.toLowerCase() : bad('a 20-byte hex address');
    case 'bool':
      return typeof v === 'boolean' ? v : bad('true or false');
    case 'string':
      return typeof v === 'string' && v.length <= 2000 ? v : bad('a string of at most 2000 characters');
    case 'bytes32':
      return typeof v === 'string' && /^0x[0-9a-fA-F]{64}$/.test(v) ? v.toLowerCase() : bad('32 bytes of hex');
    case 'int256':
      return typeof v === 'bigint' && v >= MIN_INT256 && v <= MAX_INT256 ? v.toString() : bad('a signed 256-bit integer (bigint)');
    case 'uint8':
      return typeof v === 'bigint' && v >= 0n && v <= 255n ? v.toString() : bad('an unsigned 8-bit integer (bigint)');
    case 'uint256':
      return typeof v === 'bigint' && v >= 0n && v <= MAX_UINT256 ? v.toString() : bad('an unsigned 256-bit integer (bigint)');
    default:
      return bad(`of a type the store does not know (${f.type})`);
  }
}

/** JSON (as stored) → a message with bigints, in typed field order. */
function deserialise(type: IntentStructType, json: unknown): Record<string, unknown> {
  const src = json as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const f of INTENT_TYPES[type] as readonly Field[]) {
    const v = src[f.name];
    if (Object.hasOwn(INTENT_TYPES, f.type)) out[f.name] = deserialise(f.type as IntentStructType, v);
    else if (/^u?int\d+$/.test(f.type)) out[f.name] = BigInt(v as string);
    else out[f.name] = v;
  }
  return out;
}

// ————— input checks —————

function checkActionId(actionId: unknown): asserts actionId is string {
  if (typeof actionId !== 'string' || !/^[\x21-\x7e]{1,200}$/.test(actionId)) throw new BadInputError('An action id is 1–200 printable ASCII characters.', { field: 'actionId' });
}

function checkAddress(name: string, value: unknown): Address {
  if (typeof value !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(value)) throw new BadInputError(`${name} must be a 20-byte hex address.`, { field: name });
  return value.toLowerCase() as Address;
}

function checkHex(name: string, value: unknown, bytes?: number): Hex {
  const ok = typeof value === 'string' && /^0x([0-9a-fA-F]{2})+$/.test(value) && (bytes === undefined || value.length === 2 + 2 * bytes);
  if (!ok) throw new BadInputError(`${name} must be ${bytes === undefined ? 'non-empty hex bytes' : `exactly ${bytes} bytes of hex`}.`, { field: name });
  return value.toLowerCase() as Hex;
}

function checkDomain(domain: unknown): IntentDomain {
  const d = domain as Partial<IntentDomain> | null;
  if (d === null || typeof d !== 'object') throw new BadInputError('An intent domain is an object.', { field: 'domain' });
  if (typeof d.name !== 'string' || typeof d.version !== 'string' || d.name.length > 100 || d.version.length > 100) throw new BadInputError('An intent domain has a name and a version.', { field: 'domain' });
  if (!Number.isSafeInteger(d.chainId) || d.chainId! <= 0) throw new BadInputError('An intent domain has a positive chain id.', { field: 'domain.chainId' });
  return { name: d.name, version: d.version, chainId: d.chainId!, verifyingContract: checkAddress('domain.verifyingContract', d.verifyingContract) };
}

async function recoverSigner(digest: Hex, signature: Hex): Promise<string | null> {
  try {
    return (await recoverAddress({ hash: digest, signature })).toLowerCase();
  } catch {
    return null;
  }
}

function cleanDetail(detail: unknown): string {
  const text = typeof detail === 'string' ? detail : String(detail);
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
  return clean.length > 500 ? `${clean.slice(0, 499)}…` : clean;
}
