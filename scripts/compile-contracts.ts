/**
 * Compiles the Avantis simulator (contracts/*.sol) with the solc-js pinned in package.json and
 * writes one artifact per deployable contract to src/infra/devnet/artifacts/<Name>.json.
 *
 *   npm run contracts:build   write the artifacts
 *   npm run contracts:check   recompile in memory; exit 1 if the committed artifacts differ
 *
 * Offline and deterministic: sources are read from disk in sorted order, no import callback
 * reaches the network, and the metadata hash is left out of the bytecode so the output depends
 * only on the sources and the compiler version.
 */
import { readdir, readFile, writeFile, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import solcModule from 'solc';

const SOLC_VERSION = '0.8.37';

/** solc-js ships loose (`any`) typings; this is the part we use. */
const solc = solcModule as { version(): string; compile(input: string): string };
const ROOT = path.resolve(import.meta.dirname, '..');
const SOURCES_DIR = path.join(ROOT, 'contracts');
const ARTIFACTS_DIR = path.join(ROOT, 'src/infra/devnet/artifacts');

/** solc warnings that the fixed v1 ABI forces on us (e.g. a `view` that could be `pure`). */
const ACCEPTED_WARNINGS = new Set(['2018']);

interface SolcMessage {
  severity: 'error' | 'warning' | 'info';
  errorCode?: string;
  formattedMessage: string;
}

interface SolcContractOutput {
  abi: unknown[];
  evm: { bytecode: { object: string } };
}

interface SolcOutput {
  errors?: SolcMessage[];
  contracts?: Record<string, Record<string, SolcContractOutput>>;
}

/** What a deploy needs: the ABI and the creation bytecode. */
interface Artifact {
  contractName: string;
  sourceName: string;
  compiler: string;
  abi: unknown[];
  bytecode: string;
}

async function readSources(): Promise<Record<string, { content: string }>> {
  const names = (await readdir(SOURCES_DIR)).filter((n) => n.endsWith('.sol')).sort();
  const sources: Record<string, { content: string }> = {};
  for (const name of names) sources[name] = { content: await readFile(path.join(SOURCES_DIR, name), 'utf8') };
  return sources;
}

function compile(sources: Record<string, { content: string }>): Map<string, Artifact> {
  const version = solc.version();
  if (!version.startsWith(`${SOLC_VERSION}+`)) throw new Error(`solc ${SOLC_VERSION} expected, found ${version}`);
  const input = {
    language: 'Solidity',
    sources,
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: 'cancun',
      metadata: { bytecodeHash: 'none', appendCBOR: false },
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input))) as SolcOutput;
  report(output.errors ?? []);

  const artifacts = new Map<string, Artifact>();
  for (const [sourceName, contracts] of Object.entries(output.contracts ?? {})) {
    for (const [contractName, out] of Object.entries(contracts)) {
      // Interfaces and abstract contracts have no bytecode; constant-only libraries no ABI.
      if (out.evm.bytecode.object === '' || out.abi.length === 0) continue;
      if (artifacts.has(contractName)) throw new Error(`Two contracts are named ${contractName}; artifact names must be unique`);
      artifacts.set(contractName, { contractName, sourceName, compiler: version, abi: out.abi, bytecode: `0x${out.evm.bytecode.object}` });
    }
  }
  return artifacts;
}

function report(messages: SolcMessage[]): void {
  const shown = messages.filter((m) => m.severity === 'error' || (m.severity === 'warning' && !ACCEPTED_WARNINGS.has(m.errorCode ?? '')));
  for (const m of shown) console.error(m.formattedMessage);
  if (messages.some((m) => m.severity === 'error')) throw new Error('Solidity compilation failed');
}

function serialise(artifact: Artifact): string {
  return `${JSON.stringify(artifact, null, 2)}\n`;
}

async function writeArtifacts(artifacts: Map<string, Artifact>): Promise<void> {
  await mkdir(ARTIFACTS_DIR, { recursive: true });
  for (const stale of await listArtifactFiles()) {
    if (!artifacts.has(stale.replace(/\.json$/, ''))) await rm(path.join(ARTIFACTS_DIR, stale));
  }
  for (const artifact of artifacts.values()) {
    await writeFile(path.join(ARTIFACTS_DIR, `${artifact.contractName}.json`), serialise(artifact));
  }
  console.log(`Wrote ${artifacts.size} artifacts to ${path.relative(ROOT, ARTIFACTS_DIR)}`);
}

async function listArtifactFiles(): Promise<string[]> {
  try {
    return (await readdir(ARTIFACTS_DIR)).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
}

/** Names of artifacts that are missing, stale or different from a fresh compile. */
async function findDrift(artifacts: Map<string, Artifact>): Promise<string[]> {
  const drift: string[] = [];
  const onDisk = await listArtifactFiles();
  for (const file of onDisk) {
    if (!artifacts.has(file.replace(/\.json$/, ''))) drift.push(`${file}: no contract of that name in contracts/`);
  }
  for (const artifact of artifacts.values()) {
    const file = `${artifact.contractName}.json`;
    if (!onDisk.includes(file)) {
      drift.push(`${file}: missing`);
      continue;
    }
    const committed = await readFile(path.join(ARTIFACTS_DIR, file), 'utf8');
    if (committed !== serialise(artifact)) drift.push(`${file}: differs from the sources`);
  }
  return drift;
}

async function main(): Promise<void> {
  const checkOnly = process.argv.includes('--check');
  const artifacts = compile(await readSources());
  if (!checkOnly) return writeArtifacts(artifacts);
  const drift = await findDrift(artifacts);
  if (drift.length === 0) {
    console.log(`Contract artifacts match the sources (${artifacts.size} contracts).`);
    return;
  }
  console.error(`Contract artifacts are out of date; run npm run contracts:build and commit:\n  ${drift.join('\n  ')}`);
  process.exitCode = 1;
}

await main();
