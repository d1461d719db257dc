/**
 * Mocha root hooks. Tests talk to real PostgreSQL and Redis; when either is
 * missing we fail fast with the command that starts it instead of timing out
 * test by test.
 */
import { createHook } from 'node:async_hooks';
import net from 'node:net';

function reachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.end();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

/**
 * DEBUG_HANDLES=1: mocha does not force an exit, so a leaked timer or socket keeps the run alive.
 * This records where every timer and socket still open was created, and prints it after the tests.
 */
const openResources = new Map<number, { type: string; stack: string }>();
if (process.env['DEBUG_HANDLES']) {
  createHook({
    init(id, type) {
      if (type === 'Timeout' || type === 'TCPWRAP' || type === 'PIPEWRAP' || type === 'PROCESSWRAP') openResources.set(id, { type, stack: new Error().stack ?? '' });
    },
    destroy(id) {
      openResources.delete(id);
    },
  }).enable();
}

/** How long the run may outlive its last test before a leak is reported and the process ends. */
const LINGER_MS = 30_000;

export const mochaHooks = {
  /**
   * Mocha does not force an exit, so a test that leaks a timer, a socket or a child process would
   * hold the run (and CI) open forever. If the process is still alive LINGER_MS after the last
   * test, what keeps it alive is printed (with where it was created under DEBUG_HANDLES=1) and
   * the process exits with the run's own exit code.
   */
  afterAll() {
    setTimeout(() => {
      process.stderr.write(`\nThe test run is still alive ${LINGER_MS / 1000} s after its last test: something leaked ${JSON.stringify(process.getActiveResourcesInfo())}. Rerun with DEBUG_HANDLES=1 to see where it was created.\n`);
      for (const { type, stack } of openResources.values()) process.stderr.write(`${type}${stack.split('\n').slice(2, 12).join('\n')}\n\n`);
      process.exit(process.exitCode ?? 0);
    }, LINGER_MS).unref();
  },
  async beforeAll(this: Mocha.Context) {
    const missing: string[] = [];
    if (!(await reachable(5432))) missing.push('PostgreSQL on 127.0.0.1:5432 (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start)');
    if (!(await reachable(6379))) missing.push('Redis on 127.0.0.1:6379 (redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no)');
    if (missing.length) throw new Error(`Tests need real services. Start them, or run bash .ci/run which does:\n  ${missing.join('\n  ')}`);
  },
};
