import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { parseGwei, recoverTransactionAddress, type Address, type Hex, type TransactionSerializable } from 'viem';
import type { KeyStore } from '../../../src/infra/keys/keystore.ts';
import { createLocalKeyStore } from '../../../src/infra/keys/local-keystore.ts';
import { createVaultClient, type VaultAuth } from '../../../src/infra/keys/vault-client.ts';
import { createVaultKeyStore } from '../../../src/infra/keys/vault-keystore.ts';
import { Secret } from '../../../src/infra/secret.ts';
import { silentLogger } from '../../helpers/common.ts';
import { createVaultDouble, type VaultDouble } from '../../helpers/vault-double.ts';

/** A keystore under test and what it needs torn down. */
export interface KeyStoreFixture {
  readonly kind: 'vault' | 'local';
  readonly keystore: KeyStore;
  /** The Vault double behind a vault keystore, null for local. */
  readonly vault: VaultDouble | null;
  readonly dataDir: string | null;
  close(): Promise<void>;
}

export async function vaultFixture(options: { logger?: Logger; auth?: (vault: VaultDouble) => VaultAuth; maxBatch?: number; keyName?: string } = {}): Promise<KeyStoreFixture> {
  const vault = await createVaultDouble();
  const logger = options.logger ?? silentLogger();
  const auth = options.auth?.(vault) ?? { kind: 'token', token: new Secret(vault.rootToken) };
  const client = createVaultClient({ endpoint: vault.url, auth, logger, timeoutMs: 2_000 });
  const keystore = await createVaultKeyStore({ client, keyName: options.keyName ?? 'vanta-wallets', logger, ...(options.maxBatch ? { maxBatch: options.maxBatch } : {}) });
  return {
    kind: 'vault',
    keystore,
    vault,
    dataDir: null,
    async close() {
      await keystore.close();
      await vault.close();
    },
  };
}

export async function localFixture(options: { logger?: Logger } = {}): Promise<KeyStoreFixture> {
  const dataDir = mkdtempSync(join(tmpdir(), 'vanta-keys-'));
  const keystore = await createLocalKeyStore({ dataDir, mode: 'sandbox', allowInLive: false, logger: options.logger ?? silentLogger() });
  return {
    kind: 'local',
    keystore,
    vault: null,
    dataDir,
    async close() {
      await keystore.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export const fixtures: Record<'vault' | 'local', (options?: { logger?: Logger }) => Promise<KeyStoreFixture>> = { vault: vaultFixture, local: localFixture };

/** An EIP-1559 transfer on Base; `nonce` varies it. */
export function transferTx(nonce = 0): TransactionSerializable {
  return { chainId: 8453, type: 'eip1559', to: '0x000000000000000000000000000000000000dEaD', value: 1_000n + BigInt(nonce), nonce, gas: 21_000n, maxFeePerGas: parseGwei('1'), maxPriorityFeePerGas: parseGwei('0.01') };
}

export async function signerOf(serialized: Hex): Promise<Address> {
  return recoverTransactionAddress({ serializedTransaction: serialized as Parameters<typeof recoverTransactionAddress>[0]['serializedTransaction'] });
}

export function userIds(n: number, prefix = 'user'): string[] {
  const run = randomBytes(3).toString('hex');
  return Array.from({ length: n }, (_, i) => `${prefix}-${run}-${String(i).padStart(4, '0')}`);
}

/** deploy/vault/<name>.hcl: the policies compose's vault-init writes. */
export function deployPolicy(name: 'vanta-engine' | 'vanta-rotation'): string {
  return readFileSync(new URL(`../../../deploy/vault/${name}.hcl`, import.meta.url), 'utf8');
}

export interface LeastPrivilegeVault {
  readonly vault: VaultDouble;
  /** Only the engine policy (not even `default`): proves the policy is enough on its own. */
  readonly engineToken: string;
  /** The rotation policy, with `default`, as `vault token create -policy=vanta-rotation` gives it. */
  readonly operatorToken: string;
}

/** A Vault set up as compose's vault-init does: transit key vanta-wallets created by root (unless told not to), both policies written from deploy/vault. */
export async function leastPrivilegeVault(options: { createKey?: boolean } = {}): Promise<LeastPrivilegeVault> {
  const vault = await createVaultDouble();
  vault.writePolicy('vanta-engine', deployPolicy('vanta-engine'));
  vault.writePolicy('vanta-rotation', deployPolicy('vanta-rotation'));
  if (options.createKey === false) return { vault, ...tokens(vault) };
  const created = await fetch(`${vault.url}/v1/transit/keys/vanta-wallets`, {
    method: 'POST',
    headers: { 'X-Vault-Token': vault.rootToken, 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'aes256-gcm96', derived: true }),
  });
  if (!created.ok) throw new Error(`creating the transit key: HTTP ${created.status}`);
  return { vault, ...tokens(vault) };
}

function tokens(vault: VaultDouble): { engineToken: string; operatorToken: string } {
  return {
    engineToken: vault.issueToken({ ttlSeconds: 3600, maxTtlSeconds: 86_400, policies: ['vanta-engine'] }),
    operatorToken: vault.issueToken({ ttlSeconds: 3600, maxTtlSeconds: 3600, policies: ['default', 'vanta-rotation'] }),
  };
}

/** A Vault keystore logged in with `token`. */
export async function vaultKeyStoreWith(vault: VaultDouble, token: string, keyName = 'vanta-wallets'): Promise<KeyStore> {
  const client = createVaultClient({ endpoint: vault.url, auth: { kind: 'token', token: new Secret(token) }, logger: silentLogger(), timeoutMs: 2_000 });
  try {
    return await createVaultKeyStore({ client, keyName, logger: silentLogger() });
  } catch (error) {
    client.close();
    throw error;
  }
}
