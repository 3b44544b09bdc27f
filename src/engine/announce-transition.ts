import type { EngineEventEmitter } from '../observability/engine-events.ts';
import type { Instrumentation } from '../observability/instrumentation.ts';
import type { TransitionEntry } from '../persistence/saga-store.ts';
import { SagaEvents } from '../vocabulary/events.ts';
import { type SagaState, SagaStates, SETTLED_STATES, topLevelState } from '../vocabulary/states.ts';
import type { Host } from './saga-hosts-types.ts';

/**
 * Announces a persisted transition: the transition event, the instrumentation's hooks, and an
 * escalation (what a person must act on).
 */
export function announceTransition(
  events: EngineEventEmitter,
  instrumentation: Instrumentation | undefined,
  host: Host,
  entry: TransitionEntry,
  state: SagaState,
): void {
  events.emit('transition', entry);
  if (instrumentation) instrumentTransition(instrumentation, host, entry, state);
  const context = host.actor.getSnapshot().context;
  if (state === SagaStates.Escalated && context.escalation) {
    events.emit('escalated', {
      sagaId: entry.sagaId,
      name: host.saga.definition.name,
      escalation: context.escalation,
    });
  }
}

/** Tells the instrumentation about a persisted transition: the step outcome behind it, and a settle. */
export function instrumentTransition(
  hooks: Instrumentation,
  host: Host,
  entry: TransitionEntry,
  state: SagaState,
): void {
  const name = host.saga.definition.name;
  const from = topLevelState(entry.from.split('.')[0]);
  const trace = host.trace ? { trace: host.trace } : {};
  hooks.sagaTransition?.({ sagaId: entry.sagaId, name, from, to: state, entry, ...trace });
  if (entry.step !== undefined && entry.direction !== undefined) {
    hooks.stepEnded?.({
      sagaId: entry.sagaId,
      name,
      step: entry.step,
      direction: entry.direction,
      outcome: entry.event === SagaEvents.stepDone ? 'done' : 'failed',
      attempts: entry.attempt ?? 0,
      ...(entry.error ? { error: entry.error } : {}),
      ...trace,
    });
  }
  if (SETTLED_STATES.includes(state) && from !== state) {
    const context = host.actor.getSnapshot().context;
    hooks.sagaSettled?.({
      sagaId: entry.sagaId,
      name,
      state,
      durationMs: entry.at - host.createdAt,
      at: entry.at,
      ...(context.failure ? { failure: context.failure } : {}),
      ...(context.escalation ? { escalation: context.escalation } : {}),
      ...trace,
    });
  }
}
