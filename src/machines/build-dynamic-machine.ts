import { appendRefusal } from '../definition/step-kinds.ts';
import type { AnySagaDefinition, DynamicDefinition, StepKind, WaitDefinition } from '../definition/types.ts';
import {
  type Direction,
  type ErrorInfo,
  IDLE_DEADLINE,
  type SagaEvent,
  SagaEvents,
  type SignalEvent,
  type StepDoneEvent,
  type StepFailedEvent,
} from '../vocabulary/events.ts';
import { SagaStates } from '../vocabulary/states.ts';
import type { SagaContext, SagaEscalation, StepJobRequest, StepState } from './context.ts';
import {
  type Args,
  cancelEscalatedRun,
  failedPatch,
  failureFromEscalation,
  inDoubt,
  inFlight,
  initialContext,
  jobRound,
  markCancelled,
  markCompensated,
  markCompensationFailed,
  NEXT_COMPENSATION,
  nextRound,
  owedCompensations,
  parkedAt,
  patchStep,
  priorAttempts,
  recordResolution,
  sagaMachineSetup,
  skipPassedOver,
  startedState,
  update,
  waitErrors,
  waitEscalated,
  waitFailed,
  waitPassed,
} from './machine-parts.ts';
import { dynamicStepName, planKinds, toolOf } from './step-of.ts';

/** Most steps one dynamic saga may append. */
export const MAX_DYNAMIC_STEPS = 200;

/**
 * Builds the machine of a dynamic saga (see `defineDynamicSaga`). Pure, like buildSagaMachine, and
 * finite: the steps are data in the context (`plan`), not states, so the graph is the same whatever
 * the agent appends. `Pending` is `idle` (waiting for the agent: `step.append` or `saga.complete`,
 * or the idle deadline), `running` (the one step in flight) or `waiting` (parked at a wait the agent
 * appended: its signal or deadline); `Compensating` undoes the completed
 * compensable steps newest first, one job at a time. The step kinds follow the rule of a defined
 * saga, checked at each append: nothing after the pivot is ever compensated.
 */
export function buildDynamicMachine(definition: AnySagaDefinition) {
  const dynamic = definition.dynamic as DynamicDefinition;
  const { tools } = dynamic;
  const id = definition.name;
  const top = (state: string) => `#${id}.${state}`;
  const plan = (context: SagaContext) => context.plan ?? [];
  const toolAt = (context: SagaContext, step: string) => toolOf(definition, context, step);
  const kindOf = (context: SagaContext, step: string): StepKind | undefined => toolAt(context, step)?.kind;
  const compensates = (context: SagaContext) =>
    new Set(plan(context).filter((step) => kindOf(context, step) === 'compensable'));
  const owed = (context: SagaContext) => owedCompensations(context, compensates(context));
  /** Where the saga stops rolling back: the pivot's place in the plan (or a noncompensable step's); Infinity before one. */
  const pivotIndex = (context: SagaContext) => {
    const at = plan(context).findIndex(
      (s) => kindOf(context, s) === 'pivot' || kindOf(context, s) === 'noncompensable',
    );
    return at < 0 ? Number.POSITIVE_INFINITY : at;
  };
  const indexOf = (context: SagaContext, step: string) => plan(context).indexOf(step);
  const isWaitStep = (context: SagaContext, step: string) => toolAt(context, step)?.wait !== undefined;
  const rollsBack = (context: SagaContext, step: string) => indexOf(context, step) <= pivotIndex(context);

  /** An outcome of the job the saga waits for in `direction` (its step, direction and round). */
  const isFor =
    (direction: Direction) =>
    ({ context, event }: Args) =>
      (event.type === SagaEvents.stepDone || event.type === SagaEvents.stepFailed) &&
      event.direction === direction &&
      inFlight(context).some(
        (job) => job.step === event.step && job.direction === direction && job.round === event.round,
      );
  /** The one job in flight, read when its state is entered (the transition into it marked the step). */
  const jobInput = ({ context }: { context: SagaContext }): StepJobRequest => inFlight(context)[0] as StepJobRequest;
  const outcomeStep = (event: SagaEvent) => (event as StepDoneEvent | StepFailedEvent).step;

  const addStep = update(({ context, event }) => {
    const e = event as Extract<SagaEvent, { type: typeof SagaEvents.append }>;
    const name = dynamicStepName(e.tool, plan(context).length);
    const status = tools[e.tool]?.wait ? 'waiting' : 'running';
    const step: StepState = { status, attempts: 0, compensationAttempts: 0, tool: e.tool, args: e.args };
    return { steps: { ...context.steps, [name]: step }, plan: [...plan(context), name] };
  });

  const canAppend = ({ context, event }: Args) => {
    if (event.type !== SagaEvents.append || context.cancelRequested) return false;
    const tool = tools[event.tool];
    if (!tool || plan(context).length >= MAX_DYNAMIC_STEPS) return false;
    return appendRefusal(planKinds(definition, context), tool.kind) === undefined;
  };

  const markRunCompleted = update(({ context, event }) => {
    const e = event as StepDoneEvent;
    const before = context.steps[e.step] as StepState;
    const done: StepState = {
      status: 'completed',
      attempts: priorAttempts(context, e.step) + e.attempts,
      compensationAttempts: before.compensationAttempts,
      result: e.result,
      ...(before.tool === undefined ? {} : { tool: before.tool, args: before.args }),
    };
    if (e.verified) done.verified = true;
    return { steps: { ...context.steps, [e.step]: done }, completed: [...context.completed, e.step] };
  });

  const markRunFailed = (status: 'failed' | 'in_doubt') =>
    update(({ context, event }) => {
      const e = event as StepFailedEvent;
      return {
        steps: patchStep(context, e.step, failedPatch(e, status, priorAttempts(context, e.step))),
        failure: {
          reason: context.cancelRequested ? ('cancelled' as const) : ('failed' as const),
          step: e.step,
          error: e.error,
        },
      };
    });

  const markForwardFailure = update(({ context, event }) => {
    const e = event as StepFailedEvent;
    const steps = patchStep(context, e.step, failedPatch(e, 'failed', priorAttempts(context, e.step)));
    return {
      steps,
      escalation: {
        direction: 'run' as const,
        ...(e.inDoubt ? { inDoubt: true as const } : {}),
        step: e.step,
        error: e.error,
        uncompensated: rollsBack(context, e.step) ? owed({ ...context, steps }) : [],
      },
    };
  });

  const idleError: ErrorInfo = {
    name: 'SagaIdleError',
    code: 'SAGA_IDLE',
    message: `no step was appended and the saga was not completed within ${dynamic.idleTimeoutMs} ms (the agent is gone?)`,
  };
  const isIdleDeadline = ({ context, event }: Args) =>
    event.type === SagaEvents.deadline && event.step === IDLE_DEADLINE && event.round === idleRound(context);

  /** A run that ended in doubt (it may have taken effect) where the saga can still roll back; a query's failure is definite. */
  const inDoubtBeforePivot = (args: Args) => {
    const step = outcomeStep(args.event);
    return (
      isFor('run')(args) && inDoubt(args) && rollsBack(args.context, step) && kindOf(args.context, step) !== 'query'
    );
  };

  /** A running step's outcome: back to `idle` for the agent, or the rollback or escalation its kind asks for. */
  const runOutcomes = {
    [SagaEvents.stepDone]: [
      {
        guard: (args: Args) =>
          isFor('run')(args) &&
          args.context.cancelRequested &&
          indexOf(args.context, outcomeStep(args.event)) < pivotIndex(args.context),
        target: top(SagaStates.Compensating),
        actions: [markRunCompleted, markCancelled],
      },
      { guard: isFor('run'), target: 'idle', actions: markRunCompleted },
    ],
    [SagaEvents.stepFailed]: [
      // In doubt up to the pivot: compensated in doubt when its tool says so, else a person decides.
      {
        guard: (args: Args) =>
          inDoubtBeforePivot(args) && toolAt(args.context, outcomeStep(args.event))?.inDoubt === 'compensate',
        target: top(SagaStates.Compensating),
        actions: markRunFailed('in_doubt'),
      },
      { guard: inDoubtBeforePivot, target: top(SagaStates.Escalated), actions: markForwardFailure },
      {
        guard: (args: Args) => isFor('run')(args) && rollsBack(args.context, outcomeStep(args.event)),
        target: top(SagaStates.Compensating),
        actions: markRunFailed('failed'),
      },
      { guard: isFor('run'), target: top(SagaStates.Escalated), actions: markForwardFailure },
    ],
    [SagaEvents.cancel]: {
      guard: ({ context }: Args) => {
        const job = inFlight(context)[0];
        return !context.cancelRequested && job !== undefined && indexOf(context, job.step) < pivotIndex(context);
      },
      actions: update(() => ({ cancelRequested: true })),
    },
  };
  // A wait the agent appended: the step it parks at, its definition, and where it may still roll back.
  const parked = (context: SagaContext) => parkedAt(context) as string;
  const waitAt = (context: SagaContext) => toolAt(context, parked(context))?.wait as WaitDefinition;
  const parkedRollsBack = (context: SagaContext) => rollsBack(context, parked(context));
  const isSignal = ({ context, event }: Args) =>
    event.type === SagaEvents.signal && context.steps[parked(context)]?.tool === event.name;
  const isRejection = (args: Args) => isSignal(args) && (args.event as SignalEvent).rejected === true;
  const isWaitDeadline = ({ context, event }: Args) =>
    event.type === SagaEvents.deadline &&
    event.step === parked(context) &&
    event.round === jobRound(context, event.step, 'run');
  // A dynamic saga's waits are waits for a signal (it has no sleeps).
  const rejected = (step: string) => waitErrors(step, 'signal').rejectedError;
  const deadlinePassed = (step: string) => waitErrors(step, 'signal').deadlineError;
  const waitOutcomes = {
    [SagaEvents.signal]: [
      {
        guard: (args: Args) => isRejection(args) && parkedRollsBack(args.context),
        target: top(SagaStates.Compensating),
        actions: waitFailed(parked, rejected),
      },
      // After the pivot a rejection cannot roll back: a person decides.
      {
        guard: isRejection,
        target: top(SagaStates.Escalated),
        actions: waitEscalated(parked, rejected, () => []),
      },
      { guard: isSignal, target: 'idle', actions: waitPassed(parked) },
    ],
    [SagaEvents.deadline]: [
      {
        guard: (args: Args) => isWaitDeadline(args) && waitAt(args.context).onTimeout === 'continue',
        target: 'idle',
        actions: waitPassed(parked),
      },
      {
        guard: (args: Args) =>
          isWaitDeadline(args) && waitAt(args.context).onTimeout === 'compensate' && parkedRollsBack(args.context),
        target: top(SagaStates.Compensating),
        actions: waitFailed(parked, deadlinePassed),
      },
      {
        guard: isWaitDeadline,
        target: top(SagaStates.Escalated),
        actions: waitEscalated(parked, deadlinePassed, (context) => (parkedRollsBack(context) ? owed(context) : [])),
      },
    ],
    [SagaEvents.cancel]: {
      guard: ({ context }: Args) => indexOf(context, parked(context)) < pivotIndex(context),
      target: top(SagaStates.Compensating),
      actions: [
        update(({ context }) => ({ steps: patchStep(context, parked(context), { status: 'idle' }) })),
        markCancelled,
      ],
    },
  };

  return sagaMachineSetup.createMachine({
    id,
    description:
      definition.description ?? `dynamic saga: steps appended at run time from ${Object.keys(tools).join(', ')}`,
    initial: SagaStates.Started,
    context: ({ input }) => ({ ...initialContext(input, {}), plan: [] }),
    states: {
      [SagaStates.Started]: startedState,
      [SagaStates.Pending]: {
        initial: 'idle',
        states: {
          idle: {
            tags: ['agent'],
            description: 'waiting for the agent: appendStep, complete, or the idle deadline',
            on: {
              [SagaEvents.append]: [
                {
                  guard: (args: Args) =>
                    canAppend(args) &&
                    args.event.type === SagaEvents.append &&
                    tools[args.event.tool]?.wait !== undefined,
                  target: 'waiting',
                  actions: addStep,
                },
                { guard: canAppend, target: 'running', actions: addStep },
              ],
              [SagaEvents.complete]: { target: top(SagaStates.Completed) },
              [SagaEvents.deadline]: [
                {
                  guard: (args: Args) => isIdleDeadline(args) && pivotIndex(args.context) === Number.POSITIVE_INFINITY,
                  target: top(SagaStates.Compensating),
                  actions: update(() => ({ failure: { reason: 'failed' as const, error: idleError } })),
                },
                // Past the pivot nothing rolls back: a person decides (resume waits for the agent again).
                {
                  guard: isIdleDeadline,
                  target: top(SagaStates.Escalated),
                  actions: update(() => ({
                    escalation: { direction: 'run' as const, step: IDLE_DEADLINE, error: idleError, uncompensated: [] },
                  })),
                },
              ],
              [SagaEvents.cancel]: {
                guard: ({ context }: Args) => pivotIndex(context) === Number.POSITIVE_INFINITY,
                target: top(SagaStates.Compensating),
                actions: markCancelled,
              },
            },
          },
          running: {
            invoke: { src: 'stepJob' as const, input: jobInput },
            on: runOutcomes,
          },
          waiting: {
            tags: ['wait'],
            description: 'parked at a wait the agent appended: a signal, or its deadline',
            on: waitOutcomes,
          },
        },
      },
      [SagaStates.Compensating]: {
        initial: NEXT_COMPENSATION,
        states: {
          [NEXT_COMPENSATION]: {
            always: [
              {
                guard: ({ context }: Args) => owed(context).length > 0,
                target: 'undoing',
                actions: [
                  skipPassedOver(compensates, (context) => owed(context)[0]),
                  update(({ context }) => ({
                    steps: patchStep(context, owed(context)[0] as string, { status: 'compensating' }),
                  })),
                ],
              },
              { target: top(SagaStates.Failed), actions: skipPassedOver(compensates, () => undefined) },
            ],
          },
          undoing: {
            invoke: { src: 'stepJob' as const, input: jobInput },
            on: {
              [SagaEvents.stepDone]: {
                guard: isFor('compensate'),
                target: NEXT_COMPENSATION,
                actions: markCompensated,
              },
              [SagaEvents.stepFailed]: {
                guard: isFor('compensate'),
                target: top(SagaStates.Escalated),
                actions: markCompensationFailed(owed),
              },
            },
          },
        },
      },
      [SagaStates.Completed]: { type: 'final' },
      [SagaStates.Failed]: { type: 'final' },
      [SagaStates.Escalated]: {
        on: {
          [SagaEvents.resume]: [
            // An escalated wait waits again, under a new round (a new deadline).
            {
              guard: ({ context }: Args) =>
                context.escalation?.direction === 'run' && isWaitStep(context, context.escalation.step),
              target: `${SagaStates.Pending}.waiting`,
              actions: update(({ context }) => {
                const step = (context.escalation as SagaEscalation).step;
                const { tool, args } = context.steps[step] as StepState;
                // A fresh record: the deadline error of the round before no longer holds.
                const waiting: StepState = { status: 'waiting', attempts: 0, compensationAttempts: 0, tool, args };
                return { ...nextRound(context, 'run'), steps: { ...context.steps, [step]: waiting } };
              }),
            },
            {
              guard: ({ context }: Args) => context.escalation?.step === IDLE_DEADLINE,
              target: `${SagaStates.Pending}.idle`,
              actions: update(({ context }) => ({
                idleResumes: (context.idleResumes ?? 0) + 1,
                escalation: undefined,
              })),
            },
            {
              guard: ({ context }: Args) => (context.escalation?.direction ?? 'compensate') === 'compensate',
              target: `${SagaStates.Compensating}.undoing`,
              actions: update(({ context }) => {
                const step = (context.escalation as SagaEscalation).step;
                return {
                  ...nextRound(context, 'compensate'),
                  steps: patchStep(context, step, { status: 'compensating' }),
                };
              }),
            },
            {
              target: `${SagaStates.Pending}.running`,
              actions: update(({ context }) => {
                const step = (context.escalation as SagaEscalation).step;
                return { ...nextRound(context, 'run'), steps: patchStep(context, step, { status: 'running' }) };
              }),
            },
          ],
          [SagaEvents.resolve]: [
            {
              guard: ({ context }: Args) => {
                const escalation = context.escalation;
                return (
                  escalation?.direction === 'run' &&
                  (escalation.step === IDLE_DEADLINE || indexOf(context, escalation.step) > pivotIndex(context))
                );
              },
              target: SagaStates.Completed,
              actions: recordResolution,
            },
            { target: SagaStates.Failed, actions: [recordResolution, failureFromEscalation] },
          ],
          [SagaEvents.cancel]: {
            guard: ({ context }: Args) =>
              context.escalation?.direction === 'run' &&
              (context.escalation.inDoubt === true || isWaitStep(context, context.escalation.step)) &&
              indexOf(context, context.escalation.step) <= pivotIndex(context),
            target: SagaStates.Compensating,
            actions: cancelEscalatedRun(compensates),
          },
        },
      },
    },
  });
}

/**
 * The round of a dynamic saga's idle deadline: it rises with every append and every resume of an
 * idle escalation, so a deadline of an earlier idle spell is stale.
 */
export function idleRound(context: SagaContext): number {
  return (context.plan?.length ?? 0) + (context.idleResumes ?? 0);
}
