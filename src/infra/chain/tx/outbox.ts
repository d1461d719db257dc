import type { Address, Hex } from 'viem';
import { FencedError } from '../../../errors.ts';
import type { Database } from '../../db/database.ts';
import { fencedWrite, LEASE_HELD, type Fence } from '../../db/fence.ts';

/** SQL for the transaction outbox (see the tx_outbox and tx_attempt_fate migrations for the why). */

export type IntentStatus = 'reserved' | 'signed' | 'broadcast' | 'mined' | 'reverted' | 'superseded' | 'rejected';

/** The statuses after which nothing more happens to an intent. */
export const FINAL_STATUSES: readonly IntentStatus[] = ['mined', 'reverted', 'superseded', 'rejected'];

/**
 * An attempt's own fate: `signed` (stored, no node acknowledged it yet), `sent` (a node accepted
 * it, already had it, or said its nonce is used: receipts decide), `refused` (a node refused it
 * the first time it was offered; never offered again, though its receipt is still looked for).
 */
export type AttemptStatus = 'signed' | 'sent' | 'refused';

export interface TxIntent {
  readonly id: string;
  readonly userId: string;
  readonly wallet: Address;
  readonly chainId: number;
  readonly nonce: number;
  readonly kind: string;
  readonly to: Address;
  readonly data: Hex;
  readonly value: bigint;
  readonly gasLimit: bigint;
  readonly status: IntentStatus;
  readonly minedHash: Hex | null;
  readonly blockNumber: bigint | null;
  readonly error: string | null;
}

/** A signed transaction for an intent, as it is stored before it is broadcast. */
export interface SignedAttempt {
  readonly hash: Hex;
  readonly raw: Hex;
  readonly maxFeePerGas: bigint;
  readonly maxPriorityFeePerGas: bigint;
}

export interface TxAttempt extends SignedAttempt {
  readonly status: AttemptStatus;
  /** Why a node refused it (the node's words, never an RPC URL). */
  readonly error: string | null;
}

interface IntentRow {
  id: string;
  user_id: string;
  wallet: string;
  chain_id: number;
  nonce: string | number;
  kind: string;
  to_address: string;
  data: string;
  value: string;
  gas_limit: string;
  status: IntentStatus;
  mined_hash: string | null;
  block_number: string | number | null;
  error: string | null;
}

const INTENT_COLUMNS = 'id, user_id, wallet, chain_id, nonce, kind, to_address, data, value, gas_limit, status, mined_hash, block_number, error';

function toIntent(row: IntentRow): TxIntent {
  return {
    id: row.id,
    userId: row.user_id,
    wallet: row.wallet as Address,
    chainId: Number(row.chain_id),
    nonce: Number(row.nonce),
    kind: row.kind,
    to: row.to_address as Address,
    data: row.data as Hex,
    value: BigInt(row.value),
    gasLimit: BigInt(row.gas_limit),
    status: row.status,
    minedHash: row.mined_hash as Hex | null,
    blockNumber: row.block_number === null ? null : BigInt(row.block_number),
    error: row.error,
  };
}

export interface Outbox {
  find(id: string): Promise<TxIntent | null>;
  /** Intents not yet final, oldest nonce first. */
  open(): Promise<TxIntent[]>;
  /** This wallet's intents not yet final, oldest nonce first. */
  inFlight(wallet: Address): Promise<TxIntent[]>;
  /** The next nonce this wallet has not used in a live intent (0 if none). */
  nextLocalNonce(wallet: Address, chainId: number): Promise<number>;
  /** Reserves a nonce; false when another intent took it first (unique index). Fenced. */
  reserve(intent: Omit<TxIntent, 'status' | 'minedHash' | 'blockNumber' | 'error'>): Promise<boolean>;
  /** Drops a reservation that was never signed (nothing left the process). Fenced. */
  release(id: string): Promise<void>;
  /**
   * Stores a signed attempt (status `signed`) and marks the intent signed, atomically. False when
   * these very bytes are already stored for another intent (one transaction serves one intent);
   * storing them again for the same intent is a no-op that answers true. Fenced.
   */
  addAttempt(id: string, attempt: SignedAttempt): Promise<boolean>;
  /** Every attempt of the intent, oldest first. */
  attempts(id: string): Promise<TxAttempt[]>;
  /** A node acknowledged the attempt: it becomes `sent`, and the intent `broadcast`. Fenced. */
  markSent(id: string, hash: Hex): Promise<void>;
  /**
   * A node refused an attempt that no node had acknowledged: it becomes `refused`. If no other
   * attempt of the intent was ever acknowledged, the intent ends `rejected` in the same
   * statement (answer: 'rejected'); otherwise it stays open ('refused'). Fenced.
   */
  refuse(id: string, hash: Hex, reason: string): Promise<'refused' | 'rejected'>;
  /** Ends an open intent (mined, reverted, superseded); a final intent is left as it is. Fenced. */
  setStatus(id: string, status: 'mined' | 'reverted' | 'superseded', fields?: { minedHash?: Hex; blockNumber?: bigint; error?: string }): Promise<void>;
  /** The intent that stored an attempt with this hash, if any. */
  intentOfAttempt(hash: Hex): Promise<string | null>;
  /** Throws FencedError unless this engine still holds the lease (checked right before a broadcast). */
  assertHeld(what: string): Promise<void>;
}

/**
 * `fence` guards every write (DESIGN.md "One owner at a time"): each statement writes only while
 * the lease it names is held, and says whether it was; a refused write throws FencedError having
 * changed nothing. The embedded database passes OWNED_OUTRIGHT.
 */
export function createOutbox(db: Database, fence: Fence): Outbox {
  const fenced = (what: string, ctes: string, params: readonly unknown[]) => fencedWrite(db, fence, what, ctes, params);
  const HELD = LEASE_HELD;

  return {
    async find(id) {
      const rows = await db.sql<IntentRow>(`select ${INTENT_COLUMNS} from tx_intents where id = ?`, [id]);
      return rows[0] ? toIntent(rows[0]) : null;
    },
    async open() {
      const rows = await db.sql<IntentRow>(`select ${INTENT_COLUMNS} from tx_intents where status in ('reserved', 'signed', 'broadcast') order by wallet, nonce`);
      return rows.map(toIntent);
    },
    async inFlight(wallet) {
      const rows = await db.sql<IntentRow>(`select ${INTENT_COLUMNS} from tx_intents where wallet = ? and status in ('reserved', 'signed', 'broadcast') order by nonce`, [wallet.toLowerCase()]);
      return rows.map(toIntent);
    },
    async nextLocalNonce(wallet, chainId) {
      const rows = await db.sql<{ next: string | number | null }>(
        `select max(nonce) + 1 as next from tx_intents where wallet = ? and chain_id = ? and status not in ('superseded', 'rejected')`,
        [wallet.toLowerCase(), chainId],
      );
      return Number(rows[0]?.next ?? 0);
    },
    async reserve(i) {
      const inserted = await fenced(
        `reserve nonce ${i.nonce} for ${i.id}`,
        `w as (
           insert into tx_intents (id, user_id, wallet, chain_id, nonce, kind, to_address, data, value, gas_limit, status)
           select ?::text, ?::text, ?::text, ?::int, ?::bigint, ?::text, ?::text, ?::text, ?::text, ?::text, 'reserved' where ${HELD}
           on conflict do nothing returning id
         )`,
        [i.id, i.userId, i.wallet.toLowerCase(), i.chainId, i.nonce, i.kind, i.to.toLowerCase(), i.data.toLowerCase(), i.value.toString(), i.gasLimit.toString()],
      );
      return inserted === 1;
    },
    async release(id) {
      await fenced(
        `release the nonce of ${id}`,
        `w as (delete from tx_intents where id = ? and status = 'reserved' and not exists (select 1 from tx_attempts where intent_id = ?) and ${HELD} returning id)`,
        [id, id],
      );
    },
    async addAttempt(id, a) {
      // `owner` reads the table as it was before this statement: null unless the hash was stored already.
      const rows = await db.sql<{ held: boolean; owner: string | null }>(
        `with lease as (select ${fence.sql} as held),
         attempt as (
           insert into tx_attempts (hash, intent_id, raw, max_fee_per_gas, max_priority_fee_per_gas, status)
           select ?::text, ?::text, ?::text, ?::text, ?::text, 'signed' where ${HELD}
           on conflict (hash) do nothing returning intent_id
         ),
         intent as (
           update tx_intents set status = case when status = 'reserved' then 'signed' else status end, updated_at = now()
            where id = ? and exists (select 1 from attempt) returning id
         )
         select (select held from lease) as held, (select intent_id from tx_attempts where hash = ?) as owner`,
        [a.hash.toLowerCase(), id, a.raw, a.maxFeePerGas.toString(), a.maxPriorityFeePerGas.toString(), id, a.hash.toLowerCase()],
      );
      if (rows[0]?.held !== true) throw new FencedError(fence.epoch, `store a signed transaction for ${id}`);
      return rows[0].owner === null || rows[0].owner === id;
    },
    async attempts(id) {
      const rows = await db.sql<{ hash: string; raw: string; max_fee_per_gas: string; max_priority_fee_per_gas: string; status: AttemptStatus; error: string | null }>(
        'select hash, raw, max_fee_per_gas, max_priority_fee_per_gas, status, error from tx_attempts where intent_id = ? order by created_at, hash',
        [id],
      );
      return rows.map((r) => ({
        hash: r.hash as Hex,
        raw: r.raw as Hex,
        maxFeePerGas: BigInt(r.max_fee_per_gas),
        maxPriorityFeePerGas: BigInt(r.max_priority_fee_per_gas),
        status: r.status,
        error: r.error,
      }));
    },
    async markSent(id, hash) {
      await fenced(
        `record the broadcast of ${id}`,
        `attempt as (
           update tx_attempts set status = 'sent' where hash = ? and intent_id = ? and status = 'signed' and ${HELD} returning hash
         ),
         w as (
           update tx_intents set status = 'broadcast', updated_at = now()
            where id = ? and status in ('reserved', 'signed') and ${HELD} returning id
         )`,
        [hash.toLowerCase(), id, id],
      );
    },
    async refuse(id, hash, reason) {
      const rows = await db.sql<{ held: boolean; rejected: string | number }>(
        `with lease as (select ${fence.sql} as held),
         attempt as (
           update tx_attempts set status = 'refused', error = ? where hash = ? and intent_id = ? and status = 'signed' and ${HELD} returning hash
         ),
         intent as (
           update tx_intents set status = 'rejected', error = ?, updated_at = now()
            where id = ? and status in ('reserved', 'signed') and exists (select 1 from attempt)
              and not exists (select 1 from tx_attempts t where t.intent_id = ? and t.hash <> ? and t.status <> 'refused')
           returning id
         )
         select (select held from lease) as held, (select count(*) from intent) as rejected`,
        [reason, hash.toLowerCase(), id, reason, id, id, hash.toLowerCase()],
      );
      if (rows[0]?.held !== true) throw new FencedError(fence.epoch, `record the refusal of ${id}`);
      return Number(rows[0].rejected) === 1 ? 'rejected' : 'refused';
    },
    async setStatus(id, status, fields = {}) {
      await fenced(
        `record ${id} as ${status}`,
        `w as (
           update tx_intents set status = ?, mined_hash = coalesce(?, mined_hash), block_number = coalesce(?, block_number), error = coalesce(?, error), updated_at = now()
            where id = ? and status in ('reserved', 'signed', 'broadcast') and ${HELD} returning id
         )`,
        [status, fields.minedHash?.toLowerCase() ?? null, fields.blockNumber?.toString() ?? null, fields.error ?? null, id],
      );
    },
    async intentOfAttempt(hash) {
      const rows = await db.sql<{ intent_id: string }>('select intent_id from tx_attempts where hash = ?', [hash.toLowerCase()]);
      return rows[0]?.intent_id ?? null;
    },
    assertHeld: (what) => fence.assert(what),
  };
}
