import { inspect } from 'node:util';

const REDACTED = '[REDACTED]';

/**
 * Holds a secret value (a token, a password, a plaintext key) so that it cannot
 * reach a log line, a JSON document or the inspector by accident: every
 * string conversion yields `[REDACTED]`. Only `reveal()` gives the value, and
 * that call is easy to grep for.
 */
export class Secret<T extends string = string> {
  readonly #value: T;
  constructor(value: T) {
    this.#value = value;
  }
  reveal(): T {
    return this.#value;
  }
  toString(): string {
    return REDACTED;
  }
  toJSON(): string {
    return REDACTED;
  }
  [inspect.custom](): string {
    return REDACTED;
  }
}

/** Credentials inside a URL (postgres://user:pass@host) are replaced, the rest kept for diagnosis. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = 'REDACTED';
    for (const key of [...parsed.searchParams.keys()]) {
      if (/key|token|secret|password/i.test(key)) parsed.searchParams.set(key, 'REDACTED');
    }
    return parsed.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//REDACTED@');
  }
}
