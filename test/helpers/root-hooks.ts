/**
 * Mocha root hooks. Tests talk to real PostgreSQL and Redis; when either is
 * missing we fail fast with the command that starts it instead of timing out
 * test by test.
 */
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

export const mochaHooks = {
  async beforeAll(this: Mocha.Context) {
    const missing: string[] = [];
    if (!(await reachable(5432))) missing.push('PostgreSQL on 127.0.0.1:5432 (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start)');
    if (!(await reachable(6379))) missing.push('Redis on 127.0.0.1:6379 (redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no)');
    if (missing.length) throw new Error(`Tests need real services. Start them, or run bash .ci/run which does:\n  ${missing.join('\n  ')}`);
  },
};
