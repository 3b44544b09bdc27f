// The saga vocabulary every layer may import (machines, engine, persistence, transport,
// observability, cli): the events and the error-as-data shape here, the states in states.ts.

/**
 * Every event a saga actor understands, named in one place. Outcome events come from step jobs
 * (through the queue); command events come from the engine's API.
 */
export const SagaEvents = {
  start: 'saga.start',
  cancel: 'saga.cancel',
  resume: 'saga.resume',
  resolve: 'saga.resolve',
  stepDone: 'step.done',
  stepFailed: 'step.failed',
  signal: 'saga.signal',
  deadline: 'wait.deadline',
  append: 'step.append',
  complete: 'saga.complete',
} as const;

/**
 * The step name of a dynamic saga's idle deadline (`wait.deadline` with this step): it cannot be a
 * step's name, which starts with a letter.
 */
export const IDLE_DEADLINE = '_idle';

/** Which way a step job goes: its forward run or its compensation. */
export type Direction = 'run' | 'compensate';

/** An error as data: what crosses process boundaries and is stored in snapshots and logs. */
export interface ErrorInfo {
  name: string;
  message: string;
  code?: string;
  /** True when the handler said retrying would not help ({@link TerminalError}). */
  terminal?: boolean;
}

/** Outcome shared by done and failed events: which job it is about. */
interface StepOutcomeBase {
  step: string;
  direction: Direction;
  /** Attempts the job took (1 = first try). */
  attempts: number;
  /** Compensation round the job belongs to (raised by each `resume`); 0 for forward runs. */
  round: number;
}

/** A step job finished: its handler returned, or its `verify` found the effect (`verified`). */
export interface StepDoneEvent extends StepOutcomeBase {
  type: typeof SagaEvents.stepDone;
  result?: unknown;
  /** The result was read back by `verify` rather than returned by a run. */
  verified?: true;
}

/** A step job failed for good: a terminal error, or retries exhausted. */
export interface StepFailedEvent extends StepOutcomeBase {
  type: typeof SagaEvents.stepFailed;
  error: ErrorInfo;
  /** The last attempt's outcome is unknown: the run may have taken effect. */
  inDoubt?: true;
  /** `false`: the step's `verify` found that the run did not take effect. */
  verified?: false;
}

/** A signal for a wait (see `engine.signal`), its payload already accepted by the wait's schema. */
export interface SignalEvent {
  type: typeof SagaEvents.signal;
  /** The wait it is for. */
  name: string;
  payload: unknown;
  /** The sender's id of this signal: a repeat with the same id is recognised and changes nothing. */
  signalId?: string;
  /** The wait's `reject` said so (decided by the engine before the event is sent): roll back. */
  rejected?: true;
}

/** A wait's or sleep's deadline came (delivered from the timer set): ignored unless the saga still waits there. */
export interface DeadlineEvent {
  type: typeof SagaEvents.deadline;
  step: string;
  /** The wait's round (raised by each `resume` of an escalated wait): a deadline of an earlier round is stale. */
  round: number;
}

/** A dynamic saga's agent appended a step: run tool `tool` with `args` (already checked by its schema). */
export interface AppendEvent {
  type: typeof SagaEvents.append;
  tool: string;
  args: unknown;
}

/** Every event a saga machine accepts. */
export type SagaEvent =
  | { type: typeof SagaEvents.start }
  | { type: typeof SagaEvents.cancel }
  | { type: typeof SagaEvents.resume }
  | { type: typeof SagaEvents.resolve; note?: string }
  | StepDoneEvent
  | StepFailedEvent
  | SignalEvent
  | DeadlineEvent
  | AppendEvent
  | { type: typeof SagaEvents.complete };

/** The outcome of a step job, as the queue reports it. */
export type StepOutcomeEvent = StepDoneEvent | StepFailedEvent;
