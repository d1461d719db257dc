import { BadInputError } from '../errors.ts';

/**
 * Compact callback data for inline keyboards. Telegram accepts 1–64 bytes
 * (UTF-8 bytes, not characters) and grammY does not check it locally, so an
 * oversized button would only fail at Telegram. Buttons carry a short verb and
 * a few short arguments (`p:ab12:close`); the real payload stays server-side in
 * the actors. Everything arriving back is untrusted user input: decoding checks
 * the shape and refuses anything else with a clear error and no side effect.
 */
export const MAX_CALLBACK_BYTES = 64;
const SEPARATOR = ':';
const PART = /^[A-Za-z0-9_.-]{1,32}$/;

export interface CallbackAction {
  /** Short namespace + verb, e.g. `p.close` (position), `o.confirm` (order). */
  readonly action: string;
  readonly args: readonly string[];
}

/** Encodes an action; throws (a programming error, caught in tests) when it would not fit or has odd characters. */
export function encodeCallback(action: CallbackAction): string {
  const parts = [action.action, ...action.args];
  for (const part of parts) {
    if (!PART.test(part)) throw new Error(`callback part ${JSON.stringify(part)} must be 1–32 of A-Z a-z 0-9 _ . -`);
  }
  const data = parts.join(SEPARATOR);
  const bytes = Buffer.byteLength(data, 'utf8');
  if (bytes > MAX_CALLBACK_BYTES) throw new Error(`callback data is ${bytes} bytes; Telegram allows ${MAX_CALLBACK_BYTES}`);
  return data;
}

/**
 * Decodes data from a button press. `expected` maps each known action to its
 * argument count; anything else (unknown action, wrong arity, oversize,
 * characters we never emit) is refused.
 */
export function decodeCallback(data: unknown, expected: Readonly<Record<string, number>>): CallbackAction {
  if (typeof data !== 'string' || data.length === 0 || Buffer.byteLength(data, 'utf8') > MAX_CALLBACK_BYTES) {
    throw new BadInputError('This button is not valid any more. Please use /positions to get fresh buttons.');
  }
  const [action, ...args] = data.split(SEPARATOR);
  const arity = action === undefined ? undefined : expected[action];
  if (action === undefined || arity === undefined || !Object.hasOwn(expected, action) || args.length !== arity || ![action, ...args].every((p) => PART.test(p))) {
    throw new BadInputError('This button is not valid any more. Please use /positions to get fresh buttons.', { data: data.slice(0, 64) });
  }
  return { action, args };
}
