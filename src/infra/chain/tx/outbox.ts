import type { Address, Hex } from 'viem';
import type { Database } from '../../db/database.ts';

/** SQL for the transaction outbox (see the tx_outbox migration for the why). */

export type IntentStatus = 'reserved' | 'signed' | 'broadcast' | 'mined' | 'reverted' | 'superseded';

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

export interface TxAttempt {
  readonly hash: Hex;
  readonly raw: Hex;
  readonly maxFeePerGas: bigint;
  readonly maxPriorityFeePerGas: bigint;
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
  /** Reserves a nonce; false when another intent took it first (unique index). */
  reserve(intent: Omit<TxIntent, 'status' | 'minedHash' | 'blockNumber' | 'error'>): Promise<boolean>;
  /** Drops a reservation that was never signed (nothing left the process). */
  release(id: string): Promise<void>;
  /** Stores a signed attempt and marks the intent signed, atomically. */
  addAttempt(id: string, attempt: TxAttempt): Promise<void>;
  attempts(id: string): Promise<TxAttempt[]>;
  setStatus(id: string, status: IntentStatus, fields?: { minedHash?: Hex; blockNumber?: bigint; error?: string }): Promise<void>;
}

export function createOutbox(db: Database): Outbox {
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
        `select max(nonce) + 1 as next from tx_intents where wallet = ? and chain_id = ? and status <> 'superseded'`,
        [wallet.toLowerCase(), chainId],
      );
      return Number(rows[0]?.next ?? 0);
    },
    async reserve(i) {
      const rows = await db.sql(
        `insert into tx_intents (id, user_id, wallet, chain_id, nonce, kind, to_address, data, value, gas_limit, status)
         values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'reserved')
         on conflict do nothing returning id`,
        [i.id, i.userId, i.wallet.toLowerCase(), i.chainId, i.nonce, i.kind, i.to.toLowerCase(), i.data.toLowerCase(), i.value.toString(), i.gasLimit.toString()],
      );
      return rows.length === 1;
    },
    async release(id) {
      await db.sql(`delete from tx_intents where id = ? and status = 'reserved' and not exists (select 1 from tx_attempts where intent_id = ?)`, [id, id]);
    },
    async addAttempt(id, a) {
      await db.sql(
        `with attempt as (
           insert into tx_attempts (hash, intent_id, raw, max_fee_per_gas, max_priority_fee_per_gas) values (?, ?, ?, ?, ?)
           on conflict (hash) do nothing returning intent_id
         )
         update tx_intents set status = case when status = 'reserved' then 'signed' else status end, updated_at = now()
          where id = ? and exists (select 1 from attempt)`,
        [a.hash.toLowerCase(), id, a.raw, a.maxFeePerGas.toString(), a.maxPriorityFeePerGas.toString(), id],
      );
    },
    async attempts(id) {
      const rows = await db.sql<{ hash: string; raw: string; max_fee_per_gas: string; max_priority_fee_per_gas: string }>(
        'select hash, raw, max_fee_per_gas, max_priority_fee_per_gas from tx_attempts where intent_id = ? order by created_at, hash',
        [id],
      );
      return rows.map((r) => ({ hash: r.hash as Hex, raw: r.raw as Hex, maxFeePerGas: BigInt(r.max_fee_per_gas), maxPriorityFeePerGas: BigInt(r.max_priority_fee_per_gas) }));
    },
    async setStatus(id, status, fields = {}) {
      await db.sql(
        `update tx_intents set status = ?, mined_hash = coalesce(?, mined_hash), block_number = coalesce(?, block_number), error = coalesce(?, error), updated_at = now() where id = ?`,
        [status, fields.minedHash?.toLowerCase() ?? null, fields.blockNumber?.toString() ?? null, fields.error ?? null, id],
      );
    },
  };
}
