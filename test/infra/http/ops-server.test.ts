import assert from 'node:assert/strict';
import { createOpsServer, type OpsServer } from '../../../src/infra/http/ops-server.ts';
import type { ReadinessCheck } from '../../../src/infra/http/inspector-source.ts';
import type { Metrics } from '../../../src/infra/metrics.ts';
import { captureLogger, silentLogger, testMetrics } from '../../helpers/common.ts';

const ok = (name: string, required = true): ReadinessCheck => ({ name, required, check: async () => {} });
const failing = (name: string, required: boolean, message: string): ReadinessCheck => ({
  name,
  required,
  check: () => Promise.reject(new Error(message)),
});

async function start(readiness: ReadinessCheck[], metrics: Metrics = testMetrics(), extra: { checkTimeoutMs?: number } = {}): Promise<OpsServer> {
  return createOpsServer({ host: '127.0.0.1', port: 0, metrics, readiness, logger: silentLogger(), version: '1.2.3', mode: 'sandbox', ...extra });
}

interface ReadyBody {
  status: string;
  checks: Record<string, { ok: boolean; required: boolean; latency_ms: number; error?: string }>;
}

describe('ops server', () => {
  const servers: OpsServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  const started = async (...args: Parameters<typeof start>) => {
    const server = await start(...args);
    servers.push(server);
    return server;
  };

  it('listens on a free port when asked for port 0', async () => {
    const a = await started([]);
    const b = await started([]);
    assert.match(a.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(a.url, b.url);
  });

  it('answers /healthz with status, uptime, mode and version', async () => {
    const server = await started([failing('db', true, 'down')]);
    const res = await fetch(`${server.url}/healthz`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(body['status'], 'ok');
    assert.equal(body['mode'], 'sandbox');
    assert.equal(body['version'], '1.2.3');
    assert.equal(typeof body['uptime_s'], 'number');
  });

  it('is ready when every check passes and reports each one', async () => {
    const server = await started([ok('db'), ok('redis', false)]);
    const res = await fetch(`${server.url}/readyz`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as ReadyBody;
    assert.equal(body.status, 'ready');
    assert.deepEqual(Object.keys(body.checks).sort(), ['db', 'redis']);
    assert.equal(body.checks['db']?.ok, true);
    assert.equal(body.checks['redis']?.required, false);
    assert.equal(typeof body.checks['db']?.latency_ms, 'number');
  });

  it('answers 503 when a required check fails, with its scrubbed error', async () => {
    const server = await started([ok('redis'), failing('db', true, 'connect ECONNREFUSED postgres://vanta:hunter2@db:5432/vanta')]);
    const res = await fetch(`${server.url}/readyz`);
    assert.equal(res.status, 503);
    const body = (await res.json()) as ReadyBody;
    assert.equal(body.status, 'not_ready');
    assert.equal(body.checks['db']?.ok, false);
    assert.match(body.checks['db']?.error ?? '', /ECONNREFUSED/);
    assert.doesNotMatch(JSON.stringify(body), /hunter2/);
  });

  it('stays ready (200) when only an optional check fails', async () => {
    const server = await started([ok('db'), failing('telegram', false, 'getMe failed')]);
    const res = await fetch(`${server.url}/readyz`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as ReadyBody;
    assert.equal(body.status, 'ready');
    assert.equal(body.checks['telegram']?.ok, false);
    assert.equal(body.checks['telegram']?.error, 'getMe failed');
  });

  it('bounds a hung check by the per-check timeout', async () => {
    const hung: ReadinessCheck = { name: 'vault', required: true, check: () => new Promise(() => {}) };
    const server = await started([hung, ok('db')], testMetrics(), { checkTimeoutMs: 100 });
    const t0 = performance.now();
    const res = await fetch(`${server.url}/readyz`);
    const body = (await res.json()) as ReadyBody;
    assert.ok(performance.now() - t0 < 2_000);
    assert.equal(res.status, 503);
    assert.match(body.checks['vault']?.error ?? '', /timed out after 100 ms/);
    assert.equal(body.checks['db']?.ok, true);
  });

  it('reports a check that throws synchronously as failed instead of crashing the probe', async () => {
    const throwing: ReadinessCheck = {
      name: 'rpc',
      required: true,
      check: () => {
        throw new Error('no rpc url');
      },
    };
    const server = await started([throwing]);
    const res = await fetch(`${server.url}/readyz`);
    assert.equal(res.status, 503);
    assert.equal(((await res.json()) as ReadyBody).checks['rpc']?.error, 'no rpc url');
  });

  it('logs readiness only when it changes', async () => {
    const { logger, lines } = captureLogger('info');
    let healthy = false;
    const flapping: ReadinessCheck = { name: 'db', required: true, check: () => (healthy ? Promise.resolve() : Promise.reject(new Error('db down'))) };
    const server = await createOpsServer({ host: '127.0.0.1', port: 0, metrics: testMetrics(), readiness: [flapping], logger, version: 'x', mode: 'sandbox' });
    servers.push(server);
    for (const next of [false, false, true, true]) {
      healthy = next;
      await (await fetch(`${server.url}/readyz`)).arrayBuffer();
    }
    const messages = lines().map((l) => l['msg']);
    assert.deepEqual(
      messages.filter((m) => m !== 'Ops server listening'),
      ['Became not ready', 'Became ready'],
    );
  });

  it('logs a probe during start-up as information, not a warning, and warns when a started instance becomes unready', async () => {
    const { logger, lines } = captureLogger('info');
    const boot = { done: false, phase: 'waiting for the engine lease' };
    let dbUp = true;
    const readiness: ReadinessCheck[] = [
      { name: 'boot', required: true, startup: true, check: () => (boot.done ? Promise.resolve() : Promise.reject(new Error(boot.phase))) },
      { name: 'db', required: true, check: () => (dbUp ? Promise.resolve() : Promise.reject(new Error('db down'))) },
    ];
    const server = await createOpsServer({ host: '127.0.0.1', port: 0, metrics: testMetrics(), readiness, logger, version: 'x', mode: 'sandbox' });
    servers.push(server);
    const probe = async () => (await fetch(`${server.url}/readyz`)).status;
    assert.equal(await probe(), 503, 'still answered honestly');
    boot.phase = 'still starting';
    assert.equal(await probe(), 503);
    boot.done = true;
    assert.equal(await probe(), 200);
    dbUp = false;
    assert.equal(await probe(), 503);
    assert.equal(await probe(), 503);
    dbUp = true;
    assert.equal(await probe(), 200);
    const logged = lines()
      .filter((l) => l['msg'] !== 'Ops server listening')
      .map((l) => `${l['level'] === 40 ? 'warn' : 'info'} ${String(l['msg'])}`);
    assert.deepEqual(logged, ['info Not ready yet: waiting for the engine lease', 'info Became ready', 'warn Became not ready', 'info Became ready']);
  });

  it('warns when the instance has started but a dependency keeps it unready', async () => {
    const { logger, lines } = captureLogger('info');
    const boot = { done: false };
    const readiness: ReadinessCheck[] = [
      { name: 'boot', required: true, startup: true, check: () => (boot.done ? Promise.resolve() : Promise.reject(new Error('still starting'))) },
      failing('rpc', true, 'RPC serves chain 1, expected 8453'),
    ];
    const server = await createOpsServer({ host: '127.0.0.1', port: 0, metrics: testMetrics(), readiness, logger, version: 'x', mode: 'sandbox' });
    servers.push(server);
    await (await fetch(`${server.url}/readyz`)).arrayBuffer();
    boot.done = true;
    await (await fetch(`${server.url}/readyz`)).arrayBuffer();
    const logged = lines().filter((l) => l['msg'] !== 'Ops server listening');
    assert.deepEqual(logged.map((l) => `${l['level'] === 40 ? 'warn' : 'info'} ${String(l['msg'])}`), ['info Not ready yet: still starting', 'warn Became not ready']);
    assert.deepEqual(logged[1]?.['failing'], [{ name: 'rpc', required: true, error: 'RPC serves chain 1, expected 8453' }]);
  });

  it('serves the registry in the Prometheus text format', async () => {
    const metrics = testMetrics();
    metrics.actorsLive.set({ kind: 'user' }, 3);
    const server = await started([], metrics);
    const res = await fetch(`${server.url}/metrics`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), metrics.registry.contentType);
    const text = await res.text();
    assert.match(text, /^vanta_actors_live\{kind="user"\} 3$/m);
    assert.match(text, /^# TYPE vanta_build_info gauge$/m);
  });

  it('answers unknown paths with a JSON 404 and other methods with 405', async () => {
    const server = await started([]);
    const res = await fetch(`${server.url}/admin?x=1`);
    assert.equal(res.status, 404);
    assert.match(((await res.json()) as { error: string }).error, /no route \/admin/);
    const post = await fetch(`${server.url}/healthz`, { method: 'POST', body: '{}' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    await post.arrayBuffer();
  });

  it('counts requests with a bounded route label', async () => {
    const metrics = testMetrics();
    const server = await started([failing('db', true, 'down')], metrics);
    for (const path of ['/healthz', '/healthz', '/readyz', '/random-1', '/random-2', '/metrics']) {
      await (await fetch(server.url + path)).arrayBuffer();
    }
    const values = (await metrics.httpRequests.get()).values.map((v) => ({ ...v.labels, value: v.value }));
    const find = (route: string, status: string) => values.find((v) => v.route === route && v.status === status)?.value;
    assert.equal(find('healthz', '200'), 2);
    assert.equal(find('readyz', '503'), 1);
    assert.equal(find('other', '404'), 2);
    for (const v of values) assert.ok(['healthz', 'readyz', 'metrics', 'other'].includes(String(v.route)), `unbounded route label ${String(v.route)}`);
  });

  it('closes promptly even with a keep-alive connection open', async () => {
    const server = await start([]);
    await (await fetch(`${server.url}/healthz`, { headers: { connection: 'keep-alive' } })).arrayBuffer();
    const t0 = performance.now();
    await server.close();
    assert.ok(performance.now() - t0 < 1_000);
    await assert.rejects(fetch(`${server.url}/healthz`));
  });

  it('rejects with the setting to change when the port is taken', async () => {
    const first = await started([]);
    const port = Number(new URL(first.url).port);
    await assert.rejects(
      createOpsServer({ host: '127.0.0.1', port, metrics: testMetrics(), readiness: [], logger: silentLogger(), version: 'x', mode: 'sandbox' }),
      /Cannot listen on 127\.0\.0\.1:\d+ \(EADDRINUSE\).*OPS_HOST\/OPS_PORT/,
    );
  });
});
