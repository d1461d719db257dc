import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import type { Logger } from 'pino';
import { DevnetError } from './errors.ts';
import { writeFileAtomic, type AtomicWriteHooks } from './state-file.ts';

/**
 * Keeps the sandbox chain on disk, and tells the rest of the engine when a block is safe there.
 *
 * anvil's own `--state` dump is not atomic and runs on a timer the engine cannot see, so a crash
 * could tear the file or lose seconds of chain that the database already recorded. Instead this
 * saver asks anvil for its state (`anvil_dumpState`), writes it atomically (state-file.ts), and
 * knows exactly which block each save contains. `durableThrough(block)` is the barrier the order
 * path waits on before the database records a chain fact (a mined transaction, a fill): after
 * any crash, the saved chain then holds everything the database remembers.
 *
 * It saves when the head moved: at once when someone waits on the barrier, otherwise at most
 * every `minIntervalMs` and never more than about 1/`costFactor` of the time (a dump grows with
 * the chain's history), and once more on stop.
 */
export interface ChainStateSaver {
  /** The highest block the state file is known to contain; -1n before the first save. */
  readonly savedThrough: bigint;
  /** Resolves once a saved state contains `block`; asks for a save now if none does yet. */
  durableThrough(block: bigint): Promise<void>;
  /** Saves the current chain now (after a save in progress, if any). */
  save(): Promise<void>;
  start(): void;
  /**
   * Stops saving; with `finalSave`, saves the latest chain first, waiting at most
   * `finalSaveBudgetMs` (default 1.5 s) so a stop stays quick however long the chain's history.
   * Waiters still pending are refused.
   */
  stop(options?: { readonly finalSave?: boolean; readonly finalSaveBudgetMs?: number }): Promise<void>;
}

export interface ChainDump {
  /** A block the dump is known to contain (the head read just before dumping). */
  readonly block: bigint;
  /** anvil's state in the JSON format `--load-state` reads. */
  readonly json: Uint8Array;
}

export interface StateSaverDeps {
  readonly file: string;
  readonly head: () => Promise<bigint>;
  readonly dump: () => Promise<ChainDump>;
  readonly logger: Logger;
  readonly hooks?: AtomicWriteHooks;
}

export interface StateSaverOptions {
  /** How often the head is checked; default 200 ms. */
  readonly pollMs?: number;
  /** Least time between two saves nobody waits for; default 1 s. */
  readonly minIntervalMs?: number;
  /** Saves nobody waits for leave at least this many times their own duration idle; default 4. */
  readonly costFactor?: number;
  /** A barrier wait fails (retryably) after this long; default 30 s. */
  readonly waitTimeoutMs?: number;
}

interface Waiter {
  readonly block: bigint;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export function createStateSaver(deps: StateSaverDeps, options: StateSaverOptions = {}): ChainStateSaver {
  const logger = deps.logger.child({ component: 'devnet-state' });
  const pollMs = options.pollMs ?? 200;
  const minIntervalMs = options.minIntervalMs ?? 1_000;
  const costFactor = options.costFactor ?? 4;
  const waitTimeoutMs = options.waitTimeoutMs ?? 30_000;
  let savedThrough = -1n;
  let lastSaveEnded = 0;
  let lastSaveMs = 0;
  let saving: Promise<void> = Promise.resolve();
  let stopped = false;
  let loop: Promise<void> | null = null;
  let wake: (() => void) | null = null;
  let failures = 0;
  const waiters = new Set<Waiter>();

  function settle(): void {
    for (const w of waiters) {
      if (w.block <= savedThrough) {
        clearTimeout(w.timer);
        waiters.delete(w);
        w.resolve();
      }
    }
  }

  async function saveOnce(): Promise<void> {
    const started = performance.now();
    const { block, json } = await deps.dump();
    await writeFileAtomic(deps.file, json, deps.hooks);
    lastSaveMs = performance.now() - started;
    lastSaveEnded = Date.now();
    if (block > savedThrough) savedThrough = block;
    if (failures > 0) logger.info({ block: String(block) }, 'Saving the sandbox chain works again');
    failures = 0;
    logger.debug({ block: String(block), bytes: json.byteLength, ms: Math.round(lastSaveMs) }, 'Saved the sandbox chain');
    settle();
  }

  /** One save at a time; a caller arriving during a save gets a fresh one after it. */
  function save(): Promise<void> {
    const next = saving.then(saveOnce);
    saving = next.catch(() => undefined);
    return next;
  }

  async function run(): Promise<void> {
    while (!stopped) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pollMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = null;
      if (stopped) break;
      try {
        const head = await deps.head();
        if (head <= savedThrough) continue;
        const asked = [...waiters].some((w) => w.block <= head);
        const rested = Date.now() - lastSaveEnded >= Math.max(minIntervalMs, costFactor * lastSaveMs);
        if (asked || rested) await save();
      } catch (err) {
        failures += 1;
        // Once, then every 50th time: a dead node would otherwise log five lines a second.
        if (failures === 1 || failures % 50 === 0) logger.warn({ err, failures }, 'Could not save the sandbox chain; retrying');
      }
    }
  }

  return {
    get savedThrough() {
      return savedThrough;
    },
    durableThrough(block) {
      if (block <= savedThrough) return Promise.resolve();
      if (stopped) return Promise.reject(notSaved(block, 'the sandbox chain is stopping'));
      return new Promise<void>((resolve, reject) => {
        const waiter: Waiter = {
          block,
          resolve,
          reject,
          timer: setTimeout(() => {
            waiters.delete(waiter);
            reject(notSaved(block, `no save contained it within ${waitTimeoutMs} ms`));
          }, waitTimeoutMs),
        };
        waiters.add(waiter);
        wake?.();
      });
    },
    save,
    start() {
      loop ??= run();
    },
    async stop(stopOptions = {}) {
      stopped = true;
      wake?.();
      await loop;
      await saving;
      if (stopOptions.finalSave) {
        const head = await deps.head().catch(() => null);
        if (head !== null && head > savedThrough) {
          // Bounded: an old chain's dump takes seconds. Giving up is safe: the write is atomic, and
          // the database holds nothing beyond the last completed save (the barrier).
          const budgetMs = stopOptions.finalSaveBudgetMs ?? 1_500;
          let timer: NodeJS.Timeout | undefined;
          const outcome = await Promise.race([
            save().then(
              () => 'saved' as const,
              (err: unknown) => err,
            ),
            new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), budgetMs))),
          ]);
          clearTimeout(timer);
          if (outcome === 'late') {
            logger.warn({ budget_ms: budgetMs, block: String(savedThrough) }, 'The last save on stop did not finish in time; the next start resumes from the last completed save');
          } else if (outcome !== 'saved') {
            logger.error({ err: outcome }, 'Could not save the sandbox chain on stop; the next start resumes from the last completed save');
          }
        }
      }
      for (const w of waiters) {
        clearTimeout(w.timer);
        w.reject(notSaved(w.block, 'the sandbox chain stopped first'));
      }
      waiters.clear();
    },
  };
}

function notSaved(block: bigint, why: string): DevnetError {
  return new DevnetError('DEVNET_STATE_NOT_SAVED', `Block ${block} of the sandbox chain is not saved yet (${why}); it is not reported until it is. It is retried.`, {
    retryable: true,
    details: { block: String(block) },
  });
}

/** Reads anvil's head and state over JSON-RPC: one dump, decompressed to the JSON `--load-state` reads. */
export function anvilStateSource(rpcUrl: string, timeoutMs = 60_000): Pick<StateSaverDeps, 'head' | 'dump'> {
  const head = async () => BigInt(await rpc<string>(rpcUrl, 'eth_blockNumber', 5_000));
  return {
    head,
    async dump() {
      const block = await head();
      const gz = await rpc<string>(rpcUrl, 'anvil_dumpState', timeoutMs);
      // Off the event loop: a long-lived sandbox's state is tens of megabytes.
      return { block, json: await gunzipAsync(Buffer.from(gz.slice(2), 'hex')) };
    },
  };
}

const gunzipAsync = promisify(gunzip);

async function rpc<T>(rpcUrl: string, method: string, timeoutMs: number): Promise<T> {
  const response = await fetch(rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: [] }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const body = (await response.json()) as { result?: T; error?: { message?: string } };
  if (body.error || body.result === undefined) throw new Error(`${method} failed: ${body.error?.message ?? 'no result'}`);
  return body.result;
}
