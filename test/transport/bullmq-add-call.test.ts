import { randomUUID } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { FollowUpScripts, failedCall, type MainScript } from '../../src/persistence/redis-follow-up.ts';
import { createAddCall } from '../../src/transport/bullmq-add-call.ts';
import { BullMqQueue } from '../../src/transport/bullmq-queue.ts';
import type { StepJob } from '../../src/transport/step-queue.ts';
import { dropPrefix, eventually, REDIS_URL } from '../durable/redis-helpers.ts';

/** A main script standing in for the save: returns ARGV[1] as a number (>= 0: saved; < 0: refused). */
const main: MainScript = { name: 'Echo', lua: 'return tonumber(ARGV[1])', keys: 1, args: 1 };

const options = { attempts: 3, backoff: { type: 'xsaga' }, removeOnFail: false } as const;

describe('a BullMQ add made by a store script (createAddCall + FollowUpScripts)', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  function fixture() {
    const prefix = `xsaga-test-${randomUUID()}`;
    const queue = new Queue('steps', { connection: { url: REDIS_URL }, prefix });
    const redis = new Redis(REDIS_URL);
    cleanups.push(async () => {
      await queue.close();
      redis.disconnect();
      await dropPrefix(prefix);
    });
    return { prefix, queue, redis, scripts: new FollowUpScripts(redis), addCall: createAddCall(queue) };
  }

  it('stores the very job Queue.add stores, waiting, with its events', async () => {
    const { queue, redis, scripts, addCall } = fixture();
    const data = { sagaId: 's-1', step: 'reserve', input: { n: 1 } };
    const call = addCall('trip.reserve.run', data, { ...options, jobId: 's-1~reserve~run' });
    expect(call?.name).toBe('addStandardJob');
    const reply = await scripts.run(main, ['unused'], [7], call ? [call] : []);
    await queue.add('trip.reserve.run', data, { ...options, jobId: 'twin' });

    expect(reply).toEqual([7, 's-1~reserve~run']);
    const [ours, twin] = await Promise.all([
      redis.hgetall(`${queue.opts.prefix}:steps:s-1~reserve~run`),
      redis.hgetall(`${queue.opts.prefix}:steps:twin`),
    ]);
    // All but the creation time and the id inside the options.
    const comparable = ({ timestamp: _, opts, ...fields }: Record<string, string>) => ({
      ...fields,
      opts: { ...JSON.parse(opts ?? '{}'), jobId: '<id>' },
    });
    expect(comparable(ours)).toEqual(comparable(twin));
    expect(Object.keys(ours).sort()).toEqual(Object.keys(twin).sort());
    expect(await queue.getJobState('s-1~reserve~run')).toBe('waiting');
    const events = await redis.xrange(`${queue.opts.prefix}:steps:events`, '-', '+');
    const added = events.filter(([, fields]) => fields.includes('s-1~reserve~run')).map(([, f]) => f[1]);
    expect(added).toEqual(['added', 'waiting']);
  });

  it('adds nothing when the main script refuses (a conflicting save)', async () => {
    const { queue, scripts, addCall } = fixture();
    const call = addCall('trip.reserve.run', { n: 1 }, { ...options, jobId: 'refused' });
    const reply = await scripts.run(main, ['unused'], [-2], call ? [call] : []);

    expect(reply).toEqual([-2]);
    expect(await queue.getJob('refused')).toBeUndefined();
  });

  it('keeps one job per id, as Queue.add does, and runs several calls in order', async () => {
    const { queue, scripts, addCall } = fixture();
    const first = addCall('a.one.run', { n: 1 }, { ...options, jobId: 'one' });
    const again = addCall('a.one.run', { n: 2 }, { ...options, jobId: 'one' });
    const other = addCall('a.two.run', { n: 3 }, { ...options, jobId: 'two' });
    const calls = [first, again, other].filter((call) => call !== undefined);
    expect(calls).toHaveLength(3);

    expect(await scripts.run(main, ['unused'], [1], calls)).toEqual([1, 'one', 'one', 'two']);
    expect((await queue.getJob('one'))?.data).toEqual({ n: 1 });
    expect((await queue.getJob('two'))?.data).toEqual({ n: 3 });
  });

  it("answers a call that raises as failed, and keeps main's writes (Redis undoes nothing)", async () => {
    const { prefix, redis, scripts, addCall } = fixture();
    const writes: MainScript = {
      name: 'Writes',
      lua: "redis.call('SET', KEYS[1], ARGV[1]) return 1",
      keys: 1,
      args: 1,
    };
    // BullMQ's wait list is not a list: its add raises WRONGTYPE half way.
    await redis.set(`${prefix}:steps:wait`, 'not a list');
    const call = addCall('a.one.run', { n: 1 }, { ...options, jobId: 'broken' });
    const [main, answer] = await scripts.run(writes, [`${prefix}:main`], ['written'], call ? [call] : []);

    expect(main).toBe(1);
    expect(failedCall(answer)).toMatch(/WRONGTYPE/);
    expect(failedCall('broken')).toBeUndefined();
    expect(await redis.get(`${prefix}:main`)).toBe('written');
    expect(await redis.get(`${prefix}:steps:wait`)).toBe('not a list');
  });

  it('keeps the scripts of stores that share one connection apart', async () => {
    const { queue, redis, addCall } = fixture();
    const one = addCall('a.one.run', { n: 1 }, { ...options, jobId: 'one' });
    const two = addCall('a.two.run', { n: 2 }, { ...options, jobId: 'two' });
    if (!one || !two) throw new Error('no add call');
    const first = new FollowUpScripts(redis);
    const second = new FollowUpScripts(redis);

    expect(await first.run(main, ['unused'], [1], [one])).toEqual([1, 'one']);
    // Registered second on the same connection, with another sequence of calls.
    expect(await second.run(main, ['unused'], [1], [one, two])).toEqual([1, 'one', 'two']);
    expect(await first.run(main, ['unused'], [3], [two])).toEqual([3, 'two']);
    expect(await queue.getJobCounts('waiting')).toEqual({ waiting: 2 });
  });

  it('is taken and run by a BullMQ worker like any job', async () => {
    const { prefix, queue, scripts, addCall } = fixture();
    const seen: unknown[] = [];
    const worker = new Worker('steps', async (job) => void seen.push(job.data), {
      connection: { url: REDIS_URL },
      prefix,
    });
    cleanups.push(() => worker.close());
    const call = addCall('a.one.run', { hello: 'worker' }, { ...options, jobId: 'run-me' });
    await scripts.run(main, ['unused'], [1], call ? [call] : []);

    await eventually(async () => seen.length === 1);
    expect(seen).toEqual([{ hello: 'worker' }]);
    expect(await queue.getJobState('run-me')).toBe('completed');
  });

  it('declines every job once BullMQ turns out laid out otherwise (a release that moved its internals)', () => {
    const { queue } = fixture();
    // The backend method Queue.add uses is gone: nothing to describe the add with.
    const moved = Object.create(queue, { backend: { value: {} } }) as Queue;
    const addCall = createAddCall(moved);

    expect(addCall('a.b.run', {}, { ...options, jobId: 'x' })).toBeUndefined();
    expect(addCall('a.b.run', {}, { ...options, jobId: 'y' })).toBeUndefined();
  });

  it('declines a job with a delay or a priority: such jobs are added by Queue.add', () => {
    const { addCall } = fixture();
    expect(addCall('a.b.run', {}, { ...options, jobId: 'd', delay: 1_000 })).toBeUndefined();
    expect(addCall('a.b.run', {}, { ...options, jobId: 'p', priority: 3 })).toBeUndefined();
  });

  it('is declined by a BullMqQueue that keeps deadline jobs (a second add the save cannot make)', async () => {
    const prefix = `xsaga-test-${randomUUID()}`;
    const withJobs = new BullMqQueue({ connection: REDIS_URL, prefix, deadlines: 'jobs' });
    const withTimers = new BullMqQueue({ connection: REDIS_URL, prefix, deadlines: 'timers' });
    cleanups.push(async () => {
      await withJobs.close();
      await withTimers.close();
      await dropPrefix(prefix);
    });
    const job = {
      id: 's~step~run',
      sagaId: 's',
      sagaName: 'trip',
      sagaVersion: 1,
      step: 'step',
      direction: 'run',
      round: 0,
      idempotencyKey: 's~step~run',
      input: {},
      results: {},
      policy: { attempts: 1, backoff: { type: 'fixed', delayMs: 1, maxDelayMs: 1, jitter: 0 }, timeoutMs: 1_000 },
    } as StepJob;

    expect(withJobs.addCall(job)).toBeUndefined();
    expect(withTimers.addCall(job)?.keys[0]).toBe(`${prefix}:bull:xsaga-steps:wait`);
  });
});
