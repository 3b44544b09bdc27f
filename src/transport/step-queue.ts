import type { AttemptPolicy } from '../definition/types.ts';
import type { TraceCarrier } from '../observability/instrumentation.ts';
import type { Direction, StepOutcomeEvent } from '../vocabulary/events.ts';
import type { ScriptCall } from '../vocabulary/script-call.ts';

/** How a job is being enqueued. */
export interface EnqueueOptions {
  /**
   * True when a restored saga re-attaches to the job of the state it is in: the job may exist and
   * may even have finished. False (the default) right after the transition that entered the
   * state, when no job with this id can exist yet (every state's job id is entered once per saga;
   * `resume` uses a new round), so a queue may skip the look-up.
   */
  reattach?: boolean;
}

/** Everything a worker needs to run one direction of one step, with no access to the store. */
export interface StepJob {
  /** Deterministic id (see `stepJobId`): the same step job always has the same id. */
  id: string;
  sagaId: string;
  sagaName: string;
  sagaVersion: number;
  step: string;
  direction: Direction;
  /** Compensation round (raised by `resume`); 0 for forward runs. */
  round: number;
  /** Stable across retries, restarts and rounds: saga id + step + direction. */
  idempotencyKey: string;
  /** The saga's validated input. */
  input: unknown;
  /** Outputs of completed steps, by step name. */
  results: Record<string, unknown>;
  /** For a compensation: the output of the step being undone. */
  result?: unknown;
  /** Attempts, backoff and per-attempt timeout of this direction of the step. */
  policy: AttemptPolicy;
  /** A dynamic saga's step: the tool whose handlers run it, and the arguments the agent gave. */
  tool?: string;
  args?: unknown;
  /** For a forward run: `always` when `verify` also runs after every successful run. */
  verify?: 'always';
  /** For a compensation: the step's run was in doubt (its handler sees `ctx.inDoubt`). */
  inDoubt?: true;
  /** The saga's trace context (W3C `traceparent`), when tracing is set up; handed back with the outcome. */
  trace?: TraceCarrier;
}

/** The final outcome of a step job, addressed to its saga. */
export interface StepOutcome {
  jobId: string;
  sagaId: string;
  event: StepOutcomeEvent;
  /** The job's `trace`, so the engine that applies the outcome dispatches the next step in the same trace. */
  trace?: TraceCarrier;
}

/** Receives outcomes; the queue waits for the returned promise before it counts the delivery done. */
export type OutcomeHandler = (outcome: StepOutcome) => Promise<void>;

/**
 * How step jobs travel to workers and their outcomes back. Implementations: InProcessQueue
 * (embedded default) and BullMQ; both pass `test/contracts/step-queue.contract.ts`.
 *
 * Retries belong to the queue (the job carries its policy), so a saga's machine sees one outcome
 * per job.
 */
export interface StepQueue {
  /**
   * Adds a job, idempotently by `job.id`: while a job with that id is known nothing new is added,
   * and if it already has an outcome that outcome is delivered again. This is what lets a restored
   * saga re-attach to its step instead of running it twice.
   */
  enqueue(job: StepJob, options?: EnqueueOptions): Promise<void>;
  /** Registers the one handler of outcomes. Outcomes produced before it is set are kept. */
  consume(handler: OutcomeHandler): void;
  /** The outcome of `jobId` was applied to its saga: the queue may forget the job. */
  ack(jobId: string): Promise<void>;
  /**
   * Queues whose workers may die with a job in hand (BullMQ): how long `job` may take in all (every
   * attempt, backoff and a grace), for the engine to keep as its deadline in the store's timer set;
   * undefined when deadlines are off.
   */
  deadlineOf?(job: StepJob): number | undefined;
  /** A job's deadline passed (see {@link DeadlineVerdict}); a timed-out job is removed first. */
  expire?(jobId: string): Promise<DeadlineVerdict>;
  /**
   * Queues in the store's Redis (BullMQ): the add of a fresh `job` as a script call, for the store
   * to make inside the save that dispatches it (`SagaUpdate.scriptCalls`), in place of `enqueue`: one round
   * trip, and the job exists exactly when the save does. Undefined when the job must be enqueued
   * the usual way (the queue cannot describe its add, or adds more than the job: a deadline job).
   */
  addCall?(job: StepJob): ScriptCall | undefined;
  /** Stops taking and running jobs. */
  close(): Promise<void>;
}

/**
 * What a step job's passed deadline found (see `StepQueue.expire`): the job is gone (its outcome
 * was applied, or it was never enqueued), a live worker still holds it (look again in
 * `recheckInMs`), it finished and its
 * outcome is on its way, or no one holds it and it was failed for good with `outcome`.
 */
export type DeadlineVerdict =
  | { kind: 'missing' }
  | { kind: 'held'; recheckInMs: number }
  | { kind: 'finished' }
  | { kind: 'timedOut'; outcome: StepOutcome };

/** What a queue knows of an attempt beyond its number. */
export interface AttemptOptions {
  /** This attempt ran before, in a worker that died or lost its lock: it may have taken effect. */
  rerun?: boolean;
}

/** Runs one attempt of a job: resolves with the handler's result or rejects with its error. */
export type AttemptRunner = (job: StepJob, attempt: number, options?: AttemptOptions) => Promise<unknown>;
