import type { TransitionEntry } from '../persistence/saga-store.ts';
import type { SagaEvent } from '../vocabulary/events.ts';
import { SagaEvents } from '../vocabulary/events.ts';

/** The saga-log line of one transition: state paths before and after, and the step outcome behind it. */
export function transitionEntry(
  sagaId: string,
  at: number,
  from: unknown,
  to: unknown,
  event: SagaEvent,
): TransitionEntry {
  const entry: TransitionEntry = { sagaId, at, from: statePath(from), to: statePath(to), event: event.type };
  if (event.type === SagaEvents.stepDone || event.type === SagaEvents.stepFailed) {
    entry.step = event.step;
    entry.direction = event.direction;
    entry.attempt = event.attempts;
    if (event.type === SagaEvents.stepFailed) entry.error = event.error;
    if (event.type === SagaEvents.stepFailed && event.inDoubt) entry.inDoubt = true;
    if (event.verified !== undefined) entry.verified = event.verified;
  }
  return entry;
}

/**
 * `{ Pending: 'reserveHotel' }` -> `Pending.reserveHotel`. Inside a parallel group the path stops
 * at the group (`Pending.reserve`): its members' regions are in the step views, not in one path.
 */
export function statePath(value: unknown): string {
  if (typeof value === 'string') return value;
  const entries = Object.entries(value as Record<string, unknown>);
  const [key, inner] = entries[0] ?? ['', undefined];
  if (key === 'members' || entries.length > 1) return '';
  if (inner === undefined) return key;
  const rest = statePath(inner);
  return rest === '' ? key : `${key}.${rest}`;
}
