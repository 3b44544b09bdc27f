import type { Redis } from 'ioredis';
import { createEngine, type EngineOptions } from '../../src/index.ts';
import { nextMessage, spawnChild, stopChild } from '../lib/child.ts';
import { type BenchContext, dropBenchKeys, uniquePrefix, withRedis } from '../lib/context.ts';
import { runPool, withTimeout } from '../lib/pool.ts';
import { type RunDelta, readRunCounters, runDelta } from '../lib/process-counters.ts';
import { type CounterDelta, counterDelta, readCounters } from '../lib/redis-info.ts';
import { benchTrip } from '../lib/saga.ts';
import { percentile } from '../lib/stats.ts';

/** Options of one durable run. */
export interface DurableOptions {
  sagas: number;
  warmup: number;
  inFlight: number;
  /** Concurrency of each worker process. */
  concurrency: number;
  /** Worker processes (createWorker), all on the same Redis and prefix. Default 1. */
  workers?: number;
  /** Step 4 throws a TerminalError: three compensations. */
  cardDeclined?: boolean;
  /** createEngine({ redis: { log } }); default true. */
  log?: boolean;
  /** createEngine({ redis: { retention } }). */
  retention?: { finalTtlSeconds: number };
  /** Any other `createEngine({ redis })` option, for experiments (e.g. `deadlineGraceMs: false`). */
  redis?: Omit<NonNullable<EngineOptions['redis']>, 'connection' | 'prefix'>;
  /** Called after the warm-up, before the measured sagas (e.g. to read memory). */
  beforeRun?: (redis: Redis, prefix: string) => Promise<void>;
  /** Called once every measured saga is final, before keys are deleted. */
  afterRun?: (redis: Redis, prefix: string) => Promise<void>;
}

/** What one durable run measured. */
export interface DurableResult {
  sagasPerSec: number;
  p50Ms: number;
  p99Ms: number;
  redis: CounterDelta;
  /** Client commands (a script call counted once) and CPU of this process (the engine) and the workers. */
  processes: RunDelta;
}

/**
 * Scenario 2 (and 5, 7, 10, 11), one run: `sagas` four-step sagas on Redis + BullMQ, `inFlight` at
 * once, each timed from `engine.start` to `engine.waitFor`. The engine runs in this process with no
 * handlers; the steps run in `workers` worker processes (default ONE; createWorker with the no-op
 * handlers and the saga definition).
 */
export async function durableTrial(ctx: BenchContext, options: DurableOptions): Promise<DurableResult> {
  const prefix = uniquePrefix('dur');
  // The worker saves the sagas it advances: it gets the engine's store settings (log, retention).
  const workers = Array.from({ length: options.workers ?? 1 }, () =>
    spawnChild('xsaga-worker', {
      env: {
        REDIS_URL: ctx.redisUrl,
        BENCH_PREFIX: prefix,
        BENCH_CONCURRENCY: String(options.concurrency),
        ...(options.log === false ? { BENCH_LOG: '0' } : {}),
        ...(options.retention ? { BENCH_RETENTION_S: String(options.retention.finalTtlSeconds) } : {}),
      },
    }),
  );
  const engine = createEngine({
    redis: {
      ...options.redis,
      connection: ctx.redisUrl,
      prefix,
      ...(options.log !== undefined ? { log: options.log } : {}),
      ...(options.retention ? { retention: options.retention } : {}),
    },
    sagas: [benchTrip],
  });
  const errors: unknown[] = [];
  engine.on('error', (error) => errors.push(error));
  const expected = options.cardDeclined ? 'Failed' : 'Completed';
  let next = 0;
  const runSagas = (count: number) =>
    runPool(count, options.inFlight, async () => {
      const tripId = `t${next++}`;
      const { sagaId } = await engine.start(benchTrip, { tripId, cardDeclined: options.cardDeclined ?? false });
      const view = await engine.waitFor(sagaId, { timeoutMs: 120_000 });
      if (view.state !== expected) throw new Error(`saga ${sagaId} ended ${view.state}, expected ${expected}`);
    });
  try {
    await Promise.all(workers.map((worker) => nextMessage(worker, 'ready', 30_000)));
    await withTimeout(120_000, 'durable warm-up', runSagas(options.warmup));
    return await withRedis(ctx.redisUrl, async (redis) => {
      await options.beforeRun?.(redis, prefix);
      const [before, processesBefore] = await Promise.all([readCounters(redis), readRunCounters(workers)]);
      const run = await withTimeout(600_000, 'durable sagas', runSagas(options.sagas));
      const [after, processesAfter] = await Promise.all([readCounters(redis), readRunCounters(workers)]);
      await options.afterRun?.(redis, prefix);
      if (errors.length > 0)
        throw new Error(`engine reported ${errors.length} background errors: ${String(errors[0])}`);
      return {
        sagasPerSec: options.sagas / (run.elapsedMs / 1000),
        p50Ms: percentile(run.latencies, 50),
        p99Ms: percentile(run.latencies, 99),
        redis: counterDelta(before, after, options.sagas),
        processes: runDelta(processesBefore, processesAfter, options.sagas, run.elapsedMs),
      };
    });
  } finally {
    await engine.close();
    await Promise.all(workers.map((worker) => stopChild(worker)));
    await withRedis(ctx.redisUrl, (redis) => dropBenchKeys(redis, prefix));
  }
}
