import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseEther, parseUnits, type Address } from 'viem';
import { abiOf } from './artifacts.ts';
import type { Logger } from 'pino';
import { startAnvil, type Anvil } from './anvil.ts';
import { createDevnetClients, sendCall, type DevnetClients } from './clients.ts';
import { deployAvantisSimulator, type AvantisDeployment } from './deploy.ts';
import { createKeeper, type Keeper } from './keeper.ts';
import { createPriceSimulator, type PriceSimulator } from './price-sim.ts';

/**
 * A local Avantis: anvil + the simulator, seeded pairs, a keeper filling orders
 * and a price simulator moving the market. The sandbox (`npm start`) and
 * `npm run devnet` both start it through this function; tests use the same
 * pieces directly.
 *
 * With `stateDir`, the chain survives restarts: anvil keeps its state in a file
 * there and the deployment's addresses are kept beside it, so a restarted
 * sandbox finds its contracts, balances and positions where it left them.
 */
export interface Devnet {
  readonly anvil: Anvil;
  readonly clients: DevnetClients;
  readonly deployment: AvantisDeployment;
  /** anvil's unlocked accounts after the deployer and the keeper. */
  readonly traders: readonly Address[];
  /** True when the chain and its deployment were restored from `stateDir`. */
  readonly restored: boolean;
  /** Gives a wallet 10 test ETH for gas and 10,000 test USDC (sandbox wallets start empty). */
  faucet(address: Address): Promise<void>;
  stop(): Promise<void>;
}

export interface DevnetOptions {
  readonly logger: Logger;
  readonly stateDir?: string;
  readonly seed?: number;
  readonly priceIntervalMs?: number;
  readonly volatility?: number;
}

export async function startDevnet(options: DevnetOptions): Promise<Devnet> {
  const { logger } = options;
  const statePath = options.stateDir ? path.join(options.stateDir, 'anvil-state.json') : undefined;
  const deploymentPath = options.stateDir ? path.join(options.stateDir, 'deployment.json') : undefined;
  if (options.stateDir) await mkdir(options.stateDir, { recursive: true });
  const anvil = await startAnvil({ logger, ...(statePath ? { statePath } : {}) });
  try {
    const clients = createDevnetClients(anvil.rpcUrl, anvil.chainId);
    const [deployer, keeperAccount, ...traders] = await clients.accounts();
    const faucetAccount = traders.at(-1);
    if (!deployer || !keeperAccount || !faucetAccount) throw new Error('anvil offered fewer than three accounts');
    const saved = deploymentPath ? await loadDeployment(deploymentPath, clients) : null;
    const deployment = saved ?? (await deployAvantisSimulator({ publicClient: clients.publicClient, wallet: clients.wallet(deployer), logger }, { keeper: keeperAccount }));
    if (!saved && deploymentPath) await writeFile(deploymentPath, `${JSON.stringify(deployment, null, 2)}\n`);
    const keeper: Keeper = createKeeper({ publicClient: clients.publicClient, wallet: clients.wallet(keeperAccount), deployment, logger });
    const prices: PriceSimulator = createPriceSimulator(
      { publicClient: clients.publicClient, wallet: clients.wallet(deployer), deployment, logger },
      { seed: options.seed ?? 1, intervalMs: options.priceIntervalMs ?? 1_000, volatility: options.volatility ?? 0.001 },
    );
    keeper.start();
    prices.start();
    logger.info({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId, restored: saved !== null, pairs: deployment.pairs.length }, 'Devnet running');
    return {
      anvil,
      clients,
      deployment,
      traders,
      restored: saved !== null,
      async faucet(address) {
        await clients.testClient.setBalance({ address, value: parseEther('10') });
        // Minted from the last anvil account, so it never races the price simulator for the deployer's nonces.
        await sendCall(clients.publicClient, clients.wallet(faucetAccount), { address: deployment.usdc, abi: abiOf('SimUSDC'), functionName: 'mint', args: [address, parseUnits('10000', 6)] });
        logger.info({ address }, 'Funded a sandbox wallet with test ETH and USDC');
      },
      async stop() {
        await prices.stop();
        await keeper.stop();
        await anvil.stop();
      },
    };
  } catch (err) {
    await anvil.stop();
    throw err;
  }
}

/** The saved deployment, if its contracts are on the restored chain; otherwise null (deploy afresh). */
async function loadDeployment(file: string, clients: DevnetClients): Promise<AvantisDeployment | null> {
  if (!existsSync(file)) return null;
  const deployment = JSON.parse(await readFile(file, 'utf8')) as AvantisDeployment;
  const code = await clients.publicClient.getCode({ address: deployment.trading });
  return code && code !== '0x' ? deployment : null;
}
