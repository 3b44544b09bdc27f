import type { StepDefinition } from '../definition/types.ts';
import { type Direction, SagaEvents, type StepDoneEvent } from '../vocabulary/events.ts';
import type { SagaContext, StepJobRequest, StepState } from './context.ts';
import { type Args, jobRound, patchStep, priorAttempts, update } from './machine-parts.ts';

// The parts of a defined saga's states that run one of a step's jobs: the job they invoke, the
// guard that tells that job's outcome from a stale one, and what a completed run records.

/**
 * Whether the event is the outcome of the current round of `step`'s job in `direction`: an outcome
 * of an earlier round (from before a `resume`) is stale and matches nothing.
 */
export const isFor =
  (step: StepDefinition, direction: Direction) =>
  ({ context, event }: Args) =>
    (event.type === SagaEvents.stepDone || event.type === SagaEvents.stepFailed) &&
    event.step === step.name &&
    event.direction === direction &&
    event.round === jobRound(context, step.name, direction);

/** The input of the step-job actor that runs `step`'s job in `direction`, in its current round. */
export const jobInput =
  (step: StepDefinition, direction: Direction) =>
  ({ context }: { context: SagaContext }): StepJobRequest => ({
    sagaId: context.sagaId,
    step: step.name,
    direction,
    round: jobRound(context, step.name, direction),
  });

/** What a state that runs one of a step's jobs does: marks the step, and invokes the job. */
export const runsJob = (step: StepDefinition, direction: Direction) => ({
  entry: update(({ context }) => ({
    steps: patchStep(context, step.name, { status: direction === 'run' ? 'running' : 'compensating' }),
  })),
  invoke: { src: 'stepJob' as const, input: jobInput(step, direction) },
});

/** The step's run completed: a fresh record with its result, and the step appended to `completed`. */
export const markRunCompleted = (step: StepDefinition) =>
  update(({ context, event }) => {
    const e = event as StepDoneEvent;
    // A fresh record: what an earlier, escalated attempt left (its error, in doubt) no longer holds.
    const done: StepState = {
      status: 'completed',
      attempts: priorAttempts(context, step.name) + e.attempts,
      compensationAttempts: context.steps[step.name]?.compensationAttempts ?? 0,
      result: e.result,
    };
    if (e.verified) done.verified = true;
    return {
      steps: { ...context.steps, [step.name]: done },
      completed: [...context.completed, step.name],
    };
  });

/** A `cancel` while a job runs: remembered once, and honoured at the job's outcome. */
export const cancelRequest = {
  [SagaEvents.cancel]: {
    guard: ({ context }: Args) => !context.cancelRequested,
    actions: update(() => ({ cancelRequested: true })),
  },
};
