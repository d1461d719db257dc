/**
 * A local Avantis: anvil + the simulator, seeded pairs, a keeper filling orders and a price
 * simulator moving the market. Writes what a client needs to ./data/devnet.json (or --out) and
 * removes it again on SIGINT/SIGTERM, after stopping everything it started.
 *
 *   npm run devnet [-- --out ./data/devnet.json --seed 1 --interval-ms 1000 --volatility 0.001]
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startDevnet } from '../src/infra/devnet/start-devnet.ts';
import { createLogger } from '../src/infra/logger.ts';
import { createShutdown } from '../src/infra/shutdown.ts';

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: './data/devnet.json' },
    seed: { type: 'string', default: '1' },
    'interval-ms': { type: 'string', default: '1000' },
    volatility: { type: 'string', default: '0.001' },
  },
});

const logger = createLogger({ level: process.env.LOG_LEVEL ?? 'info', base: { app: 'vanta-devnet' } });
const shutdown = createShutdown({ logger, graceMs: 10_000 });
const outFile = path.resolve(values.out);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void shutdown.run(signal).then((code) => process.exit(code));
  });
}

try {
  const devnet = await startDevnet({ logger, seed: Number(values.seed), priceIntervalMs: Number(values['interval-ms']), volatility: Number(values.volatility) });
  shutdown.add('devnet', () => devnet.stop());
  await mkdir(path.dirname(outFile), { recursive: true });
  const description = { rpcUrl: devnet.anvil.rpcUrl, startedAt: new Date().toISOString(), traders: devnet.traders, ...devnet.deployment };
  await writeFile(outFile, `${JSON.stringify(description, null, 2)}\n`);
  shutdown.add('devnet file', () => rm(outFile, { force: true }));
  logger.info({ rpcUrl: devnet.anvil.rpcUrl, chainId: devnet.anvil.chainId, file: outFile, pairs: devnet.deployment.pairs.length }, 'Devnet running; Ctrl-C stops it');
} catch (err) {
  logger.error({ err }, 'Devnet failed to start');
  process.exit(await shutdown.run('start-up failed', 1));
}
