import { type Clock, type Random, systemClock } from '../clock.ts';
import { copyJson } from '../json-value.ts';
import { defaultLogger, type Logger } from '../observability/logger.ts';
import { backoffDelay } from './backoff.ts';
import { toErrorInfo } from './error-info.ts';
import { stepOutcome } from './step-outcome.ts';
import type { AttemptRunner, OutcomeHandler, StepJob, StepOutcome, StepQueue } from './step-queue.ts';

/** Options of {@link InProcessQueue}. */
export interface InProcessQueueOptions {
  /** Runs one attempt; the engine supplies one built from its handlers. */
  runAttempt: AttemptRunner;
  clock?: Clock;
  random?: Random;
  /** Jobs running at once; the rest wait in order. Default 64. */
  concurrency?: number;
  /**
   * Called when the outcome handler rejects; the outcome is kept and redelivered on the next enqueue.
   * Default: an `error` line on `logger`, from `child({ sagaId, step })`.
   */
  onDeliveryError?: (error: unknown, outcome: StepOutcome) => void;
  /** Where the queue logs (under `child({ component: 'queue' })`). Default: JSON lines on stderr (warn and error). */
  logger?: Logger;
}

interface Entry {
  job: StepJob;
  outcome?: StepOutcome;
}

/**
 * The embedded default queue: runs step jobs in this process, with the retry policy each job
 * carries. Like BullMQ it dedupes by job id and keeps a job's outcome until it is acked, so a saga
 * restored from its snapshot re-attaches to its step instead of running it twice.
 */
export class InProcessQueue implements StepQueue {
  readonly #runAttempt: AttemptRunner;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #concurrency: number;
  readonly #onDeliveryError: (error: unknown, outcome: StepOutcome) => void;
  readonly #entries = new Map<string, Entry>();
  readonly #waiting: Array<() => void> = [];
  readonly #undelivered: StepOutcome[] = [];
  readonly #timers = new Set<unknown>();
  #active = 0;
  #handler: OutcomeHandler | undefined;
  #closed = false;

  constructor(options: InProcessQueueOptions) {
    this.#runAttempt = options.runAttempt;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#concurrency = options.concurrency ?? 64;
    const log = (options.logger ?? defaultLogger()).child({ component: 'queue' });
    this.#onDeliveryError =
      options.onDeliveryError ??
      ((error, { jobId, sagaId, event }) =>
        log
          .child({ sagaId, step: event.step })
          .error(
            { err: error, jobId },
            'step outcome not applied; kept for redelivery on the next enqueue of its job',
          ));
  }

  async enqueue(job: StepJob): Promise<void> {
    if (this.#closed) return;
    const existing = this.#entries.get(job.id);
    if (existing) {
      if (existing.outcome) void this.#deliver(existing.outcome);
      return;
    }
    // A copy, as a trip through Redis would make: the job shares its input and results with the
    // saga's hosted context, which neither the caller nor a handler may change. Jobs are JSON (the
    // JSON rule), so a JSON copy is exact, and much cheaper than structuredClone.
    const entry: Entry = { job: copyJson(job) };
    this.#entries.set(job.id, entry);
    void this.#process(entry);
  }

  consume(handler: OutcomeHandler): void {
    this.#handler = handler;
    for (const outcome of this.#undelivered.splice(0)) void this.#deliver(outcome);
  }

  async ack(jobId: string): Promise<void> {
    this.#entries.delete(jobId);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#timers) this.#clock.clearTimeout(timer);
    this.#timers.clear();
    for (const release of this.#waiting.splice(0)) release();
  }

  /** Ids of jobs not yet acked: running, waiting, or holding an outcome (dead letters included). */
  jobIds(): string[] {
    return [...this.#entries.keys()];
  }

  async #process(entry: Entry): Promise<void> {
    await this.#acquire();
    try {
      entry.outcome = await this.#attempts(entry.job);
    } finally {
      this.#release();
    }
    if (entry.outcome && this.#entries.get(entry.job.id) === entry) await this.#deliver(entry.outcome);
  }

  async #attempts(job: StepJob): Promise<StepOutcome | undefined> {
    const { attempts, backoff } = job.policy;
    for (let attempt = 1; !this.#closed; attempt++) {
      try {
        return stepOutcome(job, attempt, { result: await this.#runAttempt(job, attempt) });
      } catch (error) {
        // Described once and safely: a runner given by the caller may throw anything, even a
        // value whose properties throw when read.
        const info = toErrorInfo(error);
        if (info.terminal === true || attempt >= attempts) return stepOutcome(job, attempt, { error: info });
        await this.#sleep(backoffDelay(backoff, attempt, this.#random));
      }
    }
    return undefined;
  }

  async #deliver(outcome: StepOutcome): Promise<void> {
    if (this.#closed) return;
    if (!this.#handler) {
      this.#undelivered.push(outcome);
      return;
    }
    try {
      await this.#handler(outcome);
    } catch (error) {
      this.#onDeliveryError(error, outcome);
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.#clock.setTimeout(() => {
        this.#timers.delete(timer);
        resolve();
      }, ms);
      this.#timers.add(timer);
    });
  }

  #acquire(): Promise<void> {
    if (this.#active < this.#concurrency) {
      this.#active++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => this.#waiting.push(() => resolve())).then(() => {
      this.#active++;
    });
  }

  #release(): void {
    this.#active--;
    this.#waiting.shift()?.();
  }
}
