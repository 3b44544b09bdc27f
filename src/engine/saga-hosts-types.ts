import type { Actor } from 'xstate';
import type { Clock } from '../clock.ts';
import type { AnySagaDefinition } from '../definition/types.ts';
import type { SagaMachine } from '../machines/build-saga-machine.ts';
import type { SagaContext, StepJobRequest } from '../machines/context.ts';
import type { EngineEventEmitter } from '../observability/engine-events.ts';
import type { Instrumentation, TraceCarrier } from '../observability/instrumentation.ts';
import type { SagaInspection } from '../observability/saga-inspection.ts';
import type { SagaStore } from '../persistence/saga-store.ts';
import type { StepQueue } from '../transport/step-queue.ts';
import type { SagaEvent } from '../vocabulary/events.ts';
import type { SagaState } from '../vocabulary/states.ts';
import type { RegisteredSaga } from './definition-registry.ts';

/** A hydrated saga: its actor, its definition, the revision it was saved at. */
export interface Host {
  actor: Actor<SagaMachine>;
  saga: RegisteredSaga;
  revision: number;
  /** The record's creation time: what a settled saga's duration is measured from. */
  createdAt: number;
  /** The saga's trace context, from its start or the last outcome applied: carried by its next jobs. */
  trace?: TraceCarrier;
}

/** A hosted saga, and the step jobs its restore asked for (absent when it was already hosted). */
export interface Hydrated {
  host: Host;
  restored?: StepJobRequest[];
}

/** What applying one event did, decided against the saga's saved state inside its lock. */
export interface Applied {
  /** True when the event took effect and its transition was saved. */
  applied: boolean;
  /** The saga's top-level state afterwards (the one that refused the event, when not applied). */
  state: SagaState;
  /** The context the event was decided against. */
  before: SagaContext;
  /** The saga's definition, and the event decided (as made, when `send` was given its maker). */
  definition: AnySagaDefinition;
  event: SagaEvent;
}

/**
 * An event, or how to make it from the saga's definition once the saga is hydrated: a command whose
 * arguments are checked against the saga's own definition (a signal's payload, an agent's step)
 * reads the saga once, not once to check and again to apply. A maker that throws changes nothing.
 */
export type EventOf = SagaEvent | ((saga: RegisteredSaga) => SagaEvent);

/** What applying a step outcome in the process that ran the step did (see `applyStepOutcome`). */
export type StepOutcomeApplied = 'applied' | 'escalated' | 'stale' | 'gone';

/** What SagaHosts works with; the engine makes them (see SagaEngine). */
export interface SagaHostsParts {
  store: SagaStore;
  queue: StepQueue;
  clock: Clock;
  /** Sagas kept hydrated in memory; the least recently used are evicted beyond it. */
  maxActiveSagas: number;
  inspection: SagaInspection | undefined;
  events: EngineEventEmitter;
  instrumentation: Instrumentation | undefined;
  /** A save left a saga settled or parked: whoever waits for it is told (see SettleWaiters). */
  onSettle: (sagaId: string) => void;
  /**
   * The store and the queue share one Redis: a transition's step jobs are added by its save's own
   * script (`StepQueue.addCall`, `SagaUpdate.scriptCalls`) rather than enqueued after it.
   */
  dispatchWithSave?: boolean;
}
