import type { Address, Hex } from 'viem';
import type { Database } from '../db/database.ts';

/**
 * What the database remembers about the sandbox chain: the wallets the engine created (and the
 * faucet funded) and the transactions its outbox saw mined. The devnet compares these with the
 * chain it restored before anything trades on it (see consistency.ts).
 */
export interface LedgerFacts {
  readonly walletCount: number;
  readonly transactionCount: number;
  /** Every wallet's address (the sandbox has few; capped at `WALLET_LIMIT`). */
  readonly wallets: readonly Address[];
  /** Per wallet, the highest nonce the database saw mined (or reverted: a nonce is used either way). */
  readonly usedNonces: readonly { readonly wallet: Address; readonly nonce: number }[];
  /** The most recently mined transactions (a lost tail of the chain shows there first). */
  readonly latestMined: readonly MinedFact[];
}

export interface MinedFact {
  readonly id: string;
  readonly hash: Hex;
  readonly blockNumber: bigint;
}

export interface SandboxLedger {
  read(): Promise<LedgerFacts>;
}

const WALLET_LIMIT = 10_000;
const LATEST_MINED = 20;

export function isEmptyLedger(facts: LedgerFacts): boolean {
  return facts.walletCount === 0 && facts.transactionCount === 0;
}

/** The ledger as the engine's tables hold it (wallets, tx_intents). */
export function createSandboxLedger(db: Database): SandboxLedger {
  return {
    async read() {
      const [counts] = await db.sql<{ wallets: string | number; transactions: string | number }>(
        'select (select count(*) from wallets) as wallets, (select count(*) from tx_intents) as transactions',
      );
      const wallets = await db.sql<{ address: string }>('select address from wallets order by created_at limit ?', [WALLET_LIMIT]);
      const used = await db.sql<{ wallet: string; nonce: string | number }>(
        "select wallet, max(nonce) as nonce from tx_intents where status in ('mined', 'reverted') group by wallet",
      );
      const latest = await db.sql<{ id: string; mined_hash: string; block_number: string | number }>(
        "select id, mined_hash, block_number from tx_intents where status in ('mined', 'reverted') and mined_hash is not null and block_number is not null order by block_number desc limit ?",
        [LATEST_MINED],
      );
      return {
        walletCount: Number(counts?.wallets ?? 0),
        transactionCount: Number(counts?.transactions ?? 0),
        wallets: wallets.map((w) => w.address as Address),
        usedNonces: used.map((u) => ({ wallet: u.wallet as Address, nonce: Number(u.nonce) })),
        latestMined: latest.map((m) => ({ id: m.id, hash: m.mined_hash as Hex, blockNumber: BigInt(m.block_number) })),
      };
    },
  };
}
