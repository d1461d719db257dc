import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { VantaError } from '../../errors.ts';

/** A listening HTTP server: where it is, and how to close it. */
export interface ListeningServer {
  /** Base URL with the real port (useful when asked for port 0). */
  readonly url: string;
  readonly port: number;
  /** Stops accepting, drops idle and streaming connections, resolves when closed. Safe to call twice. */
  readonly close: () => Promise<void>;
}

/**
 * Starts `server` on host:port and resolves once it listens. A port that is
 * taken or a host that does not exist rejects with an error naming both, so
 * the operator knows which setting to change.
 */
export function listen(server: Server, options: { host: string; port: number; settingName: string }): Promise<ListeningServer> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(
        new VantaError('INTERNAL', `Cannot listen on ${options.host}:${options.port} (${err.code ?? err.message}); free the port or change ${options.settingName}`, {
          cause: err,
          details: { host: options.host, port: options.port },
        }),
      );
    };
    server.once('error', onError);
    server.listen(options.port, options.host, () => {
      server.off('error', onError);
      const { port } = server.address() as AddressInfo;
      resolve({ url: `http://${formatHost(options.host)}:${port}`, port, close: closer(server) });
    });
  });
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

function closer(server: Server): () => Promise<void> {
  let closing: Promise<void> | null = null;
  return () => {
    closing ??= new Promise<void>((resolve, reject) => {
      server.close((err) => (err ? reject(err) : resolve()));
      // Keep-alive sockets and live streams would otherwise hold close() open until they time out.
      server.closeAllConnections();
    });
    return closing;
  };
}
