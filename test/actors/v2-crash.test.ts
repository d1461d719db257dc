import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createLocalKeyStore } from '../../src/infra/keys/local-keystore.ts';
import { createWallets } from '../../src/infra/keys/wallets.ts';
import { startAvantisV2Sandbox, type AvantisV2Sandbox, type InMemoryExecutor } from '../../src/sandbox/avantis-v2/index.ts';
import { silentLogger } from '../helpers/common.ts';
import { createTestPostgres, type TestDatabase } from '../helpers/db.ts';
import { waitFor } from '../helpers/runtime.ts';

/**
 * SIGKILL an engine trading on Avantis v2 (gasless route) at the two moments the issue names —
 * after an order is signed and before it is submitted, and while batched-market streams its
 * lifecycle — and start it again: each order exists once, and the trader hears how it ended.
 * The doubles live in this process and outlive the engines, as Avantis's services would.
 */

const WORKER = fileURLToPath(new URL('./fixtures/v2-engine-worker.ts', import.meta.url));

type Line = Record<string, unknown>;
interface Worker {
  readonly child: ChildProcess;
  readonly lines: Line[];
  send(command: unknown): void;
  readonly exited: Promise<unknown>;
}

describe('SIGKILL during a v2 gasless order (engine in a child process, doubles, PostgreSQL)', function () {
  this.timeout(120_000);
  let pg: TestDatabase;
  let sb: AvantisV2Sandbox;
  let dir: string;
  const workers: Worker[] = [];
  let trader: `0x${string}`;

  before(async () => {
    pg = await createTestPostgres('v2crash');
    dir = mkdtempSync(join(tmpdir(), 'vanta-v2-crash-'));
    // The trader's wallet and delegate key, sealed by the engine's keystore (the worker opens the same one).
    const keystore = await createLocalKeyStore({ dataDir: dir, mode: 'sandbox', allowInLive: false, logger: silentLogger() });
    const wallets = createWallets({ db: pg.db, keystore, logger: silentLogger() });
    trader = (await wallets.create('user:1')).address;
    const delegate = (await wallets.create('delegate:1')).address;
    await keystore.close();
    // A slow executor step, so that a kill can land while the stream runs.
    sb = await startAvantisV2Sandbox({ stepMs: 300 });
    (sb.executor as InMemoryExecutor).setPrice(1n, 3_000n * 10n ** 10n);
    sb.ledger.setDelegate(trader, delegate, BigInt(Math.floor(Date.now() / 1000) + 3600));
  });
  after(async () => {
    for (const w of workers) w.child.kill('SIGKILL');
    await sb.close();
    await pg.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  function start(...flags: string[]): Worker {
    const child = spawn(process.execPath, [WORKER, pg.url, dir, sb.txBuilderUrl, sb.gatewayUrl, ...flags], { stdio: ['pipe', 'pipe', 'inherit'] });
    const worker: Worker = {
      child,
      lines: [],
      send: (command) => child.stdin.write(`${JSON.stringify(command)}\n`),
      exited: new Promise((resolve) => child.once('exit', resolve)),
    };
    createInterface({ input: child.stdout }).on('line', (line) => worker.lines.push(JSON.parse(line) as Line));
    workers.push(worker);
    return worker;
  }
  const has = (w: Worker, test: (l: Line) => boolean) => w.lines.some(test);
  async function kill(w: Worker): Promise<void> {
    w.child.kill('SIGKILL');
    await w.exited;
  }
  const notices = (w: Worker) => w.lines.filter((l) => 'notice' in l).map((l) => String(l['notice']));

  it('killed after signing, before submitting: after the restart the order is submitted once, with the stored signature, and fills', async () => {
    const first = start('--stall-before-submit');
    await waitFor(() => has(first, (l) => l['ready'] === true), 'engine ready', 30_000);
    first.send({ order: { positionId: 'k1' } });
    await waitFor(() => has(first, (l) => l['signed'] === 'position:k1:open'), 'the order signed and stored', 20_000);
    await kill(first);
    assert.equal(sb.gateway.submissions.length, 0, 'nothing was submitted before the kill');
    const [stored] = await pg.db.sql<{ status: string; signature: string }>(`select status, signature from v2_intents where action_id = 'position:k1:open'`);
    assert.equal(stored?.status, 'signed');

    const second = start();
    await waitFor(() => has(second, (l) => l['ready'] === true), 'engine restarted', 30_000);
    await waitFor(() => notices(second).includes('order.filled'), 'the trader told of the fill', 30_000);
    assert.equal(sb.gateway.submissions.length, 1, 'submitted exactly once');
    const [after] = await pg.db.sql<{ status: string; signature: string; submissions: number }>(`select status, signature, submissions from v2_intents where action_id = 'position:k1:open'`);
    assert.equal(after?.status, 'executed');
    assert.equal(after?.signature, stored?.signature, 'the bytes signed before the kill, never re-signed');
    assert.equal(sb.ledger.positions(trader).length, 1, 'one position on the exchange');
    await kill(second);
  });

  it('killed while batched-market streams the order: after the restart it is replayed by tracking id, never resent, and the trader sees it filled', async () => {
    const submittedBefore = sb.gateway.submissions.length;
    const positionsBefore = sb.ledger.positions(trader).length;
    const first = start();
    await waitFor(() => has(first, (l) => l['ready'] === true), 'engine ready', 30_000);
    first.send({ order: { positionId: 'k2' } });
    await waitFor(() => has(first, (l) => l['event'] === 'MarketOrderAccepted'), 'the order accepted', 20_000);
    await kill(first);
    const [mid] = await pg.db.sql<{ status: string }>(`select status from v2_intents where action_id = 'position:k2:open'`);
    assert.equal(mid?.status, 'accepted', 'killed mid-stream');

    const second = start();
    await waitFor(() => has(second, (l) => l['ready'] === true), 'engine restarted', 30_000);
    await waitFor(() => notices(second).includes('order.filled'), 'the trader told of the fill', 30_000);
    assert.equal(sb.gateway.submissions.length, submittedBefore + 1, 'never resent');
    assert.equal(sb.ledger.positions(trader).length, positionsBefore + 1, 'one more position, not two');
    const events = await pg.db.sql<{ type: string }>(`select type from v2_intent_events where action_id = 'position:k2:open' order by seq`);
    assert.deepEqual(events.map((e) => e.type), ['MarketOrderAccepted', 'MarketOrderInitiated', 'MarketOrderExecuted'], 'each event stored once');

    // And the position closes through v2 too, with its payout.
    second.send({ close: { positionId: 'k2' } });
    await waitFor(() => notices(second).includes('position.closed'), 'the trader told of the close', 30_000);
    assert.equal(sb.ledger.positions(trader).length, positionsBefore, 'closed on the exchange');
    await kill(second);
  });
});
