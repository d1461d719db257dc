import type { Database } from '../infra/db/database.ts';
import type { HistoryEntry } from './desk.ts';
import { historyEntry, type PositionFacts } from './desk-views.ts';

/**
 * A trader's finished positions, newest first, read from the positions' own final snapshots.
 *
 * A position actor that reaches a final state is written once more with status 'done' and its
 * row is kept (the runtime never restores or deletes done rows, see runtime.ts #onCompleted):
 * the outcome, prices and payout are in that row, written by the same statement that ends the
 * position. So the history needs no table of its own and cannot disagree with the positions:
 * there is no second write to lose in a crash (ADR note in docs/trading-desk.md).
 */
export interface TradeHistory {
  finished(userId: string, limit: number): Promise<readonly HistoryEntry[]>;
  /** The owner of a position id ever used (live, finished or quarantined), or null when unused. */
  ownerOf(positionId: string): Promise<string | null>;
}

interface Row {
  readonly snapshot: { readonly context?: PositionFacts };
  readonly updated_at: Date | string;
}

export function createTradeHistory(db: Pick<Database, 'sql'>): TradeHistory {
  return {
    async finished(userId, limit) {
      const rows = await db.sql<Row>(
        `select snapshot, updated_at from actor_snapshots
          where parent = ? and kind = 'position' and status = 'done'
          order by updated_at desc, id desc limit ?`,
        [userId, limit],
      );
      return rows.filter((r) => r.snapshot.context).map((r) => historyEntry(r.snapshot.context!, r.updated_at));
    },
    async ownerOf(positionId) {
      const [row] = await db.sql<{ parent: string | null }>('select parent from actor_snapshots where id = ?', [`position:${positionId}`]);
      return row ? (row.parent ?? '') : null;
    },
  };
}
