import assert from 'node:assert/strict';
import { createInspectorControls } from '../../src/actors/inspector-controls.ts';
import type { ActorRuntime } from '../../src/actors/runtime.ts';
import { createInspectorServer, type InspectorServer } from '../../src/infra/http/inspector-server.ts';
import { silentLogger } from '../helpers/common.ts';
import { createTestPostgres, type TestDatabase } from '../helpers/db.ts';
import { testSystem, waitFor } from '../helpers/runtime.ts';
import { flakyKind } from '../helpers/test-kinds.ts';

/** The inspector's controls over a real runtime on PostgreSQL, through the HTTP server, as an operator uses them. */
describe('actors/inspector-controls', function () {
  this.timeout(30_000);
  let t: TestDatabase;
  let runtime: ActorRuntime;
  let server: InspectorServer;

  before(async () => {
    t = await createTestPostgres('inspector-controls');
    runtime = testSystem(t.db, { extraKinds: () => [flakyKind] });
    await runtime.boot();
    server = await createInspectorServer({
      port: 0,
      token: null,
      logger: silentLogger(),
      source: { actors: () => [], recentEvents: () => [], subscribe: () => () => {} },
      controls: createInspectorControls(runtime, t.db),
      machines: runtime.machines(),
    });
  });
  after(async () => {
    await server.close();
    await runtime.stop();
    await t.destroy();
  });

  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-vanta-inspector': '1' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as { error?: string } };
  };
  const audit = () => t.db.sql<{ actor: string; action: string; subject: string; details: { event?: Record<string, unknown> } }>("select actor, action, subject, details from audit_log where action like 'inspector.%' order by id");

  it('sends an event to a running actor and audits it, secrets scrubbed', async () => {
    runtime.spawn('flaky:1', { input: undefined });
    const sent = await post('/api/control/send', { id: 'flaky:1', event: { type: 'bump', privateKey: `0x${'cd'.repeat(32)}` } });
    assert.equal(sent.status, 200);
    await waitFor(() => (runtime.get('flaky:1')!.getSnapshot() as { context: { n: number } }).context.n === 1, 'the event arrived');
    const rows = await audit();
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.action, 'inspector.event.sent');
    assert.equal(rows[0]!.subject, 'flaky:1');
    assert.match(rows[0]!.actor, /^inspector@/);
    assert.doesNotMatch(JSON.stringify(rows[0]!.details), /cdcdcdcd/, 'no secret in the audit log');
  });

  it('refuses an actor that does not run, and audits nothing for it', async () => {
    const missing = await post('/api/control/send', { id: 'flaky:404', event: { type: 'bump' } });
    assert.equal(missing.status, 404);
    assert.equal((await audit()).length, 1);
  });

  it('releases a quarantined actor in the running engine, audited by the runtime with who asked', async () => {
    runtime.spawn('flaky:2', { input: undefined });
    for (let i = 0; i < 6 && !runtime.quarantined().some((q) => q.id === 'flaky:2'); i++) {
      runtime.send('flaky:2', { type: 'boom' });
      await waitFor(() => runtime.get('flaky:2') !== undefined || runtime.quarantined().some((q) => q.id === 'flaky:2'), 'restart or quarantine');
    }
    // As an operator sees it: recorded (the audit row is written after the in-memory quarantine).
    await waitFor(async () => (await t.db.sql<{ n: number }>("select count(*)::int as n from audit_log where action = 'actor.quarantined' and subject = 'flaky:2'"))[0]!.n === 1, 'quarantine recorded');
    const notQuarantined = await post('/api/control/release', { id: 'flaky:1' });
    assert.equal(notQuarantined.status, 409);
    const released = await post('/api/control/release', { id: 'flaky:2' });
    assert.equal(released.status, 200, JSON.stringify(released.body));
    await waitFor(() => runtime.get('flaky:2') !== undefined, 'running again');
    const rows = await t.db.sql<{ actor: string }>("select actor from audit_log where action = 'actor.released' and subject = 'flaky:2'");
    assert.equal(rows.length, 1);
    assert.match(rows[0]!.actor, /^inspector@/);
  });
});
