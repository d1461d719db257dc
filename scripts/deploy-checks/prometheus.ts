import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { check, type DeployCheck } from './types.ts';

interface ScrapeConfig {
  job_name?: string;
  metrics_path?: string;
  static_configs?: { targets?: string[] }[];
}

/**
 * `promtool check config` (Prometheus's own validator, from Debian's
 * prometheus package) plus one cross-file check: the vanta job scrapes the
 * compose service and port the app actually listens on.
 */
export function checkPrometheusConfig(root: string, expectedTarget: string, promtool = 'promtool', file = 'deploy/prometheus.yml'): DeployCheck[] {
  const path = join(root, file);
  if (!existsSync(path)) return [check(file, 'exists', false)];
  const result = spawnSync(promtool, ['check', 'config', path], { encoding: 'utf8', timeout: 30_000 });
  const out: DeployCheck[] = [];
  if (result.error) {
    out.push(check(file, 'promtool check config', false, `cannot run ${promtool} (${result.error.message}); install it: apt-get install -y prometheus`));
  } else {
    out.push(check(file, 'promtool check config', result.status === 0, `${result.stdout}${result.stderr}`.trim().split('\n').slice(-3).join(' | ')));
  }
  const config = parse(readFileSync(path, 'utf8')) as { scrape_configs?: ScrapeConfig[] } | null;
  const job = config?.scrape_configs?.find((c) => c.job_name === 'vanta');
  const targets = job?.static_configs?.flatMap((c) => c.targets ?? []) ?? [];
  out.push(check(file, `job vanta scrapes ${expectedTarget}/metrics`, targets.includes(expectedTarget) && (job?.metrics_path ?? '/metrics') === '/metrics', targets.join(', ') || 'no vanta job'));
  return out;
}
