import type { Logger } from 'pino';
import type { Address } from 'viem';
import { detectProtocolVersion } from '../../infra/chain/avantis/detect.ts';
import { abiOf } from '../../infra/devnet/artifacts.ts';
import { sendCall, type DevnetClients } from '../../infra/devnet/clients.ts';
import { upgradeSimulatorToV2, type AvantisDeployment } from '../../infra/devnet/deploy.ts';
import { startAvantisV2DevnetSandbox } from './index.ts';

/**
 * The sandbox on Avantis v2 (SANDBOX_PROTOCOL=v2): the devnet's simulator gets its v2 entry points
 * (once; the saved chain keeps them), and loopback doubles of the tx-builder and the gateway
 * execute the engine's signed intents on it, as Avantis's operator does on Base. The engine talks
 * to them over HTTP exactly as to the real services.
 */
export interface SandboxV2Services {
  readonly txBuilderUrl: string;
  readonly gatewayUrl: string;
  close(): Promise<void>;
}

interface DevnetParts {
  readonly clients: DevnetClients;
  readonly deployment: AvantisDeployment;
  readonly spareAccount: Address;
}

/**
 * Before the devnet's keeper and price loops start (startDevnet's `beforeLoops`): the upgrade and
 * the operator role are sent from the deployer, whose nonces the price simulator uses afterwards.
 */
export async function prepareV2Devnet(devnet: DevnetParts, logger: Logger): Promise<void> {
  const { publicClient } = devnet.clients;
  const gov = devnet.clients.wallet(devnet.deployment.deployer);
  const verdict = await detectProtocolVersion(publicClient, devnet.deployment.trading);
  if (verdict.version !== 'v2') await upgradeSimulatorToV2({ publicClient, wallet: gov, logger }, devnet.deployment);
  // The doubles' executor sends from the spare account (nothing else does: anvil nonces).
  await sendCall(publicClient, gov, { address: devnet.deployment.trading, abi: abiOf('Trading'), functionName: 'updateOperator', args: [devnet.spareAccount, true] });
}

export async function startSandboxV2Services(devnet: DevnetParts, logger: Logger): Promise<SandboxV2Services> {
  const sandbox = await startAvantisV2DevnetSandbox({ publicClient: devnet.clients.publicClient, operator: devnet.clients.wallet(devnet.spareAccount), deployment: devnet.deployment, logger });
  logger.info({ tx_builder: sandbox.txBuilderUrl, gateway: sandbox.gatewayUrl }, 'Avantis v2 doubles over the devnet');
  return { txBuilderUrl: sandbox.txBuilderUrl, gatewayUrl: sandbox.gatewayUrl, close: () => sandbox.close() };
}
