import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Debian's `prometheus` package (.ci/run installs it when missing). */
export const PROMETHEUS_BIN = process.env['PROMETHEUS_BIN'] ?? 'prometheus';
export const PROMTOOL_BIN = process.env['PROMTOOL_BIN'] ?? 'promtool';

/** A port nobody listens on right now (the OS picks it; tiny race with other processes, fine for tests). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface RunningPrometheus {
  readonly url: string;
  /** Runs an instant query and returns the result vector. */
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  /** Output so far, for failure messages. */
  readonly log: () => string;
  stop(): Promise<void>;
}

/**
 * Starts a real Prometheus that scrapes `targets` every second, with a
 * generated config and a temporary storage directory removed by stop().
 */
export async function startPrometheus(targets: readonly string[]): Promise<RunningPrometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'vanta-prometheus-'));
  const port = await freePort();
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      '  evaluation_interval: 1s',
      'scrape_configs:',
      '  - job_name: vanta',
      '    static_configs:',
      `      - targets: [${targets.map((t) => `'${t}'`).join(', ')}]`,
      '',
    ].join('\n'),
  );
  const child = spawn(
    PROMETHEUS_BIN,
    [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const spawnFailed = new Promise<never>((_, reject) =>
    child.once('error', (err) => reject(new Error(`cannot start ${PROMETHEUS_BIN}: ${err.message}. Install it with apt-get install -y prometheus (or run bash .ci/run)`))),
  );
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.race([waitReady(url, child), spawnFailed]);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${output}`, { cause: err });
  }
  return {
    url,
    log: () => output,
    async query(expr) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await res.json()) as { status: string; data?: { result: { metric: Record<string, string>; value: [number, string] }[] }; error?: string };
      if (body.status !== 'success' || !body.data) throw new Error(`query ${expr} failed: ${body.error ?? res.status}`);
      return body.data.result;
    },
    stop,
  };
}

async function waitReady(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`prometheus exited with code ${child.exitCode}`);
    try {
      const res = await fetch(`${url}/-/ready`);
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error('prometheus did not become ready within 20 s');
}

/** Runs `promtool check metrics` on an exposition; returns its exit code and output. */
export function promtoolCheckMetrics(exposition: string): { status: number | null; output: string } {
  const result = spawnSync(PROMTOOL_BIN, ['check', 'metrics'], { input: exposition, encoding: 'utf8', timeout: 15_000 });
  if (result.error) throw new Error(`cannot run ${PROMTOOL_BIN}: ${result.error.message}. Install it with apt-get install -y prometheus`);
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}
