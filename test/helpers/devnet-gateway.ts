import { parseEther, parseUnits, type Address, type PublicClient } from 'viem';
import type { Logger } from 'pino';
import { createChainOrderGateway, type ChainOrderGatewayDeps, type OrderGateway } from '../../src/actors/order-gateway.ts';
import { createAvantisProtocol } from '../../src/infra/chain/avantis/protocol.ts';
import { price as price1e10 } from '../../src/infra/chain/avantis/units.ts';
import type { TxPipeline } from '../../src/infra/chain/tx/pipeline.ts';
import { systemClock } from '../../src/infra/clock.ts';
import { abiOf } from '../../src/infra/devnet/artifacts.ts';
import { sendCall, type DevnetClients } from '../../src/infra/devnet/clients.ts';
import { avantisAddressesOf, type AvantisDeployment } from '../../src/infra/devnet/deploy.ts';
import type { Wallets } from '../../src/infra/keys/wallets.ts';
import { readChainlink } from '../../src/infra/prices/chainlink.ts';
import { createKeyedLock } from '../../src/infra/keyed-lock.ts';
import { silentLogger } from './common.ts';
import { TEST_LIMITS } from './runtime.ts';

export interface DevnetGatewayOptions {
  readonly clients: DevnetClients;
  readonly chainId: number;
  readonly deployment: AvantisDeployment;
  readonly wallets: Wallets;
  readonly pipeline: TxPipeline;
  /** The client positions read and send through (default: the devnet's own). */
  readonly client?: PublicClient;
  /** Who mints test USDC for new wallets (an unlocked anvil account). */
  readonly minter: Address;
  readonly logger?: Logger;
  readonly priceOf?: ChainOrderGatewayDeps['priceOf'];
  readonly overrides?: Partial<Pick<ChainOrderGatewayDeps, 'pollMs' | 'watchPollMs' | 'settleScans' | 'limits' | 'logRange'>>;
}

/**
 * The positions' real chain gateway on a devnet, as main builds it in the sandbox: the protocol
 * client, the given pipeline, prices from each pair's Chainlink-style feed, and a faucet that
 * gives a new wallet ETH for gas and 1,000 test USDC. Fast polls, for tests.
 */
export function devnetGateway(o: DevnetGatewayOptions): OrderGateway {
  // One mint at a time: the minter's nonces are the node's to count, and parallel sends from one
  // account race for the same nonce ("replacement transaction underpriced").
  const mints = createKeyedLock();
  const reader = o.clients.publicClient as unknown as PublicClient;
  const client = o.client ?? reader;
  const protocol = createAvantisProtocol({ version: 'v1', chainId: o.chainId, addresses: avantisAddressesOf(o.deployment) }, { client });
  return createChainOrderGateway({
    protocol,
    pipeline: o.pipeline,
    client,
    wallets: o.wallets,
    limits: TEST_LIMITS,
    clock: systemClock,
    logger: o.logger ?? silentLogger(),
    pollMs: 50,
    watchPollMs: 100,
    settleScans: 5,
    priceOf:
      o.priceOf ??
      (async (pairIndex) => {
        const pair = o.deployment.pairs.find((p) => p.index === pairIndex)!;
        return price1e10((await readChainlink(reader, { pair: pair.name, address: pair.chainlinkFeed }, 8, Date.now())).price);
      }),
    // USDC first, ETH last: the gateway takes "no ETH" as "not funded yet", so a crash in between funds again.
    faucet: async (address: Address) => {
      await mints.run('mint', () => sendCall(o.clients.publicClient, o.clients.wallet(o.minter), { address: o.deployment.usdc, abi: abiOf('SimUSDC'), functionName: 'mint', args: [address, parseUnits('1000', 6)] }));
      await o.clients.testClient.setBalance({ address, value: parseEther('5') });
    },
    ...o.overrides,
  });
}
