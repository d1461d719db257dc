import assert from 'node:assert/strict';
import { request } from 'node:http';
import { createInspectorServer, type InspectorServer } from '../../../src/infra/http/inspector-server.ts';
import type { ActorView, InspectorEvent, InspectorSource } from '../../../src/infra/http/inspector-source.ts';
import { Secret } from '../../../src/infra/secret.ts';
import { userMachine } from '../../../src/machines/user.machine.ts';
import { captureLogger, silentLogger } from '../../helpers/common.ts';

const TOKEN = 'inspector-token-0123456789abcdef';

const actor = (id: string, parent: string | null, state: unknown = 'idle'): ActorView => ({ id, kind: id.split(':')[0] ?? id, parent, status: 'running', state, context: {}, updatedAt: 1 });

/** A hand-driven source: the test decides what exists and pushes changes itself. */
function manualSource(): InspectorSource & { push(event: InspectorEvent): void; listeners: number } {
  const listeners = new Set<(e: InspectorEvent) => void>();
  return {
    actors: () => [actor('root', null), actor('user:1', 'root')],
    recentEvents: () => [{ type: 'event', at: 1, target: 'user:1', source: null, event: { type: 'user.start' } }],
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    push: (e) => listeners.forEach((l) => l(e)),
    get listeners() {
      return listeners.size;
    },
  };
}

/** Reads server-sent events from a fetch body until `count` messages arrived. */
async function readMessages(res: Response, count: number): Promise<{ event: string; data: unknown }[]> {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  const out: { event: string; data: unknown }[] = [];
  let buffer = '';
  while (out.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut: number;
    while ((cut = buffer.indexOf('\n\n')) !== -1) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = block.split('\n').find((l) => l.startsWith('data: '));
      if (!data) continue;
      const name = block.split('\n').find((l) => l.startsWith('event: '));
      out.push({ event: name ? name.slice(7) : 'message', data: JSON.parse(data.slice(6)) });
    }
  }
  await reader.cancel();
  return out;
}

/** A GET with a Host header of our choosing (fetch does not allow overriding it). */
function getWithHost(url: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('inspector server', () => {
  const servers: InspectorServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  const start = async (token: string | null, source: InspectorSource = manualSource(), logger = silentLogger()) => {
    const server = await createInspectorServer({ port: 0, token: token === null ? null : new Secret(token), source, logger });
    servers.push(server);
    return server;
  };

  it('serves the page with a strict content security policy and no external references', async () => {
    const server = await start(null);
    const res = await fetch(`${server.url}/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/);
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'.*connect-src 'self'/);
    const html = await res.text();
    assert.doesNotMatch(html, /https?:\/\//, 'the page must load nothing from elsewhere');
    for (const asset of ['/inspector.js', '/inspector.css']) {
      const r = await fetch(server.url + asset);
      assert.equal(r.status, 200, asset);
      // The SVG namespace is a name, not an address: createElementNS never fetches it.
      const text = (await r.text()).replaceAll("'http://www.w3.org/2000/svg'", "'<svg namespace>'");
      assert.doesNotMatch(text, /https?:\/\//, `${asset} must not reach the network`);
    }
  });

  it('without a token, serves the API on loopback', async () => {
    const server = await start(null);
    const res = await fetch(`${server.url}/api/actors`);
    assert.equal(res.status, 200);
    assert.deepEqual(((await res.json()) as { actors: ActorView[] }).actors.map((a) => a.id), ['root', 'user:1']);
    const events = (await (await fetch(`${server.url}/api/events`)).json()) as { events: InspectorEvent[] };
    assert.equal(events.events.length, 1);
  });

  it('without a token, refuses a Host header that is not a loopback name (DNS rebinding)', async () => {
    const server = await start(null);
    assert.equal(await getWithHost(`${server.url}/api/actors`, 'evil.example:80'), 403);
    assert.equal(await getWithHost(`${server.url}/api/actors`, `localhost:${new URL(server.url).port}`), 200);
  });

  it('with a token, refuses API calls without it or with a wrong one, and accepts the right one', async () => {
    const { logger, lines } = captureLogger('warn');
    const server = await start(TOKEN, manualSource(), logger);
    const none = await fetch(`${server.url}/api/actors`);
    assert.equal(none.status, 401);
    assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
    assert.match(((await none.json()) as { error: string }).error, /token required/);

    const wrong = await fetch(`${server.url}/api/actors`, { headers: { authorization: 'Bearer not-the-token' } });
    assert.equal(wrong.status, 401);
    assert.equal(((await wrong.json()) as { error: string }).error, 'token refused');
    const prefix = await fetch(`${server.url}/api/actors`, { headers: { authorization: `Bearer ${TOKEN.slice(0, -1)}` } });
    assert.equal(prefix.status, 401);
    await prefix.arrayBuffer();
    const stream = await fetch(`${server.url}/api/stream`, { headers: { authorization: 'Bearer nope' } });
    assert.equal(stream.status, 401);
    await stream.arrayBuffer();

    const right = await fetch(`${server.url}/api/actors`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(right.status, 200);
    await right.arrayBuffer();
    assert.ok(lines().some((l) => l['msg'] === 'Refused inspector token'));
    assert.doesNotMatch(JSON.stringify(lines()), new RegExp(TOKEN));
  });

  it('with a token, still serves the static login page to anyone', async () => {
    const server = await start(TOKEN);
    const res = await fetch(`${server.url}/`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /id="login-form"/);
  });

  it('streams a snapshot first and then every change, and unsubscribes when the page goes away', async () => {
    const source = manualSource();
    const server = await start(TOKEN, source);
    const res = await fetch(`${server.url}/api/stream`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
    const reading = readMessages(res, 3);
    while (source.listeners === 0) await new Promise((r) => setTimeout(r, 5));
    source.push({ type: 'actor.upsert', actor: actor('user:1', 'root', 'paused') });
    source.push({ type: 'actor.removed', id: 'user:1', at: 2 });
    const messages = await reading;
    assert.equal(messages[0]?.event, 'snapshot');
    assert.deepEqual((messages[0]?.data as { actors: ActorView[] }).actors.length, 2);
    assert.equal((messages[1]?.data as { actor: ActorView }).actor.state, 'paused');
    assert.deepEqual(messages[2]?.data, { type: 'actor.removed', id: 'user:1', at: 2 });
    const deadline = Date.now() + 2_000;
    while (source.listeners !== 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(source.listeners, 0, 'the subscription ends with the connection');
  });

  it('limits the number of live pages', async () => {
    const server = await createInspectorServer({ port: 0, token: null, source: manualSource(), logger: silentLogger(), maxStreams: 1 });
    servers.push(server);
    const first = await fetch(`${server.url}/api/stream`);
    assert.equal(first.status, 200);
    const second = await fetch(`${server.url}/api/stream`);
    assert.equal(second.status, 503);
    await second.arrayBuffer();
    await first.body?.cancel();
  });

  it('is read-only and answers unknown routes with JSON 404', async () => {
    const server = await start(null);
    const post = await fetch(`${server.url}/api/actors`, { method: 'POST' });
    assert.equal(post.status, 405);
    await post.arrayBuffer();
    const missing = await fetch(`${server.url}/api/nothing`);
    assert.equal(missing.status, 404);
    assert.match(((await missing.json()) as { error: string }).error, /no route \/api\/nothing/);
    const traversal = await fetch(`${server.url}/..%2f..%2fetc%2fpasswd`);
    assert.equal(traversal.status, 404);
    await traversal.arrayBuffer();
  });

  it('is read-only by default: a control is refused and nothing is sent', async () => {
    const server = await start(null);
    const res = await fetch(`${server.url}/api/control/send`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-vanta-inspector': '1' }, body: JSON.stringify({ id: 'user:1', event: { type: 'user.pause' } }) });
    assert.equal(res.status, 403);
    assert.match(((await res.json()) as { error: string }).error, /INSPECTOR_CONTROLS=true/);
  });

  it('with controls, checks every request and passes only well-formed ones on, with who asked', async () => {
    const calls: string[] = [];
    const controls = {
      send: (id: string, event: { type: string }, by: string) => {
        calls.push(`send ${id} ${event.type} ${by}`);
        return Promise.resolve(id === 'user:1');
      },
      release: (id: string, by: string) => {
        calls.push(`release ${id} ${by}`);
        if (id === 'user:9') return Promise.reject(new Error('Actor user:9 is being restored; try again'));
        return Promise.resolve(id === 'user:2');
      },
    };
    const server = await createInspectorServer({ port: 0, token: new Secret(TOKEN), source: manualSource(), logger: silentLogger(), controls });
    servers.push(server);
    const post = async (path: string, body: string, headers: Record<string, string> = {}) => {
      const res = await fetch(`${server.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', 'x-vanta-inspector': '1', ...headers }, body });
      return { status: res.status, body: (await res.json()) as { error?: string } };
    };
    const ok = JSON.stringify({ id: 'user:1', event: { type: 'user.pause' } });
    // A cross-site form can send neither the header nor JSON; a page without the token gets nothing.
    assert.equal((await post('/api/control/send', ok, { 'x-vanta-inspector': '' })).status, 403);
    assert.equal((await post('/api/control/send', ok, { 'content-type': 'text/plain' })).status, 415);
    assert.equal((await post('/api/control/send', ok, { authorization: 'Bearer wrong-token-wrong-token' })).status, 401);
    assert.equal((await post('/api/control/send', '{not json')).status, 400);
    assert.equal((await post('/api/control/send', JSON.stringify({ id: 'user:1', event: { kind: 'no type' } }))).status, 400);
    assert.equal((await post('/api/control/send', JSON.stringify({ id: 'user:1' }))).status, 400);
    assert.equal((await post('/api/control/send', JSON.stringify({ id: 'x'.repeat(20_000) }))).status, 413);
    assert.equal((await post('/api/control/nothing', ok)).status, 404);
    assert.deepEqual(calls, [], 'nothing malformed reached the engine');

    assert.deepEqual(await post('/api/control/send', ok), { status: 200, body: { sent: true } });
    assert.equal((await post('/api/control/send', JSON.stringify({ id: 'user:5', event: { type: 'user.pause' } }))).status, 404);
    assert.equal((await post('/api/control/release', JSON.stringify({ id: 'user:2' }))).status, 200);
    assert.equal((await post('/api/control/release', JSON.stringify({ id: 'user:1' }))).status, 409);
    const refused = await post('/api/control/release', JSON.stringify({ id: 'user:9' }));
    assert.equal(refused.status, 409);
    assert.match(refused.body.error ?? '', /being restored/);
    assert.equal(calls.length, 5);
    assert.match(calls[0]!, /^send user:1 user\.pause inspector@/);
  });

  it('serves one actor in full, its history, and each kind\'s laid-out statechart', async () => {
    const source = { ...manualSource(), history: (id: string) => Promise.resolve(id === 'user:1' ? [{ at: 1, event: 'xstate.init', state: 'idle', context: {}, origin: 'journal' as const }] : []) };
    const server = await createInspectorServer({ port: 0, token: null, source, logger: silentLogger(), machines: { user: userMachine } });
    servers.push(server);
    const one = (await (await fetch(`${server.url}/api/actor?id=user%3A1`)).json()) as { actor: { id: string } };
    assert.equal(one.actor.id, 'user:1');
    assert.equal((await fetch(`${server.url}/api/actor?id=user%3A404`)).status, 404);
    const history = (await (await fetch(`${server.url}/api/history?id=user%3A1`)).json()) as { steps: unknown[] };
    assert.equal(history.steps.length, 1);
    assert.equal((await fetch(`${server.url}/api/history`)).status, 400);
    const list = (await (await fetch(`${server.url}/api/machines`)).json()) as { machines: { kind: string }[] };
    assert.deepEqual(list.machines.map((m) => m.kind), ['user']);
    const chart = (await (await fetch(`${server.url}/api/machines/user`)).json()) as { chart: { states: { id: string; width: number }[]; edges: { points: unknown[] }[] } };
    assert.ok(chart.chart.states.length > 1 && chart.chart.states.every((s) => s.width > 0), 'every state has a box');
    assert.ok(chart.chart.edges.every((e) => e.points.length >= 2), 'every arrow is routed');
    assert.equal((await fetch(`${server.url}/api/machines/nope`)).status, 404);
  });

  for (const size of [10, 2_000, 2_500, 45_000]) {
    it(`sends a tree of ${size} actors as a head then parts, each actor once, and always ends with its count`, async () => {
      const all = Array.from({ length: size }, (_, i) => actor(`user:${i}`, null));
      const source: InspectorSource = { ...manualSource(), actors: () => all, tree: (limit = Infinity) => all.slice(0, limit) };
      const server = await start(null, source);
      const res = await fetch(`${server.url}/api/stream`);
      const parts = Math.max(0, Math.ceil((size - 2_000) / 20_000));
      const expected = 1 + Math.max(1, parts);
      const messages = (await readMessages(res, expected)) as { event: string; data: { actors: ActorView[]; total: number | null } }[];
      assert.equal(messages[0]!.event, 'snapshot');
      assert.ok(messages.slice(1).every((m) => m.event === 'snapshot-more'));
      const ids = messages.flatMap((m) => m.data.actors.map((a) => a.id));
      assert.equal(ids.length, size);
      assert.equal(new Set(ids).size, size, 'each actor once');
      const last = messages.at(-1)!.data.total;
      assert.equal(last, size, 'the page learns the full count');
    });
  }

  it('closes with a page still streaming', async () => {
    const server = await createInspectorServer({ port: 0, token: null, source: manualSource(), logger: silentLogger() });
    const res = await fetch(`${server.url}/api/stream`);
    const reading = readMessages(res, 5).catch(() => []);
    const t0 = performance.now();
    await server.close();
    assert.ok(performance.now() - t0 < 1_000);
    await reading;
  });
});
