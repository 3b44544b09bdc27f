import { assign, fromCallback, setup } from 'xstate';
import type { WaitDefinition } from '../definition/types.ts';
import {
  type Direction,
  type ErrorInfo,
  type SagaEvent,
  SagaEvents,
  type SignalEvent,
  type StepDoneEvent,
  type StepFailedEvent,
} from '../vocabulary/events.ts';
import type { SagaContext, SagaEscalation, SagaMachineInput, StepJobRequest, StepState } from './context.ts';

// The parts both saga machines are made of (build-saga-machine.ts for a defined saga,
// build-dynamic-machine.ts for one whose steps are appended at run time): the vocabulary of
// their guards and actions, and what the engine reads from a context.

/**
 * The step-job actor a state invokes: it does nothing. The engine reads a state's jobs from its
 * invokes (`engine/state-jobs.ts`) and dispatches them after the save; the actor is what the
 * Stately inspector and the graphs show running in that state.
 */
export const stepJobActor = fromCallback<SagaEvent, StepJobRequest>(() => undefined);

/** The typed setup both saga machines are created from: their context, events, input and step-job actor. */
export const sagaMachineSetup = setup({
  types: {
    context: {} as SagaContext,
    events: {} as SagaEvent,
    input: {} as SagaMachineInput,
  },
  actors: { stepJob: stepJobActor },
});

/** A saga's first context: its steps' records (a dynamic saga's: none yet), every list empty. */
export function initialContext(input: SagaMachineInput, steps: Record<string, StepState>): SagaContext {
  return {
    sagaId: input.sagaId,
    input: input.input,
    steps,
    completed: [],
    compensated: [],
    skipped: [],
    cancelRequested: false,
    rounds: {},
  };
}

/**
 * The substate of `Compensating` that picks the next compensation from the context. Its name cannot
 * be a step name (those start with a letter, see NAME_PATTERN).
 */
export const NEXT_COMPENSATION = '_next';

/** What a guard or action of a saga machine is given. */
export type Args = { context: SagaContext; event: SagaEvent };

/** A typed `assign` for updaters built outside `setup()`, which is how a generated machine is made. */
export const update = (fn: (args: Args) => Partial<SagaContext>) =>
  assign<SagaContext, SagaEvent, undefined, SagaEvent, never>(fn);

/** The saga was cancelled: its failure says so (what ran is rolled back). */
export const markCancelled = update(() => ({ failure: { reason: 'cancelled' as const } }));

/** `Started`: `start` moves on to `Pending`; a `cancel` before that fails the saga at once. */
export const startedState = {
  on: {
    [SagaEvents.start]: 'Pending',
    [SagaEvents.cancel]: { target: 'Failed', actions: markCancelled },
  },
};

/** The steps of a context with one step's record patched. */
export const patchStep = (context: SagaContext, name: string, patch: Partial<StepState>) => ({
  ...context.steps,
  [name]: { ...(context.steps[name] as StepState), ...patch },
});

/** The job round the machine expects outcomes of: raised by each `resume` of that direction. */
export const jobRound = (context: SagaContext, step: string, direction: Direction) =>
  (direction === 'run' ? context.runRounds?.[step] : context.rounds[step]) ?? 0;

/** Marks the completed steps newer than `until` that rollback passes over (no compensation) as skipped. */
export function skipPassedOver(
  compensates: (context: SagaContext) => ReadonlySet<string>,
  until: (context: SagaContext) => string | undefined,
) {
  return update(({ context }) => {
    const stop = until(context);
    const undoable = compensates(context);
    const passed: string[] = [];
    for (let i = context.completed.length - 1; i >= 0; i--) {
      const name = context.completed[i] as string;
      if (name === stop) break;
      if (context.steps[name]?.status === 'completed' && !undoable.has(name)) passed.push(name);
    }
    if (passed.length === 0) return {};
    const next = { ...context.steps };
    for (const name of passed) next[name] = { ...(next[name] as StepState), status: 'skipped' };
    return { steps: next, skipped: [...context.skipped, ...passed] };
  });
}

/**
 * Compensable steps not undone yet, in the order they will be undone in: those whose run ended in
 * doubt, then the completed ones, newest first.
 */
export function owedCompensations(context: SagaContext, compensates: ReadonlySet<string>): string[] {
  const owed = [...compensates].filter((name) => context.steps[name]?.status === 'in_doubt').reverse();
  for (let i = context.completed.length - 1; i >= 0; i--) {
    const name = context.completed[i] as string;
    if (compensates.has(name) && context.steps[name]?.status === 'completed') owed.push(name);
  }
  return owed;
}

/**
 * The step jobs a saga waits for, read from its context: the steps whose run is `running` or whose
 * compensation is `compensating`, with the rounds their jobs carry. One in a linear saga; every
 * unsettled member while a parallel group runs.
 */
export function inFlight(context: SagaContext): StepJobRequest[] {
  const requests: StepJobRequest[] = [];
  for (const step in context.steps) {
    const status = context.steps[step]?.status;
    const direction = status === 'running' ? 'run' : status === 'compensating' ? 'compensate' : undefined;
    if (direction)
      requests.push({ sagaId: context.sagaId, step, direction, round: jobRound(context, step, direction) });
  }
  return requests;
}

/** The wait or sleep a saga is parked at, read from its context; undefined while it is not parked. */
export function parkedAt(context: SagaContext): string | undefined {
  for (const step in context.steps) if (context.steps[step]?.status === 'waiting') return step;
  return undefined;
}

/** Attempts of a step's earlier run rounds (before a `resume`): a step's attempts count every round. */
export function priorAttempts(context: SagaContext, step: string): number {
  return jobRound(context, step, 'run') > 0 ? (context.steps[step]?.attempts ?? 0) : 0;
}

/** What a failed run records on its step: the error, and what is known of its effect. */
export function failedPatch(event: StepFailedEvent, status: 'failed' | 'in_doubt', prior: number): Partial<StepState> {
  const patch: Partial<StepState> = { status, attempts: prior + event.attempts, error: event.error };
  if (event.inDoubt) patch.inDoubt = true;
  if (event.verified === false) patch.verified = false;
  return patch;
}

/** Whether a failed run's outcome is unknown (see StepFailedEvent.inDoubt). */
export const inDoubt = ({ event }: Args) => event.type === SagaEvents.stepFailed && event.inDoubt === true;

/** The errors a wait ends with when it does not let the saga go on: its deadline, or a rejecting signal. */
export function waitErrors(
  name: string,
  type: WaitDefinition['type'],
): { deadlineError: ErrorInfo; rejectedError: ErrorInfo } {
  return {
    deadlineError: {
      name: 'WaitDeadlineError',
      code: 'WAIT_DEADLINE',
      message: type === 'sleep' ? `sleep "${name}" ended` : `wait "${name}" got no signal before its deadline`,
    },
    rejectedError: {
      name: 'SignalRejectedError',
      code: 'SIGNAL_REJECTED',
      message: `the signal for wait "${name}" rejected it`,
    },
  };
}

/** The error a wait ends with, or how to make it from the wait's step name. */
export type WaitError = ErrorInfo | ((step: string) => ErrorInfo);

/** A wait's step record once it ended: fresh (it ran no job), keeping a dynamic saga's tool. */
function waitRecord(context: SagaContext, name: string, patch: Partial<StepState>): StepState {
  const { tool, args } = context.steps[name] ?? {};
  return {
    status: 'completed',
    attempts: 0,
    compensationAttempts: 0,
    ...(tool === undefined ? {} : { tool, args }),
    ...patch,
  };
}

/** What a signal leaves on its wait's record: its payload, and its id. */
function signalled(event: SagaEvent): Partial<StepState> {
  if (event.type !== SagaEvents.signal) return { timedOut: true };
  return { result: event.payload, ...(event.signalId === undefined ? {} : { signalId: event.signalId }) };
}

/** The saga goes on past the wait `name(context)`: a signal's payload is its result; a deadline leaves none. */
export const waitPassed = (name: (context: SagaContext) => string) =>
  update(({ context, event }) => {
    const step = name(context);
    return {
      steps: { ...context.steps, [step]: waitRecord(context, step, signalled(event)) },
      completed: [...context.completed, step],
    };
  });

/** A wait stopped the saga going on and it rolls back: a rejecting signal, or a deadline that compensates. */
export const waitFailed = (name: (context: SagaContext) => string, errorOf: WaitError) =>
  update(({ context, event }) => {
    const step = name(context);
    const error = typeof errorOf === 'function' ? errorOf(step) : errorOf;
    const failed = waitRecord(context, step, { status: 'failed', error, ...signalled(event as SignalEvent) });
    return {
      steps: { ...context.steps, [step]: failed },
      failure: { reason: 'failed' as const, step, error },
    };
  });

/**
 * A wait stopped the saga and a person decides (`resume` waits again): its deadline escalates, or
 * (after the pivot of a dynamic saga) a rejection. `uncompensated` names what a rollback would undo.
 */
export const waitEscalated = (
  name: (context: SagaContext) => string,
  errorOf: WaitError,
  uncompensated: (context: SagaContext) => string[],
) =>
  update(({ context, event }) => {
    const step = name(context);
    const error = typeof errorOf === 'function' ? errorOf(step) : errorOf;
    const steps = {
      ...context.steps,
      [step]: waitRecord(context, step, { status: 'failed', error, ...signalled(event) }),
    };
    return {
      steps,
      escalation: { direction: 'run' as const, step, error, uncompensated: uncompensated({ ...context, steps }) },
    };
  });

/** The compensation of the outcome's step is done. */
export const markCompensated = update(({ context, event }) => {
  const e = event as StepDoneEvent;
  return {
    steps: patchStep(context, e.step, {
      status: 'compensated',
      compensationAttempts: (context.steps[e.step]?.compensationAttempts ?? 0) + e.attempts,
    }),
    compensated: [...context.compensated, e.step],
  };
});

/** The compensation of the outcome's step ran out of retries: a person must act. `owed` names what is left to undo. */
export const markCompensationFailed = (owed: (context: SagaContext) => string[]) =>
  update(({ context, event }) => {
    const e = event as StepFailedEvent;
    const steps = patchStep(context, e.step, {
      status: 'compensation_failed',
      error: e.error,
      compensationAttempts: (context.steps[e.step]?.compensationAttempts ?? 0) + e.attempts,
    });
    return {
      steps,
      escalation: {
        direction: 'compensate' as const,
        step: e.step,
        error: e.error,
        uncompensated: [e.step, ...owed({ ...context, steps })],
      },
    };
  });

/** `resolve`: a person's note, and what was left undone when they took over. */
export const recordResolution = update(({ context, event }) => ({
  resolution: {
    note: event.type === SagaEvents.resolve ? (event.note ?? '') : '',
    uncompensated: context.escalation?.uncompensated ?? [],
  },
}));

/**
 * A `resolve` that ends the saga Failed: an escalation that stopped it before any failure was
 * recorded ends it with that step as the reason (or the cancel that was waiting, if one was).
 */
export const failureFromEscalation = update(({ context }) =>
  context.failure || !context.escalation
    ? {}
    : {
        failure: {
          reason: context.cancelRequested ? ('cancelled' as const) : ('failed' as const),
          step: context.escalation.step,
          error: context.escalation.error,
        },
      },
);

/**
 * `cancel` of an escalated run (in doubt, or a wait whose deadline escalated) up to the pivot: a
 * person found it did not happen, or wants it undone: roll back, that step in doubt first when
 * it has a compensation.
 */
export const cancelEscalatedRun = (compensates: (context: SagaContext) => ReadonlySet<string>) =>
  update(({ context }) => {
    const escalation = context.escalation as SagaEscalation;
    const status = compensates(context).has(escalation.step) ? 'in_doubt' : 'failed';
    return {
      steps: patchStep(context, escalation.step, { status }),
      failure: { reason: 'cancelled' as const, step: escalation.step, error: escalation.error },
      escalation: undefined,
    };
  });

/** `resume` of an escalation: the next round of the escalated step's job in `direction` (a new job id), the escalation cleared. */
export function nextRound(context: SagaContext, direction: Direction): Partial<SagaContext> {
  const step = (context.escalation as SagaEscalation).step;
  return direction === 'run'
    ? { runRounds: { ...context.runRounds, [step]: jobRound(context, step, 'run') + 1 }, escalation: undefined }
    : { rounds: { ...context.rounds, [step]: jobRound(context, step, 'compensate') + 1 }, escalation: undefined };
}
