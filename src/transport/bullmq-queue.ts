import { Job, Queue, Worker } from 'bullmq';
import { SagaEvents } from '../machines/events.ts';
import { type BullMqOptions, outcomeJobId, resolveBullMq } from './bullmq-names.ts';
import type { OutcomeHandler, StepJob, StepOutcome, StepQueue } from './step-queue.ts';

/** Options of {@link BullMqQueue}. */
export interface BullMqQueueOptions extends BullMqOptions {
  /** Outcomes applied at once by this engine process. Default 32. */
  outcomeConcurrency?: number;
}

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
  #consumer: Worker | undefined;

  constructor(options: BullMqQueueOptions = {}) {
    this.#options = resolveBullMq(options);
    const { connection, prefix } = this.#options;
    this.#steps = new Queue(this.#options.stepQueue, { connection, prefix });
    this.#outcomes = new Queue(this.#options.outcomeQueue, { connection, prefix });
    this.#outcomeConcurrency = options.outcomeConcurrency ?? 32;
  }

  async enqueue(job: StepJob): Promise<void> {
    const existing = await Job.fromId<StepJobData>(this.#steps, job.id);
    if (existing) {
      // Re-attaching: if the job already finished, report its outcome again (deduped by id).
      const outcome = await finishedOutcome(existing);
      if (outcome) await publishOutcome(this.#outcomes, outcome);
      return;
    }
    await this.#steps.add(`${job.sagaName}.${job.step}.${job.direction}`, job, {
      jobId: job.id,
      attempts: job.policy.attempts,
      backoff: { type: 'xsaga' },
      removeOnComplete: false,
      removeOnFail: false,
    });
  }

  consume(handler: OutcomeHandler): void {
    const { connection, prefix } = this.#options;
    this.#consumer = new Worker<StepOutcome>(this.#options.outcomeQueue, (job) => handler(job.data), {
      connection,
      prefix,
      concurrency: this.#outcomeConcurrency,
    });
    // Failures are retried by BullMQ (the outcome job keeps its attempts); errors here are reported there.
    this.#consumer.on('error', () => undefined);
  }

  async ack(jobId: string): Promise<void> {
    const job = await Job.fromId(this.#steps, jobId);
    // A job still locked by a worker (a stalled re-run) is removed on a later ack.
    await job?.remove().catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.#consumer?.close();
    await this.#steps.close();
    await this.#outcomes.close();
  }
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
  await outcomes.add(outcome.event.type === SagaEvents.stepDone ? 'done' : 'failed', outcome, {
    jobId: outcomeJobId(outcome.jobId),
    attempts: 20,
    backoff: { type: 'exponential', delay: 100 },
    removeOnComplete: true,
    removeOnFail: false,
  });
}
