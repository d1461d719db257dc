import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { FencedError, VantaError } from '../../../src/errors.ts';
import { EngineLease, type LeaseSettings } from '../../../src/infra/db/lease.ts';
import { Secret } from '../../../src/infra/secret.ts';
import { silentLogger } from '../../helpers/common.ts';
import { createTestPostgres, type TestDatabase } from '../../helpers/db.ts';
import { sleep, waitFor } from '../../helpers/runtime.ts';

const HOLDER = fileURLToPath(new URL('./fixtures/lease-holder.ts', import.meta.url));
const FAST: LeaseSettings = { ttlMs: 600, renewEveryMs: 200, pollMs: 50 };

describe('engine lease (PostgreSQL)', function () {
  this.timeout(30_000);
  let t: TestDatabase;
  const leases: EngineLease[] = [];
  const lease = (holder: string, settings: LeaseSettings = FAST) => {
    const l = new EngineLease({ url: new Secret(t.url), db: t.db, logger: silentLogger(), holder, ...settings });
    leases.push(l);
    return l;
  };
  const row = async () => (await t.db.sql<{ holder: string; epoch: string }>(`select holder, epoch from engine_lease`))[0];
  beforeEach(async () => {
    t = await createTestPostgres('lease');
  });
  afterEach(async () => {
    for (const l of leases.splice(0)) await l.close();
    await t.destroy();
  });

  it('takes a free lease, renews it well past its TTL, and a second engine waits as a standby meanwhile', async () => {
    // A TTL with room for a busy test machine: this test is about renewals, not speed.
    const a = lease('engine-a', { ttlMs: 1_500, renewEveryMs: 250, pollMs: 50 });
    const fence = await a.acquire();
    assert.equal(fence.epoch, 1);
    assert.deepEqual(await row(), { holder: 'engine-a', epoch: '1' });
    await fence.assert('write');

    const b = lease('engine-b');
    const controller = new AbortController();
    const waiting = b.acquire({ signal: controller.signal });
    await waitFor(() => b.status().role === 'standby', 'the standby');
    assert.deepEqual({ ...b.status(), expiresInMs: 0 }, { role: 'standby', holder: 'engine-a', epoch: 1, expiresInMs: 0 });
    await assert.rejects(b.check(), /^Error: standby: lease held by engine-a \(epoch 1\)$/);
    await a.check();

    await sleep(1_500 * 2);
    assert.equal(a.status().role, 'owner', 'renewed, so still the owner');
    assert.equal(b.status().role, 'standby', 'and the standby never took over');
    controller.abort();
    await assert.rejects(waiting);
  });

  it('a standby takes over an expired lease with a new epoch; the old owner learns it at its next renewal, and its fence refuses every write', async () => {
    const a = lease('engine-a');
    const lost: FencedError[] = [];
    a.onLost((e) => lost.push(e));
    const old = await a.acquire();
    // Another engine that was told the lease expired (as after a long pause of engine-a).
    await t.db.sql(`update engine_lease set expires_at = now() - interval '1 second'`);
    const b = lease('engine-b');
    const fresh = await b.acquire();
    assert.equal(fresh.epoch, 2);
    await assert.rejects(old.assert('broadcast a transaction'), (err: unknown) => err instanceof FencedError && err.code === 'LEASE_LOST' && /epoch 1\) and did not broadcast a transaction/.test(err.message));
    const written = await t.db.sql(`insert into audit_log (actor, action) select 'stale', 'write' where ${old.sql} returning id`);
    assert.deepEqual(written, [], 'a write carrying the old fence changes nothing');
    await fresh.assert('write');

    await waitFor(() => lost.length === 1, 'the old owner to learn it lost the lease', 2_000);
    assert.equal(lost[0]!.code, 'LEASE_LOST');
    assert.deepEqual(a.status(), { role: 'lost', epoch: 1, reason: 'engine-b took it over (epoch 2)' });
    await assert.rejects(a.check(), /lease lost \(epoch 1\): engine-b took it over/);
  });

  it('when the owner dies, a standby takes over within TTL + poll', async () => {
    const a = lease('engine-a');
    await a.acquire();
    const b = lease('engine-b');
    const taking = b.acquire();
    await waitFor(() => b.status().role === 'standby', 'the standby');
    const died = performance.now();
    await a.close(); // stops renewing, as a dead process would
    const fence = await taking;
    const took = performance.now() - died;
    assert.equal(fence.epoch, 2);
    // TTL + one poll, plus slack for a busy machine.
    assert.ok(took <= FAST.ttlMs + FAST.pollMs + 500, `took over after ${Math.round(took)} ms`);
  });

  it('a released lease is taken over at the standby\'s next poll, not after the TTL', async () => {
    const slow: LeaseSettings = { ttlMs: 10_000, renewEveryMs: 3_000, pollMs: 50 };
    const a = lease('engine-a', slow);
    await a.acquire();
    const b = lease('engine-b', slow);
    const taking = b.acquire();
    await waitFor(() => b.status().role === 'standby', 'the standby');
    const released = performance.now();
    await a.release();
    assert.equal((await taking).epoch, 2);
    assert.ok(performance.now() - released < 1_000);
  });

  it('a broadcast check whose answer may be stale (the lease was not renewed for a TTL) is refused, retryably, even though the epoch is still ours', async () => {
    const a = lease('engine-a');
    const fence = await a.acquire();
    await fence.assert('broadcast a transaction');
    await a.close(); // renewals stop, as in a pause: the database still says epoch 1 is the holder
    await sleep(FAST.ttlMs);
    await assert.rejects(fence.assert('broadcast a transaction'), (err: unknown) => {
      assert.ok(err instanceof VantaError && !(err instanceof FencedError));
      assert.equal(err.code, 'LEASE_UNCONFIRMED');
      assert.equal(err.retryable, true);
      return true;
    });
  });

  it('never hands out an epoch twice, even if an operator deletes the lease row', async () => {
    const a = lease('engine-a');
    const first = await a.acquire();
    await a.close();
    await t.db.sql(`delete from engine_lease`);
    const b = lease('engine-b');
    const second = await b.acquire();
    assert.ok(second.epoch > first.epoch, `epoch ${second.epoch} after ${first.epoch}`);
    await assert.rejects(first.assert('write'), FencedError);
  });

  it('an owner paused past its lease (SIGSTOP) writes nothing when it wakes (SIGCONT) and knows it lost the lease', async () => {
    const child = spawn(process.execPath, [HOLDER, t.url, String(FAST.ttlMs), String(FAST.renewEveryMs), String(FAST.pollMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines: Record<string, unknown>[] = [];
    createInterface({ input: child.stdout }).on('line', (l) => lines.push(JSON.parse(l) as Record<string, unknown>));
    try {
      await waitFor(() => lines.some((l) => l['wrote'] === 1), 'the owner writing', 10_000);
      child.kill('SIGSTOP');
      await sleep(100);
      const stoppedAt = lines.length;
      const b = lease('engine-b');
      const fence = await b.acquire();
      assert.equal(fence.epoch, 2);
      const writesBefore = (await t.db.sql(`select id from audit_log where actor = 'stale-owner'`)).length;
      child.kill('SIGCONT');
      await waitFor(() => lines.some((l) => l['lost'] !== undefined), 'the woken owner to learn it lost the lease', 5_000);
      await sleep(200);
      const after = lines.slice(stoppedAt);
      assert.ok(after.some((l) => l['wrote'] === 0), 'it did try to write');
      assert.ok(after.every((l) => l['wrote'] !== 1), `no write went through after the pause: ${JSON.stringify(after)}`);
      assert.equal((await t.db.sql(`select id from audit_log where actor = 'stale-owner'`)).length, writesBefore);
      assert.deepEqual(lines.find((l) => l['lost']), { lost: 'LEASE_LOST' });
    } finally {
      child.kill('SIGKILL');
    }
  });
});
