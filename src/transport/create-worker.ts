import { type Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import { type Clock, type Random, systemClock } from '../clock.ts';
import type { HandlerRegistry } from '../engine/handlers.ts';
import { createStepRunner } from '../engine/step-runner.ts';
import { HandlerMissingError } from '../errors.ts';
import { SagaEvents, type StepDoneEvent, type StepFailedEvent } from '../machines/events.ts';
import { combineInstrumentation, type Instrumentation } from '../observability/instrumentation.ts';
import { defaultLogger, type Logger } from '../observability/logger.ts';
import { backoffDelay } from './backoff.ts';
import { type BullMqOptions, resolveBullMq } from './bullmq-names.ts';
import { publishOutcome, type StepJobData } from './bullmq-queue.ts';
import { toError, toErrorInfo } from './error-info.ts';
import { OutageReporter, warnOnLogger } from './outage-reporter.ts';
import type { AttemptRunner, StepOutcome } from './step-queue.ts';

/** Options of {@link createWorker}. */
export interface WorkerOptions extends BullMqOptions {
  /** Step handlers by saga name, then step name: the same registry the embedded engine takes. */
  handlers?: HandlerRegistry;
  /** Instead of `handlers`: runs one attempt of a job (what `handlers` are turned into). */
  runAttempt?: AttemptRunner;
  /** Step jobs run at once by this worker. Default 16. */
  concurrency?: number;
  /** Times a job may stall (its worker died) before BullMQ fails it. Default 10. */
  maxStalledCount?: number;
  clock?: Clock;
  random?: Random;
  /**
   * Where the Redis errors of this worker's connections go, thinned out by OutageReporter: the first
   * error of an outage and nothing more until a connection is back; any other error once, and again
   * at most once a minute while it repeats. Default: a `warn` line each on `logger`.
   */
  onError?: (error: unknown) => void;
  /**
   * Where this worker logs (under `child({ component: 'worker' })`): pino or anything with
   * `child`/`debug`/`info`/`warn`/`error`. Default: `warn` and `error` as JSON lines on stderr
   * (see createStderrLogger); `silentLogger` drops them.
   */
  logger?: Logger;
  /**
   * Metrics and/or tracing of the attempts this worker runs (`createMetrics()` from `xsaga/metrics`,
   * {@link createTracing}), e.g. the same objects the engine takes. Not used with a custom `runAttempt`.
   * A hook that throws is reported to `onError`.
   */
  instrumentation?: Instrumentation | readonly Instrumentation[];
}

/** A running step worker. */
export interface StepWorker {
  /**
   * Finishes the jobs in hand and stops. `force` stops at once, leaving jobs in hand locked until
   * their lock expires, when another worker takes them over (what a crash looks like).
   */
  close(force?: boolean): Promise<void>;
}

/**
 * Runs saga steps from the BullMQ step queue in this process, with the same `ctx` as the embedded
 * engine (idempotency key, attempt, AbortSignal with the attempt's timeout). A worker killed mid-step
 * leaves a stalled job that BullMQ hands to another worker: the handler sees the same idempotency key.
 *
 * @example
 * ```ts
 * const worker = createWorker({
 *   connection: { host: 'redis' },
 *   prefix: 'shop', // the engine's: createEngine({ redis: { prefix: 'shop' } }); default 'xsaga'
 *   handlers: { 'trip-booking': tripHandlers },
 * });
 * process.on('SIGTERM', () => worker.close());
 * ```
 */
export function createWorker(options: WorkerOptions): StepWorker {
  const { connection, prefix, stepQueue, outcomeQueue, locking, queueOptions } = resolveBullMq(options);
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  if (!options.handlers && !options.runAttempt) {
    throw new HandlerMissingError('createWorker needs handlers: createWorker({ handlers: { [saga.name]: { ... } } })');
  }
  const log = (options.logger ?? defaultLogger()).child({ component: 'worker' });
  const onError = options.onError ?? warnOnLogger(log);
  const instrumentation = combineInstrumentation(options.instrumentation, onError);
  const runAttempt = options.runAttempt ?? createStepRunner(options.handlers ?? {}, clock, instrumentation);
  const outcomes = new Queue(outcomeQueue, { connection, prefix, ...queueOptions });
  // Without an `error` listener every reconnect attempt of an outage prints a stack trace.
  const outage = new OutageReporter(onError);
  outage.watch(outcomes);

  const processor = async (job: Job<StepJobData>): Promise<StepOutcome> => {
    const data = job.data;
    const attempt = job.attemptsMade + 1;
    const base = { step: data.step, direction: data.direction, round: data.round, attempts: attempt };
    // The saga's trace context goes back with the outcome, for the engine to pass on to the next step.
    const trace = data.trace ? { trace: data.trace } : {};
    try {
      const result = await runAttempt(data, attempt);
      const event: StepDoneEvent = { type: SagaEvents.stepDone, ...base, result };
      const outcome = { jobId: data.id, sagaId: data.sagaId, event, ...trace };
      await publishOutcome(outcomes, outcome);
      return outcome;
    } catch (thrown) {
      // A runAttempt may throw anything. BullMQ's failure path reads `err.message`; on a value without
      // one it gives up and leaves the job active, to stall and run again at the same attempt number.
      const error = toError(thrown);
      const info = toErrorInfo(error);
      if (!info.terminal && attempt < data.policy.attempts) throw error;
      const event: StepFailedEvent = { type: SagaEvents.stepFailed, ...base, error: info };
      const outcome = { jobId: data.id, sagaId: data.sagaId, event, ...trace };
      // Kept on the job so a saga re-attaching to it later gets the same outcome.
      await job.updateData({ ...data, outcome });
      await publishOutcome(outcomes, outcome);
      throw new UnrecoverableError(event.error.message);
    }
  };

  const worker = new Worker<StepJobData, StepOutcome>(stepQueue, processor, {
    connection,
    prefix,
    concurrency: options.concurrency ?? 16,
    ...locking,
    // A job whose workers keep dying is retried, not failed silently after one stall: the step's
    // deadline is what ends it.
    maxStalledCount: options.maxStalledCount ?? 10,
    settings: {
      backoffStrategy: (attemptsMade, _type, _error, job) =>
        job ? backoffDelay((job.data as StepJobData).policy.backoff, attemptsMade, random) : 0,
    },
  });
  // Errors of individual jobs are recorded on the jobs; `error` events are the Worker's own failures,
  // mostly lost connections that ioredis retries: reported once per outage.
  outage.watch(worker);

  return {
    async close(force = false) {
      await worker.close(force);
      await outcomes.close();
    },
  };
}
