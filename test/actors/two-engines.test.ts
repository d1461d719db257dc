import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { decodeFunctionData, parseUnits } from 'viem';
import { abiOf } from '../../src/infra/devnet/artifacts.ts';
import type { Keeper } from '../../src/infra/devnet/keeper.ts';
import { sleep, waitFor } from '../helpers/runtime.ts';
import { txFixture, type TxFixture } from '../infra/chain/tx/support.ts';
import { referenceAbi } from '../infra/devnet/fixture.ts';

const WORKER = fileURLToPath(new URL('./fixtures/engine-worker.ts', import.meta.url));
/** The engine's defaults (src/infra/config.ts): what an operator gets. */
const LEASE = { ttlMs: 2_500, renewEveryMs: 833, pollMs: 250 };
const USERS = 4;

type Line = Record<string, unknown>;
interface Worker {
  readonly name: string;
  readonly child: ChildProcess;
  readonly lines: { at: number; line: Line }[];
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  send(command: unknown): void;
}

describe('two engines on one PostgreSQL database, under a stream of orders', function () {
  this.timeout(180_000);
  let f: TxFixture;
  let keeper: Keeper;
  let dir: string;
  const workers: Worker[] = [];

  before(async () => {
    f = await txFixture();
    dir = mkdtempSync(join(tmpdir(), 'vanta-two-engines-'));
    writeFileSync(join(dir, 'deployment.json'), JSON.stringify(f.sim.deployment));
    // Orders stay pending between the request and the keeper's fill: allow a stream of them.
    await f.sim.call(f.sim.deployer, 'TradingStorage', f.sim.deployment.tradingStorage, 'setMaxPendingMarketOrders', [1_000n]);
    for (let u = 1; u <= USERS; u++) await f.trader(`user:${u}`);
    // Which engine's connections wrote which actor row, and when (by the database's clock).
    await f.pg.db.sql(`create table row_writes (writer text, tbl text, id text, at timestamptz default clock_timestamp())`);
    await f.pg.db.sql(`create function record_row_write() returns trigger language plpgsql as $$
      begin
        insert into row_writes (writer, tbl, id) values (current_setting('application_name'), tg_table_name, coalesce(to_jsonb(new)->>'id', to_jsonb(new)->>'hash'));
        return new;
      end $$`);
    for (const table of ['actor_snapshots', 'tx_intents', 'tx_attempts']) {
      await f.pg.db.sql(`create trigger record_row_write after insert or update on ${table} for each row execute function record_row_write()`);
    }
    keeper = f.sim.keeper();
    keeper.start();
  });
  after(async () => {
    for (const w of workers) w.child.kill('SIGKILL');
    await keeper.stop();
    await f.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function startWorker(name: string): Worker {
    const args = [WORKER, name, f.sim.anvil.rpcUrl, f.pg.url, f.keyDir, join(dir, 'deployment.json'), String(LEASE.ttlMs), String(LEASE.renewEveryMs), String(LEASE.pollMs)];
    const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    const worker: Worker = {
      name,
      child,
      lines: [],
      exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))),
      send: (command) => child.stdin.write(`${JSON.stringify(command)}\n`),
    };
    createInterface({ input: child.stdout }).on('line', (line) => worker.lines.push({ at: performance.now(), line: JSON.parse(line) as Line }));
    workers.push(worker);
    return worker;
  }
  const has = (w: Worker, key: string, value?: unknown) => w.lines.some(({ line }) => key in line && (value === undefined || line[key] === value));
  const firstAt = (w: Worker, key: string) => w.lines.find(({ line }) => key in line)?.at ?? null;

  /** Orders, each with a collateral that names it on chain (50.000001 USDC is order 1). */
  const sentTo = new Map<string, string[]>();
  let next = 0;
  function order(to: Worker): string {
    next += 1;
    const positionId = `s${next}`;
    to.send({ order: { user: (next % USERS) + 1, positionId, collateral: `50.${String(next).padStart(6, '0')}` } });
    sentTo.set(positionId, [...(sentTo.get(positionId) ?? []), to.name]);
    return positionId;
  }
  const accepted = () => workers.flatMap((w) => w.lines.filter(({ line }) => typeof line['accepted'] === 'string').map(({ line }) => String(line['accepted'])));
  async function stream(to: Worker, count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      order(to);
      await sleep(120);
    }
  }

  /** Market-open requests on chain per order: decoded from each MarketOrderInitiated transaction's collateral. */
  async function requestsOnChain(): Promise<Map<string, number>> {
    const client = f.sim.clients.publicClient;
    const logs = await client.getContractEvents({ address: f.sim.deployment.trading, abi: abiOf('Trading'), eventName: 'MarketOrderInitiated', fromBlock: 0n });
    const counts = new Map<string, number>();
    for (const log of logs) {
      const tx = await client.getTransaction({ hash: log.transactionHash });
      const call = decodeFunctionData({ abi: referenceAbi('Trading'), data: tx.input });
      const collateral = (call.args![0] as { positionSizeUSDC: bigint }).positionSizeUSDC;
      const n = collateral - parseUnits('50', 6);
      const id = `s${n}`;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    return counts;
  }

  it('one owner, one standby; SIGKILL the owner: the standby takes over within 5 s; SIGSTOP the next owner: its successor takes over and, woken by SIGCONT, it does nothing; every order on chain exactly once, every position tracked by one actor', async () => {
    // ---- A owns, B waits.
    const a = startWorker('engine-a');
    await waitFor(() => has(a, 'ready'), 'engine A ready', 30_000);
    const b = startWorker('engine-b');
    await waitFor(() => has(b, 'standby'), 'engine B standby', 30_000);
    assert.deepEqual(b.lines.find(({ line }) => 'standby' in line)!.line, { standby: { holder: 'engine-a', epoch: 1 } });

    await stream(a, 8);
    // Killed with one more order on its way, at a random instant.
    order(a);
    await sleep(Math.random() * 40);
    const killedAt = performance.now();
    a.child.kill('SIGKILL');
    await waitFor(() => has(b, 'ready'), 'engine B to take over', 10_000);
    const takeoverMs = firstAt(b, 'ready')! - killedAt;
    assert.ok(takeoverMs < 5_000, `B ready ${Math.round(takeoverMs)} ms after A's SIGKILL`);
    assert.equal((await a.exited).signal, 'SIGKILL');

    // ---- B owns, C waits; B is paused past its lease while orders keep coming.
    const c = startWorker('engine-c');
    await waitFor(() => has(c, 'standby'), 'engine C standby', 30_000);
    await stream(b, 8);
    order(b);
    await sleep(Math.random() * 40);
    b.child.kill('SIGSTOP');
    const stoppedAt = performance.now();
    const deliveredWhilePaused = [order(b), order(b)];
    await waitFor(() => has(c, 'ready'), 'engine C to take over', 10_000);
    assert.ok(firstAt(c, 'ready')! - stoppedAt < 5_000, `C ready ${Math.round(firstAt(c, 'ready')! - stoppedAt)} ms after B's SIGSTOP`);
    await stream(c, 6);
    const resumedAt = (await f.pg.db.sql<{ now: Date }>('select clock_timestamp() as now'))[0]!.now;
    const linesBeforeWake = b.lines.length;
    b.child.kill('SIGCONT');
    const bExit = await b.exited;
    assert.equal(bExit.code, 75, 'the woken owner knows it lost the lease and exits');
    const afterWake = b.lines.slice(linesBeforeWake).map(({ line }) => line);
    assert.ok(afterWake.some((l) => l['lost'] === 'LEASE_LOST'), `B reported the lost lease: ${JSON.stringify(afterWake)}`);
    // (An order whose state B had written before the pause may still be acknowledged when the answer
    // arrives: that write landed before the takeover, and C carries the order on.)
    assert.deepEqual(afterWake.filter((l) => 'sent' in l), [], 'woken up, B sent nothing');
    const staleWrites = await f.pg.db.sql<{ tbl: string; id: string }>(`select tbl, id from row_writes where writer = 'engine-b' and at >= ?`, [resumedAt]);
    assert.deepEqual(staleWrites, [], 'woken up, B wrote nothing: no actor snapshot, no outbox row');
    if (process.env['LEASE_TEST_VERBOSE']) console.log('outbox rows written by B after it woke:', staleWrites);
    await stream(c, 4);

    // ---- Everything settles under C.
    const acceptedIds = accepted();
    const unfilled = () => {
      const last = [...c.lines].reverse().find(({ line }) => 'report' in line)?.line['report'] as { positions: Record<string, unknown> } | undefined;
      return acceptedIds.filter((id) => last?.positions[`position:${id}`] !== 'open').map((id) => `${id}: ${JSON.stringify(last?.positions[`position:${id}`])}`);
    };
    try {
      await waitFor(
        async () => {
          c.send({ report: true });
          await sleep(100);
          return unfilled().length === 0;
        },
        'every accepted order to be filled',
        30_000,
      );
    } catch (err) {
      const intents = await f.pg.db.sql(`select i.id, i.nonce, i.status, i.wallet, (select count(*) from tx_attempts a where a.intent_id = i.id)::int as attempts from tx_intents i order by i.wallet, i.nonce`);
      const stuck = (intents as { status: string; wallet: string }[]).filter((i) => i.status !== 'mined').map((i) => i.wallet.toLowerCase());
      const latest = await f.sim.clients.publicClient.getBlockNumber();
      const txs: unknown[] = [];
      for (let n = 0n; n <= latest; n++) {
        const block = await f.sim.clients.publicClient.getBlock({ blockNumber: n, includeTransactions: true });
        for (const tx of block.transactions) if (stuck.includes(tx.from.toLowerCase())) txs.push({ block: n.toString(), nonce: tx.nonce, hash: tx.hash, input: tx.input.slice(0, 10) });
      }
      const attempts = await f.pg.db.sql(`select intent_id, hash, created_at from tx_attempts order by created_at`);
      const stuckIds = (intents as { id: string; status: string }[]).filter((i) => i.status !== 'mined').map((i) => i.id);
      const whoWrote = await f.pg.db.sql(`select writer, tbl, id, at from row_writes where id = any(?) or id = any(?) order by at`, [stuckIds, stuckIds.map((i) => i.replace(/:open$/, ''))]);
      const positions = await f.pg.db.sql(`select id, status, snapshot->'value' as state, snapshot->'context'->'error' as error from actor_snapshots where id = any(?)`, [stuckIds.map((i) => i.replace(/:open$/, ''))]);
      throw new Error(`${(err as Error).message}: ${unfilled().join(', ')}\nintents: ${JSON.stringify(intents)}\nB after waking: ${JSON.stringify(afterWake)}\nchain txs of stuck wallets: ${JSON.stringify(txs)}\nattempts: ${JSON.stringify(attempts)}\nwho wrote the stuck rows: ${JSON.stringify(whoWrote)}\ntheir positions: ${JSON.stringify(positions)}\nC: ${JSON.stringify(c.lines.map((l) => l.line).filter((l) => !('report' in l)))}`, { cause: err });
    }
    const onChain = await requestsOnChain();
    for (const id of acceptedIds) assert.equal(onChain.get(id), 1, `accepted order ${id} is on chain exactly once`);
    for (const [id, count] of onChain) assert.ok(count === 1 && sentTo.has(id), `order ${id} on chain ${count} times`);
    for (const id of deliveredWhilePaused) assert.ok(!acceptedIds.includes(id) && !onChain.has(id), `${id}, delivered only to the paused engine, was neither accepted nor sent`);
    assert.ok(acceptedIds.length >= 20, `a real stream: ${acceptedIds.length} orders accepted`);
    if (process.env['LEASE_TEST_VERBOSE']) {
      console.log({ takeoverMs: Math.round(takeoverMs), cTakeoverMs: Math.round(firstAt(c, 'ready')! - stoppedAt), accepted: acceptedIds.length, onChain: onChain.size, sent: next, afterWake });
      for (const w of [a, b, c]) console.log(w.name, JSON.stringify(w.lines.filter(({ line }) => !('sent' in line) && !('report' in line)).map(({ line }) => line)).slice(0, 1500));
    }

    // Every position is tracked by exactly one actor: C's (A is dead, B exited), listed once by its owner.
    const report = [...c.lines].reverse().find(({ line }) => 'report' in line)!.line['report'] as { positions: Record<string, unknown> };
    const live = Object.keys(report.positions).sort();
    const users = await f.pg.db.sql<{ id: string; positions: string[] }>(`select id, snapshot->'context'->'positions' as positions from actor_snapshots where kind = 'user' order by id`);
    const listed = users.flatMap((u) => u.positions).sort();
    assert.deepEqual(listed, live, 'each live position is listed by its user, once');
    assert.equal(new Set(listed).size, listed.length);
    const rows = await f.pg.db.sql<{ id: string }>(`select id from actor_snapshots where kind = 'position' and status = 'active' order by id`);
    assert.deepEqual(rows.map((r) => r.id).sort(), live, 'and has one active row');
    for (const id of acceptedIds) assert.ok(live.includes(`position:${id}`), `accepted order ${id} is tracked`);
  });
});
