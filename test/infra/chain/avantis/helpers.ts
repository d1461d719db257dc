/**
 * Shared set-up for the Avantis client tests: the devnet simulator fixture (one anvil per test
 * file), the client's addresses resolved from TradingStorage as in production, and a sender
 * that plays the transaction pipeline: dry-run with the client's simulate, then send and wait.
 */
import assert from 'node:assert/strict';
import type { Address, Client, TransactionReceipt } from 'viem';
import { call as callAction, getTransaction } from 'viem/actions';
import { describeError } from '../../../../src/errors.ts';
import { toChainError } from '../../../../src/infra/chain/avantis/revert.ts';
import { resolveAvantisAddresses, type AvantisAddresses } from '../../../../src/infra/chain/avantis/addresses.ts';
import { createAvantisProtocol, type AvantisProtocol } from '../../../../src/infra/chain/avantis/protocol.ts';
import type { CallRequest } from '../../../../src/infra/chain/avantis/types.ts';
import { startSimulator, type SimFixture } from '../../devnet/fixture.ts';

export interface ClientFixture {
  readonly sim: SimFixture;
  readonly addresses: AvantisAddresses;
  readonly protocol: AvantisProtocol;
  /** Simulates `call` from `from` (throws the client's typed error on revert), then sends it. */
  send(from: Address, call: CallRequest): Promise<TransactionReceipt>;
  /** One keeper pass: fills pending market orders, fires triggered limits / TP / SL / liquidations. */
  keeperTick(): Promise<void>;
  close(): Promise<void>;
}

export async function startClientFixture(): Promise<ClientFixture> {
  const sim = await startSimulator();
  try {
    const { publicClient } = sim.clients;
    const addresses = await resolveAvantisAddresses(publicClient, { tradingStorage: sim.deployment.tradingStorage });
    const protocol = createAvantisProtocol({ version: 'v1', addresses, chainId: sim.anvil.chainId }, { client: publicClient });
    return {
      sim,
      addresses,
      protocol,
      async send(from, call) {
        await protocol.simulate({ account: from, call });
        // A pipeline adds headroom to the estimate; anvil's exact estimate of the one-step
        // margin/TP-SL calls (nested Pyth update) is occasionally a few hundred gas short.
        const estimate = await publicClient.estimateGas({ account: from, to: call.to, data: call.data, value: call.value });
        const hash = await sim.clients.wallet(from).sendTransaction({ to: call.to, data: call.data, value: call.value, gas: (estimate * 12n) / 10n });
        const receipt = await publicClient.waitForTransactionReceipt({ hash, pollingInterval: 20 });
        if (receipt.status !== 'success') assert.fail(`transaction ${hash} reverted: ${await replayReason(publicClient, from, call, receipt)}`);
        return receipt;
      },
      async keeperTick() {
        const keeper = sim.keeper();
        try {
          await keeper.tick();
        } finally {
          await keeper.stop();
        }
      },
      close: () => sim.close(),
    };
  } catch (error) {
    await sim.close();
    throw error;
  }
}

/** Replays a mined revert on its parent block to learn why (simulation passed, so state or gas differed). */
async function replayReason(client: Client, from: Address, call: CallRequest, receipt: TransactionReceipt): Promise<string> {
  try {
    await callAction(client, { account: from, to: call.to, data: call.data, value: call.value, blockNumber: receipt.blockNumber - 1n, gas: receipt.gasUsed * 2n });
    const tx = await getTransaction(client, { hash: receipt.transactionHash });
    return `no revert on replay (gas used ${receipt.gasUsed} of ${tx.gas})`;
  } catch (error) {
    return describeError(toChainError(error)).message;
  }
}

/** Snapshot before each test, revert after: tests stay independent on one chain. */
/** Mocha hooks for a suite on one client fixture: started before, rolled back after each test, closed after. */
export function useClientFixture(onReady: (fixture: ClientFixture) => void): void {
  let fixture: ClientFixture | undefined;
  before(async function () {
    fixture = await startClientFixture();
    onReady(fixture);
  });
  after(async function () {
    await fixture?.close();
  });
  useSnapshots(() => fixture!);
}

export function useSnapshots(get: () => ClientFixture): void {
  let id: `0x${string}` | undefined;
  beforeEach(async function () {
    id = await get().sim.clients.testClient.snapshot();
  });
  afterEach(async function () {
    if (id) await get().sim.clients.testClient.revert({ id });
  });
}
