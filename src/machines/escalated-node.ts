import type { StepDefinition } from '../definition/types.ts';
import { type Direction, SagaEvents } from '../vocabulary/events.ts';
import { SagaStates } from '../vocabulary/states.ts';
import {
  type Args,
  cancelEscalatedRun,
  failureFromEscalation,
  nextRound,
  recordResolution,
  update,
} from './machine-parts.ts';
import type { SagaLayout } from './saga-layout.ts';

/**
 * The `Escalated` state: the saga waits for a person. `resume` retries the escalated step's job
 * where it stopped, `resolve` records a fix by hand and ends the saga, and `cancel` rolls back an
 * escalated run up to the pivot.
 */
export const escalatedNode = (layout: SagaLayout) => {
  const { steps, compensable, compensates, pivotIndex, indexOf, waits } = layout;
  return {
    on: {
      [SagaEvents.resume]: [
        // A group's in-doubt member whose undo escalated before any failure: the group was
        // moving on, so its undo is retried where it was, inside the group.
        ...compensable
          .filter((step) => step.group !== undefined)
          .map((step) => {
            const resume = resumeTo(step, 'compensate');
            return {
              ...resume,
              guard: (args: Args) => args.context.failure === undefined && resume.guard(args),
              target: `${SagaStates.Pending}.${step.group}.trimming.${step.name}`,
            };
          }),
        ...compensable.map((step) => resumeTo(step, 'compensate')),
        // Any step but a group's may escalate its run: after the pivot, or before it in doubt.
        ...steps.filter((step) => step.group === undefined).map((step) => resumeTo(step, 'run')),
      ],
      [SagaEvents.resolve]: [
        // A failure after the pivot fixed by hand finishes the saga; anything else fixed by hand
        // (a stuck rollback, an in-doubt step before the pivot) ends it Failed, the steps left
        // to undo named in the resolution.
        {
          guard: ({ context }: Args) =>
            context.escalation?.direction === 'run' && indexOf(context.escalation.step) > pivotIndex,
          target: SagaStates.Completed,
          actions: recordResolution,
        },
        { target: SagaStates.Failed, actions: [recordResolution, failureFromEscalation] },
      ],
      // An in-doubt step up to the pivot that a person found did not happen (or wants undone),
      // or a wait before it whose deadline passed: roll back, compensating that step too, in
      // doubt, when it has a compensation.
      [SagaEvents.cancel]: {
        guard: ({ context }: Args) =>
          context.escalation?.direction === 'run' &&
          (context.escalation.inDoubt === true || waits.has(context.escalation.step)) &&
          indexOf(context.escalation.step) <= pivotIndex,
        target: SagaStates.Compensating,
        actions: cancelEscalatedRun(() => compensates),
      },
    },
  };
};

/** `resume` of an escalation of `step`'s job in `direction`: its next round, where it escalated. */
const resumeTo = (step: StepDefinition, direction: Direction) => ({
  guard: ({ context }: Args) =>
    context.escalation?.step === step.name && (context.escalation.direction ?? 'compensate') === direction,
  target: `${direction === 'run' ? SagaStates.Pending : SagaStates.Compensating}.${step.name}`,
  actions: update(({ context }) => nextRound(context, direction)),
});
