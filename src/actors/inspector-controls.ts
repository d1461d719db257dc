import type { Database } from '../infra/db/database.ts';
import type { InspectorControls } from '../infra/http/inspector-controls.ts';
import { scrubSecrets } from '../infra/logger.ts';
import type { ActorRuntime } from './runtime.ts';

/**
 * The inspector's operator controls over the running engine, each use written to the audit log
 * with who asked (the inspector and the caller's address). Only built when INSPECTOR_CONTROLS=true.
 * An event is audited before it is sent, so a send that crashes the actor is on record.
 */
export function createInspectorControls(runtime: Pick<ActorRuntime, 'send' | 'release' | 'describe'>, db: Pick<Database, 'audit'>): InspectorControls {
  return {
    async send(id, event, by) {
      if (!runtime.describe(id)) return false;
      await db.audit({ actor: by, action: 'inspector.event.sent', subject: id, details: { event: scrubSecrets(event) } });
      return runtime.send(id, event);
    },
    release(id, by) {
      return runtime.release(id, by);
    },
  };
}
