import type { StepDefinition, WaitDefinition } from '../definition/types.ts';
import { SagaEvents, type SignalEvent } from '../vocabulary/events.ts';
import { SagaStates } from '../vocabulary/states.ts';
import {
  type Args,
  jobRound,
  markCancelled,
  owedCompensations,
  patchStep,
  update,
  waitErrors,
  waitEscalated,
  waitFailed,
  waitPassed,
} from './machine-parts.ts';
import type { SagaLayout } from './saga-layout.ts';

/**
 * The `Pending` substate of a wait or sleep: the saga is parked (no job runs; the engine keeps its
 * deadline in the timer set) until a signal for it, or its deadline, whichever is applied first.
 */
export const waitNode = (layout: SagaLayout, step: StepDefinition, wait: WaitDefinition, forward: string) => {
  const { top, pivotIndex, compensates } = layout;
  const { deadlineError, rejectedError } = waitErrors(step.name, wait.type);
  const isSignal = ({ event }: Args) => event.type === SagaEvents.signal && event.name === step.name;
  const atDeadline =
    wait.onTimeout === 'continue'
      ? { target: forward, actions: waitPassed(() => step.name) }
      : wait.onTimeout === 'compensate'
        ? { target: top(SagaStates.Compensating), actions: waitFailed(() => step.name, deadlineError) }
        : {
            target: top(SagaStates.Escalated),
            actions: waitEscalated(
              () => step.name,
              deadlineError,
              (context) => (step.index <= pivotIndex ? owedCompensations(context, compensates) : []),
            ),
          };
  return {
    tags: [wait.type === 'sleep' ? 'sleep' : 'wait'],
    description: describeWait(step.name, wait),
    // A fresh record: what an earlier, escalated round left (its deadline error) no longer holds.
    entry: update(({ context }) => ({
      steps: { ...context.steps, [step.name]: { status: 'waiting', attempts: 0, compensationAttempts: 0 } },
    })),
    on: {
      ...(wait.type === 'signal'
        ? {
            [SagaEvents.signal]: [
              {
                guard: (args: Args) => isSignal(args) && (args.event as SignalEvent).rejected === true,
                target: top(SagaStates.Compensating),
                actions: waitFailed(() => step.name, rejectedError),
              },
              { guard: isSignal, target: forward, actions: waitPassed(() => step.name) },
            ],
          }
        : {}),
      [SagaEvents.deadline]: {
        guard: ({ context, event }: Args) =>
          event.type === SagaEvents.deadline &&
          event.step === step.name &&
          event.round === jobRound(context, step.name, 'run'),
        ...atDeadline,
      },
      // Nothing is in flight: a cancel before the pivot rolls back at once.
      ...(step.index < pivotIndex
        ? {
            [SagaEvents.cancel]: {
              target: top(SagaStates.Compensating),
              actions: [
                update(({ context }) => ({ steps: patchStep(context, step.name, { status: 'idle' }) })),
                markCancelled,
              ],
            },
          }
        : {}),
    },
  };
};

function describeWait(name: string, wait: WaitDefinition): string {
  const deadline =
    wait.timeoutMs !== undefined ? `${wait.timeoutMs} ms` : wait.until !== undefined ? 'a computed date' : undefined;
  if (wait.type === 'sleep') return `durable sleep until ${deadline ?? 'its deadline'}`;
  const ending = deadline === undefined ? 'no deadline' : `deadline ${deadline}, then ${wait.onTimeout}`;
  return `waits for signal "${name}" (${ending}${wait.reject ? '; a rejecting signal rolls back' : ''})`;
}
