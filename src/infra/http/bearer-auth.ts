import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Secret } from '../secret.ts';

export type AuthResult = 'ok' | 'missing' | 'refused';

/**
 * Checks `Authorization: Bearer <token>` against the configured token in
 * constant time. Both sides are hashed first so the comparison takes the same
 * time whatever the lengths, and neither the length nor a prefix of the token
 * leaks through timing. No token configured means every request is allowed.
 */
export function createBearerCheck(token: Secret | null): (req: IncomingMessage) => AuthResult {
  if (token === null) return () => 'ok';
  const expected = digest(token.reveal());
  return (req) => {
    const header = req.headers.authorization;
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match?.[1]) return 'missing';
    return timingSafeEqual(digest(match[1]), expected) ? 'ok' : 'refused';
  };
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
