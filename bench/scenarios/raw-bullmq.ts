import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { CHAIN_JOB_OPTIONS, CHAIN_QUEUE, type ChainJob } from '../lib/chain.ts';
import { type ChildMessage, nextMessage, spawnChild, stopChild } from '../lib/child.ts';
import { type BenchContext, bullConnection, uniquePrefix, withRedis } from '../lib/context.ts';
import { runPool, withTimeout } from '../lib/pool.ts';
import { type RunDelta, readRunCounters, runDelta } from '../lib/process-counters.ts';
import { type CounterDelta, counterDelta, readCounters } from '../lib/redis-info.ts';
import { dropPrefix } from '../lib/redis-keys.ts';
import { percentile } from '../lib/stats.ts';

/** Options of one raw-chain run. */
export interface RawChainOptions {
  chains: number;
  warmup: number;
  inFlight: number;
  concurrency: number;
  length: number;
  /** Called after the warm-up, before the measured chains (e.g. to compact the AOF). */
  beforeRun?: (redis: Redis) => Promise<void>;
  /** Called once every measured chain is done, before keys are deleted. */
  afterRun?: (redis: Redis) => Promise<void>;
}

/** What one raw-chain run measured. */
export interface RawChainResult {
  jobsPerSec: number;
  chainsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  redis: CounterDelta;
  /** Client commands (a script call counted once) and CPU of this process and the worker child. */
  processes: RunDelta;
}

/**
 * Scenario 1, one run: the floor. `chains` chains of `length` no-op BullMQ jobs, `inFlight` chains
 * at once; one worker process (concurrency `concurrency`) whose processor adds the next link before
 * it returns. This process adds each chain's first job and learns over IPC when its last job
 * completed.
 */
export async function rawBullmqTrial(ctx: BenchContext, options: RawChainOptions): Promise<RawChainResult> {
  const prefix = uniquePrefix('raw');
  const connection = bullConnection(ctx.redisUrl);
  const worker = spawnChild('bullmq-chain-worker', {
    env: {
      REDIS_URL: ctx.redisUrl,
      BENCH_PREFIX: prefix,
      BENCH_CONCURRENCY: String(options.concurrency),
      BENCH_CHAIN_LENGTH: String(options.length),
    },
  });
  const queue = new Queue<ChainJob>(CHAIN_QUEUE, { connection, prefix });
  const waiting = new Map<number, () => void>();
  worker.on('message', (message: ChildMessage) => {
    if (message.type === 'chain-done') {
      const chain = message.chain as number;
      waiting.get(chain)?.();
      waiting.delete(chain);
    }
  });
  let nextChain = 0;
  const runChains = (count: number) =>
    runPool(count, options.inFlight, async () => {
      const chain = nextChain++;
      const done = new Promise<void>((resolve) => waiting.set(chain, resolve));
      await queue.add('link', { chain, step: 0 }, CHAIN_JOB_OPTIONS);
      await done;
    });
  try {
    await nextMessage(worker, 'ready', 30_000);
    await withTimeout(60_000, 'raw BullMQ warm-up', runChains(options.warmup));
    return await withRedis(ctx.redisUrl, async (redis) => {
      await options.beforeRun?.(redis);
      const [before, processesBefore] = await Promise.all([readCounters(redis), readRunCounters([worker])]);
      const run = await withTimeout(300_000, 'raw BullMQ chains', runChains(options.chains));
      const [after, processesAfter] = await Promise.all([readCounters(redis), readRunCounters([worker])]);
      await options.afterRun?.(redis);
      const seconds = run.elapsedMs / 1000;
      return {
        jobsPerSec: (options.chains * options.length) / seconds,
        chainsPerSec: options.chains / seconds,
        p50Ms: percentile(run.latencies, 50),
        p99Ms: percentile(run.latencies, 99),
        redis: counterDelta(before, after, options.chains),
        processes: runDelta(processesBefore, processesAfter, options.chains, run.elapsedMs),
      };
    });
  } finally {
    await queue.close();
    await stopChild(worker);
    await withRedis(ctx.redisUrl, (redis) => dropPrefix(redis, `${prefix}:`));
  }
}
