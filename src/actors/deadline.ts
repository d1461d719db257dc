import type { AnyActorRef } from 'xstate';
import type { Clock } from '../infra/clock.ts';
import type { DeadlineLogic, DeadlineSnapshot } from '../machines/deadline.ts';

const FIRE = 'vanta.deadline.fire';

/**
 * The real `deadline` actor logic (see src/machines/deadline.ts for why it
 * exists). The absolute deadline is fixed in the snapshot when the timer is
 * created, so a restored parent resumes the remaining wait, or fires at once
 * when the deadline passed while the process was down. Its output says whether it was restored,
 * so a machine can tell a wait that spans a restart from one it saw whole.
 */
export function createDeadlineLogic(clock: Clock): DeadlineLogic {
  const timers = new WeakMap<AnyActorRef, unknown>();
  const cancel = (self: AnyActorRef) => {
    const handle = timers.get(self);
    if (handle !== undefined) clock.clearTimeout(handle);
    timers.delete(self);
  };
  return {
    config: 'deadline',
    getInitialSnapshot: (_scope, input) => active(clock.now() + Math.max(0, input.delayMs)),
    transition: (snapshot, event, scope) => {
      if (event.type === FIRE && snapshot.status === 'active') {
        timers.delete(scope.self);
        return { status: 'done', output: { deadline: snapshot.deadline, restored: snapshot.restored === true }, error: undefined, deadline: snapshot.deadline };
      }
      if (event.type === 'xstate.stop') cancel(scope.self);
      return snapshot;
    },
    start: (snapshot, scope) => {
      if (snapshot.status !== 'active') return;
      const wait = Math.max(0, snapshot.deadline - clock.now());
      timers.set(scope.self, clock.setTimeout(() => scope.self.send({ type: FIRE }), wait));
    },
    // `restored` describes this run only: a snapshot saved now and restored later is restored then.
    getPersistedSnapshot: ({ restored: _restored, ...persisted }) => persisted,
    restoreSnapshot: (persisted) => {
      const deadline = (persisted as Partial<DeadlineSnapshot>).deadline;
      if (typeof deadline !== 'number' || !Number.isFinite(deadline)) throw new Error('deadline snapshot has no valid deadline');
      return { ...active(deadline), restored: true };
    },
  };
}

function active(deadline: number): DeadlineSnapshot {
  return { status: 'active', output: undefined, error: undefined, deadline };
}
