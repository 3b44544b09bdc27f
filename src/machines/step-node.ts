import type { StepDefinition } from '../definition/types.ts';
import { SagaEvents, type StepFailedEvent } from '../vocabulary/events.ts';
import { SagaStates } from '../vocabulary/states.ts';
import {
  type Args,
  failedPatch,
  inDoubt,
  markCancelled,
  owedCompensations,
  patchStep,
  priorAttempts,
  update,
} from './machine-parts.ts';
import type { SagaLayout } from './saga-layout.ts';
import { cancelRequest, isFor, markRunCompleted, runsJob } from './step-job-parts.ts';

/** The `Pending` substate of one step: its run job, and where each outcome leads. */
export const stepNode = (layout: SagaLayout, step: StepDefinition, forward: string) => {
  const { top, pivotIndex } = layout;
  const cancellable = step.index < pivotIndex;
  const rollsBack = step.index <= pivotIndex;
  const done = { guard: isFor(step, 'run'), target: forward, actions: markRunCompleted(step) };
  return {
    // The kind, for diagrams and tools: the pivot and the steps that cannot roll back stand out.
    ...(step.kind === 'compensable' ? {} : { tags: [step.kind] }),
    ...(step.kind === 'pivot' ? { description: 'the pivot: once it completes, the saga only goes forward' } : {}),
    ...runsJob(step, 'run'),
    on: {
      [SagaEvents.stepDone]: cancellable
        ? [
            {
              guard: (args: Args) => args.context.cancelRequested && isFor(step, 'run')(args),
              target: top(SagaStates.Compensating),
              actions: [markRunCompleted(step), markCancelled],
            },
            done,
          ]
        : done,
      [SagaEvents.stepFailed]: rollsBack
        ? [
            // In doubt, a query changed nothing: its failure is as definite as any other.
            ...(step.kind === 'query'
              ? []
              : [
                  {
                    guard: (args: Args) => inDoubt(args) && isFor(step, 'run')(args),
                    ...(step.inDoubt === 'compensate'
                      ? { target: top(SagaStates.Compensating), actions: markRunFailed(step, 'in_doubt') }
                      : { target: top(SagaStates.Escalated), actions: markForwardFailure(layout, step) }),
                  },
                ]),
            {
              guard: isFor(step, 'run'),
              target: top(SagaStates.Compensating),
              actions: markRunFailed(step, 'failed'),
            },
          ]
        : { guard: isFor(step, 'run'), target: top(SagaStates.Escalated), actions: markForwardFailure(layout, step) },
      // Up to the pivot a cancel is honoured at the step's outcome; from the pivot on it is
      // refused, because a saga that may have passed its point of no return cannot roll back.
      ...(cancellable ? cancelRequest : {}),
    },
  };
};

/** The step failed for good; `in_doubt` when it may have taken effect and is compensated in doubt. */
const markRunFailed = (step: StepDefinition, status: 'failed' | 'in_doubt') =>
  update(({ context, event }) => {
    const e = event as StepFailedEvent;
    return {
      steps: patchStep(context, step.name, failedPatch(e, status, priorAttempts(context, step.name))),
      failure: {
        reason: context.cancelRequested ? ('cancelled' as const) : ('failed' as const),
        step: step.name,
        error: e.error,
      },
    };
  });

/**
 * A person must decide about a step's run: it failed for good after the pivot (the saga cannot
 * go back), or it ended in doubt and its kind or `inDoubt: 'escalate'` says not to guess.
 */
const markForwardFailure = ({ pivotIndex, compensates }: SagaLayout, step: StepDefinition) =>
  update(({ context, event }) => {
    const e = event as StepFailedEvent;
    const steps = patchStep(context, step.name, failedPatch(e, 'failed', priorAttempts(context, step.name)));
    return {
      steps,
      escalation: {
        direction: 'run' as const,
        ...(e.inDoubt ? { inDoubt: true as const } : {}),
        step: step.name,
        error: e.error,
        uncompensated: step.index <= pivotIndex ? owedCompensations({ ...context, steps }, compensates) : [],
      },
    };
  });
