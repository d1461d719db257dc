/**
 * Signing-path benchmark (issue 3, keys).
 * - Decrypt + sign through each keystore (Vault transit via the loopback
 *   double, and the local AES-GCM store) vs raw viem signing of the same
 *   transactions with keys already in memory: the cost of never keeping keys.
 * - One batch decrypt for all wallets vs one decrypt per wallet.
 * The Vault double runs in this process, so its crypto counts against us and
 * network latency does not: against a real Vault over a network, batching
 * matters more, not less.
 * Run alone: node bench/signing.bench.ts (or through npm run bench -- signing).
 */
import { fileURLToPath } from 'node:url';
import { parseGwei, type TransactionSerializable } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../src/infra/logger.ts';
import type { KeyStore, SealedKey } from '../src/infra/keys/keystore.ts';
import { createLocalKeyStore } from '../src/infra/keys/local-keystore.ts';
import { createVaultClient } from '../src/infra/keys/vault-client.ts';
import { createVaultKeyStore } from '../src/infra/keys/vault-keystore.ts';
import { Secret } from '../src/infra/secret.ts';
import { createVaultDouble } from '../test/helpers/vault-double.ts';
import { round, seconds } from './support.ts';

const WALLETS = Number(process.env['BENCH_WALLETS'] ?? 200);
const ROUNDS = Number(process.env['BENCH_SIGN_ROUNDS'] ?? 3);
const logger = createLogger({ level: 'silent' });

function tx(i: number): TransactionSerializable {
  return { chainId: 8453, type: 'eip1559', to: '0x000000000000000000000000000000000000dEaD', value: BigInt(i + 1), nonce: i, gas: 21_000n, maxFeePerGas: parseGwei('1'), maxPriorityFeePerGas: parseGwei('0.01') };
}

/** Best of ROUNDS, in seconds: the least disturbed run. */
async function best(fn: () => Promise<void>): Promise<number> {
  let fastest = Infinity;
  for (let r = 0; r < ROUNDS; r += 1) {
    const start = performance.now();
    await fn();
    fastest = Math.min(fastest, seconds(start));
  }
  return fastest;
}

async function rawViem(): Promise<number> {
  const accounts = Array.from({ length: WALLETS }, () => privateKeyToAccount(generatePrivateKey()));
  return best(async () => {
    for (const [i, account] of accounts.entries()) await account.signTransaction(tx(i));
  });
}

async function keystorePaths(keystore: KeyStore, countDecrypts: () => number) {
  const keys: SealedKey[] = [];
  for (let i = 0; i < WALLETS; i += 1) {
    const userId = `bench-${i}`;
    const w = await keystore.createWallet(userId);
    keys.push({ userId, address: w.address, ciphertext: w.ciphertext });
  }
  const before = countDecrypts();
  const batch = await best(() =>
    keystore.withSigners(keys, async (set) => {
      for (const [i, k] of keys.entries()) await set.get(k.userId).signTransaction(tx(i));
    }),
  );
  const batchCalls = (countDecrypts() - before) / ROUNDS;
  const mid = countDecrypts();
  const single = await best(async () => {
    for (const [i, k] of keys.entries()) await keystore.signTransaction(k, tx(i));
  });
  return { batch, single, batchCalls, singleCalls: (countDecrypts() - mid) / ROUNDS };
}

export async function run(): Promise<Record<string, unknown>> {
  const raw = await rawViem();

  const vault = await createVaultDouble();
  const client = createVaultClient({ endpoint: vault.url, auth: { kind: 'token', token: new Secret(vault.rootToken) }, logger });
  const vaultStore = await createVaultKeyStore({ client, keyName: 'bench', logger });
  const v = await keystorePaths(vaultStore, () => vault.requestCount('/transit/decrypt/'));
  await vaultStore.close();
  await vault.close();

  const dir = mkdtempSync(join(tmpdir(), 'vanta-bench-keys-'));
  const localStore = await createLocalKeyStore({ dataDir: dir, mode: 'sandbox', allowInLive: false, logger });
  const l = await keystorePaths(localStore, () => 0);
  await localStore.close();
  rmSync(dir, { recursive: true, force: true });

  const perSig = (s: number) => round((s / WALLETS) * 1e6, 0);
  return {
    wallets: WALLETS,
    rounds: ROUNDS,
    raw_viem_us_per_signature: perSig(raw),
    vault_batch_us_per_signature: perSig(v.batch),
    vault_single_us_per_signature: perSig(v.single),
    vault_batch_vs_raw: round(v.batch / raw),
    vault_single_vs_raw: round(v.single / raw),
    vault_single_vs_batch: round(v.single / v.batch),
    vault_decrypt_requests_batch: v.batchCalls,
    vault_decrypt_requests_single: v.singleCalls,
    local_batch_us_per_signature: perSig(l.batch),
    local_single_us_per_signature: perSig(l.single),
    local_batch_vs_raw: round(l.batch / raw),
    local_single_vs_raw: round(l.single / raw),
    local_single_vs_batch: round(l.single / l.batch),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(JSON.stringify({ bench: 'signing', ...(await run()) }, null, 2));
}
