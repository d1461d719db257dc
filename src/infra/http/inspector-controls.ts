import type { IncomingMessage } from 'node:http';

/**
 * What an operator may do from the inspector when it was started with INSPECTOR_CONTROLS=true.
 * The actors layer implements it over the runtime; each call is audited there with `by`.
 */
export interface InspectorControls {
  /** Sends one event to a running actor; false when no such actor runs. */
  send(id: string, event: { readonly type: string } & Record<string, unknown>, by: string): Promise<boolean>;
  /** Releases a quarantined actor in the running engine; false when it is not quarantined. */
  release(id: string, by: string): Promise<boolean>;
}

export interface ControlBody {
  readonly id: string;
  readonly event?: { readonly type: string } & Record<string, unknown>;
}

const MAX_BODY = 16 * 1024;
/** A header no cross-site form or "simple" request can carry: a browser must ask (CORS preflight) first, and we never say yes. */
export const CONTROL_HEADER = 'x-vanta-inspector';

/**
 * Reads and checks a control request: the custom header, a JSON body of at most 16 KiB, an actor
 * id, and (for send) an event object with a string type. Anything else is refused with a reason.
 */
export async function readControlRequest(req: IncomingMessage): Promise<{ ok: true; body: ControlBody } | { ok: false; status: number; error: string }> {
  if (req.headers[CONTROL_HEADER] !== '1') return { ok: false, status: 403, error: `controls need the header ${CONTROL_HEADER}: 1 (the inspector page sends it)` };
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) return { ok: false, status: 415, error: 'send the control as application/json' };
  let raw = '';
  for await (const chunk of req as AsyncIterable<Buffer>) {
    raw += chunk.toString('utf8');
    if (raw.length > MAX_BODY) return { ok: false, status: 413, error: `a control body is at most ${MAX_BODY} bytes` };
  }
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { ok: false, status: 400, error: 'the body is not JSON' };
  }
  if (!value || typeof value !== 'object') return { ok: false, status: 400, error: 'the body must be a JSON object' };
  const { id, event } = value as { id?: unknown; event?: unknown };
  if (typeof id !== 'string' || id.length === 0 || id.length > 200) return { ok: false, status: 400, error: 'give the actor as "id": "<systemId>"' };
  if (event === undefined) return { ok: true, body: { id } };
  if (!event || typeof event !== 'object' || Array.isArray(event) || typeof (event as { type?: unknown }).type !== 'string' || !(event as { type: string }).type) {
    return { ok: false, status: 400, error: 'the event must be an object with a string "type"' };
  }
  return { ok: true, body: { id, event: event as ControlBody['event'] & object } };
}
