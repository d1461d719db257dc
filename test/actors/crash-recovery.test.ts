import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createTestPostgres, type TestDatabase } from '../helpers/db.ts';
import { topState } from '../helpers/runtime.ts';

const WORKER = fileURLToPath(new URL('./fixtures/crash-worker.ts', import.meta.url));
type States = Record<string, { value: unknown; revision: number | null; positions: string[] | null; fillDelayed: boolean | null } | null>;
type Line = { booted?: unknown; created?: number; ack?: States; restored?: States; settled?: States };

function startWorker(mode: 'work' | 'verify', url: string): { child: ChildProcess; lines: AsyncGenerator<Line, void> } {
  const child = spawn(process.execPath, [WORKER, mode, url], { stdio: ['ignore', 'pipe', 'inherit'] });
  const rl = createInterface({ input: child.stdout });
  async function* parse(): AsyncGenerator<Line, void> {
    for await (const line of rl) yield JSON.parse(line) as Line;
  }
  return { child, lines: parse() };
}

async function next(lines: AsyncGenerator<Line, void>, key: keyof Line): Promise<Line> {
  for (;;) {
    const result = await lines.next();
    if (result.done) throw new Error(`worker exited before printing ${key}`);
    if (result.value[key] !== undefined) return result.value;
  }
}

describe('crash recovery (SIGKILL mid-activity)', function () {
  this.timeout(60_000);
  let t: TestDatabase;
  before(async () => {
    t = await createTestPostgres('crash');
  });
  after(async () => {
    await t.destroy();
  });

  it('restores every actor in its last persisted state, loses no acknowledged change, and fires pending timers after the restart', async () => {
    const worker = startWorker('work', t.url);
    const created = (await next(worker.lines, 'created')).created!;
    let lastAck: States = {};
    const acksBeforeKill = 20 + Math.floor(Math.random() * 30);
    for (let i = 0; i < acksBeforeKill; i++) lastAck = (await next(worker.lines, 'ack')).ack!;
    // Kill at a random instant within the next few writes, not at a quiet point.
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 15));
    const exited = new Promise((resolve) => worker.child.once('exit', resolve));
    worker.child.kill('SIGKILL');
    await exited;
    assert.ok(Date.now() - created < 3_000, 'the kill must happen while the fill timers are still pending');

    const rows = await t.db.sql<{ id: string; snapshot: { value: unknown; context: { revision?: number; positions?: string[]; fillDelayed?: boolean } } }>(
      `select id, snapshot from actor_snapshots where status = 'active' order by id`,
    );
    const persisted: States = Object.fromEntries(rows.map((r) => [r.id, { value: topState(r.snapshot), revision: r.snapshot.context.revision ?? null, positions: r.snapshot.context.positions ?? null, fillDelayed: r.snapshot.context.fillDelayed ?? null }]));

    const verifier = startWorker('verify', t.url);
    const restored = (await next(verifier.lines, 'restored')).restored!;
    // Exactly the persisted tree, in exactly the persisted states.
    assert.deepEqual(restored, persisted);
    // Nothing acknowledged as durable was lost.
    for (const [id, acked] of Object.entries(lastAck)) {
      const now = restored[id];
      assert.ok(now, `${id} was acknowledged but not restored`);
      if (acked?.revision !== null && acked?.revision !== undefined) assert.ok(now.revision! >= acked.revision, `${id}: acked revision ${acked.revision}, restored ${now.revision}`);
      if (acked?.value === 'open') assert.equal(now.value, 'open', `${id} was acked open`);
    }
    const pendingBefore = Object.entries(restored).filter(([id, s]) => id.startsWith('position:') && s?.value === 'awaitingFill' && s.fillDelayed === false).map(([id]) => id);
    assert.ok(pendingBefore.length > 0, 'some positions were still waiting for their fill at the kill');

    const settled = (await next(verifier.lines, 'settled')).settled!;
    await new Promise((resolve) => verifier.child.once('exit', resolve));
    for (const id of pendingBefore) assert.equal(settled[id]?.fillDelayed, true, `${id}: its fill timer should have fired after the restart`);
    // Nothing was lost or duplicated: each user still lists exactly its live positions.
    for (let u = 1; u <= 20; u++) {
      const live = Object.keys(settled).filter((id) => id.startsWith(`position:${u}-`));
      assert.deepEqual([...settled[`user:${u}`]!.positions!].sort(), live.sort(), `user:${u} lists exactly its live positions`);
      assert.equal(live.length, 2);
    }
  });
});
