import { assign, fromCallback, setup } from 'xstate';
import type { AnySagaDefinition, StepDefinition } from '../definition/types.ts';
import type { SagaContext, SagaMachineInput, StepJobRequest, StepState } from './context.ts';
import { type Direction, type SagaEvent, SagaEvents, type StepDoneEvent, type StepFailedEvent } from './events.ts';
import { SagaStates } from './states.ts';

/**
 * The placeholder step-job actor. The machine stays pure: the engine replaces it with one that
 * dispatches the job (`machine.provide({ actors: { stepJob } })`).
 */
export const stepJobPlaceholder = fromCallback<SagaEvent, StepJobRequest>(() => undefined);

type Args = { context: SagaContext; event: SagaEvent };

/** A typed `assign` for updaters built outside `setup()`, which is how a generated machine is made. */
const update = (fn: (args: Args) => Partial<SagaContext>) =>
  assign<SagaContext, SagaEvent, undefined, SagaEvent, never>(fn);

/**
 * Builds the XState v5 machine of a saga definition. Pure: no I/O, no clock.
 *
 * Top-level states are the saga's public status (`Started`, `Pending`, `Compensating`, `Completed`,
 * `Failed`, `Escalated`); `Pending` has one substate per step and `Compensating` one per compensable
 * step. Steps run one after another, so which steps are completed in any state is known statically:
 * every rollback target is wired at build time and the graph stays finite.
 *
 * @example
 * ```ts
 * const machine = buildSagaMachine(trip);
 * console.log(JSON.stringify(machine.toJSON())); // paste into the Stately visualizer
 * ```
 */
export function buildSagaMachine(definition: AnySagaDefinition) {
  const steps = definition.steps;
  const id = definition.name;
  const top = (state: string) => `#${id}.${state}`;
  const compensable = steps.filter((s) => s.compensation !== undefined);

  /** Newest compensable step with index <= `index`, or undefined. */
  const lastCompensableUpTo = (index: number) => [...compensable].reverse().find((s) => s.index <= index);

  /** Where rollback goes when steps 0..`index` are completed: the newest compensation, or Failed. */
  const rollbackTarget = (index: number) => {
    const target = lastCompensableUpTo(index);
    return target ? `${top(SagaStates.Compensating)}.${target.name}` : top(SagaStates.Failed);
  };

  /** Marks completed steps with index in (low, high) as skipped, newest first. */
  const skipBetween = (low: number, high: number) =>
    update(({ context }) => {
      const passed = steps
        .filter((s) => s.index > low && s.index < high && context.steps[s.name]?.status === 'completed')
        .map((s) => s.name)
        .reverse();
      if (passed.length === 0) return {};
      const next = { ...context.steps };
      for (const name of passed) next[name] = { ...(next[name] as StepState), status: 'skipped' };
      return { steps: next, skipped: [...context.skipped, ...passed] };
    });

  const isFor =
    (step: StepDefinition, direction: Direction) =>
    ({ context, event }: { context: SagaContext; event: SagaEvent }) => {
      if (event.type !== SagaEvents.stepDone && event.type !== SagaEvents.stepFailed) return false;
      if (event.step !== step.name || event.direction !== direction) return false;
      return direction === 'run' || event.round === (context.rounds[step.name] ?? 0);
    };

  const patchStep = (context: SagaContext, name: string, patch: Partial<StepState>) => ({
    ...context.steps,
    [name]: { ...(context.steps[name] as StepState), ...patch },
  });

  const jobInput =
    (step: StepDefinition, direction: Direction) =>
    ({ context }: { context: SagaContext }): StepJobRequest => ({
      sagaId: context.sagaId,
      step: step.name,
      direction,
      round: direction === 'run' ? 0 : (context.rounds[step.name] ?? 0),
    });

  const markRunCompleted = (step: StepDefinition) =>
    update(({ context, event }) => {
      const e = event as StepDoneEvent;
      return {
        steps: patchStep(context, step.name, { status: 'completed', attempts: e.attempts, result: e.result }),
        completed: [...context.completed, step.name],
      };
    });

  const markRunFailed = (step: StepDefinition) =>
    update(({ context, event }) => {
      const e = event as StepFailedEvent;
      return {
        steps: patchStep(context, step.name, { status: 'failed', attempts: e.attempts, error: e.error }),
        failure: {
          reason: context.cancelRequested ? ('cancelled' as const) : ('failed' as const),
          step: step.name,
          error: e.error,
        },
      };
    });

  const markCancelled = (step?: StepDefinition) =>
    update(() => ({
      failure: step ? { reason: 'cancelled' as const, step: step.name } : { reason: 'cancelled' as const },
    }));

  const pendingStates = Object.fromEntries(
    steps.map((step) => {
      const next = steps[step.index + 1];
      const forward = next ? next.name : top(SagaStates.Completed);
      return [
        step.name,
        {
          entry: update(({ context }) => ({
            steps: patchStep(context, step.name, { status: 'running' }),
          })),
          invoke: { src: 'stepJob' as const, input: jobInput(step, 'run') },
          on: {
            [SagaEvents.stepDone]: [
              {
                guard: ({ context, event }: { context: SagaContext; event: SagaEvent }) =>
                  context.cancelRequested && isFor(step, 'run')({ context, event }),
                target: rollbackTarget(step.index),
                actions: [
                  markRunCompleted(step),
                  markCancelled(),
                  skipBetween(lastCompensableUpTo(step.index)?.index ?? -1, step.index + 1),
                ],
              },
              { guard: isFor(step, 'run'), target: forward, actions: markRunCompleted(step) },
            ],
            [SagaEvents.stepFailed]: {
              guard: isFor(step, 'run'),
              target: rollbackTarget(step.index - 1),
              actions: [markRunFailed(step), skipBetween(lastCompensableUpTo(step.index - 1)?.index ?? -1, step.index)],
            },
          },
        },
      ];
    }),
  );

  const compensatingStates = Object.fromEntries(
    compensable.map((step) => {
      const previous = lastCompensableUpTo(step.index - 1);
      const uncompensated = compensable
        .filter((s) => s.index <= step.index)
        .map((s) => s.name)
        .reverse();
      return [
        step.name,
        {
          entry: update(({ context }) => ({
            steps: patchStep(context, step.name, { status: 'compensating' }),
          })),
          invoke: { src: 'stepJob' as const, input: jobInput(step, 'compensate') },
          on: {
            [SagaEvents.stepDone]: {
              guard: isFor(step, 'compensate'),
              target: previous ? previous.name : top(SagaStates.Failed),
              actions: [
                update(({ context, event }) => ({
                  steps: patchStep(context, step.name, {
                    status: 'compensated',
                    compensationAttempts:
                      (context.steps[step.name]?.compensationAttempts ?? 0) + (event as StepDoneEvent).attempts,
                  }),
                  compensated: [...context.compensated, step.name],
                })),
                skipBetween(previous?.index ?? -1, step.index),
              ],
            },
            [SagaEvents.stepFailed]: {
              guard: isFor(step, 'compensate'),
              target: top(SagaStates.Escalated),
              actions: update(({ context, event }) => {
                const e = event as StepFailedEvent;
                return {
                  steps: patchStep(context, step.name, {
                    status: 'compensation_failed',
                    error: e.error,
                    compensationAttempts: (context.steps[step.name]?.compensationAttempts ?? 0) + e.attempts,
                  }),
                  escalation: { step: step.name, error: e.error, uncompensated },
                };
              }),
            },
          },
        },
      ];
    }),
  );

  return setup({
    types: {
      context: {} as SagaContext,
      events: {} as SagaEvent,
      input: {} as SagaMachineInput,
    },
    actors: { stepJob: stepJobPlaceholder },
  }).createMachine({
    id,
    description: definition.description,
    initial: SagaStates.Started,
    context: ({ input }) => ({
      sagaId: input.sagaId,
      input: input.input,
      steps: Object.fromEntries(
        steps.map((s) => [s.name, { status: 'idle', attempts: 0, compensationAttempts: 0 } satisfies StepState]),
      ),
      completed: [],
      compensated: [],
      skipped: [],
      cancelRequested: false,
      rounds: {},
    }),
    states: {
      [SagaStates.Started]: {
        on: {
          [SagaEvents.start]: SagaStates.Pending,
          [SagaEvents.cancel]: { target: SagaStates.Failed, actions: markCancelled() },
        },
      },
      [SagaStates.Pending]: {
        initial: (steps[0] as StepDefinition).name,
        on: {
          [SagaEvents.cancel]: {
            guard: ({ context }) => !context.cancelRequested,
            actions: update(() => ({ cancelRequested: true })),
          },
        },
        states: pendingStates,
      },
      [SagaStates.Compensating]: {
        // Without a compensable step this state is never entered; XState needs an initial child anyway.
        ...(compensable.length > 0 ? { initial: (compensable[0] as StepDefinition).name } : {}),
        states: compensatingStates,
      },
      [SagaStates.Completed]: { type: 'final' },
      [SagaStates.Failed]: { type: 'final' },
      [SagaStates.Escalated]: {
        on: {
          [SagaEvents.resume]: compensable.map((step) => ({
            guard: ({ context }: { context: SagaContext }) => context.escalation?.step === step.name,
            target: `${SagaStates.Compensating}.${step.name}`,
            actions: update(({ context }) => ({
              rounds: { ...context.rounds, [step.name]: (context.rounds[step.name] ?? 0) + 1 },
              escalation: undefined,
            })),
          })),
          [SagaEvents.resolve]: {
            target: SagaStates.Failed,
            actions: update(({ context, event }) => ({
              resolution: {
                note: event.type === SagaEvents.resolve ? (event.note ?? '') : '',
                uncompensated: context.escalation?.uncompensated ?? [],
              },
            })),
          },
        },
      },
    },
  });
}

/** The machine type of any saga definition. */
export type SagaMachine = ReturnType<typeof buildSagaMachine>;
