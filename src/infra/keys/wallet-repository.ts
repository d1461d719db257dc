import { UniqueConstraintViolationException, type EntityManager } from '@mikro-orm/core';
import type { Address } from 'viem';
import type { Database } from '../db/database.ts';
import { WalletError } from './errors.ts';
import type { EncryptedWallet } from './keystore.ts';
import { WalletSchema } from './wallet-entity.ts';

/** A stored wallet: the sealed key, never the key. */
export interface WalletRecord {
  readonly userId: string;
  readonly address: Address;
  readonly ciphertext: string;
  readonly keyVersion: number;
  /** Optimistic lock: bumped on every write. */
  readonly version: number;
}

export interface CiphertextUpdate {
  readonly userId: string;
  readonly expectedVersion: number;
  readonly ciphertext: string;
  readonly keyVersion: number;
}

export interface WalletRepository {
  /** Throws WALLET_EXISTS when the user already has one. `em`: write inside that transaction. */
  insert(userId: string, wallet: EncryptedWallet, em?: EntityManager): Promise<WalletRecord>;
  find(userIds: readonly string[]): Promise<Map<string, WalletRecord>>;
  /** Up to `limit` wallets sealed below `keyVersion`, in user id order after `afterUserId`. */
  sealedBelow(keyVersion: number, limit: number, afterUserId?: string): Promise<WalletRecord[]>;
  countSealedBelow(keyVersion: number): Promise<number>;
  /** Every stored wallet, whatever sealed it. */
  count(): Promise<number>;
  /** Writes new ciphertexts where the row is still at the expected version; answers the user ids written. */
  replaceCiphertexts(updates: readonly CiphertextUpdate[]): Promise<Set<string>>;
}

interface Row {
  user_id: string;
  address: string;
  ciphertext: string;
  key_version: number;
  version: number;
}

const COLUMNS = 'user_id, address, ciphertext, key_version, version';

export function createWalletRepository(db: Database): WalletRepository {
  return {
    async insert(userId, wallet, within) {
      const em = within ?? db.orm.em.fork();
      try {
        await em.insert(WalletSchema, { userId, address: wallet.address, ciphertext: wallet.ciphertext, keyVersion: wallet.keyVersion, version: 1 });
      } catch (error) {
        if (error instanceof UniqueConstraintViolationException) throw new WalletError('WALLET_EXISTS', userId);
        throw error;
      }
      return { userId, address: wallet.address, ciphertext: wallet.ciphertext, keyVersion: wallet.keyVersion, version: 1 };
    },
    async find(userIds) {
      if (userIds.length === 0) return new Map();
      const rows = await db.sql<Row>(`select ${COLUMNS} from wallets where user_id in (${userIds.map(() => '?').join(', ')})`, userIds);
      return new Map(rows.map((r) => [r.user_id, toRecord(r)]));
    },
    async sealedBelow(keyVersion, limit, afterUserId = '') {
      const rows = await db.sql<Row>(`select ${COLUMNS} from wallets where key_version < ? and user_id > ? order by user_id limit ?`, [keyVersion, afterUserId, limit]);
      return rows.map(toRecord);
    },
    async countSealedBelow(keyVersion) {
      const [row] = await db.sql<{ n: string | number }>('select count(*) as n from wallets where key_version < ?', [keyVersion]);
      return Number(row?.n ?? 0);
    },
    async count() {
      const [row] = await db.sql<{ n: string | number }>('select count(*) as n from wallets');
      return Number(row?.n ?? 0);
    },
    async replaceCiphertexts(updates) {
      if (updates.length === 0) return new Set();
      const values = updates.map(() => '(?, ?, ?::int, ?::int)').join(', ');
      const params = updates.flatMap((u) => [u.userId, u.ciphertext, u.keyVersion, u.expectedVersion]);
      const rows = await db.sql<{ user_id: string }>(
        `update wallets w set ciphertext = v.ciphertext, key_version = v.key_version, version = w.version + 1, updated_at = now()
         from (values ${values}) as v(user_id, ciphertext, key_version, expected)
         where w.user_id = v.user_id and w.version = v.expected
         returning w.user_id`,
        params,
      );
      return new Set(rows.map((r) => r.user_id));
    },
  };
}

function toRecord(r: Row): WalletRecord {
  return { userId: r.user_id, address: r.address as Address, ciphertext: r.ciphertext, keyVersion: r.key_version, version: r.version };
}
