/**
 * One anvil + one simulator deployment per test file, rolled back to a snapshot after each test.
 * Helpers speak the protocol's units (USDC 1e6, prices/leverage/percent 1e10) and read events
 * with the reference v1 ABIs, so every assertion also checks the client-facing interface.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEventLogs, parseUnits, type Abi, type Address, type Hex, type TransactionReceipt } from 'viem';
import { startAnvil, type Anvil } from '../../../src/infra/devnet/anvil.ts';
import { abiOf, type SimulatorContract } from '../../../src/infra/devnet/artifacts.ts';
import { createDevnetClients, sendCall, type DevnetClients } from '../../../src/infra/devnet/clients.ts';
import { deployAvantisSimulator, type AvantisDeployment } from '../../../src/infra/devnet/deploy.ts';
import { createKeeper, type Keeper } from '../../../src/infra/devnet/keeper.ts';
import { createPriceSimulator, type PriceSimulator } from '../../../src/infra/devnet/price-sim.ts';
import { currentPriceUpdate } from '../../../src/infra/devnet/price-updates.ts';
import { price1e10 } from '../../../src/infra/devnet/prices.ts';
import { createSimReads, type SimReads, type Trade } from '../../../src/infra/devnet/sim-reads.ts';
import { silentLogger } from '../../helpers/common.ts';
import { createLogger } from '../../../src/infra/logger.ts';

export const USDC = (amount: string) => parseUnits(amount, 6);
export const PRICE = price1e10;
export const PERCENT = (p: string) => parseUnits(p, 10);
export const LEVERAGE = (x: string) => parseUnits(x, 10);
export const ETH = 0n;
export const BTC = 1n;

/** The reference v1 ABIs the project ships (byte-identical to the shared set). */
export function referenceAbi(name: string): Abi {
  const file = path.join(import.meta.dirname, '../../../src/infra/chain/abi/v1', `${name}.json`);
  return JSON.parse(readFileSync(file, 'utf8')) as Abi;
}

export interface SimFixture {
  readonly anvil: Anvil;
  readonly clients: DevnetClients;
  readonly deployment: AvantisDeployment;
  readonly reads: SimReads;
  readonly deployer: Address;
  readonly keeperAddress: Address;
  readonly traders: readonly Address[];
  /** A fresh keeper per test: snapshots roll the chain back under it. */
  keeper(): Keeper;
  priceSim(seed?: number): PriceSimulator;
  /** Sets the pair's oracle price (its Chainlink-style feed). */
  setPrice(pairIndex: bigint, price: bigint): Promise<void>;
  call(from: Address, contract: SimulatorContract, address: Address, functionName: string, args: readonly unknown[], value?: bigint): Promise<TransactionReceipt>;
  /** Calls Trading as `from`, with the reference v1 ABI. */
  trading(from: Address, functionName: string, args: readonly unknown[], value?: bigint): Promise<TransactionReceipt>;
  fund(trader: Address, amount: bigint): Promise<void>;
  priceUpdateData(pairIndex: bigint): Promise<readonly Hex[]>;
  mine(blocks: number): Promise<void>;
  usdc(owner: Address): Promise<bigint>;
  /** Total USDC held by every account that can hold it: must never change. */
  usdcTotal(): Promise<bigint>;
  /** USDC TradingStorage should hold by its own books. */
  storageBooks(): Promise<{ held: bigint; booked: bigint }>;
  close(): Promise<void>;
}

/**
 * Mocha hooks for a suite on one simulator: started before the suite, rolled back to a snapshot
 * after every test, stopped after the suite. `onReady` receives the fixture once it is up.
 */
export function useSimulator(onReady: (fixture: SimFixture) => void): void {
  let fixture: SimFixture | undefined;
  let snapshot: `0x${string}` | undefined;
  before(async function () {
    fixture = await startSimulator();
    onReady(fixture);
  });
  after(async function () {
    await fixture?.close();
  });
  beforeEach(async function () {
    snapshot = await fixture!.clients.testClient.snapshot();
  });
  afterEach(async function () {
    if (snapshot) await fixture!.clients.testClient.revert({ id: snapshot });
  });
}

export async function startSimulator(): Promise<SimFixture> {
  const anvil = await startAnvil();
  try {
    return await buildFixture(anvil);
  } catch (error) {
    await anvil.stop();
    throw error;
  }
}

async function buildFixture(anvil: Anvil): Promise<SimFixture> {
  const logger = process.env.DEVNET_TEST_LOG ? createLogger({ level: process.env.DEVNET_TEST_LOG, destination: process.stderr }) : silentLogger();
  const clients = createDevnetClients(anvil.rpcUrl, anvil.chainId);
  const accounts = await clients.accounts();
  const [deployer, keeperAddress, ...traders] = accounts as [Address, Address, ...Address[]];
  const { publicClient } = clients;
  const deployment = await deployAvantisSimulator({ publicClient, wallet: clients.wallet(deployer), logger }, { keeper: keeperAddress });
  const reads = createSimReads(publicClient, deployment);
  const pairOf = (pairIndex: bigint) => {
    const pair = deployment.pairs.find((p) => BigInt(p.index) === pairIndex);
    if (!pair) throw new Error(`pair ${pairIndex} not deployed`);
    return pair;
  };
  const call: SimFixture['call'] = (from, contract, address, functionName, args, value) =>
    sendCall(publicClient, clients.wallet(from), { address, abi: abiOf(contract), functionName, args, ...(value === undefined ? {} : { value }) });
  const tradingAbi = referenceAbi('Trading');

  const fixture: SimFixture = {
    anvil,
    clients,
    deployment,
    reads,
    deployer,
    keeperAddress,
    traders,
    keeper: () => createKeeper({ publicClient, wallet: clients.wallet(keeperAddress), deployment, logger }),
    priceSim: (seed = 7) => createPriceSimulator({ publicClient, wallet: clients.wallet(deployer), deployment, logger }, { seed }),
    async setPrice(pairIndex, price) {
      const { timestamp } = await publicClient.getBlock();
      await call(deployer, 'SimChainlinkAggregator', pairOf(pairIndex).chainlinkFeed, 'setAnswer', [price / 100n, timestamp]);
    },
    call,
    trading: (from, functionName, args, value) =>
      sendCall(publicClient, clients.wallet(from), { address: deployment.trading, abi: tradingAbi, functionName, args, ...(value === undefined ? {} : { value }) }),
    async fund(trader, amount) {
      await call(trader, 'SimUSDC', deployment.usdc, 'mint', [trader, amount]);
      await call(trader, 'SimUSDC', deployment.usdc, 'approve', [deployment.tradingStorage, 2n ** 256n - 1n]);
    },
    async priceUpdateData(pairIndex) {
      return (await currentPriceUpdate(publicClient, reads, pairOf(pairIndex))).priceUpdateData;
    },
    mine: (blocks) => clients.testClient.mine({ blocks }),
    usdc: (owner) => reads.usdcBalance(owner),
    async usdcTotal() {
      const balances = await Promise.all(
        [...accounts, deployment.tradingStorage, deployment.vaultManager, deployment.trading, deployment.tradingCallbacks].map((a) => reads.usdcBalance(a)),
      );
      return balances.reduce((a, b) => a + b, 0n);
    },
    async storageBooks() {
      return { held: await reads.usdcBalance(deployment.tradingStorage), booked: await bookedInStorage(fixture) };
    },
    close: () => anvil.stop(),
  };
  return fixture;
}

/** Open collateral + pending opens + limit escrow + fees, from the storage's own views. */
async function bookedInStorage(f: SimFixture): Promise<bigint> {
  const read = <T>(functionName: string, args: readonly unknown[] = []) =>
    f.clients.publicClient.readContract({ address: f.deployment.tradingStorage, abi: abiOf('TradingStorage'), functionName, args }) as Promise<T>;
  let booked = await read<bigint>('govFeesUSDC');
  for (const order of await f.reads.openLimitOrders()) booked += order.positionSize;
  for (const trader of f.traders) {
    for (const id of await read<readonly bigint[]>('getPendingOrderIds', [trader])) {
      if (await f.reads.isPendingOpen(id)) booked += (await f.reads.pendingOrder(id)).trade.positionSizeUSDC;
    }
    for (const pair of f.deployment.pairs) {
      let left = await read<bigint>('openTradesCount', [trader, BigInt(pair.index)]);
      for (let i = 0n; left > 0n; i++) {
        const trade = await f.reads.openTrade(trader, BigInt(pair.index), i);
        if (trade.leverage === 0n) continue;
        booked += trade.initialPosToken;
        left--;
      }
    }
  }
  return booked;
}

/** Decoded events of `eventName` in a receipt, with the address that emitted each. */
export function eventsOf<T>(receipt: TransactionReceipt, abi: Abi, eventName: string): { args: T; address: Address }[] {
  return parseEventLogs({ abi, logs: receipt.logs, eventName }).map((log) => ({
    args: (log as unknown as { args: T }).args,
    address: log.address,
  }));
}

export interface OpenRequest {
  readonly pairIndex?: bigint;
  readonly buy: boolean;
  readonly collateral: bigint;
  readonly leverage: bigint;
  readonly openPrice: bigint;
  readonly tp?: bigint;
  readonly sl?: bigint;
  readonly type?: number;
  readonly slippageP?: bigint;
}

/** The `Trade` tuple `openTrade` takes, with the SDK's conventions (index/initialPosToken/timestamp 0). */
export function tradeInput(trader: Address, r: OpenRequest): Trade {
  return {
    trader,
    pairIndex: r.pairIndex ?? ETH,
    index: 0n,
    initialPosToken: 0n,
    positionSizeUSDC: r.collateral,
    openPrice: r.openPrice,
    buy: r.buy,
    leverage: r.leverage,
    tp: r.tp ?? 0n,
    sl: r.sl ?? 0n,
    timestamp: 0n,
  };
}

/** Sends openTrade (market by default) and returns the orderId from `MarketOrderInitiated`. */
export async function requestOpen(f: SimFixture, trader: Address, r: OpenRequest): Promise<{ orderId: bigint; receipt: TransactionReceipt }> {
  const receipt = await f.trading(trader, 'openTrade', [tradeInput(trader, r), r.type ?? 0, r.slippageP ?? PERCENT('1')], EXEC_FEE_WEI);
  const [initiated] = eventsOf<{ orderId: bigint }>(receipt, referenceAbi('Trading'), 'MarketOrderInitiated');
  return { orderId: initiated?.args.orderId ?? 0n, receipt };
}

/** The ETH execution fee a trader attaches (the SDK's fallback value, AVANTIS.md §3.4). */
export const EXEC_FEE_WEI = 350_000_000_000_000n;

/** Expected close settlement, computed from AVANTIS.md §4.5 independently of the contracts. */
export function expectedClose(args: {
  readonly openPrice: bigint;
  readonly closePrice: bigint;
  readonly buy: boolean;
  readonly leverage: bigint;
  readonly collateral: bigint;
  readonly closeFeeP: bigint;
}): { percentProfit: bigint; pnl: bigint; closingFee: bigint; value: bigint } {
  const move = args.buy ? args.closePrice - args.openPrice : args.openPrice - args.closePrice;
  let percentProfit = (move * 100n * args.leverage) / args.openPrice;
  const maxGain = PERCENT('2500');
  if (percentProfit > maxGain) percentProfit = maxGain;
  if (percentProfit < -PERCENT('100')) percentProfit = -PERCENT('100');
  const pnl = (args.collateral * percentProfit) / 10n ** 10n / 100n;
  const notional = (args.collateral * args.leverage) / 10n ** 10n;
  const base = notional + pnl > 0n ? notional + pnl : 0n;
  const closingFee = (base * args.closeFeeP) / 10n ** 10n / 100n;
  const raw = args.collateral + pnl - closingFee;
  const floor = (args.collateral * 15n) / 100n; // liqThreshold 85
  return { percentProfit, pnl, closingFee, value: raw > floor ? raw : 0n };
}
