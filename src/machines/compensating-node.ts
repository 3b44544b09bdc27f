import type { StepDefinition } from '../definition/types.ts';
import { SagaEvents } from '../vocabulary/events.ts';
import { SagaStates } from '../vocabulary/states.ts';
import type { SagaContext } from './context.ts';
import {
  type Args,
  markCompensated,
  markCompensationFailed,
  NEXT_COMPENSATION,
  owedCompensations,
  skipPassedOver,
} from './machine-parts.ts';
import type { SagaLayout } from './saga-layout.ts';
import { isFor, runsJob } from './step-job-parts.ts';

/**
 * The `Compensating` state: {@link NEXT_COMPENSATION} picks the next step to undo from the context
 * (or goes on to `Failed` when none is owed), and each compensable step has a substate that runs
 * its compensation.
 */
export const compensatingNode = (layout: SagaLayout) => {
  const { top, compensable, compensates } = layout;

  /**
   * The next step to undo: one whose run ended in doubt (the step whose failure started the
   * rollback, so the newest), else the newest completed step with a compensation not undone yet.
   */
  const nextCompensation = (context: SagaContext): string | undefined => owedCompensations(context, compensates)[0];

  const compensatingStates = Object.fromEntries(compensable.map((step) => [step.name, compensationNode(layout, step)]));

  return {
    initial: NEXT_COMPENSATION,
    states: {
      [NEXT_COMPENSATION]: {
        always: [
          ...compensable.map((step) => ({
            guard: ({ context }: Args) => nextCompensation(context) === step.name,
            target: step.name,
            actions: skipPassedOver(
              () => compensates,
              () => step.name,
            ),
          })),
          {
            target: top(SagaStates.Failed),
            actions: skipPassedOver(
              () => compensates,
              () => undefined,
            ),
          },
        ],
      },
      ...compensatingStates,
    },
  };
};

/**
 * The substate that runs one step's compensation: back to the chooser (NEXT_COMPENSATION) when it
 * is done, Escalated when it runs out of retries. Used by Compensating, and by a parallel group
 * that undoes its in-doubt members before it moves on.
 */
export const compensationNode = ({ top, compensates }: SagaLayout, step: StepDefinition) => ({
  ...runsJob(step, 'compensate'),
  on: {
    [SagaEvents.stepDone]: { guard: isFor(step, 'compensate'), target: NEXT_COMPENSATION, actions: markCompensated },
    [SagaEvents.stepFailed]: {
      guard: isFor(step, 'compensate'),
      target: top(SagaStates.Escalated),
      actions: markCompensationFailed((context) => owedCompensations(context, compensates)),
    },
  },
});
