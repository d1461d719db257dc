import { parseUnits, type Address, type Hex, type PublicClient } from 'viem';
import type { Logger } from 'pino';
import { abiOf, loadArtifact, type SimulatorContract } from './artifacts.ts';
import { deployContract, sendCall, type DevnetWallet } from './clients.ts';
import { COMMON_PAIR_VALUES, GROUPS, PAIRS, type FeeSeed, type PairSeed } from './pairs.ts';
import { CHAINLINK_DECIMALS, encodePythUpdate, percent1e10, price1e10, toChainlinkAnswer } from './prices.ts';

/** Addresses of one simulator deployment, plus what each seeded pair was given. */
export interface AvantisDeployment {
  readonly chainId: number;
  readonly deployer: Address;
  readonly keeper: Address;
  readonly usdc: Address;
  readonly pyth: Address;
  readonly pairStorage: Address;
  readonly pairInfos: Address;
  readonly priceAggregator: Address;
  readonly tradingStorage: Address;
  readonly vaultManager: Address;
  readonly tradingCallbacks: Address;
  readonly trading: Address;
  readonly pairs: readonly DeployedPair[];
}

export interface DeployedPair {
  readonly index: number;
  readonly name: string;
  readonly pythFeedId: Hex;
  /** The pair's SimChainlinkAggregator (its `pairBackupFeed(i).feedId`). */
  readonly chainlinkFeed: Address;
}

export interface DeployDeps {
  readonly publicClient: PublicClient;
  /** The deployer; it becomes `gov` of every contract and owns the price feeds. */
  readonly wallet: DevnetWallet;
  readonly logger: Logger;
}

export interface DeployOptions {
  /** Allowed to call the keeper functions. Default: the deployer. */
  readonly keeper?: Address;
  /** Default: all of ./pairs.ts. */
  readonly pairs?: readonly PairSeed[];
  /** USDC minted to the vault so profits can be paid. Default 10,000,000 USDC. */
  readonly vaultLiquidityUsdc?: bigint;
}

const PYTH_UPDATE_FEE_WEI = 1n; // what Base charges per update, and what the SDK sends (AVANTIS.md §3.6)
const DEFAULT_VAULT_LIQUIDITY = 10_000_000n * 1_000_000n;
const ZERO_FEED_ID: Hex = `0x${'0'.repeat(64)}`;

/** The deployment's Avantis contracts in the protocol client's shape. */
export function avantisAddressesOf(d: AvantisDeployment): {
  trading: Address;
  tradingStorage: Address;
  tradingCallbacks: Address;
  pairStorage: Address;
  pairInfos: Address;
  priceAggregator: Address;
  usdc: Address;
} {
  return { trading: d.trading, tradingStorage: d.tradingStorage, tradingCallbacks: d.tradingCallbacks, pairStorage: d.pairStorage, pairInfos: d.pairInfos, priceAggregator: d.priceAggregator, usdc: d.usdc };
}

/**
 * Deploys and wires the Avantis simulator, lists the pairs at their real indexes, gives each a
 * Chainlink-style feed at its start price, publishes a first Pyth price and funds the vault.
 */
export async function deployAvantisSimulator(deps: DeployDeps, options: DeployOptions = {}): Promise<AvantisDeployment> {
  const started = performance.now();
  const { publicClient, wallet } = deps;
  const deployer = wallet.account.address;
  const keeper = options.keeper ?? deployer;
  const deploy = (name: SimulatorContract, args: readonly unknown[] = []) => deployContract(publicClient, wallet, loadArtifact(name), args);
  const call = (address: Address, contract: SimulatorContract, functionName: string, args: readonly unknown[], value?: bigint) =>
    sendCall(publicClient, wallet, { address, abi: abiOf(contract), functionName, args, ...(value === undefined ? {} : { value }) });

  const usdc = await deploy('SimUSDC');
  const pyth = await deploy('SimPyth', [PYTH_UPDATE_FEE_WEI]);
  const pairStorage = await deploy('PairStorage');
  const pairInfos = await deploy('PairInfos');
  const tradingStorage = await deploy('TradingStorage', [usdc]);
  const vaultManager = await deploy('SimVaultManager', [usdc]);
  const priceAggregator = await deploy('PriceAggregator', [pairStorage, pyth]);
  const tradingCallbacks = await deploy('TradingCallbacks', [tradingStorage, pairStorage, pairInfos, priceAggregator, vaultManager]);
  const trading = await deploy('Trading', [tradingStorage, pairStorage, pairInfos, priceAggregator, tradingCallbacks]);

  await call(tradingStorage, 'TradingStorage', 'setTrading', [trading]);
  await call(tradingStorage, 'TradingStorage', 'setCallbacks', [tradingCallbacks]);
  await call(tradingStorage, 'TradingStorage', 'setPriceAggregator', [priceAggregator]);
  await call(tradingStorage, 'TradingStorage', 'setVaultManager', [vaultManager]);
  await call(priceAggregator, 'PriceAggregator', 'setTrading', [trading]);
  await call(tradingCallbacks, 'TradingCallbacks', 'setTrading', [trading]);
  await call(pairInfos, 'PairInfos', 'setCallbacks', [tradingCallbacks]);
  await call(vaultManager, 'SimVaultManager', 'setCallbacks', [tradingCallbacks]);
  await call(trading, 'Trading', 'updateOperator', [keeper, true]);
  await call(usdc, 'SimUSDC', 'mint', [vaultManager, options.vaultLiquidityUsdc ?? DEFAULT_VAULT_LIQUIDITY]);

  const seeds = [...(options.pairs ?? PAIRS)].sort((a, b) => a.index - b.index);
  const pairs = await seedCatalogue(seeds, { deploy, call, pairStorage });
  await publishFirstPythPrices(seeds, { publicClient, call, pyth });

  const chainId = await publicClient.getChainId();
  const deployment: AvantisDeployment = {
    chainId,
    deployer,
    keeper,
    usdc,
    pyth,
    pairStorage,
    pairInfos,
    priceAggregator,
    tradingStorage,
    vaultManager,
    tradingCallbacks,
    trading,
    pairs,
  };
  deps.logger.info({ trading, tradingStorage, pairs: pairs.length, ms: Math.round(performance.now() - started) }, 'Avantis simulator deployed');
  return deployment;
}

/**
 * The simulator's in-place upgrade to v2 (docs/adr/0017-v2-simulator.md): deploys the TradingV2
 * facet on the same contracts and has Trading's fallback delegate to it, so the v2 entry points
 * (EIP-712 intents, several delegates, nonce bitmap) answer at the Trading address, on the same
 * storage. Before it the deployment is pure v1 (what detect.ts verifies). `wallet` must be gov.
 * Returns the facet's address.
 */
export async function upgradeSimulatorToV2(deps: DeployDeps, deployment: AvantisDeployment): Promise<Address> {
  const { publicClient, wallet } = deps;
  const facet = await deployContract(publicClient, wallet, loadArtifact('TradingV2'), [
    deployment.tradingStorage,
    deployment.pairStorage,
    deployment.pairInfos,
    deployment.priceAggregator,
    deployment.tradingCallbacks,
  ]);
  await sendCall(publicClient, wallet, { address: deployment.trading, abi: abiOf('Trading'), functionName: 'setV2Facet', args: [facet] });
  deps.logger.info({ trading: deployment.trading, facet }, 'Avantis simulator upgraded to v2 entry points');
  return facet;
}

type Deploy = (name: SimulatorContract, args?: readonly unknown[]) => Promise<Address>;
type Call = (address: Address, contract: SimulatorContract, functionName: string, args: readonly unknown[], value?: bigint) => Promise<unknown>;

/** Groups, fee tiers and pairs; gaps in the real index space become delisted placeholders. */
async function seedCatalogue(
  seeds: readonly PairSeed[],
  ctx: { deploy: Deploy; call: Call; pairStorage: Address },
): Promise<DeployedPair[]> {
  for (const group of GROUPS) {
    await ctx.call(ctx.pairStorage, 'PairStorage', 'addGroup', [
      { name: group.name, maxOpenInterestP: percent1e10(group.maxOpenInterestP), isSpreadDynamic: group.isSpreadDynamic },
    ]);
  }
  const feeIndexes = new Map<string, number>();
  for (const fee of seeds.map((s) => s.fee)) {
    const key = feeKey(fee);
    if (feeIndexes.has(key)) continue;
    await ctx.call(ctx.pairStorage, 'PairStorage', 'addFee', [feeStruct(fee)]);
    feeIndexes.set(key, feeIndexes.size);
  }

  const deployed: DeployedPair[] = [];
  const lastIndex = seeds.at(-1)?.index ?? -1;
  for (let index = 0; index <= lastIndex; index++) {
    const seed = seeds.find((s) => s.index === index);
    if (!seed) {
      await ctx.call(ctx.pairStorage, 'PairStorage', 'addPair', [placeholderPair()]);
      continue;
    }
    const name = `${seed.from}/${seed.to}`;
    const feed = await ctx.deploy('SimChainlinkAggregator', [CHAINLINK_DECIMALS, `${seed.from} / ${seed.to}`, toChainlinkAnswer(price1e10(seed.startPrice))]);
    await ctx.call(ctx.pairStorage, 'PairStorage', 'addPair', [pairStruct(seed, feed, feeIndexes.get(feeKey(seed.fee)) ?? 0)]);
    await ctx.call(ctx.pairStorage, 'PairStorage', 'setPairData', [BigInt(index), seed.from, seed.to, 0n, [], []]);
    deployed.push({ index, name, pythFeedId: seed.pythFeedId, chainlinkFeed: feed });
  }
  return deployed;
}

/** Every listed pair gets a Pyth price at once, so one-step calls work before the first fill. */
async function publishFirstPythPrices(seeds: readonly PairSeed[], ctx: { publicClient: PublicClient; call: Call; pyth: Address }): Promise<void> {
  const block = await ctx.publicClient.getBlock();
  const updates = seeds.map((s) => encodePythUpdate({ feedId: s.pythFeedId, price: price1e10(s.startPrice), publishTime: block.timestamp }));
  await ctx.call(ctx.pyth, 'SimPyth', 'updatePriceFeeds', [updates], PYTH_UPDATE_FEE_WEI * BigInt(updates.length));
}

function feeKey(fee: FeeSeed): string {
  return `${fee.openFeeP}/${fee.closeFeeP}`;
}

function feeStruct(fee: FeeSeed) {
  return {
    openFeeP: percent1e10(fee.openFeeP),
    closeFeeP: percent1e10(fee.closeFeeP),
    limitOrderFeeP: percent1e10(COMMON_PAIR_VALUES.limitOrderFeeP),
    minLevPosUSDC: parseUnits(COMMON_PAIR_VALUES.minLevPosUSDC, 6),
    pnlFees: { numTiers: 0n, tierP: [], feesP: [] },
  };
}

function pairStruct(seed: PairSeed, chainlinkFeed: Address, feeIndex: number) {
  return {
    feed: {
      maxOpenDeviationP: percent1e10(COMMON_PAIR_VALUES.maxOpenDeviationP),
      maxCloseDeviationP: percent1e10(COMMON_PAIR_VALUES.maxCloseDeviationP),
      feedId: seed.pythFeedId,
    },
    // Every devnet pair gets a Chainlink-style feed (the bot reads it as its primary price);
    // the deviation check stays off (0) where mainnet has no backup feed.
    backupFeed: { maxDeviationP: seed.backupMaxDeviationP === null ? 0n : percent1e10(seed.backupMaxDeviationP), feedId: chainlinkFeed },
    spreadP: percent1e10(seed.spreadP),
    pnlSpreadP: percent1e10(seed.spreadP),
    leverages: {
      minLeverage: percent1e10(String(seed.minLeverage)),
      maxLeverage: percent1e10(String(seed.maxLeverage)),
      pnlMinLeverage: percent1e10(COMMON_PAIR_VALUES.pnlMinLeverage),
      pnlMaxLeverage: percent1e10(COMMON_PAIR_VALUES.pnlMaxLeverage),
    },
    priceImpactMultiplier: 0n,
    skewImpactMultiplier: 0n,
    groupIndex: BigInt(seed.groupIndex),
    feeIndex: BigInt(feeIndex),
    values: {
      maxGainP: percent1e10(COMMON_PAIR_VALUES.maxGainP),
      maxSlP: percent1e10(COMMON_PAIR_VALUES.maxSlP),
      maxLongOiP: 0n,
      maxShortOiP: 0n,
      groupOpenInterestPecentage: 0n,
      maxWalletOI: 0n,
      isUSDCAligned: false,
    },
  };
}

/** A delisted slot: it exists so later pairs keep their real index; `from` stays empty. */
function placeholderPair() {
  const none = { ...pairStruct(PAIRS[0] as PairSeed, '0x0000000000000000000000000000000000000000', 0) };
  return { ...none, feed: { ...none.feed, feedId: ZERO_FEED_ID }, backupFeed: { maxDeviationP: 0n, feedId: none.backupFeed.feedId } };
}
