import { formatLog, type Address, type Hex, type Log, type PublicClient } from 'viem';
import { VantaError } from '../../errors.ts';

/**
 * Reads logs over any span of blocks, however long, from RPCs that refuse wide ranges.
 *
 * Providers cap `eth_getLogs` (2,000 or 10,000 blocks, or a result count) and say so in an error
 * whose wording differs per provider. The scanner asks for `initialRange` blocks at a time and,
 * when a request is refused for its size, halves the range and asks again; the range it learned
 * is kept for the scanner's life, so a limited RPC costs one refusal, not one per call. Every
 * request filters by address and topic0, so a busy chain returns only the events asked for.
 *
 * The caller owns the cursor: `visit` is called once per chunk, in block order, with the chunk's
 * last block, and may stop the scan by returning true. Persisting "scanned up to" after each
 * visit is what lets a follow resume after days of downtime without starting over.
 */
export interface LogQuery {
  readonly addresses: readonly Address[];
  /** Any of these topic0 values (event selectors). */
  readonly topics0: readonly Hex[];
}

export interface LogScanner {
  /**
   * Visits `[from, to]` chunk by chunk. Resolves true when `visit` stopped the scan, false when
   * the whole span was read. Throws RPC_UNAVAILABLE (retryable) when the RPC fails otherwise.
   */
  scan(query: LogQuery, from: bigint, to: bigint, visit: (logs: readonly Log[], chunkTo: bigint) => boolean | Promise<boolean>, signal?: AbortSignal): Promise<boolean>;
  /** The widest range the RPC has accepted so far (what the next request asks for). */
  readonly range: bigint;
}

export interface LogScannerOptions {
  /** Blocks per request at first (default 2,000: the tightest common provider cap). */
  readonly initialRange?: bigint;
}

/** How providers say a request asked for too much (Alchemy, Infura, QuickNode, Ankr, Base, geth, anvil). */
const TOO_WIDE = [
  /block range/i,
  /range (is )?too (large|wide|big)/i,
  /maximum (block )?range/i,
  /more than \d+ (results|logs)/i,
  /response size (exceeded|is larger)/i,
  /limited to (a )?[\d,]+/i,
  /too many (results|logs|blocks)/i,
  /query timeout exceeded/i,
  /exceed(s|ed)? .*(range|limit|results)/i,
];

export function isRangeRefusal(error: unknown): boolean {
  const text = errorText(error);
  return TOO_WIDE.some((shape) => shape.test(text));
}

export function createLogScanner(client: Pick<PublicClient, 'request'>, options: LogScannerOptions = {}): LogScanner {
  let range = options.initialRange ?? 2_000n;
  if (range < 1n) throw new Error('A log scan range is at least one block');

  async function getLogs(query: LogQuery, from: bigint, to: bigint): Promise<Log[]> {
    const raw = (await client.request({
      method: 'eth_getLogs',
      params: [
        {
          address: [...query.addresses],
          topics: [[...query.topics0]],
          fromBlock: `0x${from.toString(16)}`,
          toBlock: `0x${to.toString(16)}`,
        },
      ],
    } as never)) as unknown;
    if (!Array.isArray(raw)) throw new Error('eth_getLogs answered something other than a list of logs');
    // Raw RPC logs carry hex quantities; the decoders expect viem's shape (bigint block numbers).
    return raw.map((log) => formatLog(log as never));
  }

  return {
    get range() {
      return range;
    },
    async scan(query, from, to, visit, signal) {
      let cursor = from;
      while (cursor <= to) {
        if (signal?.aborted) throw new VantaError('SHUTTING_DOWN', 'Stopped reading the chain; it resumes at the next start.', { retryable: true });
        const chunkTo = cursor + range - 1n < to ? cursor + range - 1n : to;
        let logs: Log[];
        try {
          logs = await getLogs(query, cursor, chunkTo);
        } catch (error) {
          if (isRangeRefusal(error) && chunkTo > cursor) {
            // Ask for half as much; never below one block, where a refusal is a real failure.
            const span = chunkTo - cursor + 1n;
            range = span / 2n > 0n ? span / 2n : 1n;
            continue;
          }
          throw new VantaError('RPC_UNAVAILABLE', `Reading logs of blocks ${cursor}–${chunkTo} failed (${errorText(error).split('\n')[0]?.slice(0, 160)}). It is retried.`, {
            cause: error,
            retryable: true,
          });
        }
        if (await visit(logs, chunkTo)) return true;
        cursor = chunkTo + 1n;
      }
      return false;
    },
  };
}

function errorText(error: unknown): string {
  if (error instanceof Error) {
    const details = (error as { details?: unknown }).details;
    return `${error.message}\n${typeof details === 'string' ? details : ''}`;
  }
  return String(error);
}
