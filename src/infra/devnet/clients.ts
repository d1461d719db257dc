import {
  createPublicClient,
  createTestClient,
  createWalletClient,
  defineChain,
  http,
  type Abi,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type TestClient,
  type Transport,
  type TransactionReceipt,
  type WalletClient,
} from 'viem';
import { DevnetError } from './errors.ts';

/** A wallet client that always has its chain and account, so calls need neither. */
export type DevnetWallet = WalletClient<Transport, Chain, Account>;

export interface DevnetClients {
  readonly chain: Chain;
  readonly publicClient: PublicClient<Transport, Chain>;
  readonly testClient: TestClient<'anvil', Transport, Chain>;
  /** A wallet for one of anvil's unlocked accounts (anvil signs; no key is held here). */
  wallet(address: Address): DevnetWallet;
  /** anvil's funded, unlocked accounts. */
  accounts(): Promise<readonly Address[]>;
}

export function devnetChain(rpcUrl: string, chainId: number): Chain {
  return defineChain({
    id: chainId,
    name: 'Vanta devnet',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
}

/** viem clients for an anvil devnet. Polling is fast because blocks are local and instant. */
export function createDevnetClients(rpcUrl: string, chainId: number): DevnetClients {
  const chain = devnetChain(rpcUrl, chainId);
  const transport = http(rpcUrl, { retryCount: 0 });
  const publicClient = createPublicClient({ chain, transport, pollingInterval: 50 });
  const testClient = createTestClient({ chain, transport, mode: 'anvil' });
  return {
    chain,
    publicClient,
    testClient,
    wallet: (address) => createWalletClient({ chain, transport, account: address, pollingInterval: 50 }),
    accounts: () => createWalletClient({ chain, transport }).getAddresses(),
  };
}

export interface ContractCall {
  readonly address: Address;
  readonly abi: Abi;
  readonly functionName: string;
  readonly args?: readonly unknown[];
  readonly value?: bigint;
}

/** How long any devnet helper waits for a receipt: anvil mines at once, so this only bounds a dead node. */
export const RECEIPT_TIMEOUT_MS = 30_000;

export interface SendOptions {
  /** Ends the wait at once (the devnet is stopping); the transaction may still be mined. */
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
}

/**
 * Sends one contract call and waits for its receipt. viem estimates gas first, so a call that
 * would revert throws with the revert reason before anything is sent; a mined revert throws too.
 * The wait is bounded (`timeoutMs`) and abortable (`signal`): a stop never waits on a dead node.
 */
export async function sendCall(publicClient: PublicClient, wallet: DevnetWallet, call: ContractCall, options: SendOptions = {}): Promise<TransactionReceipt> {
  options.signal?.throwIfAborted();
  // Simulating first turns a revert into an error carrying the decoded reason, before anything
  // is sent (anvil would otherwise mine the reverting transaction).
  const { request } = await publicClient.simulateContract({
    account: wallet.account,
    address: call.address,
    abi: call.abi,
    functionName: call.functionName,
    args: call.args ?? [],
    ...(call.value === undefined ? {} : { value: call.value }),
    // The ABI is only known at run time, so viem cannot narrow the call's types; the shape is right.
  } as unknown as Parameters<PublicClient['simulateContract']>[0]);
  // anvil's estimate is occasionally a little short for calls whose path depends on the block they
  // land in (oracle freshness, first writes), and the transaction then runs out of gas when mined:
  // send with headroom, as the engine's pipeline does.
  const estimate = await publicClient.estimateContractGas(request as unknown as Parameters<PublicClient['estimateContractGas']>[0]);
  options.signal?.throwIfAborted();
  const hash = await wallet.writeContract({ ...(request as object), gas: (estimate * 13n) / 10n + 20_000n } as unknown as Parameters<DevnetWallet['writeContract']>[0]);
  return confirmed(publicClient, hash, call.functionName, options);
}

/** Deploys a contract and returns its address. */
export async function deployContract(
  publicClient: PublicClient,
  wallet: DevnetWallet,
  artifact: { readonly contractName: string; readonly abi: Abi; readonly bytecode: Hex },
  args: readonly unknown[] = [],
  options: SendOptions = {},
): Promise<Address> {
  options.signal?.throwIfAborted();
  const hash = await wallet.deployContract({ abi: artifact.abi, bytecode: artifact.bytecode, args });
  const receipt = await confirmed(publicClient, hash, `deploy ${artifact.contractName}`, options);
  if (!receipt.contractAddress) throw new DevnetError('DEVNET_DEPLOY_FAILED', `deploy ${artifact.contractName} created no contract (tx ${hash})`);
  return receipt.contractAddress;
}

async function confirmed(publicClient: PublicClient, hash: Hex, what: string, options: SendOptions): Promise<TransactionReceipt> {
  const receipt = await publicClient.waitForTransactionReceipt({
    hash,
    pollingInterval: 20,
    timeout: options.timeoutMs ?? RECEIPT_TIMEOUT_MS,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  if (receipt.status !== 'success') {
    throw new DevnetError('DEVNET_TX_FAILED', `${what} reverted on the devnet (tx ${hash}): ${await revertReason(publicClient, hash)}`);
  }
  return receipt;
}

/** Replays a mined transaction on its parent state to learn why it reverted. */
async function revertReason(publicClient: PublicClient, hash: Hex): Promise<string> {
  const tx = await publicClient.getTransaction({ hash });
  try {
    await publicClient.call({ account: tx.from, to: tx.to, data: tx.input, value: tx.value, gas: tx.gas, blockNumber: (tx.blockNumber ?? 1n) - 1n });
    return 'no revert when replayed (ran out of gas?)';
  } catch (error) {
    return error instanceof Error ? (error.message.split('\n')[0] ?? error.message) : String(error);
  }
}
