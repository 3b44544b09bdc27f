import type { Redis } from 'ioredis';
import { createRedisKeys } from '../../src/persistence/redis-keys.ts';
import { resolveBullMq } from '../../src/transport/bullmq-names.ts';
import { sleep } from './pool.ts';
import { scanKeys } from './redis-keys.ts';

/** What Redis holds for the sagas of a prefix, read from outside the engine. */
export interface ParkedState {
  /** Members of the timer set. */
  timers: number;
  /**
   * Members due at or after the `waitDueFrom` given: wait deadlines. A step job's deadline (a saga
   * still in its first step) is due within seconds, so it is never counted here.
   */
  waitTimers: number;
  /** Step and outcome jobs waiting, delayed or prioritized. */
  jobsQueued: number;
  /** Step and outcome jobs a worker holds. */
  jobsActive: number;
}

/** Reads the timer set and both BullMQ queues' job lists in one round trip. */
export async function readParkedState(redis: Redis, prefix: string, waitDueFrom: number): Promise<ParkedState> {
  const timers = createRedisKeys(prefix).timers;
  const bull = resolveBullMq({ prefix });
  const pipeline = redis.pipeline().zcard(timers).zcount(timers, waitDueFrom, '+inf');
  for (const queue of [bull.stepQueue, bull.outcomeQueue]) {
    const key = (part: string) => `${bull.prefix}:${queue}:${part}`;
    pipeline.llen(key('wait')).llen(key('paused')).zcard(key('delayed')).zcard(key('prioritized'));
    pipeline.llen(key('active'));
  }
  const replies = ((await pipeline.exec()) ?? []).map(([error, value]) => {
    if (error) throw error;
    return Number(value);
  });
  const [timerCount = 0, waitTimers = 0, ...queues] = replies;
  // Five replies per queue: four lists of jobs not yet taken, then the active list.
  const sum = (pick: (i: number) => boolean) => queues.filter((_, i) => pick(i % 5)).reduce((a, b) => a + b, 0);
  return { timers: timerCount, waitTimers, jobsQueued: sum((i) => i < 4), jobsActive: sum((i) => i === 4) };
}

/**
 * Polls until `count` sagas are parked: that many wait deadlines in the timer set, nothing else in
 * it, and no job queued or running (the last `hold` step's job is gone once its outcome is applied).
 */
export async function waitUntilParked(
  redis: Redis,
  prefix: string,
  count: number,
  waitDueFrom: number,
  timeoutMs: number,
): Promise<ParkedState> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const state = await readParkedState(redis, prefix, waitDueFrom);
    const parked = state.waitTimers === count && state.timers === count;
    if (parked && state.jobsQueued === 0 && state.jobsActive === 0) return state;
    if (Date.now() > until) {
      throw new Error(`${count} sagas not parked within ${timeoutMs / 1000} s: ${JSON.stringify(state)}`);
    }
    await sleep(200);
  }
}

/** How many BullMQ keys the prefix has: only the queues' own structures once no job is left. */
export async function countBullKeys(redis: Redis, prefix: string): Promise<number> {
  return (await scanKeys(redis, `${resolveBullMq({ prefix }).prefix}:*`)).length;
}
