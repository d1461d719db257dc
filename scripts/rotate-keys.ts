/**
 * Operator command: rotate the key that wraps wallet keys, rewrap every stored
 * ciphertext, then raise min_decryption_version. Uses the same environment as
 * the engine (VAULT_*, DATABASE_URL or DATA_DIR). Resumable: Ctrl-C stops
 * between batches and the next run continues where it stopped. The engine may
 * keep running meanwhile; signing works before, during and after.
 *
 *   npm run keys:rotate [-- --batch 250]
 */
import { parseArgs } from 'node:util';
import { Registry } from 'prom-client';
import { ConfigError } from '../src/errors.ts';
import { CONFIG_EXIT_CODE, loadConfig } from '../src/infra/config.ts';
import { createDatabase } from '../src/infra/db/database.ts';
import { createKeyStoreFromConfig } from '../src/infra/keys/from-config.ts';
import { runKeyRotation } from '../src/infra/keys/rotation.ts';
import { createKeyRotationMetrics } from '../src/infra/keys/rotation-metrics.ts';
import { createLogger } from '../src/infra/logger.ts';

const { values } = parseArgs({ options: { batch: { type: 'string', default: '250' } } });
let config;
try {
  config = loadConfig(process.env);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`keys:rotate: ${err.message}\n`);
  process.exit(CONFIG_EXIT_CODE);
}
const logger = createLogger({ level: config.logLevel, base: { app: 'vanta-keys' } });
const controller = new AbortController();
process.once('SIGINT', () => {
  logger.warn('Stopping after the current batch; run the command again to resume');
  controller.abort();
});

const db = await createDatabase({ target: config.database, logger });
const keystore = await createKeyStoreFromConfig(config, logger, db);
try {
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
} finally {
  await keystore.close();
  await db.close();
}
