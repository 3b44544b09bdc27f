import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { bullMqPrefix } from '../../src/persistence/redis-keys.ts';
import { runInProcess } from './run-in-process.ts';
import { SAGAS_MODULE, SagaLab } from './saga-lab.ts';

describe('xsaga recover', () => {
  let lab: SagaLab;
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await lab.close();
  });

  const recover = (...args: string[]) =>
    runInProcess('recover', '--redis', lab.redis, '--prefix', lab.prefix, '--sagas', SAGAS_MODULE, ...args);

  /** The step queue of the lab's prefix, as a worker would see it. */
  function stepQueue(): Queue {
    const queue = new Queue('xsaga-steps', { connection: { url: lab.redis }, prefix: bullMqPrefix(lab.prefix) });
    cleanups.push(() => queue.close());
    return queue;
  }

  it('enqueues again the step jobs of Pending sagas whose queue was lost, and says how many it re-attached', async () => {
    lab = new SagaLab();
    const ids = [await lab.pending(), await lab.pending()];
    // The queue is lost (flushed by hand, a Redis without persistence restarted...): the sagas wait
    // in Pending for a job that no longer exists.
    const redis = new Redis(lab.redis);
    cleanups.push(() => redis.quit());
    const [, bullKeys] = await redis.scan('0', 'MATCH', `${bullMqPrefix(lab.prefix)}:*`, 'COUNT', 10_000);
    if (bullKeys.length > 0) await redis.del(...bullKeys);
    expect(await stepQueue().getWaitingCount()).toBe(0);

    const { code, stdout } = await recover();

    expect(code).toBe(0);
    expect(stdout).toBe('recovered 2 sagas\n');
    const waiting = await stepQueue().getWaiting();
    expect(waiting.map((job) => job.data.sagaId).sort()).toEqual([...ids].sort());
  });

  it('prints { recovered, failed } with --json, and re-attaching twice adds no job', async () => {
    lab = new SagaLab();
    await lab.pending();
    expect(JSON.parse((await recover('--json')).stdout)).toEqual({ recovered: 1, failed: 0 });
    expect(JSON.parse((await recover('--json')).stdout)).toEqual({ recovered: 1, failed: 0 });
    expect(await stepQueue().getWaitingCount()).toBe(1);
  });
});
