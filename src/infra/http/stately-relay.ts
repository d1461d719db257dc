/**
 * Optional relay to Stately's own inspector UI (STATELY_RELAY_PORT), for
 * engineers who prefer its diagrams. The self-hosted inspector stays the one
 * that must work: this relay's page is an iframe of stately.ai, so the viewing
 * browser needs internet (the engine does not).
 *
 * Quirks of @statelyai/inspect 0.7.2 this module works around:
 * - its server listens on every interface with no authentication and no host
 *   option, so we warn loudly; enable it only on a workstation or behind a
 *   firewall;
 * - a busy port would surface as an uncaught 'error' event, so we probe the
 *   port first and fail with a clear message instead;
 * - the WebSocket client retries every 5 s after a connection error and that
 *   timer cannot be cancelled, so we connect only once the server listens;
 * - its stop() does not close connected viewers' sockets; they end with the
 *   process.
 * Everything sent is sanitised (context, events, and the whole message as a
 * last pass), so no secret reaches the relay or its viewers.
 */
import { createConnection, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createWebSocketInspector } from '@statelyai/inspect';
import { createInspectorServer } from '@statelyai/inspect/server';
import type { Logger } from 'pino';
import type { InspectionEvent, MachineContext } from 'xstate';
import { VantaError } from '../../errors.ts';
import { scrubSecrets } from '../logger.ts';

export interface StatelyRelayOptions {
  readonly port: number;
  readonly logger: Logger;
  /** Default scrubSecrets. */
  readonly sanitize?: (value: unknown) => unknown;
  /** The UI the relay page frames (default Stately's hosted inspector). */
  readonly inspectorUrl?: string;
}

export interface StatelyRelay {
  /** Page to open in a browser (it frames the hosted Stately UI). */
  readonly url: string;
  /** Feed every root's inspection events here, next to the inspection hub. */
  readonly inspect: (event: InspectionEvent) => void;
  /** Stops the client (and its reconnect loop) and the relay server. */
  stop(): void;
}

export async function startStatelyRelay(options: StatelyRelayOptions): Promise<StatelyRelay> {
  const sanitize = options.sanitize ?? ((value: unknown) => scrubSecrets(value));
  await assertPortFree(options.port);
  const server = createInspectorServer({ port: options.port, autoOpen: false, url: options.inspectorUrl ?? 'https://stately.ai/inspect' });
  try {
    await waitListening(options.port);
  } catch (err) {
    server.stop();
    throw err;
  }
  const inspector = createWebSocketInspector({
    url: `ws://127.0.0.1:${options.port}`,
    sanitizeContext: (context) => sanitize(context) as MachineContext,
    sanitizeEvent: (event) => sanitize(event) as typeof event,
    // Last pass over the whole message: snapshots also carry output, error and child snapshots.
    serialize: (event) => sanitize(event) as typeof event,
  });
  const url = `http://localhost:${options.port}`;
  options.logger.warn({ url, port: options.port }, 'Stately relay listening on all interfaces without authentication; keep STATELY_RELAY_PORT firewalled');
  let stopped = false;
  return {
    url,
    inspect: (event) => {
      if (!stopped) inspector.inspect.next?.(event);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      inspector.stop();
      server.stop();
    },
  };
}

/** Binds the port the way the relay will (all interfaces) and lets go again. */
function assertPortFree(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) =>
      reject(new VantaError('INTERNAL', `Cannot start the Stately relay on port ${port} (${err.code ?? err.message}); free it or change STATELY_RELAY_PORT`, { cause: err })),
    );
    probe.listen(port, () => probe.close(() => resolve()));
  });
}

async function waitListening(port: number): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    if (await canConnect(port)) return;
    await sleep(20);
  }
  throw new VantaError('INTERNAL', `The Stately relay did not start listening on port ${port} within 5 s`);
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
