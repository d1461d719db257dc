import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseEther, parseUnits, type Address } from 'viem';
import type { Logger } from 'pino';
import { abiOf } from './artifacts.ts';
import { createKeyedLock } from '../keyed-lock.ts';
import { startAnvil, type Anvil } from './anvil.ts';
import { createDevnetClients, sendCall, type DevnetClients } from './clients.ts';
import { checkRestoredChain, damagedStateError, deploymentMismatchError, missingStateError } from './consistency.ts';
import { deployAvantisSimulator, type AvantisDeployment } from './deploy.ts';
import { DevnetError } from './errors.ts';
import { createKeeper, type Keeper } from './keeper.ts';
import { isEmptyLedger, type LedgerFacts, type SandboxLedger } from './ledger.ts';
import { stopLeftoverAnvils } from './leftover-anvil.ts';
import { createPriceSimulator, type PriceSimulator } from './price-sim.ts';
import { removeStaleTemps, stateFileStatus, writeFileAtomic, type AtomicWriteHooks } from './state-file.ts';
import { anvilStateSource, createStateSaver, type ChainStateSaver, type StateSaverOptions } from './state-saver.ts';

/**
 * A local Avantis: anvil + the simulator, seeded pairs, a keeper filling orders
 * and a price simulator moving the market. The sandbox (`npm start`) and
 * `npm run devnet` both start it through this function; tests use the same
 * pieces directly.
 *
 * With `stateDir`, the chain survives restarts and crashes (docs/adr/0011):
 * - the engine saves anvil's state atomically (state-saver.ts) and `durableThrough(block)` tells
 *   the order path when a block is on disk, so the database never gets ahead of the saved chain;
 * - at start, an anvil left running by a killed engine is stopped first (leftover-anvil.ts), and
 *   the restored chain is checked against what the database remembers (`ledger`): a missing,
 *   damaged or older state file stops the start with a message naming the fix, never a silent
 *   fresh chain under old wallets and orders.
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
  /**
   * Resolves once the saved chain contains `block` (at once without `stateDir`): wait on it before
   * recording a chain fact of that block in the database.
   */
  durableThrough(block: bigint): Promise<void>;
  /** Stops the loops, saves the chain one last time, stops anvil. */
  stop(): Promise<void>;
}

export interface DevnetOptions {
  readonly logger: Logger;
  readonly stateDir?: string;
  /** What the database remembers about this chain; checked against the restored chain at start. */
  readonly ledger?: SandboxLedger;
  /** How to start a fresh sandbox with this configuration, for the messages that refuse to start. */
  readonly resetHint?: string;
  readonly seed?: number;
  readonly priceIntervalMs?: number;
  readonly volatility?: number;
  readonly stateSaver?: StateSaverOptions & { readonly hooks?: AtomicWriteHooks };
  /**
   * Runs once the chain is deployed or restored, before the keeper and the price simulator start
   * sending (so the deployer's nonces are free). `spareAccount` is an unlocked account nothing
   * else here sends from (the v2 sandbox makes it the doubles' operator).
   */
  readonly beforeLoops?: (devnet: { readonly clients: DevnetClients; readonly deployment: AvantisDeployment; readonly spareAccount: Address }) => Promise<void>;
}

export const STATE_FILE = 'anvil-state.json';
export const DEPLOYMENT_FILE = 'deployment.json';
const DEFAULT_RESET_HINT = 'stop the engine and delete DATA_DIR (this also deletes the sandbox wallets, orders and positions)';

export async function startDevnet(options: DevnetOptions): Promise<Devnet> {
  const { logger } = options;
  const persistent = options.stateDir ? await prepareStateDir(options.stateDir, options, logger) : null;
  const anvil = await startAnvilFor(persistent, options.stateDir, options.resetHint ?? DEFAULT_RESET_HINT, logger);
  const stopping = new AbortController();
  let saver: ChainStateSaver | null = null;
  try {
    const clients = createDevnetClients(anvil.rpcUrl, anvil.chainId);
    const [deployer, keeperAccount, ...traders] = await clients.accounts();
    const faucetAccount = traders.at(-1);
    if (!deployer || !keeperAccount || !faucetAccount) throw new Error('anvil offered fewer than three accounts');
    const saved = persistent?.restored ? await loadDeployment(persistent.deploymentPath, clients) : { deployment: null, why: 'no saved chain' };
    if (persistent?.restored && !saved.deployment && !isEmptyLedger(persistent.facts)) {
      throw deploymentMismatchError(persistent.statePath, persistent.deploymentPath, saved.why, options.resetHint ?? DEFAULT_RESET_HINT);
    }
    const deployment = saved.deployment ?? (await deployAvantisSimulator({ publicClient: clients.publicClient, wallet: clients.wallet(deployer), logger }, { keeper: keeperAccount }));
    if (persistent) {
      if (!saved.deployment) await writeFileAtomic(persistent.deploymentPath, `${JSON.stringify(deployment, null, 2)}\n`);
      saver = createStateSaver({ file: persistent.statePath, ...anvilStateSource(anvil.rpcUrl), logger, ...(options.stateSaver?.hooks ? { hooks: options.stateSaver.hooks } : {}) }, options.stateSaver);
      // The first save before anything can depend on the chain: from here on, the state file
      // exists whenever the database could hold a fact about it.
      await saver.save();
      saver.start();
    }

    // One mint at a time: parallel sends from one account race for the same nonce.
    const mints = createKeyedLock();
    const faucet = async (address: Address) => {
      // Minted from the last anvil account, so it never races the price simulator for the deployer's nonces.
      await mints.run('faucet', () =>
        sendCall(clients.publicClient, clients.wallet(faucetAccount), { address: deployment.usdc, abi: abiOf('SimUSDC'), functionName: 'mint', args: [address, parseUnits('10000', 6)] }, { signal: stopping.signal }),
      );
      // ETH last: the order gateway takes a wallet with no ETH as not funded yet, so a crash
      // between the two funds it again at its next order.
      await clients.testClient.setBalance({ address, value: parseEther('10') });
      logger.info({ address }, 'Funded a sandbox wallet with test ETH and USDC');
    };
    if (persistent?.restored && !isEmptyLedger(persistent.facts)) {
      const { unfunded } = await checkRestoredChain({ client: clients.publicClient, facts: persistent.facts, statePath: persistent.statePath, resetHint: options.resetHint ?? DEFAULT_RESET_HINT });
      for (const address of unfunded) await faucet(address);
      if (unfunded.length) logger.warn({ wallets: unfunded }, 'Funded sandbox wallets again that the saved chain had never seen funded (created just before a crash)');
      logger.info({ wallets: persistent.facts.walletCount, transactions: persistent.facts.transactionCount }, 'The restored sandbox chain matches the database');
    }

    const spareAccount = traders.at(-2);
    if (options.beforeLoops) {
      if (!spareAccount) throw new Error('anvil offered no spare account');
      await options.beforeLoops({ clients, deployment, spareAccount });
    }
    const keeper: Keeper = createKeeper({ publicClient: clients.publicClient, wallet: clients.wallet(keeperAccount), deployment, logger });
    const prices: PriceSimulator = createPriceSimulator(
      { publicClient: clients.publicClient, wallet: clients.wallet(deployer), deployment, logger },
      { seed: options.seed ?? 1, intervalMs: options.priceIntervalMs ?? 1_000, volatility: options.volatility ?? 0.001 },
    );
    keeper.start();
    prices.start();
    const restored = saved.deployment !== null;
    logger.info({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId, restored, pairs: deployment.pairs.length, block: String(saver?.savedThrough ?? -1n) }, 'Devnet running');
    const activeSaver = saver;
    return {
      anvil,
      clients,
      deployment,
      traders,
      restored,
      faucet,
      durableThrough: (block) => activeSaver?.durableThrough(block) ?? Promise.resolve(),
      async stop() {
        stopping.abort(new Error('devnet stopping'));
        await Promise.all([prices.stop(), keeper.stop()]);
        await activeSaver?.stop({ finalSave: true });
        await anvil.stop();
      },
    };
  } catch (err) {
    stopping.abort(new Error('devnet start failed'));
    // Nothing is saved from a failed start: the state file stays as the last good run left it.
    await saver?.stop();
    await anvil.stop();
    throw err;
  }
}

interface PersistentState {
  readonly statePath: string;
  readonly deploymentPath: string;
  /** A state file exists and anvil is to load it. */
  readonly restored: boolean;
  /** Its size: anvil loads about 40 MB a second, and a long-lived sandbox's chain is large. */
  readonly bytes: number;
  readonly facts: LedgerFacts;
}

const NO_FACTS: LedgerFacts = { walletCount: 0, transactionCount: 0, wallets: [], usedNonces: [], latestMined: [] };

/** Clears what a crash can leave behind and decides between restoring and starting afresh. */
async function prepareStateDir(stateDir: string, options: DevnetOptions, logger: Logger): Promise<PersistentState> {
  const statePath = path.join(stateDir, STATE_FILE);
  const deploymentPath = path.join(stateDir, DEPLOYMENT_FILE);
  const resetHint = options.resetHint ?? DEFAULT_RESET_HINT;
  await mkdir(stateDir, { recursive: true });
  // Before anything reads the state: a leftover anvil serves a chain nobody saves any more.
  await stopLeftoverAnvils(stateDir, logger);
  const stale = [...(await removeStaleTemps(statePath)), ...(await removeStaleTemps(deploymentPath))];
  if (stale.length) logger.info({ files: stale }, 'Removed half-written state files left by a crash (the complete state was kept)');
  const facts = options.ledger ? await options.ledger.read() : NO_FACTS;
  const status = await stateFileStatus(statePath);
  if (status.kind === 'missing') {
    if (!isEmptyLedger(facts)) throw missingStateError(statePath, facts, resetHint);
    logger.info({ statePath }, 'No saved sandbox chain: starting a fresh one');
    return { statePath, deploymentPath, restored: false, bytes: 0, facts };
  }
  if (status.kind === 'empty') throw damagedStateError(statePath, 'the file is empty', resetHint);
  return { statePath, deploymentPath, restored: true, bytes: status.bytes, facts };
}

async function startAnvilFor(persistent: PersistentState | null, stateDir: string | undefined, resetHint: string, logger: Logger): Promise<Anvil> {
  try {
    const loading = persistent?.restored ? { loadStatePath: persistent.statePath, startupTimeoutMs: 15_000 + Math.ceil(persistent.bytes / 20e6) * 1_000 } : {};
    return await startAnvil({ logger, ...(stateDir ? { ownerDir: stateDir } : {}), ...loading });
  } catch (err) {
    // anvil names the file in its refusal ("invalid value '…' for '--load-state <PATH>': …").
    if (persistent?.restored && err instanceof DevnetError && err.message.includes('--load-state')) {
      const detail = /--load-state <PATH>'?: (.*)$/m.exec(err.message)?.[1] ?? 'anvil refused it';
      throw damagedStateError(persistent.statePath, detail.trim(), resetHint);
    }
    throw err;
  }
}

/** The saved deployment, if its contracts are on the restored chain; otherwise why not. */
async function loadDeployment(file: string, clients: DevnetClients): Promise<{ deployment: AvantisDeployment | null; why: string }> {
  let deployment: AvantisDeployment;
  try {
    deployment = JSON.parse(await readFile(file, 'utf8')) as AvantisDeployment;
  } catch (err) {
    return { deployment: null, why: (err as NodeJS.ErrnoException).code === 'ENOENT' ? `${path.basename(file)} is missing` : `${path.basename(file)} cannot be read` };
  }
  const code = await clients.publicClient.getCode({ address: deployment.trading });
  return code && code !== '0x' ? { deployment, why: '' } : { deployment: null, why: `no contract at the Trading address ${deployment.trading} it names` };
}
