import type { ServerResponse } from 'node:http';
import { BASE_HEADERS } from './respond.ts';

/** One open text/event-stream response. */
export interface EventStream {
  /**
   * Sends one message; returns false when the client was dropped for reading too slowly.
   * A `bulk` message (the first snapshot: tens of MB for 100,000 actors) raises the unread limit
   * by its own size, so the changes that follow it are not mistaken for a slow reader.
   */
  send(data: unknown, eventName?: string, options?: { readonly bulk?: boolean }): boolean;
  close(): void;
}

export interface EventStreamOptions {
  /** A comment line every so often keeps proxies and the browser from timing the stream out. */
  readonly heartbeatMs: number;
  /** A client that lets this much pile up unread is cut off; it reconnects and reloads the snapshot. */
  readonly maxBufferedBytes: number;
  readonly onSlowClient: () => void;
}

/**
 * Server-sent events over a plain response. The page reads it with fetch()
 * streaming rather than EventSource, because EventSource cannot send an
 * Authorization header and the token must not travel in the URL.
 */
export function openEventStream(res: ServerResponse, options: EventStreamOptions): EventStream {
  res.writeHead(200, {
    ...BASE_HEADERS,
    'content-type': 'text/event-stream; charset=utf-8',
    connection: 'keep-alive',
    // nginx and friends buffer responses unless told not to.
    'x-accel-buffering': 'no',
  });
  res.flushHeaders();
  let open = true;
  let allowance = 0;
  const heartbeat = setInterval(() => write(': keep-alive\n\n'), options.heartbeatMs);
  heartbeat.unref();

  function write(chunk: string): boolean {
    if (!open) return false;
    if (res.writableLength > options.maxBufferedBytes + allowance) {
      options.onSlowClient();
      close();
      res.destroy();
      return false;
    }
    res.write(chunk);
    return true;
  }
  function close(): void {
    if (!open) return;
    open = false;
    clearInterval(heartbeat);
    if (!res.destroyed) res.end();
  }
  res.once('close', close);

  return {
    send(data, eventName, sendOptions) {
      const head = eventName ? `event: ${eventName}\n` : '';
      // JSON never contains a raw newline, so one data line per message is enough.
      const chunk = `${head}data: ${JSON.stringify(data)}\n\n`;
      if (sendOptions?.bulk) allowance += Buffer.byteLength(chunk);
      return write(chunk);
    },
    close,
  };
}
