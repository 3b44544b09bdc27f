import { Job, type JobsOptions, Queue, Worker } from 'bullmq';
import { defaultLogger, type Logger } from '../observability/logger.ts';
import { OutageReporter, warnOnLogger } from '../observability/outage-reporter.ts';
import { SagaEvents } from '../vocabulary/events.ts';
import type { ScriptCall } from '../vocabulary/script-call.ts';
import { createAddCall } from './bullmq-add-call.ts';
import { type BullMqOptions, outcomeJobId, resolveBullMq } from './bullmq-names.ts';
import { deadlineOutcome, stepDeadlineMs } from './step-deadline.ts';
import type { DeadlineVerdict, EnqueueOptions, OutcomeHandler, StepJob, StepOutcome, StepQueue } from './step-queue.ts';

/** Options of {@link BullMqQueue}. */
export interface BullMqQueueOptions extends BullMqOptions {
  /** Outcomes applied at once by this engine process. Default 32. */
  outcomeConcurrency?: number;
  /**
   * Durable step deadlines: with each step job a delayed job is added that, once every attempt,
   * backoff and this grace have passed, fails the step for good if no live worker holds it, so a
   * saga whose workers all vanished still compensates. Default 30 000 ms; `false` turns them off.
   */
  deadlineGraceMs?: number | false;
  /**
   * Where step deadlines live: `'jobs'` (default), a delayed BullMQ job per step on the outcome
   * queue that this queue's consumer handles; `'timers'`, the store's timer set, written by the
   * save that dispatches the step and swept by every engine and worker process (what
   * `createEngine({ redis })` and `createWorker({ sagas })` use: no job per deadline).
   */
  deadlines?: 'jobs' | 'timers';
  /**
   * Where the Redis errors of this queue's connections go, thinned out by OutageReporter: the first
   * error of an outage and nothing more until a connection is back; any other error once, and again
   * at most once a minute while it repeats. `createEngine` passes one that emits on the engine's
   * `error` event. Default: a `warn` line each on `logger`.
   */
  onError?: (error: unknown) => void;
  /**
   * Where this queue logs (under `child({ component: 'queue' })`): pino or anything with
   * `child`/`debug`/`info`/`warn`/`error`. Default: `warn` and `error` as JSON lines on stderr.
   */
  logger?: Logger;
}

/** What a deadline job carries: the step job it watches, and how long it allowed. */
interface DeadlineData {
  stepJobId: string;
  deadlineMs: number;
}

const DEADLINE = 'deadline';
const OUTCOME_LOCK_MS = 5_000;
const ACK_TRIES = 40;
const ACK_RETRY_MS = 25;

/** What a step job's data holds once it failed for good: the outcome to report again if asked. */
export interface StepJobData extends StepJob {
  outcome?: StepOutcome;
}

/**
 * The durable StepQueue: step jobs are BullMQ jobs whose id is the deterministic step-job id, run by
 * workers anywhere ({@link createWorker}); outcomes come back as jobs on a second queue that every
 * engine process consumes, so a saga moves on even if the process that started it is gone.
 *
 * Retries are BullMQ's (attempts and a backoff strategy computed by xsaga's policy); a
 * TerminalError takes BullMQ's unrecoverable path. Finished step jobs are kept until the engine acks
 * their outcome, because BullMQ dedupes by id only while the job exists; failed compensations are
 * never acked and stay in BullMQ's failed set as dead letters.
 */
export class BullMqQueue implements StepQueue {
  readonly #steps: Queue;
  readonly #outcomes: Queue;
  readonly #options: ReturnType<typeof resolveBullMq>;
  readonly #outcomeConcurrency: number;
  readonly #deadlineGraceMs: number | false;
  readonly #deadlineJobs: boolean;
  readonly #outage: OutageReporter;
  #consumer: Worker | undefined;
  #handler: OutcomeHandler | undefined;
  /** Where errors go: outages (once each, through #outage) and failed local deliveries (the outcome stays on its job and comes back on the next re-attach). */
  readonly #onError: (error: unknown) => void;
  /** Outcomes being handed to the handler in this process, by step job id: one at a time each. */
  readonly #delivering = new Set<string>();
  /** Describes a step job's add as a script call (made on first use: see addCall). */
  #addCall: ReturnType<typeof createAddCall> | undefined;

  constructor(options: BullMqQueueOptions = {}) {
    this.#options = resolveBullMq(options);
    const { connection, prefix } = this.#options;
    const { queueOptions } = this.#options;
    this.#steps = new Queue(this.#options.stepQueue, { connection, prefix, ...queueOptions });
    this.#outcomes = new Queue(this.#options.outcomeQueue, { connection, prefix, ...queueOptions });
    // Without an `error` listener every reconnect attempt of an outage prints a stack trace.
    this.#onError = options.onError ?? warnOnLogger((options.logger ?? defaultLogger()).child({ component: 'queue' }));
    this.#outage = new OutageReporter(this.#onError);
    this.#outage.watch(this.#steps);
    this.#outage.watch(this.#outcomes);
    this.#outcomeConcurrency = options.outcomeConcurrency ?? 32;
    this.#deadlineGraceMs = options.deadlineGraceMs ?? 30_000;
    this.#deadlineJobs = options.deadlines !== 'timers' && this.#deadlineGraceMs !== false;
  }

  async enqueue(job: StepJob, options: EnqueueOptions = {}): Promise<void> {
    if (options.reattach && (await this.#attached(job.id))) return;
    await this.#steps.add(jobName(job), job, jobOptions(job));
    if (this.#deadlineJobs && this.#deadlineGraceMs !== false) {
      const deadlineMs = stepDeadlineMs(job, this.#deadlineGraceMs);
      await this.#addDeadline({ stepJobId: job.id, deadlineMs }, deadlineMs);
    }
  }

  addCall(job: StepJob): ScriptCall | undefined {
    // A deadline job would be a second add, outside the save: such jobs are enqueued.
    if (this.#deadlineJobs) return undefined;
    this.#addCall ??= createAddCall(this.#steps);
    return this.#addCall(jobName(job), job, jobOptions(job));
  }

  consume(handler: OutcomeHandler): void {
    this.#handler = handler;
    const { connection, prefix } = this.#options;
    const process = (job: Job) =>
      job.name === DEADLINE ? this.#onDeadline(job.data as DeadlineData) : handler(job.data as StepOutcome);
    this.#consumer = new Worker(this.#options.outcomeQueue, process, {
      connection,
      prefix,
      concurrency: this.#outcomeConcurrency,
      // Applying an outcome takes milliseconds: a short lock hands a dead engine's outcomes to
      // another engine within seconds (lockDurationMs overrides it).
      lockDuration: OUTCOME_LOCK_MS,
      stalledInterval: OUTCOME_LOCK_MS,
      ...this.#options.locking,
    });
    // A failed outcome job is retried by BullMQ (it keeps its attempts) and is not an `error` event;
    // those are the Worker's own failures, mostly lost connections: reported once per outage.
    this.#outage.watch(this.#consumer);
  }

  async ack(jobId: string): Promise<void> {
    // The worker publishes the outcome before BullMQ marks its job completed (and removes it), so
    // the job can still be locked for a moment when the outcome is applied: try again briefly. A
    // job a worker keeps holding (a stalled re-run) stays, and so does its deadline, which then
    // finds it finished.
    for (let attempt = 0; attempt < ACK_TRIES; attempt++) {
      const removed = (await this.#steps.remove(jobId)) === 1;
      if (removed || (await this.#steps.getJobState(jobId)) === 'unknown') {
        await this.forgetDeadline(jobId);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, ACK_RETRY_MS));
    }
  }

  /**
   * Drops the deadline of a step job whose outcome was applied (by the worker that ran it, before
   * its job completed): the job needs no watching any more.
   */
  async forgetDeadline(jobId: string): Promise<void> {
    if (this.#deadlineJobs) await this.#outcomes.remove(deadlineJobId(jobId));
  }

  deadlineOf(job: StepJob): number | undefined {
    return this.#deadlineGraceMs === false ? undefined : stepDeadlineMs(job, this.#deadlineGraceMs);
  }

  /**
   * A step job's deadline (kept in the store's timer set) passed. A job no worker holds (waiting,
   * delayed, or active with an expired lock: its worker died) is removed and timed out; one a live
   * worker holds is `held`; a finished one's outcome is on its way; a missing one was applied or
   * never enqueued (the engine re-attaches the saga if it still waits for it).
   */
  async expire(jobId: string): Promise<DeadlineVerdict> {
    const job = await Job.fromId<StepJobData>(this.#steps, jobId);
    if (!job) return { kind: 'missing' };
    const state = await job.getState();
    if (state === 'completed') return { kind: 'finished' };
    if (state === 'failed') {
      // Failed by BullMQ itself (stalled too often) rather than by a processor, which keeps the
      // outcome on the job: report one now.
      return job.data.outcome ? { kind: 'finished' } : { kind: 'timedOut', outcome: stalledOutcome(job) };
    }
    if ((await this.#steps.remove(jobId)) === 0) {
      return { kind: 'held', recheckInMs: this.#deadlineGraceMs === false ? 30_000 : this.#deadlineGraceMs };
    }
    const deadlineMs = this.deadlineOf(job.data) ?? 0;
    return { kind: 'timedOut', outcome: deadlineOutcome(job.data, job.attemptsMade, deadlineMs) };
  }

  /**
   * Whether a re-attaching saga's job is already taken care of: it exists (waiting, running or
   * delayed for a retry), or it finished and its outcome is handed to this process's handler.
   * Otherwise the job has to be added (its enqueue failed, or the queue lost it), which the
   * deterministic id keeps to one job. However often a saga is re-attached, no outcome job is added
   * for it: re-dispatch is bounded.
   */
  async #attached(jobId: string): Promise<boolean> {
    const existing = await Job.fromId<StepJobData>(this.#steps, jobId);
    if (!existing) return false;
    const outcome = await finishedOutcome(existing);
    if (outcome) this.#deliverLocally(outcome);
    return true;
  }

  /**
   * A deadline passed. A step job no worker holds (waiting, or active with an expired lock: its
   * worker died) is removed and failed for good; one a live worker holds gets more time; a finished
   * or acked one needs nothing.
   */
  async #onDeadline(data: DeadlineData): Promise<void> {
    const verdict = await this.expire(data.stepJobId);
    if (verdict.kind === 'held') {
      await this.#addDeadline(data, verdict.recheckInMs, Date.now());
    } else if (verdict.kind === 'timedOut') {
      // Published like any outcome (durable, deduped by id) rather than applied here and now.
      await publishOutcome(this.#outcomes, verdict.outcome);
    }
  }

  /**
   * Applies a finished job's outcome in this process, after the caller (which holds the saga's
   * lock) is done. At most one delivery per job is in flight, so re-attaching in a loop cannot pile
   * up work; without a handler (a queue that only enqueues) it is published for the engines.
   */
  #deliverLocally(outcome: StepOutcome): void {
    const handler = this.#handler;
    if (this.#delivering.has(outcome.jobId)) return;
    this.#delivering.add(outcome.jobId);
    const delivered = handler ? handler(outcome) : publishOutcome(this.#outcomes, outcome);
    void delivered
      .catch((error: unknown) => this.#onError(error))
      .finally(() => this.#delivering.delete(outcome.jobId));
  }

  async #addDeadline(data: DeadlineData, delay: number, generation?: number): Promise<void> {
    const id = deadlineJobId(data.stepJobId);
    await this.#outcomes.add(DEADLINE, data, {
      jobId: generation === undefined ? id : `${id}~${generation}`,
      delay,
      removeOnComplete: true,
      removeOnFail: false,
      attempts: 20,
      backoff: { type: 'exponential', delay: 100 },
    });
  }

  async close(): Promise<void> {
    await this.#consumer?.close();
    await this.#steps.close();
    await this.#outcomes.close();
  }
}

function stalledOutcome(job: Job<StepJobData>): StepOutcome {
  return deadlineOutcome(job.data, job.attemptsMade, 0, `BullMQ gave up on the job: ${job.failedReason}`);
}

function deadlineJobId(stepJobId: string): string {
  return `${stepJobId}~deadline`;
}

/** The outcome of a finished step job, from its return value or the outcome stored when it failed. */
async function finishedOutcome(job: Job<StepJobData>): Promise<StepOutcome | undefined> {
  const state = await job.getState();
  if (state === 'completed') return job.returnvalue as StepOutcome;
  if (state === 'failed') return job.data.outcome;
  return undefined;
}

/** Adds an outcome job (id derived from the step job, so reporting twice is one job). */
export async function publishOutcome(outcomes: Queue, outcome: StepOutcome): Promise<void> {
  const id = outcomeJobId(outcome.jobId);
  await outcomes.add(outcome.event.type === SagaEvents.stepDone ? 'done' : 'failed', outcome, {
    jobId: id,
    attempts: 20,
    backoff: { type: 'exponential', delay: 100 },
    removeOnComplete: true,
    removeOnFail: false,
  });
}

/** The BullMQ job name of a step job: `<saga>.<step>.<direction>`, what dashboards show. */
function jobName(job: StepJob): string {
  return `${job.sagaName}.${job.step}.${job.direction}`;
}

/** The BullMQ options of a step job, whether it is added by `Queue.add` or by the save script. */
function jobOptions(job: StepJob): JobsOptions {
  return {
    jobId: job.id,
    attempts: job.policy.attempts,
    backoff: { type: 'xsaga' },
    // No removeOnComplete here: the worker decides. One that applied the outcome to the saga
    // itself removes the job as it completes (nothing will ask for it again: the saga moved
    // on); one that published the outcome keeps it until an engine has applied it and acks it
    // (BullMQ dedupes ids only while the job exists). A failed job is kept: a failed
    // compensation is a dead letter, and one BullMQ failed by itself (stalled too often) is how
    // its deadline learns that no outcome was ever reported.
    removeOnFail: false,
  };
}
