import { appendRefusal } from '../definition/step-kinds.ts';
import type { AnySagaDefinition, StepKind } from '../definition/types.ts';
import { MAX_DYNAMIC_STEPS } from '../machines/build-dynamic-machine.ts';
import { inFlight } from '../machines/build-saga-machine.ts';
import type { SagaContext, StepState } from '../machines/context.ts';
import { planKinds } from '../machines/step-of.ts';
import { type SagaState, SagaStates } from '../vocabulary/states.ts';

// Why a command the machine refused did not apply, read from the state it was decided against: the
// machine says only yes or no, the caller deserves the reason.

/** Why a saga is not parked at a wait (for SIGNAL_NOT_AWAITED). */
export function whyNotWaiting(step: StepState | undefined, state: SagaState): string {
  if (!step) return `it is not parked at that wait (it is ${state})`;
  if (step.status === 'idle') return 'it has not reached that wait yet';
  if (step?.timedOut) return 'that wait reached its deadline';
  if (step?.status === 'completed' || step?.status === 'failed' || step?.status === 'skipped') {
    return `that wait already ended${step.signalId ? ` (signal "${step.signalId}")` : ''}`;
  }
  return `it is ${state}`;
}

/** Why a dynamic saga takes no step (of `kind`) or completion now. */
export function whyNoAppend(
  definition: AnySagaDefinition,
  context: SagaContext,
  state: SagaState,
  kind?: StepKind,
): string {
  if (state !== SagaStates.Pending) return `it is ${state}; only a Pending saga waiting for its next step takes one`;
  const running = inFlight(context)[0];
  if (running) return `step "${running.step}" is still running; wait for its appendStep to resolve`;
  if (context.cancelRequested) return 'a cancel is under way';
  const plan = context.plan ?? [];
  if (kind !== undefined && plan.length >= MAX_DYNAMIC_STEPS)
    return `it has ${MAX_DYNAMIC_STEPS} steps, the most a dynamic saga may have`;
  return (
    (kind !== undefined && appendRefusal(planKinds(definition, context), kind)) ||
    'it was not waiting for its next step'
  );
}
