/**
 * Which Avantis generation a deployment runs, read from the chain itself, so live mode never
 * sends orders through an adapter it cannot verify against the deployed contracts.
 *
 * Mainnet was upgraded in place from v1 to v2 on 2026-08-12 (AVANTIS.md §0): same proxy
 * addresses, new write entry points, new events. The v1 adapter's calls would no longer trade
 * there, and nothing about the addresses says so. Two kinds of evidence, both from the chain:
 *
 * - **Bytecode**: Solidity dispatchers compare the call's selector with `PUSH4 <selector>`. The
 *   Trading proxy's implementation (EIP-1967 slot) is searched for the v1 selectors of every
 *   write this build sends, and for v2-only selectors (AVANTIS.md §3.9, UNVERIFIED as v2 facts,
 *   but their presence is evidence enough to stop).
 * - **A v2-only view answering**: `nonceBitmap(address,uint256)` exists only in v2 (§3.9). A v1
 *   contract has no such function and no fallback, so the call reverts.
 *
 * The verdict is `v1` only when every v1 write is present and no v2 sign is; anything else
 * (`v2`, or `unknown`) refuses to trade, naming what was seen.
 */
import { getAddress, toFunctionSelector, zeroAddress, type Address, type Client, type Hex } from 'viem';
import { call, getCode, getStorageAt } from 'viem/actions';
import { tradingAbi } from './abi-v1.ts';

export type DeployedVersion = 'v1' | 'v2' | 'unknown';

export interface ProtocolVerdict {
  readonly version: DeployedVersion;
  /** The contract whose code was read (the proxy's implementation, or Trading itself). */
  readonly codeAt: Address;
  /** What was found, in words an operator can check on a block explorer. */
  readonly evidence: readonly string[];
}

/** `bytes32(uint256(keccak256('eip1967.proxy.implementation')) - 1)`. */
const EIP1967_IMPLEMENTATION_SLOT = '0x360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc';

/** Every Trading write the verified v1 adapter sends (calls-v1.ts). */
const V1_WRITES = ['openTrade', 'closeTradeMarket', 'updateTpAndSl', 'updateMargin', 'cancelOpenLimitOrder', 'updateOpenLimitOrder', 'delegatedAction'] as const;

/** v2-only entry points (AVANTIS.md §3.9; selectors computed from DEC's signatures). */
const V2_SIGNS: readonly { readonly name: string; readonly selector: Hex }[] = [
  { name: 'closeTradeMarket(uint256,uint256,uint256,uint256)', selector: '0xe5a97c92' },
  { name: 'executeMarketOrderBatched(…)', selector: '0xfb7830cf' },
  { name: 'executePositionUpdateBatched(…)', selector: '0x3d778c12' },
  { name: 'openTradeWithCoinExposure(…)', selector: '0x179c2a92' },
  { name: 'setDelegateWithSig(bytes,bytes)', selector: '0xf4ec01eb' },
  { name: 'nonceBitmap(address,uint256)', selector: toFunctionSelector('function nonceBitmap(address,uint256)') },
];

const v1Selectors = (() => {
  const found = new Map<string, Hex>();
  for (const item of tradingAbi) {
    if (item.type === 'function' && (V1_WRITES as readonly string[]).includes(item.name)) found.set(item.name, toFunctionSelector(item));
  }
  return found;
})();

/** True when `code` dispatches on `selector` (a PUSH4 of it). */
function dispatches(code: Hex, selector: Hex): boolean {
  return code.toLowerCase().includes(`63${selector.slice(2).toLowerCase()}`);
}

export async function detectProtocolVersion(client: Client, trading: Address): Promise<ProtocolVerdict> {
  const evidence: string[] = [];
  const slot = await getStorageAt(client, { address: trading, slot: EIP1967_IMPLEMENTATION_SLOT });
  const implementation = slot && BigInt(slot) !== 0n ? getAddress(`0x${slot.slice(-40)}`) : null;
  const codeAt = implementation ?? getAddress(trading);
  if (implementation) evidence.push(`Trading ${getAddress(trading)} is a proxy to ${implementation}`);
  const code = (await getCode(client, { address: codeAt })) ?? '0x';
  if (code === '0x') return { version: 'unknown', codeAt, evidence: [...evidence, `no code at ${codeAt}`] };

  const v2Found = V2_SIGNS.filter((s) => dispatches(code, s.selector)).map((s) => s.name);
  if (v2Found.length) evidence.push(`its code has v2 entry points: ${v2Found.join(', ')}`);
  if (await answersNonceBitmap(client, trading)) evidence.push('it answers nonceBitmap(address,uint256), a v2-only view');
  const v1Missing = [...v1Selectors].filter(([, selector]) => !dispatches(code, selector)).map(([name]) => name);
  if (v1Missing.length) evidence.push(`its code lacks the v1 entry points ${v1Missing.join(', ')}`);
  else evidence.push(`its code has every v1 entry point this build sends (${[...v1Selectors.keys()].join(', ')})`);

  const v2 = v2Found.length > 0 || evidence.some((e) => e.includes('nonceBitmap'));
  const version: DeployedVersion = v2 ? 'v2' : v1Missing.length === 0 ? 'v1' : 'unknown';
  return { version, codeAt, evidence };
}

async function answersNonceBitmap(client: Client, trading: Address): Promise<boolean> {
  try {
    const data = `${toFunctionSelector('function nonceBitmap(address,uint256)')}${zeroAddress.slice(2).padStart(64, '0')}${'0'.repeat(64)}` as Hex;
    const result = await call(client, { to: trading, data });
    return result.data !== undefined && result.data.length === 66;
  } catch {
    return false;
  }
}

/** The sentence an operator reads when live refuses to trade. */
export function refusalOf(verdict: ProtocolVerdict, trading: Address): string {
  const what = verdict.version === 'v2' ? 'runs Avantis v2 (Veranta)' : 'does not look like the Avantis v1 this build can verify';
  return (
    `The Avantis deployment at ${getAddress(trading)} ${what}: ${verdict.evidence.join('; ')}. ` +
    'This build trades only through its verified v1 adapter, so live mode sends no orders (prices and positions are still read). ' +
    'Trade through a build with a verified adapter for this deployment.'
  );
}
