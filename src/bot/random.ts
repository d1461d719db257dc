import { randomFillSync } from 'node:crypto';

/**
 * Random bytes for ids the bot makes on every update (a correlation id, a keyboard's nonce), drawn
 * from a pool filled 4 KiB at a time: one randomBytes call each cost a trip into OpenSSL per id,
 * a few per cent of the bot's CPU under load. The same CSPRNG; only the batching differs (as
 * Node's own randomUUID does).
 */
const POOL_BYTES = 4_096;
const pool = Buffer.alloc(POOL_BYTES);
let offset = POOL_BYTES;

export function randomId(bytes: number, encoding: 'hex' | 'base64url'): string {
  if (bytes > POOL_BYTES) throw new RangeError(`randomId takes at most ${POOL_BYTES} bytes`);
  if (offset + bytes > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const id = pool.toString(encoding, offset, offset + bytes);
  // Each byte is handed out once.
  offset += bytes;
  return id;
}
