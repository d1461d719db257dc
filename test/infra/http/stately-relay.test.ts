import assert from 'node:assert/strict';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createWebSocketReceiver, type StatelyInspectionEvent } from '@statelyai/inspect';
import { startStatelyRelay, type StatelyRelay } from '../../../src/infra/http/stately-relay.ts';
import { captureLogger, silentLogger } from '../../helpers/common.ts';
import { createDescriber, startSampleSystem } from '../../helpers/inspected-system.ts';
import { freePort } from '../../helpers/prometheus.ts';

/**
 * createWebSocketReceiver has no close(), and the relay's stop() leaves
 * connected viewers open; a loopback TCP forwarder we can cut lets the test
 * end every socket it opened.
 */
async function forwarder(targetPort: number): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.pipe(upstream).pipe(client);
  });
  const port = await new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    }),
  );
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The relayed snapshot is JSON; machine snapshots carry a context. */
const contextOf = (e: StatelyInspectionEvent) => ('snapshot' in e ? (e.snapshot as { context?: Record<string, unknown> }).context : undefined);

describe('Stately relay', function () {
  this.timeout(20_000);
  let relay: StatelyRelay | undefined;
  afterEach(() => relay?.stop());

  it('relays sanitised inspection events to a WebSocket receiver', async () => {
    const { logger, lines } = captureLogger('warn');
    const port = await freePort();
    relay = await startStatelyRelay({ port, logger });
    assert.ok(lines().some((l) => String(l['msg']).includes('without authentication')), 'the open relay is announced');

    const describer = createDescriber();
    const { root } = startSampleSystem(relay.inspect, describer);
    root.send({ type: 'forward', to: 'position:7', event: { type: 'position.fill' } });

    const tunnel = await forwarder(port);
    const received: StatelyInspectionEvent[] = [];
    const receiver = createWebSocketReceiver({ server: `ws://127.0.0.1:${tunnel.port}` });
    const subscription = receiver.subscribe((event) => received.push(event));
    try {
      const deadline = Date.now() + 10_000;
      const sawFill = () => received.some((e) => e.type === '@xstate.event' && e.event.type === 'position.fill');
      while (!sawFill() && Date.now() < deadline) await sleep(50);
      assert.ok(sawFill(), `no position.fill among ${received.length} relayed events`);
      const positionSnapshots = received.filter(
        (e): e is Extract<StatelyInspectionEvent, { type: '@xstate.snapshot' }> =>
          e.type === '@xstate.snapshot' && contextOf(e)?.pair === 'ETH/USD',
      );
      assert.ok(positionSnapshots.length > 0, 'position snapshots were relayed');
      assert.ok(positionSnapshots.every((e) => contextOf(e)?.privateKey === '[REDACTED]'));
      const everything = JSON.stringify(received);
      assert.doesNotMatch(everything, /(ab){32}/, 'no private key in any relayed message');
      assert.doesNotMatch(everything, /123456789:A{20}/, 'no bot token in any relayed message');
    } finally {
      subscription.unsubscribe();
      root.stop();
      await tunnel.close();
    }
  });

  it('fails with the setting to change when the port is taken', async () => {
    const blocker = createServer();
    const port = await new Promise<number>((resolve) =>
      blocker.listen(0, () => {
        const address = blocker.address();
        resolve(typeof address === 'object' && address ? address.port : 0);
      }),
    );
    try {
      await assert.rejects(startStatelyRelay({ port, logger: silentLogger() }), /STATELY_RELAY_PORT/);
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });
});
