import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Address } from 'viem';

/** `node src/main.ts` as an operator runs it, in a child process the test can SIGKILL. */
export interface EngineProcess {
  readonly child: ChildProcess;
  /** The sandbox devnet's RPC, from the engine's log. */
  readonly rpcUrl: string;
  /** The simulator's Trading address, when this run deployed it (not on a restored chain). */
  readonly trading: Address;
  readonly exited: Promise<unknown>;
}

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

/**
 * Starts the engine with exactly `env` (and PATH) and resolves once it logs "Vanta is running".
 * Engine errors are printed as they come: they are the first thing to read when a test fails.
 */
export function startEngine(env: Record<string, string>): Promise<EngineProcess> {
  const child = spawn(process.execPath, [MAIN], { env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const seen: Record<string, string> = {};
  return new Promise((resolve, reject) => {
    void exited.then((code) => reject(new Error(`the engine exited (${String(code)}) before it was running`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      if (typeof entry['level'] === 'number' && entry['level'] >= 50) console.error(`      engine error: ${line}`);
      if (entry['msg'] === 'Devnet running') seen['rpc'] = String(entry['rpcUrl']);
      if (entry['msg'] === 'Avantis simulator deployed') seen['trading'] = String(entry['trading']);
      if (entry['msg'] === 'Vanta is running') resolve({ child, exited, rpcUrl: seen['rpc']!, trading: (seen['trading'] ?? '') as Address });
    });
  });
}
