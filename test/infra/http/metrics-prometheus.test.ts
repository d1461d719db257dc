import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createOpsServer, type OpsServer } from '../../../src/infra/http/ops-server.ts';
import { createMetrics, type Metrics } from '../../../src/infra/metrics.ts';
import { silentLogger } from '../../helpers/common.ts';
import { promtoolCheckMetrics, startPrometheus, type RunningPrometheus } from '../../helpers/prometheus.ts';

/** The real thing: Debian's Prometheus scrapes a running ops server, and promtool lints what it serves. */
describe('metrics scraped by a real Prometheus', function () {
  this.timeout(45_000);
  let metrics: Metrics;
  let ops: OpsServer;
  let prometheus: RunningPrometheus | undefined;

  before(async () => {
    // Default process metrics included, as in production.
    metrics = createMetrics({ version: '9.9.9-test', mode: 'sandbox' });
    metrics.actorsLive.set({ kind: 'user' }, 7);
    metrics.actorTransitions.inc({ kind: 'position' }, 3);
    metrics.persistFlushSeconds.observe(0.004);
    ops = await createOpsServer({ host: '127.0.0.1', port: 0, metrics, readiness: [], logger: silentLogger(), version: '9.9.9-test', mode: 'sandbox' });
  });
  after(async () => {
    await prometheus?.stop();
    await ops?.close();
  });

  it('passes promtool check metrics (apart from prom-client\'s own default gauge names)', async () => {
    const exposition = await (await fetch(`${ops.url}/metrics`)).text();
    const { status, output } = promtoolCheckMetrics(exposition);
    const findings = output.split('\n').filter(Boolean);
    // prom-client's collectDefaultMetrics names three gauges *_total; we cannot rename them short of
    // dropping the default metrics. Anything else promtool reports, including parse errors (exit 1), fails.
    const upstream = /^vanta_nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$/;
    const ours = findings.filter((line) => !upstream.test(line));
    assert.deepEqual(ours, [], `promtool check metrics:\n${output}`);
    assert.ok(status === 0 || (status === 3 && findings.length > 0), `promtool exit ${status}:\n${output}`);
    assert.match(exposition, /^vanta_actors_live\{kind="user"\} 7$/m);
  });

  it('is scraped, and the query API returns vanta_ series', async () => {
    prometheus = await startPrometheus([new URL(ops.url).host]);
    const deadline = Date.now() + 30_000;
    let result: Awaited<ReturnType<RunningPrometheus['query']>> = [];
    while (Date.now() < deadline) {
      result = await prometheus.query('vanta_actors_live');
      if (result.length) break;
      await sleep(250);
    }
    assert.ok(result.length, `no vanta_actors_live series after 30 s; prometheus said:\n${prometheus.log()}`);
    assert.deepEqual(
      result.map((r) => [r.metric['kind'], r.value[1]]),
      [['user', '7']],
    );
    const [build] = await prometheus.query('vanta_build_info');
    assert.equal(build?.metric['version'], '9.9.9-test');
    assert.equal(build?.metric['job'], 'vanta');
    const [up] = await prometheus.query('up{job="vanta"}');
    assert.equal(up?.value[1], '1');
    // The scrapes themselves were counted under the bounded route label.
    const scraped = await metrics.httpRequests.get();
    assert.ok(scraped.values.some((v) => v.labels.route === 'metrics' && v.labels.status === '200' && v.value >= 1));
  });
});
