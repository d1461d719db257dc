/**
 * Operator command: rotate the key that wraps wallet keys, rewrap every stored
 * ciphertext, then raise min_decryption_version. Uses the engine's
 * environment (VAULT_ADDR, VAULT_TRANSIT_KEY, DATABASE_URL or DATA_DIR) with
 * one difference: against Vault it authenticates with VAULT_OPERATOR_TOKEN
 * (policy vanta-rotation), never the engine's VAULT_TOKEN or AppRole, which
 * may only encrypt and decrypt; without it, it refuses before doing anything.
 * Resumable: Ctrl-C stops between batches and the next run continues where it
 * stopped. The engine may keep running meanwhile (against PostgreSQL; the
 * embedded database admits one process): signing works before, during and
 * after, and with the local keystore the master key file is what both share.
 *
 *   npm run keys:rotate [-- --batch 250]
 *
 * Exit codes: 0 done, 1 not done (incomplete, aborted or failed: run it
 * again), 78 configuration (nothing was changed).
 */
import { parseArgs } from 'node:util';
import { Registry } from 'prom-client';
import { ConfigError, describeError } from '../src/errors.ts';
import { CONFIG_EXIT_CODE, loadConfig, type Config } from '../src/infra/config.ts';
import { createDatabase } from '../src/infra/db/database.ts';
import { KeyError } from '../src/infra/keys/errors.ts';
import { createKeyStoreFromConfig, rotationConfigProblem } from '../src/infra/keys/from-config.ts';
import type { KeyStore } from '../src/infra/keys/keystore.ts';
import { runKeyRotation } from '../src/infra/keys/rotation.ts';
import { createKeyRotationMetrics } from '../src/infra/keys/rotation-metrics.ts';
import { createLogger } from '../src/infra/logger.ts';

const { values } = parseArgs({ options: { batch: { type: 'string', default: '250' } } });

function refuse(message: string, code: number): never {
  process.stderr.write(`keys:rotate: ${message}\n`);
  process.exit(code);
}

let config: Config;
try {
  config = loadConfig(process.env);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  refuse(err.message, CONFIG_EXIT_CODE);
}
const problem = rotationConfigProblem(config);
if (problem !== null) refuse(problem, CONFIG_EXIT_CODE);

const logger = createLogger({ level: config.logLevel, base: { app: 'vanta-keys' } });
const controller = new AbortController();
process.once('SIGINT', () => {
  logger.warn('Stopping after the current batch; run the command again to resume');
  controller.abort();
});

const db = await createDatabase({ target: config.database, logger });
let keystore: KeyStore | null = null;
try {
  keystore = await createKeyStoreFromConfig(config, logger, db, 'rotation');
  const result = await runKeyRotation({
    db,
    keystore,
    logger,
    metrics: createKeyRotationMetrics(new Registry()),
    actor: `operator:${process.env['USER'] ?? 'cli'}`,
    batchSize: Number(values.batch),
    signal: controller.signal,
    onBatch: ({ rewrapped, remaining }) => logger.info({ rewrapped, remaining }, 'Rewrapped a batch'),
  });
  logger.info({ ...result }, 'Key rotation finished');
  process.exitCode = result.outcome === 'done' ? 0 : 1;
} catch (error) {
  // The message says what to do; the stack would only bury it.
  process.stderr.write(`keys:rotate: ${describeError(error).message}\n`);
  process.exitCode = error instanceof KeyError && error.code === 'KEYSTORE_CONFIG' ? CONFIG_EXIT_CODE : 1;
} finally {
  await keystore?.close();
  await db.close();
}
