import type { Address, PublicClient } from 'viem';
import { DevnetError } from './errors.ts';
import type { LedgerFacts } from './ledger.ts';

/**
 * The rule: the database must never remember chain facts the saved chain lacks. The engine
 * keeps it by waiting for the state saver before recording a mined transaction; these checks
 * catch what it cannot prevent (a state file deleted, replaced by an older backup, or from
 * another sandbox) and refuse to start with a message that names the mismatch and the fix,
 * instead of trading on a chain that contradicts the database.
 *
 * `resetHint` says how to start a fresh sandbox with this configuration (main knows whether the
 * database lives in DATA_DIR or in PostgreSQL).
 */
export interface ChainCheckInput {
  readonly client: PublicClient;
  readonly facts: LedgerFacts;
  readonly statePath: string;
  readonly resetHint: string;
}

export interface ChainCheckResult {
  /**
   * Wallets the database has but the chain never funded (nonce 0, no ETH): created just before a
   * crash, before the faucet's transaction was saved. The sandbox funds them again.
   */
  readonly unfunded: readonly Address[];
}

const PARALLEL = 32;

export async function checkRestoredChain(input: ChainCheckInput): Promise<ChainCheckResult> {
  const { client, facts } = input;
  const head = await client.getBlockNumber({ cacheTime: 0 });
  const problems: string[] = [];

  const receipts = await inBatches(facts.latestMined, (m) => client.getTransactionReceipt({ hash: m.hash }).catch(() => null));
  facts.latestMined.forEach((mined, i) => {
    const receipt = receipts[i];
    if (!receipt) {
      problems.push(`transaction ${mined.hash} (${mined.id}) was mined in block ${mined.blockNumber} according to the database, but the chain has no such transaction (it ends at block ${head})`);
    } else if (receipt.blockNumber !== mined.blockNumber) {
      problems.push(`transaction ${mined.hash} (${mined.id}) is in block ${receipt.blockNumber} on the chain but in block ${mined.blockNumber} according to the database`);
    }
  });

  const nonces = await inBatches(facts.usedNonces, (u) => client.getTransactionCount({ address: u.wallet, blockTag: 'latest' }));
  facts.usedNonces.forEach((used, i) => {
    const onChain = nonces[i] ?? 0;
    if (onChain <= used.nonce) {
      problems.push(`wallet ${used.wallet} sent ${used.nonce + 1} transactions according to the database, but only ${onChain} on the chain`);
    }
  });

  if (problems.length) {
    const shown = problems.slice(0, 3).map((p) => `  - ${p}`);
    if (problems.length > 3) shown.push(`  - and ${problems.length - 3} more`);
    throw new DevnetError(
      'DEVNET_STATE_MISMATCH',
      [
        `The sandbox chain in ${input.statePath} is behind the database (${count(facts.walletCount, 'wallet')}, ${count(facts.transactionCount, 'transaction')}):`,
        ...shown,
        `The state file is older than the database, or belongs to another sandbox. Put back the ${input.statePath} that goes with this database (from the same backup), or start a fresh sandbox: ${input.resetHint}.`,
      ].join('\n'),
    );
  }

  const used = new Set(facts.usedNonces.map((u) => u.wallet.toLowerCase()));
  const candidates = facts.wallets.filter((w) => !used.has(w.toLowerCase()));
  const empty = await inBatches(candidates, async (wallet) => {
    const [nonce, balance] = await Promise.all([client.getTransactionCount({ address: wallet, blockTag: 'latest' }), client.getBalance({ address: wallet })]);
    return nonce === 0 && balance === 0n;
  });
  return { unfunded: candidates.filter((_, i) => empty[i]) };
}

/** The state file is gone but the database remembers a chain: never start a fresh one under it. */
export function missingStateError(statePath: string, facts: LedgerFacts, resetHint: string): DevnetError {
  return new DevnetError(
    'DEVNET_STATE_MISSING',
    `${statePath} is missing, but the database has ${count(facts.walletCount, 'wallet')} and ${count(facts.transactionCount, 'transaction')} on that chain. ` +
      `A fresh chain would not have their funds, orders or positions. Restore ${statePath} from a backup, or start a fresh sandbox: ${resetHint}.`,
  );
}

/** The state file exists but anvil cannot load it (empty, cut short, or not anvil's JSON). */
export function damagedStateError(statePath: string, detail: string, resetHint: string): DevnetError {
  return new DevnetError(
    'DEVNET_STATE_DAMAGED',
    `The saved sandbox chain ${statePath} cannot be loaded (${detail}). Restore it from a backup, or start a fresh sandbox: ${resetHint}.`,
  );
}

/** The chain loaded, but the simulator's contracts named in deployment.json are not on it. */
export function deploymentMismatchError(statePath: string, deploymentPath: string, detail: string, resetHint: string): DevnetError {
  return new DevnetError(
    'DEVNET_STATE_MISMATCH',
    `The saved sandbox chain ${statePath} and ${deploymentPath} do not belong together (${detail}), and the database remembers that chain. ` +
      `Put back the pair of files from the same backup, or start a fresh sandbox: ${resetHint}.`,
  );
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

async function inBatches<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += PARALLEL) out.push(...(await Promise.all(items.slice(i, i + PARALLEL).map(fn))));
  return out;
}
