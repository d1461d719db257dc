import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { decodeEventLog, type Address } from 'viem';
import { abiOf } from '../../src/infra/devnet/artifacts.ts';
import { createLocalKeyStore } from '../../src/infra/keys/local-keystore.ts';
import { createWallets } from '../../src/infra/keys/wallets.ts';
import { silentLogger } from '../helpers/common.ts';
import { createTestPostgres, type TestDatabase } from '../helpers/db.ts';
import { topState } from '../helpers/runtime.ts';
import { PRICE, startSimulator, type SimFixture } from '../infra/devnet/fixture.ts';
import type { CrashWorkerSetup } from './fixtures/crash-worker.ts';

const WORKER = fileURLToPath(new URL('./fixtures/crash-worker.ts', import.meta.url));
const USERS = 8;
type State = { value: unknown; revision: number | null; positions: string[] | null; fillDelayed: boolean | null } | null;
type States = Record<string, State>;
type Line = { booted?: unknown; created?: number; ack?: States; restored?: States; delayed?: States; settled?: States };

function startWorker(mode: 'work' | 'verify', setupFile: string): { child: ChildProcess; lines: AsyncGenerator<Line, void> } {
  const child = spawn(process.execPath, [WORKER, mode, setupFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  const rl = createInterface({ input: child.stdout });
  async function* parse(): AsyncGenerator<Line, void> {
    for await (const line of rl) yield JSON.parse(line) as Line;
  }
  return { child, lines: parse() };
}

async function next<K extends keyof Line>(lines: AsyncGenerator<Line, void>, key: K): Promise<NonNullable<Line[K]>> {
  for (;;) {
    const result = await lines.next();
    if (result.done) throw new Error(`worker exited before printing ${key}`);
    const value = result.value[key];
    if (value !== undefined) return value as NonNullable<Line[K]>;
  }
}

describe('crash recovery (SIGKILL of the engine mid-activity, on the devnet)', function () {
  this.timeout(180_000);
  let t: TestDatabase;
  let sim: SimFixture;
  let dir: string;
  let setupFile: string;
  before(async () => {
    sim = await startSimulator();
    t = await createTestPostgres('crash');
    await sim.setPrice(0n, PRICE('3000'));
    await sim.setPrice(1n, PRICE('60000'));
    dir = mkdtempSync(join(tmpdir(), 'vanta-crash-'));
    const setup: CrashWorkerSetup = { pgUrl: t.url, rpcUrl: sim.anvil.rpcUrl, chainId: sim.anvil.chainId, deployment: sim.deployment, keyDir: join(dir, 'keys') };
    setupFile = join(dir, 'setup.json');
    writeFileSync(setupFile, JSON.stringify(setup));
  });
  after(async () => {
    await t.destroy();
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Market open requests each wallet sent, counted from the chain's own MarketOrderInitiated logs. */
  async function openRequestsOnChain(): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const log of await sim.clients.publicClient.getLogs({ address: sim.deployment.trading, fromBlock: 0n })) {
      try {
        const event = decodeEventLog({ abi: abiOf('Trading'), data: log.data, topics: log.topics }) as unknown as { eventName: string; args: { trader: Address; open: boolean } };
        if (event.eventName === 'MarketOrderInitiated' && event.args.open) counts.set(event.args.trader.toLowerCase(), (counts.get(event.args.trader.toLowerCase()) ?? 0) + 1);
      } catch {
        // other Trading events
      }
    }
    return counts;
  }

  it('restores every actor as persisted, loses no acknowledged change, fires pending timers, and every order is on chain exactly once', async () => {
    const worker = startWorker('work', setupFile);
    await next(worker.lines, 'created');
    let lastAck: States = {};
    const acksBeforeKill = 5 + Math.floor(Math.random() * 25);
    for (let i = 0; i < acksBeforeKill; i++) lastAck = await next(worker.lines, 'ack');
    // Kill at a random instant within the next few writes, while orders are on their way.
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 15));
    const exited = new Promise((resolve) => worker.child.once('exit', resolve));
    worker.child.kill('SIGKILL');
    await exited;

    const rows = await t.db.sql<{ id: string; snapshot: { value: unknown; context: { revision?: number; positions?: string[]; fillDelayed?: boolean } } }>(
      `select id, snapshot from actor_snapshots where status = 'active' order by id`,
    );
    const persisted: States = Object.fromEntries(
      rows.map((r) => [r.id, { value: topState(r.snapshot), revision: r.snapshot.context.revision ?? null, positions: r.snapshot.context.positions ?? null, fillDelayed: r.snapshot.context.fillDelayed ?? null }]),
    );

    const verifier = startWorker('verify', setupFile);
    const restored = await next(verifier.lines, 'restored');
    // Exactly the persisted tree, in exactly the persisted states.
    assert.deepEqual(restored, persisted);
    // Nothing acknowledged as durable was lost.
    for (const [id, acked] of Object.entries(lastAck)) {
      const now = restored[id];
      assert.ok(now, `${id} was acknowledged but not restored`);
      if (acked?.revision !== null && acked?.revision !== undefined) assert.ok(now.revision! >= acked.revision, `${id}: acked revision ${acked.revision}, restored ${now.revision}`);
    }
    const pendingBefore = Object.entries(restored)
      .filter(([id, s]) => id.startsWith('position:') && s?.value === 'awaitingFill' && s.fillDelayed === false)
      .map(([id]) => id);

    const delayed = await next(verifier.lines, 'delayed');
    for (const id of pendingBefore) assert.equal(delayed[id]?.fillDelayed, true, `${id}: its fill timer should have fired after the restart`);

    const keeper = sim.keeper();
    keeper.start();
    try {
      const settled = await next(verifier.lines, 'settled');
      await new Promise((resolve) => verifier.child.once('exit', resolve));
      const keystore = await createLocalKeyStore({ dataDir: join(dir, 'keys'), mode: 'sandbox', allowInLive: false, logger: silentLogger() });
      const wallets = createWallets({ db: t.db, keystore, logger: silentLogger() });
      const onChain = await openRequestsOnChain();
      for (let u = 1; u <= USERS; u++) {
        const live = Object.keys(settled).filter((id) => id.startsWith(`position:${u}-`));
        // Nothing lost or duplicated: each user still lists exactly its live positions, both open.
        assert.deepEqual([...settled[`user:${u}`]!.positions!].sort(), live.sort(), `user:${u} lists exactly its live positions`);
        const ended = await t.db.sql<{ id: string; snapshot: { value: unknown; context: { error: unknown } } }>(`select id, snapshot from actor_snapshots where id like ? and status = 'done'`, [`position:${u}-%`]);
        assert.deepEqual(live.map((id) => settled[id]!.value), ['open', 'open'], `user:${u}'s orders both filled; ended: ${JSON.stringify(ended.map((r) => [r.id, r.snapshot.value, r.snapshot.context.error]))}`);
        // And on chain: each of its two orders was requested exactly once, crash or not.
        const wallet = (await wallets.find(`user:${u}`))!.address;
        assert.equal(onChain.get(wallet.toLowerCase()), 2, `user:${u}: two orders, two open requests on chain`);
      }
      await keystore.close();
      const unfinished = await t.db.sql(`select id, status from tx_intents where status not in ('mined')`);
      assert.deepEqual(unfinished, [], 'every transaction of every order reached the chain');
    } finally {
      await keeper.stop();
    }
  });
});
