import { type Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import { type Clock, type Random, systemClock } from '../clock.ts';
import type { AnySagaDefinition } from '../definition/types.ts';
import { HandlerMissingError, SagaError } from '../errors.ts';
import { combineInstrumentation, type Instrumentation } from '../observability/instrumentation.ts';
import { defaultLogger, type Logger } from '../observability/logger.ts';
import { OutageReporter, warnOnLogger } from '../observability/outage-reporter.ts';
import { createRedisStore } from '../persistence/redis-store.ts';
import type { RedisStoreOptions } from '../persistence/redis-store-options.ts';
import { backoffDelay } from '../transport/backoff.ts';
import { interceptCompletions } from '../transport/bullmq-finish-call.ts';
import { type BullMqOptions, resolveBullMq } from '../transport/bullmq-names.ts';
import { BullMqQueue, publishOutcome, type StepJobData } from '../transport/bullmq-queue.ts';
import { toError, toErrorInfo } from '../transport/error-info.ts';
import { stepOutcome } from '../transport/step-outcome.ts';
import type { AttemptRunner, StepOutcome } from '../transport/step-queue.ts';
import type { ScriptCall } from '../vocabulary/script-call.ts';
import type { HandlerRegistry } from './handlers.ts';
import { SagaEngine, type StepOutcomeApplied } from './saga-engine.ts';
import { createStepRunner } from './step-runner.ts';
import { TIMER_SWEEP_MS } from './timer-sweeper.ts';

/** Options of {@link createWorker}. */
export interface WorkerOptions extends BullMqOptions {
  /** Step handlers by saga name, then step name: the same registry the embedded engine takes. */
  handlers?: HandlerRegistry;
  /** Instead of `handlers`: runs one attempt of a job (what `handlers` are turned into). */
  runAttempt?: AttemptRunner;
  /**
   * The saga definitions whose steps this worker runs (the same the engines take). With them the
   * worker advances a saga itself: it applies the outcome of the step it ran (load, transition,
   * compare-and-set save, add of the next step job) and completes its own job in that same save
   * (see `completeInSave`), so a step costs one BullMQ job and no outcome hop through an engine. A job of a saga not among them (or
   * a worker given none) has its outcome published for the engines to apply, as before.
   */
  sagas?: readonly AnySagaDefinition[];
  /**
   * The store settings of the engines (with `sagas`: this worker saves sagas too). Give workers the
   * same `retention` and `log` as `createEngine({ redis })`, or the sagas they settle keep another
   * TTL, or another log, than the ones the engines settle.
   */
  retention?: RedisStoreOptions['retention'];
  log?: boolean;
  /**
   * With `sagas`: complete each step's BullMQ job inside the save that applies its outcome, in the
   * same script as the add of the next step's job (BullMQ builds the completion; only where it is
   * sent changes). One round trip per step instead of two, and a saga is never saved ahead of the
   * job that moved it. `false` sends the completion after the save, as BullMQ does on its own: an
   * escape hatch should a BullMQ release complete jobs in a way this cannot follow. Default true.
   */
  completeInSave?: boolean;
  /** Sagas the worker keeps hydrated between their steps (with `sagas`). Default 10 000. */
  maxActiveSagas?: number;
  /** Durable step deadlines of the jobs this worker enqueues (see BullMqQueueOptions). Default 30 000. */
  deadlineGraceMs?: number | false;
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
  return runStepWorker(options, options.sagas?.length ? undefined : false);
}

/** Where a worker applies the outcomes of the steps it runs: an engine and the queue it enqueues on. */
export interface StepApplier {
  engine: SagaEngine;
  queue: BullMqQueue;
}

/**
 * A step worker; `applier` is the engine that applies its outcomes (the co-hosting engine's own),
 * `undefined` to make one from `options.sagas`, `false` to publish every outcome for the engines.
 *
 * @internal createWorker and createEngine's co-hosted worker.
 */
export function runStepWorker(options: WorkerOptions, applierGiven: StepApplier | undefined | false): StepWorker {
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
  const ownsApplier = applierGiven === undefined;
  const applier =
    applierGiven === false
      ? undefined
      : (applierGiven ??
        createApplier(options, { clock, logger: options.logger ?? defaultLogger(), onError, instrumentation }));

  /**
   * Hands a final outcome on: applied to its saga here when this worker has the saga's definition
   * (then the job's deadline is dropped: nothing needs to watch it), else published as an outcome
   * job for the engines. `finish`, the job's own completion, goes into the save's script when it
   * can (see SagaHosts.applyStepOutcome). Returns what applying it here did, or undefined when it
   * was published.
   */
  const handOn = async (outcome: StepOutcome, finish?: ScriptCall): Promise<StepOutcomeApplied | undefined> => {
    if (applier) {
      let completed = false;
      const call = finish && {
        ...finish,
        onReply: (reply: unknown) => {
          completed = true;
          finish.onReply?.(reply);
        },
      };
      try {
        // Applied, found stale (the saga moved on) or gone (deleted, quarantined): handled here.
        const applied = await applier.engine.applyStepOutcome(outcome, call);
        await applier.queue.forgetDeadline(outcome.jobId);
        return applied;
      } catch (error) {
        // Not applied here (a saga this worker was not given the definition of, the store failed...):
        // the engines apply it from the outcome queue, as they would for a worker without sagas.
        if (!(error instanceof SagaError && error.code === 'DEFINITION_UNKNOWN')) onError(error);
        // Unless it was saved along with the job's completion: then the saga has it.
        if (completed) return 'applied';
      }
    }
    await publishOutcome(outcomes, outcome);
    return undefined;
  };

  /**
   * Outcomes of steps that ran, by job id, until BullMQ completes their jobs: when the worker can
   * complete a job inside a save (see interceptCompletions), the outcome is applied as BullMQ
   * completes the job, so the save, the add of the next step's job and this job's completion are
   * one script, one round trip.
   */
  let completing: Map<string, StepOutcome> | undefined;

  /**
   * Hands on the outcome of the job BullMQ is completing, with the completion for its save. BullMQ
   * sends the completion itself after this when the save did not take it (a job is enqueued after
   * the save, the outcome was stale, the store failed and the outcome was published).
   */
  const completeWithSave = (jobId: string, finish: ScriptCall | undefined): Promise<void> | undefined => {
    const outcome = completing?.get(jobId);
    if (!outcome) return undefined;
    // Forgotten only once handed on: if publishing failed, BullMQ retries the completion, and
    // this comes again.
    return handOn(outcome, finish).then(() => {
      completing?.delete(jobId);
    });
  };

  /** Outcomes whose completion never came through completeWithSave (see its callers). */
  const handOnUncompleted = async (jobIds: Iterable<string>): Promise<void> => {
    for (const jobId of jobIds) {
      const outcome = completing?.get(jobId);
      if (!outcome) continue;
      completing?.delete(jobId);
      await handOn(outcome).catch(onError);
    }
  };

  const processor = async (job: Job<StepJobData>): Promise<StepOutcome | undefined> => {
    const data = job.data;
    // Run again after this worker's process died with the job in hand: if the saga has moved past
    // this job, its outcome was applied before the crash and the step must not run a second time.
    if (applier && job.stalledCounter > 0 && !(await applier.engine.awaitsJob(data).catch(() => true))) {
      return undefined;
    }
    const attempt = job.attemptsMade + 1;
    try {
      const result = await runAttempt(data, attempt, { rerun: job.stalledCounter > 0 });
      const outcome = stepOutcome(data, attempt, { result });
      // Applied as BullMQ completes the job (see completeWithSave), in the same script.
      if (completing && job.id !== undefined) {
        completing.set(job.id, outcome);
        return undefined;
      }
      // Kept as the job's return value only when the engines still have to apply it (a re-attach
      // reads it there); one applied here is done with, and BullMQ need not store or stream it.
      return (await handOn(outcome)) === undefined ? outcome : undefined;
    } catch (thrown) {
      // A runAttempt may throw anything. BullMQ's failure path reads `err.message`; on a value without
      // one it gives up and leaves the job active, to stall and run again at the same attempt number.
      const error = toError(thrown);
      const info = toErrorInfo(error);
      if (!info.terminal && attempt < data.policy.attempts) throw error;
      const outcome = stepOutcome(data, attempt, { error: info });
      // Kept on the job so a saga re-attaching to it later gets the same outcome.
      await job.updateData({ ...data, outcome });
      const applied = await handOn(outcome);
      // A failure the saga took over (it compensates) has served its purpose: the job completes,
      // which removes it. One that escalated the saga (a failed compensation, a forward failure
      // after the pivot) stays in BullMQ's failed set as a dead letter until a person resumes or
      // resolves the saga; so does a failure left for the engines.
      if (applied !== undefined && applied !== 'escalated') return outcome;
      throw new UnrecoverableError(info.message);
    }
  };

  const worker = new Worker<StepJobData, StepOutcome | undefined>(stepQueue, processor, {
    connection,
    prefix,
    concurrency: options.concurrency ?? 16,
    ...locking,
    // A job whose workers keep dying is retried, not failed silently after one stall: the step's
    // deadline is what ends it.
    maxStalledCount: options.maxStalledCount ?? 10,
    // A job whose outcome this worker applied is done with once it completes (the saga moved on);
    // one whose outcome it published stays until an engine applies and acks it.
    removeOnComplete: { count: applier ? 0 : -1 },
    settings: {
      backoffStrategy: (attemptsMade, _type, _error, job) =>
        job ? backoffDelay((job.data as StepJobData).policy.backoff, attemptsMade, random) : 0,
    },
  });
  // Errors of individual jobs are recorded on the jobs; `error` events are the Worker's own failures,
  // mostly lost connections that ioredis retries: reported once per outage.
  outage.watch(worker);
  if (applier && options.completeInSave !== false && interceptCompletions(worker, completeWithSave)) {
    completing = new Map();
    // A completion that did not pass through completeWithSave (a BullMQ that completes jobs
    // another way than the one intercepted): its outcome is applied now, late rather than never.
    worker.on('completed', (job) => {
      if (job.id !== undefined && completing?.has(job.id)) void handOnUncompleted([job.id]);
    });
  }

  return {
    async close(force = false) {
      await worker.close(force);
      // Ran, but BullMQ closed before completing them (it does not while closing): applied, so
      // that whoever takes the jobs over finds the saga moved past them and does not run them again.
      if (completing && !force) await handOnUncompleted([...completing.keys()]);
      if (ownsApplier) await applier?.engine.close();
      await outcomes.close();
    },
  };
}

/**
 * The event path of a worker that advances sagas itself: an engine on the same store and queues,
 * which neither consumes outcomes nor recovers nor watches for stuck sagas (the engines do that).
 */
function createApplier(
  options: WorkerOptions,
  parts: {
    clock: Clock;
    logger: Logger;
    onError: (error: unknown) => void;
    instrumentation: Instrumentation | undefined;
  },
): StepApplier {
  const store = createRedisStore({
    ...(typeof options.connection === 'string' || options.connection === undefined
      ? options.connection === undefined
        ? {}
        : { connection: options.connection }
      : { connection: options.connection as never }),
    ...(options.prefix !== undefined ? { prefix: options.prefix } : {}),
    ...(options.retention ? { retention: options.retention } : {}),
    ...(options.log !== undefined ? { log: options.log } : {}),
    onError: parts.onError,
  });
  const queue = new BullMqQueue({
    ...(options.connection !== undefined ? { connection: options.connection } : {}),
    ...(options.prefix !== undefined ? { prefix: options.prefix } : {}),
    ...(options.deadlineGraceMs !== undefined ? { deadlineGraceMs: options.deadlineGraceMs } : {}),
    deadlines: 'timers',
    onError: parts.onError,
    logger: parts.logger,
  });
  const engine = new SagaEngine({
    store,
    queue,
    clock: parts.clock,
    handlers: undefined,
    sagas: options.sagas ?? [],
    maxActiveSagas: options.maxActiveSagas ?? 10_000,
    inspect: undefined,
    logger: parts.logger,
    ownsStore: true,
    ownsQueue: true,
    instrumentation: parts.instrumentation,
    stuck: false,
    consumeOutcomes: false,
    sweepTimersEveryMs: TIMER_SWEEP_MS,
    // The store and the queue above are made from the same connection options.
    dispatchWithSave: true,
  });
  engine.on('error', parts.onError);
  return { engine, queue };
}
