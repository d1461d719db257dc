import type { AnyEventObject } from 'xstate';
import { ReusedRing } from './reused-ring.ts';

/** One logged event, kept raw: it is sanitised only when someone reads it. */
export interface RawLoggedEvent {
  at: number;
  target: string;
  source: string | null;
  event: AnyEventObject;
}

/** The most recent events: the runtime may log thousands a second and nobody may ever read them. */
export class EventRing extends ReusedRing<RawLoggedEvent> {
  constructor(capacity: number) {
    super(capacity, 'event ring');
  }

  push(at: number, target: string, source: string | null, event: AnyEventObject): void {
    const slot = this.nextSlot();
    if (!slot) return this.commit({ at, target, source, event });
    slot.at = at;
    slot.target = target;
    slot.source = source;
    slot.event = event;
    this.commit();
  }
}
