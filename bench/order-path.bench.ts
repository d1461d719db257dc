/**
 * Order path benchmark (issue 3): from an accepted order step to its signed
 * transaction broadcast, through the real pipeline (simulation, nonce
 * reservation in PostgreSQL, decrypt + sign with the local keystore, outbox
 * write, broadcast) on an anvil devnet with the simulator deployed.
 * "Excluding chain time": anvil's automine is off while we measure, so a
 * broadcast returns when the node has queued the transaction, not mined it.
 * Baseline, same run: raw viem (key in memory) simulating, signing and sending
 * the same calls, with no outbox and no keystore.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { encodeFunctionData, parseEther, parseGwei, parseUnits, type Address, type PublicClient } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { systemClock } from '../src/infra/clock.ts';
import { createTxMetrics } from '../src/infra/chain/tx/metrics.ts';
import { createOutbox } from '../src/infra/chain/tx/outbox.ts';
import { TxPipeline } from '../src/infra/chain/tx/pipeline.ts';
import { startAnvil } from '../src/infra/devnet/anvil.ts';
import { abiOf } from '../src/infra/devnet/artifacts.ts';
import { createDevnetClients, sendCall } from '../src/infra/devnet/clients.ts';
import { deployAvantisSimulator } from '../src/infra/devnet/deploy.ts';
import { price1e10 } from '../src/infra/devnet/prices.ts';
import { createLocalKeyStore } from '../src/infra/keys/local-keystore.ts';
import { createWallets } from '../src/infra/keys/wallets.ts';
import { createLogger } from '../src/infra/logger.ts';
import { benchDatabase, round } from './support.ts';

const ORDERS = Number(process.env['BENCH_ORDERS'] ?? 300);
const USERS = 10;
const logger = createLogger({ level: 'silent' });
const tradingAbi = abiOf('Trading');

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export async function run(): Promise<Record<string, unknown>> {
  const anvil = await startAnvil({ logger });
  const b = await benchDatabase('orders');
  const keyDir = mkdtempSync(join(tmpdir(), 'vanta-bench-keys-'));
  try {
    const clients = createDevnetClients(anvil.rpcUrl, anvil.chainId);
    const [deployer] = await clients.accounts();
    const deployment = await deployAvantisSimulator({ publicClient: clients.publicClient, wallet: clients.wallet(deployer!), logger });
    // Orders stay pending (no keeper here): lift the per-trader cap so one wallet can hold them all.
    await sendCall(clients.publicClient, clients.wallet(deployer!), { address: deployment.tradingStorage, abi: abiOf('TradingStorage'), functionName: 'setMaxPendingMarketOrders', args: [100_000n] });
    const keystore = await createLocalKeyStore({ dataDir: keyDir, mode: 'sandbox', allowInLive: false, logger });
    const wallets = createWallets({ db: b.db, keystore, logger });
    const client = clients.publicClient as unknown as PublicClient;
    const fund = async (address: Address) => {
      await clients.testClient.setBalance({ address, value: parseEther('100') });
      await sendCall(client, clients.wallet(deployer!), { address: deployment.usdc, abi: abiOf('SimUSDC'), functionName: 'mint', args: [address, parseUnits('1000000', 6)] });
      await clients.testClient.impersonateAccount({ address });
      await sendCall(client, clients.wallet(address), { address: deployment.usdc, abi: abiOf('SimUSDC'), functionName: 'approve', args: [deployment.tradingStorage, parseUnits('1000000', 6)] });
      await clients.testClient.stopImpersonatingAccount({ address });
    };
    const openData = (trader: Address) =>
      encodeFunctionData({
        abi: tradingAbi,
        functionName: 'openTrade',
        args: [{ trader, pairIndex: 0n, index: 0n, initialPosToken: 0n, positionSizeUSDC: parseUnits('100', 6), openPrice: price1e10('3000'), buy: true, leverage: parseUnits('10', 10), tp: 0n, sl: 0n, timestamp: 0n }, 0, parseUnits('100', 10)],
      });

    const users: { id: string; address: Address }[] = [];
    for (let i = 0; i < USERS; i++) {
      const { address } = await wallets.create(`bench-${i}`);
      await fund(address);
      users.push({ id: `bench-${i}`, address });
    }
    const pipeline = new TxPipeline({
      client,
      chainId: anvil.chainId,
      outbox: createOutbox(b.db),
      signer: wallets,
      fees: { maxFeePerGas: parseGwei('200'), minPriorityFeePerGas: 1n },
      clock: systemClock,
      logger,
      metrics: createTxMetrics(new Registry()),
    });

    const raw = [];
    for (let i = 0; i < USERS; i++) {
      const account = privateKeyToAccount(generatePrivateKey());
      await fund(account.address);
      raw.push(account);
    }

    await clients.testClient.setAutomine(false);
    const ours: number[] = [];
    const baseline: number[] = [];
    const rawNonces = new Map<string, number>();
    for (let n = 0; n < ORDERS; n++) {
      const user = users[n % USERS]!;
      let t = performance.now();
      await pipeline.submit({ id: `bench-order-${n}`, userId: user.id, from: user.address, kind: 'open', request: { to: deployment.trading, data: openData(user.address), value: 350_000_000_000_000n } });
      ours.push(performance.now() - t);

      const account = raw[n % USERS]!;
      t = performance.now();
      const request = { account: account.address, to: deployment.trading, data: openData(account.address), value: 350_000_000_000_000n };
      const gas = await client.estimateGas(request);
      const nonce = rawNonces.get(account.address) ?? (await client.getTransactionCount({ address: account.address, blockTag: 'pending' }));
      const fees = await client.estimateFeesPerGas({ type: 'eip1559', chain: null });
      const signed = await account.signTransaction({ type: 'eip1559', chainId: anvil.chainId, nonce, to: request.to, data: request.data, value: request.value, gas, ...fees });
      await client.sendRawTransaction({ serializedTransaction: signed });
      rawNonces.set(account.address, nonce + 1);
      baseline.push(performance.now() - t);
      if (n % USERS === USERS - 1) await clients.testClient.mine({ blocks: 1 });
    }
    await clients.testClient.mine({ blocks: 1 });
    await keystore.close();
    const p = (v: number[], q: number) => round(percentile(v, q), 2);
    return {
      orders: ORDERS,
      accepted_to_broadcast_ms: { p50: p(ours, 50), p99: p(ours, 99), max: p(ours, 100) },
      raw_viem_ms: { p50: p(baseline, 50), p99: p(baseline, 99) },
      ratio_p50_vs_raw: round(percentile(ours, 50) / percentile(baseline, 50), 2),
      goal: 'p50 < 20 ms, p99 < 60 ms',
    };
  } finally {
    rmSync(keyDir, { recursive: true, force: true });
    await b.destroy();
    await anvil.stop();
  }
}

if (import.meta.main) console.log(JSON.stringify(await run(), null, 2));
