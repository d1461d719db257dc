import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

interface Running {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  opsUrl: string;
  inspectorUrl: string;
}

/** Starts `node src/main.ts` as `npm start` would, on free ports, and waits until it serves. */
async function start(dataDir: string): Promise<Running> {
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env['PATH'] ?? '', DATA_DIR: dataDir, OPS_PORT: '0', INSPECTOR_PORT: '0', SANDBOX_CHAT_PORT: '0', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: Record<string, unknown>[] = [];
  const urls: Record<string, string> = {};
  const ready = new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`main exited with ${code} before it was running`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      lines.push(entry);
      if (entry['component'] === 'ops-http' && typeof entry['url'] === 'string') urls['ops'] = entry['url'];
      if (entry['component'] === 'inspector-http' && typeof entry['url'] === 'string') urls['inspector'] = entry['url'];
      if (entry['msg'] === 'Vanta is running') resolve();
    });
  });
  await ready;
  return { child, lines, opsUrl: urls['ops']!, inspectorUrl: urls['inspector']! };
}

async function stop(running: Running): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => running.child.once('exit', resolve));
  running.child.kill('SIGTERM');
  return exited;
}

describe('npm start (the sandbox, end to end)', function () {
  this.timeout(90_000);
  const dataDir = mkdtempSync(join(tmpdir(), 'vanta-sandbox-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('starts with no settings, becomes ready with live prices, stops cleanly, and restores everything on restart', async () => {
    const first = await start(dataDir);
    let feeds: { id: string; state: string }[] = [];
    for (let i = 0; i < 100; i++) {
      const ready = await fetch(`${first.opsUrl}/readyz`);
      const actors = (await (await fetch(`${first.inspectorUrl}/api/actors`)).json()) as { actors: { id: string; state: string }[] };
      feeds = actors.actors.filter((a) => a.id.startsWith('price-feed:'));
      if (ready.status === 200 && feeds.length > 0 && feeds.every((a) => a.state === 'live')) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(feeds.length >= 8, `expected a price-feed actor per devnet pair, got ${feeds.length}`);
    assert.ok(feeds.every((a) => a.state === 'live'), 'every feed is live on devnet prices');
    const metrics = await (await fetch(`${first.opsUrl}/metrics`)).text();
    assert.match(metrics, /^vanta_actors_live\{kind="price-feed"\} \d+/m);
    assert.equal(await stop(first), 0, 'SIGTERM shuts down with exit code 0');
    assert.ok(first.lines.some((l) => l['msg'] === 'Shut down'));

    const second = await start(dataDir);
    const restored = second.lines.find((l) => l['msg'] === 'Restored actor tree');
    assert.equal(restored?.['restored'], feeds.length + 1, 'every actor (the price feeds and the trading controls) is restored after a restart');
    assert.equal(second.lines.find((l) => l['msg'] === 'Devnet running')?.['restored'], true, 'the sandbox chain is kept too');
    // The inspector's time travel reaches back before the restart, through the transition journal.
    const feed = encodeURIComponent(feeds[0]!.id);
    const history = (await (await fetch(`${second.inspectorUrl}/api/history?id=${feed}`)).json()) as { steps: { origin: string; state: unknown; event: string }[] };
    const earlier = history.steps.filter((s) => s.origin === 'journal');
    assert.ok(earlier.some((s) => s.state === 'live'), `the first run's steps are there: ${JSON.stringify(history.steps.map((s) => [s.origin, s.event, s.state]))}`);
    assert.equal(earlier.filter((s) => s.event === 'xstate.init').length, 1, 'the first run journalled the feed starting');
    assert.equal(await stop(second), 0);
  });
});
