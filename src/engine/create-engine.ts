import type { RedisOptions } from 'ioredis';
import { type Clock, type Random, systemClock } from '../clock.ts';
import type { AnySagaDefinition } from '../definition/types.ts';
import { combineInstrumentation, type Instrumentation } from '../observability/instrumentation.ts';
import { defaultLogger, type Logger } from '../observability/logger.ts';
import type { InspectOption } from '../observability/saga-inspection.ts';
import { resolveStuckOptions, type StuckCheckOptions } from '../observability/stuck-detector.ts';
import { MemoryStore } from '../persistence/memory-store.ts';
import { DEFAULT_REDIS_PREFIX } from '../persistence/redis-keys.ts';
import { createRedisStore } from '../persistence/redis-store.ts';
import type { RedisStoreOptions } from '../persistence/redis-store-options.ts';
import type { SagaStore } from '../persistence/saga-store.ts';
import type { BullMqOptions } from '../transport/bullmq-names.ts';
import { BullMqQueue } from '../transport/bullmq-queue.ts';
import { InProcessQueue } from '../transport/in-process-queue.ts';
import type { StepQueue } from '../transport/step-queue.ts';
import { runStepWorker, type StepWorker } from './create-worker.ts';
import type { HandlerRegistry } from './handlers.ts';
import { SagaEngine } from './saga-engine.ts';
import { createStepRunner } from './step-runner.ts';
import { TIMER_SWEEP_MS } from './timer-sweeper.ts';

/** Options of {@link createEngine}. */
export interface EngineOptions {
  /** Step handlers by saga name, then step name. Required for the embedded default. */
  handlers?: HandlerRegistry;
  /**
   * Definitions the engine may meet in the store (needed to continue sagas it did not start).
   * Definitions passed to `start` are registered automatically.
   */
  sagas?: readonly AnySagaDefinition[];
  /**
   * The durable backend in one option: sagas in Redis (RedisStore) and steps as BullMQ jobs, with
   * the same connection and prefix. If `handlers` are given, this process also runs a step worker.
   * Unsettled sagas in the store are recovered in the background (see `engine.recover`). Errors of
   * BullMQ's connections are reported on the engine's `error` event: once per outage by the queue,
   * and once by this process's worker if it runs one (see OutageReporter).
   */
  redis?: {
    connection?: string | RedisStoreOptions['connection'];
    /**
     * Start of every key this engine writes (default `xsaga`): store keys `<prefix>:saga:{id}`, ...,
     * BullMQ keys under `<prefix>:bull`. Give workers (`createWorker({ prefix })`) the same one.
     * 1 to 64 of `A-Z a-z 0-9 _ . -`.
     */
    prefix?: string;
    retention?: RedisStoreOptions['retention'];
    log?: boolean;
    /** Step jobs this process's worker runs at once. Default 16. */
    workerConcurrency?: number;
    /** Grace of durable step deadlines (see BullMqQueueOptions.deadlineGraceMs). Default 30 000. */
    deadlineGraceMs?: number | false;
    /** BullMQ lock duration and stall-check interval of this process (see BullMqOptions). */
    lockDurationMs?: number;
  };
  /** Where sagas live. Default: a new MemoryStore. */
  store?: SagaStore;
  /** How step jobs run. Default: an InProcessQueue running `handlers` in this process. */
  queue?: StepQueue;
  /** Injected time; default the system clock. Tests pass a manual clock. */
  clock?: Clock;
  /** Injected randomness for backoff jitter; default Math.random. */
  random?: Random;
  /** Concurrent step jobs of the default in-process queue. Default 64. */
  concurrency?: number;
  /** Sagas kept hydrated in memory; idle ones beyond it are evicted (they stay in the store). Default 10 000. */
  maxActiveSagas?: number;
  /**
   * An XState inspector for the saga actors, as XState's `inspect` option takes it (an observer or a
   * function): `createWebSocketInspector().inspect` or `createBrowserInspector().inspect` of
   * `@statelyai/inspect`. Each saga shows as one actor named by its saga id (session id
   * `xsaga:<sagaId>`), however often it is evicted and restored, with its machine and its events;
   * step-job child actors are left out. See SagaInspection.
   */
  inspect?: InspectOption;
  /**
   * Where the engine and the queue and worker it creates log: pino, or anything with
   * `child`/`debug`/`info`/`warn`/`error` (see Logger). Every `error` event (background failures,
   * and on Redis each outage once), quarantines and outcome delivery failures at error; escalations
   * at warn; recovery progress at info; transitions at debug. Default: warn and error as one JSON
   * line each on stderr (createStderrLogger); `silentLogger` drops everything.
   */
  logger?: Logger;
  /**
   * Metrics and/or tracing: `createMetrics()` from `xsaga/metrics` (prom-client), `createTracing()`
   * (OpenTelemetry), or your own hooks; several at once as a list. The embedded engine's step
   * attempts and this process's worker (with `redis` and `handlers`) report to it too. A hook that
   * throws is reported on the `error` event.
   */
  instrumentation?: Instrumentation | readonly Instrumentation[];
  /**
   * Stuck-saga detection: every `checkIntervalMs` (default 60 000) the engine walks the `Pending` and
   * `Compensating` indexes and announces, on the `stuck` event and to `instrumentation`, sagas that
   * have not moved for longer than their definition's `stuckAfterMs`, else `afterMs` (default 15
   * minutes; ages read from `clock`). Once per saga and revision. `false` turns it off.
   */
  stuck?: StuckCheckOptions | false;
}

/** The engine's public face. */
export type Engine = Pick<
  SagaEngine,
  | 'start'
  | 'get'
  | 'list'
  | 'stats'
  | 'waitFor'
  | 'signal'
  | 'appendStep'
  | 'complete'
  | 'cancel'
  | 'resume'
  | 'resolve'
  | 'recover'
  | 'on'
  | 'close'
>;

/**
 * Creates a saga engine. With no `store`/`queue` it is the embedded default: a memory store and an
 * in-process queue running `handlers`, no server needed.
 *
 * @example
 * ```ts
 * const engine = createEngine({ handlers: { 'trip-booking': tripHandlers } });
 * const { sagaId } = await engine.start(trip, { tripId: 't1' });
 * const final = await engine.waitFor(sagaId); // final.state: 'Completed' | 'Failed' | 'Escalated'
 * await engine.close();
 * ```
 */
export function createEngine(options: EngineOptions = {}): Engine {
  resolveStuckOptions(options.stuck); // refuses bad values before any connection is opened
  if (options.redis) return createRedisEngine(options, options.redis);
  const clock = options.clock ?? systemClock;
  const handlers = options.handlers ? copyHandlers(options.handlers) : undefined;
  let created: SagaEngine | undefined;
  const instrumentation = instrumentationOf(options, () => created);
  const queue =
    options.queue ??
    new InProcessQueue({
      runAttempt: createStepRunner(handlers ?? {}, clock, instrumentation),
      clock,
      ...(options.random ? { random: options.random } : {}),
      ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
    });
  created = new SagaEngine({
    ...sharedParts(options, clock, handlers, instrumentation),
    store: options.store ?? new MemoryStore(),
    queue,
    ownsStore: options.store === undefined,
    ownsQueue: options.queue === undefined,
  });
  return created;
}

function createRedisEngine(options: EngineOptions, redis: NonNullable<EngineOptions['redis']>): Engine {
  const clock = options.clock ?? systemClock;
  const handlers = options.handlers ? copyHandlers(options.handlers) : undefined;
  const prefix = redis.prefix ?? DEFAULT_REDIS_PREFIX;
  // Late-bound: the queue and worker exist before the engine, but report only from connection
  // events, which come after this function has returned.
  const onError = (error: unknown) => engine.reportError(error);
  let created: SagaEngine | undefined;
  const instrumentation = instrumentationOf(options, () => created);
  const store = createRedisStore({
    ...(redis.connection !== undefined ? { connection: redis.connection } : {}),
    prefix,
    onError,
    ...(redis.retention ? { retention: redis.retention } : {}),
    ...(redis.log !== undefined ? { log: redis.log } : {}),
  });
  const bullConnection = bullMqConnection(redis.connection);
  const queue = new BullMqQueue({
    ...(bullConnection ? { connection: bullConnection } : {}),
    prefix,
    onError,
    ...(options.logger ? { logger: options.logger } : {}),
    ...(redis.deadlineGraceMs !== undefined ? { deadlineGraceMs: redis.deadlineGraceMs } : {}),
    ...(redis.lockDurationMs !== undefined ? { lockDurationMs: redis.lockDurationMs } : {}),
    // Step deadlines live in the store's timer set, written by the save that dispatches the step.
    deadlines: 'timers',
  });
  let worker: StepWorker | undefined;
  const engine = new SagaEngine({
    ...sharedParts(options, clock, handlers, instrumentation),
    store,
    queue,
    ownsStore: true,
    ownsQueue: true,
    onClose: async () => worker?.close(),
    sweepTimersEveryMs: TIMER_SWEEP_MS,
    // One Redis for both: the save that dispatches a step job adds it in the same script.
    dispatchWithSave: true,
  });
  created = engine;
  // The co-hosted worker advances sagas through this very engine: one event path, one cache, and
  // the engine's events (transition, escalated, ...) fire for the steps its worker applies.
  worker = handlers
    ? runStepWorker(
        {
          ...(bullConnection ? { connection: bullConnection } : {}),
          prefix,
          onError,
          ...(options.logger ? { logger: options.logger } : {}),
          handlers,
          ...(redis.lockDurationMs !== undefined ? { lockDurationMs: redis.lockDurationMs } : {}),
          clock,
          ...(options.random ? { random: options.random } : {}),
          ...(redis.workerConcurrency !== undefined ? { concurrency: redis.workerConcurrency } : {}),
          ...(instrumentation ? { instrumentation } : {}),
        },
        { engine, queue },
      )
    : undefined;
  void engine.recover().catch((error: unknown) => engine.reportError(error));
  return engine;
}

/** The engine parts that do not depend on the backend. */
function sharedParts(
  options: EngineOptions,
  clock: Clock,
  handlers: HandlerRegistry | undefined,
  instrumentation: Instrumentation | undefined,
) {
  return {
    clock,
    handlers,
    sagas: options.sagas ?? [],
    maxActiveSagas: options.maxActiveSagas ?? 10_000,
    inspect: options.inspect,
    logger: options.logger,
    instrumentation,
    stuck: resolveStuckOptions(options.stuck),
  };
}

/**
 * The engine's instrumentations as one; a hook that throws is reported on the engine's `error`
 * event (late-bound: the step runner is made before the engine).
 */
function instrumentationOf(options: EngineOptions, engine: () => SagaEngine | undefined): Instrumentation | undefined {
  return combineInstrumentation(options.instrumentation, (error) => {
    const target = engine();
    if (target) target.reportError(error);
    else (options.logger ?? defaultLogger()).error({ err: error }, 'an instrumentation hook threw');
  });
}

/**
 * BullMQ opens connections of its own (workers need `maxRetriesPerRequest: null`): it gets the
 * URL, or the options of a given ioredis instance.
 */
function bullMqConnection(connection: NonNullable<EngineOptions['redis']>['connection']): BullMqOptions['connection'] {
  if (connection === undefined || typeof connection === 'string') return connection;
  const options = (connection as { options?: RedisOptions }).options;
  const plain = options && typeof (connection as { quit?: unknown }).quit === 'function' ? { ...options } : connection;
  return plain as BullMqOptions['connection'];
}

/** A shallow copy of the registry, so later changes to the caller's object do not reach the engine. */
function copyHandlers(handlers: HandlerRegistry): HandlerRegistry {
  return Object.fromEntries(Object.entries(handlers).map(([saga, steps]) => [saga, { ...steps }]));
}
