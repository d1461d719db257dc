/**
 * The live-mode start-up check: the RPC serves the expected chain, and every configured
 * Avantis address holds a contract. A mismatch (wrong network, a typo, a contract not
 * deployed on this chain) refuses to start with a clear typed error, before any order.
 */
import { isAddress, isHex, type Address, type Client } from 'viem';
import { getChainId, getCode } from 'viem/actions';
import type { AvantisAddresses } from './addresses.ts';
import { AvantisDeploymentError, ChainResponseError } from './errors.ts';
import { toChainError } from './revert.ts';

export interface DeploymentReport {
  readonly chainId: number;
  /** Bytecode size per contract, in bytes. */
  readonly codeSizes: Readonly<Partial<Record<keyof AvantisAddresses, number>>>;
}

/**
 * Checks the chain id, then that each address in `addresses` has code. Throws
 * AvantisDeploymentError on a mismatch, ChainResponseError on a malformed answer and
 * ChainUnavailableError when the RPC does not answer.
 */
export async function verifyDeployment(client: Client, addresses: Partial<AvantisAddresses>, expectedChainId: number): Promise<DeploymentReport> {
  const chainId = await guard('Reading the chain id', () => getChainId(client));
  if (!Number.isSafeInteger(chainId) || chainId <= 0) throw new ChainResponseError(`The RPC answered an invalid chain id (${String(chainId)}).`);
  if (chainId !== expectedChainId) {
    throw new AvantisDeploymentError(`The RPC serves chain ${chainId}, but chain ${expectedChainId} is configured. Point BASE_RPC_URLS at the right network or fix CHAIN_ID.`, {
      details: { chainId, expectedChainId },
    });
  }
  const entries = Object.entries(addresses) as [keyof AvantisAddresses, Address | undefined][];
  const codeSizes: Partial<Record<keyof AvantisAddresses, number>> = {};
  const missing: string[] = [];
  for (const [name, address] of entries) {
    if (address === undefined) continue;
    if (!isAddress(address, { strict: false })) throw new AvantisDeploymentError(`The configured ${name} address is not an address: ${String(address).slice(0, 50)}.`);
    const code = await guard(`Reading the code of ${name}`, () => getCode(client, { address }));
    if (code !== undefined && (typeof code !== 'string' || !isHex(code))) throw new ChainResponseError(`The RPC answered non-hex code for ${name} (${address}).`);
    const size = code === undefined || code === '0x' ? 0 : (code.length - 2) / 2;
    codeSizes[name] = size;
    if (size === 0) missing.push(`${name} (${address})`);
  }
  if (missing.length > 0) {
    throw new AvantisDeploymentError(`No contract code on chain ${chainId} at: ${missing.join(', ')}. The addresses do not belong to this network's Avantis deployment.`, {
      details: { chainId, missing: missing.join(', ') },
    });
  }
  return { chainId, codeSizes };
}

async function guard<T>(what: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    throw toChainError(error, {}, what);
  }
}
