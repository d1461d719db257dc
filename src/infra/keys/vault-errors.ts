import { scrubSecrets } from '../logger.ts';
import { VaultError } from './errors.ts';

/**
 * Turns whatever node-vault (axios underneath) threw into a typed VaultError
 * whose message tells the operator what to do. The raw error is never kept as
 * `cause`: axios errors carry the request config, headers included, and so the
 * token.
 */

export interface VaultCallSite {
  readonly endpoint: string;
  /** What we were doing, in words: "decrypt wallet keys". */
  readonly op: string;
  /** The Vault path without the /v1 prefix: "transit/decrypt/vanta-wallets". */
  readonly path: string;
  /** The policy capability the call needs on `path` (default update), for the 403 message. */
  readonly capability?: 'read' | 'create' | 'update';
}

interface ApiResponseShape {
  readonly response: { readonly statusCode: number; readonly body: unknown };
}

export function isApiResponseError(error: unknown): error is ApiResponseShape {
  if (typeof error !== 'object' || error === null || !('response' in error)) return false;
  const response = error.response;
  return typeof response === 'object' && response !== null && typeof (response as { statusCode?: unknown }).statusCode === 'number' && 'body' in response;
}

/** The first message of Vault's `{"errors": [...]}` envelope, scrubbed and cut short. */
export function vaultMessage(body: unknown): string {
  if (typeof body !== 'object' || body === null || !('errors' in body)) return '';
  const errors = body.errors;
  if (!Array.isArray(errors) || errors.length === 0) return '';
  const first = String(errors[0] as unknown).replace(/\s+/g, ' ').trim();
  return (scrubSecrets(first) as string).slice(0, 200);
}

export function toVaultError(error: unknown, site: VaultCallSite): VaultError {
  if (error instanceof VaultError) return error;
  if (isApiResponseError(error)) return fromStatus(error.response.statusCode, vaultMessage(error.response.body), site);
  const code = networkCode(error);
  if (code !== null) {
    return new VaultError(
      'VAULT_UNAVAILABLE',
      `Cannot reach Vault at ${site.endpoint} (${code}) to ${site.op}. Check that Vault is running and VAULT_ADDR is right; signing resumes by itself once Vault answers. Nothing was changed.`,
      null,
      { retryable: true, details: { op: site.op, path: site.path, network: code } },
    );
  }
  // node-vault validates some request bodies itself (tv4) before sending: that is our bug, not Vault's.
  const message = error instanceof Error ? error.message : String(error);
  return new VaultError('VAULT_BAD_REQUEST', `The request to ${site.op} (${site.path}) was refused before it reached Vault: ${(scrubSecrets(message) as string).slice(0, 200)}. This is a bug in Vanta; report it.`, null, {
    details: { op: site.op, path: site.path },
  });
}

function fromStatus(status: number, vaultSays: string, site: VaultCallSite): VaultError {
  const said = vaultSays ? `: "${vaultSays}"` : '';
  const details = { op: site.op, path: site.path };
  if (status === 503 && /sealed/i.test(vaultSays)) {
    return new VaultError(
      'VAULT_SEALED',
      `Vault at ${site.endpoint} is sealed, so it cannot ${site.op}. Unseal it (vault operator unseal, or check its auto-unseal); signing resumes by itself once it is unsealed. Nothing was changed.`,
      status,
      { retryable: true, details },
    );
  }
  if (status === 403) {
    return new VaultError(
      'VAULT_PERMISSION_DENIED',
      `Vault denied ${site.op} on ${site.path} (403${said}). Check that the token is valid, not expired or revoked, and that its policy allows ${site.capability ?? 'update'} on ${site.path} (the engine's policy is deploy/vault/vanta-engine.hcl, the rotation's vanta-rotation.hcl); with AppRole Vanta logs in again by itself.`,
      status,
      { details },
    );
  }
  if (status === 404) {
    return new VaultError(
      'VAULT_NOT_FOUND',
      `Vault has nothing at ${site.path} (404) to ${site.op}. Check VAULT_TRANSIT_KEY and that the transit engine is mounted where Vanta expects it.`,
      status,
      { details },
    );
  }
  if (status === 400) {
    return new VaultError('VAULT_BAD_REQUEST', `Vault rejected the request to ${site.op} on ${site.path} (400${said}). Nothing was changed; check the key's configuration (derived, type) and the stored ciphertext.`, status, {
      details,
    });
  }
  if (status === 429 || status >= 500) {
    return new VaultError(
      'VAULT_UNAVAILABLE',
      `Vault at ${site.endpoint} answered ${status}${said} when asked to ${site.op}; it may be rate limiting, in standby or failing. Check sys/health and its logs; retry later. Nothing was changed.`,
      status,
      { retryable: true, details },
    );
  }
  return new VaultError('VAULT_BAD_RESPONSE', `Vault answered an unexpected HTTP ${status}${said} to ${site.op} on ${site.path}. Check that VAULT_ADDR points at Vault and not a proxy page.`, status, {
    details,
  });
}

/** ECONNREFUSED, ETIMEDOUT, ECONNABORTED (axios timeout)… or null when the error is not about the network. */
function networkCode(error: unknown): string | null {
  if (typeof error !== 'object' || error === null) return null;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string') return null;
  // System errors (ECONNREFUSED, EAI_AGAIN…) and axios's own network codes; not ERR_BAD_* (answers we got).
  if ((/^E[A-Z_]+$/.test(code) && !code.startsWith('ERR_')) || code === 'ERR_NETWORK' || code.startsWith('ERR_SOCKET')) return code;
  return null;
}

/** Vault's own per-item messages for batch results: what they mean for a stored wallet key. */
export function classifyItemError(message: string): 'retired' | 'invalid' | 'failed' {
  if (/disallowed by policy|too old/i.test(message)) return 'retired';
  if (/invalid ciphertext|could not decode|base64/i.test(message)) return 'invalid';
  return 'failed';
}
