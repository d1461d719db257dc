import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Abi, Hex } from 'viem';
import { DevnetError } from './errors.ts';

/** The simulator contracts `npm run contracts:build` writes to ./artifacts. */
export type SimulatorContract =
  | 'SimUSDC'
  | 'SimPyth'
  | 'SimChainlinkAggregator'
  | 'SimVaultManager'
  | 'PairStorage'
  | 'PairInfos'
  | 'PriceAggregator'
  | 'TradingStorage'
  | 'TradingCallbacks'
  | 'Trading'
  /** The v2 entry points: run by Trading's fallback (delegatecall), so called at the Trading address. */
  | 'TradingV2';

export interface Artifact {
  readonly contractName: SimulatorContract;
  readonly abi: Abi;
  readonly bytecode: Hex;
}

const ARTIFACTS_DIR = path.join(import.meta.dirname, 'artifacts');
const cache = new Map<SimulatorContract, Artifact>();

/** Reads (once) the compiled ABI and bytecode of one simulator contract. */
export function loadArtifact(name: SimulatorContract): Artifact {
  const cached = cache.get(name);
  if (cached) return cached;
  const file = path.join(ARTIFACTS_DIR, `${name}.json`);
  let parsed: { abi?: unknown; bytecode?: unknown };
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as { abi?: unknown; bytecode?: unknown };
  } catch (cause) {
    throw new DevnetError('DEVNET_DEPLOY_FAILED', `Cannot read ${file}; run npm run contracts:build`, { cause });
  }
  if (!Array.isArray(parsed.abi) || typeof parsed.bytecode !== 'string' || !parsed.bytecode.startsWith('0x')) {
    throw new DevnetError('DEVNET_DEPLOY_FAILED', `${file} is not an artifact (abi + bytecode); run npm run contracts:build`);
  }
  const artifact: Artifact = { contractName: name, abi: parsed.abi as Abi, bytecode: parsed.bytecode as Hex };
  cache.set(name, artifact);
  return artifact;
}

/** The ABI only, for reading or writing an already deployed contract. */
export function abiOf(name: SimulatorContract): Abi {
  return loadArtifact(name).abi;
}
