import { randomUUID } from 'node:crypto';
import { type Job, Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { FollowUpScripts, type MainScript } from '../../src/persistence/redis-follow-up.ts';
import { type CompletionHandler, interceptCompletions } from '../../src/transport/bullmq-finish-call.ts';
import type { ScriptCall } from '../../src/vocabulary/script-call.ts';
import { dropPrefix, eventually, REDIS_URL } from '../durable/redis-helpers.ts';

/** A main script standing in for the save: writes KEYS[1] and returns ARGV[1] as a number. */
const main: MainScript = {
  name: 'Mark',
  lua: "redis.call('SET', KEYS[1], 'saved') return tonumber(ARGV[1])",
  keys: 1,
  args: 1,
};

/** A stand-in for a BullMQ Worker: only its backend's execCommand, recording what reaches it. */
function fakeWorker(reply: unknown = 'sent by BullMQ') {
  const sent: Array<{ name: string; args: unknown[] }> = [];
  const backend = {
    execCommand: async (_client: unknown, name: string, args: unknown[]) => {
      sent.push({ name, args });
      return reply;
    },
  };
  return { worker: { backend } as unknown as Worker, backend, sent };
}

/** BullMQ 6's completion arguments: 14 keys, then id, timestamp, field, value, target, fetch, prefix, opts, fields. */
function completionArgs(target: 'completed' | 'failed', jobId = 'job-1'): unknown[] {
  const keys = Array.from({ length: 14 }, (_, i) => `q:key${i}`);
  return [...keys, jobId, 1_700_000_000_000, 'returnvalue', 'null', target, 1, 'q:', Buffer.from([0x80]), undefined];
}

describe('a job completed inside a save (interceptCompletions)', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it("hands the handler BullMQ's own completion as a script call, and BullMQ the call's reply", async () => {
    const { worker, backend, sent } = fakeWorker();
    let seen: ScriptCall | undefined;
    const handler: CompletionHandler = (_jobId, call) => {
      seen = call;
      return Promise.resolve().then(() => call?.onReply?.(['next job']));
    };
    expect(interceptCompletions(worker, handler)).toBe(true);

    const reply = await backend.execCommand({}, 'moveToFinished', completionArgs('completed'));
    expect(reply).toEqual(['next job']);
    expect(sent).toEqual([]);
    expect(seen?.name).toBe('moveToFinished');
    expect(seen?.keys).toHaveLength(14);
    // As ioredis would send them: the absent fields-to-update argument is an empty string.
    expect(seen?.args).toEqual(completionArgs('completed').slice(14, -1).concat(['']));
    expect(seen?.lua).toContain('moveToFinished');
  });

  it('leaves BullMQ to send the completion when the handler did not run it, or has nothing for the job', async () => {
    const { worker, backend, sent } = fakeWorker();
    const handled: string[] = [];
    interceptCompletions(worker, (jobId) => {
      handled.push(jobId);
      return jobId === 'mine' ? Promise.resolve() : undefined;
    });

    expect(await backend.execCommand({}, 'moveToFinished', completionArgs('completed', 'mine'))).toBe('sent by BullMQ');
    expect(await backend.execCommand({}, 'moveToFinished', completionArgs('completed', 'other'))).toBe(
      'sent by BullMQ',
    );
    expect(handled).toEqual(['mine', 'other']);
    expect(sent.map((s) => s.args[14])).toEqual(['mine', 'other']);
  });

  it('passes every other command through untouched: failures, fetches, lock extensions', async () => {
    const { worker, backend, sent } = fakeWorker();
    const handled: string[] = [];
    interceptCompletions(worker, (jobId) => {
      handled.push(jobId);
      return Promise.resolve();
    });

    await backend.execCommand({}, 'moveToFinished', completionArgs('failed'));
    await backend.execCommand({}, 'moveToActive', ['a', 'b']);
    await backend.execCommand({}, 'extendLocks', ['c']);
    expect(handled).toEqual([]);
    expect(sent.map((s) => s.name)).toEqual(['moveToFinished', 'moveToActive', 'extendLocks']);
  });

  it('rejects a completion that raised inside the save, as ioredis rejects a script that raises', async () => {
    const { worker, backend } = fakeWorker();
    interceptCompletions(worker, (_jobId, call) => Promise.resolve().then(() => call?.onReply?.(new Error('NOPERM'))));
    await expect(backend.execCommand({}, 'moveToFinished', completionArgs('completed'))).rejects.toThrow('NOPERM');
  });

  it('still asks the handler when the arguments are laid out otherwise, with no call to run', async () => {
    const { worker, backend, sent } = fakeWorker();
    const calls: Array<ScriptCall | undefined> = [];
    interceptCompletions(worker, (_jobId, call) => {
      calls.push(call);
      return Promise.resolve();
    });
    const odd = completionArgs('completed');
    odd.push({ not: 'a script argument' });
    await backend.execCommand({}, 'moveToFinished', odd);
    expect(calls).toEqual([undefined]);
    expect(sent).toHaveLength(1);
  });

  it('declines a worker laid out otherwise (a BullMQ release that moved its internals)', () => {
    expect(interceptCompletions({ backend: {} } as unknown as Worker, () => undefined)).toBe(false);
    expect(interceptCompletions({} as unknown as Worker, () => undefined)).toBe(false);
  });

  it('completes a real BullMQ job in the same script as the save, and the worker goes on to the next', async () => {
    const prefix = `xsaga-test-${randomUUID()}`;
    const connection = { url: REDIS_URL };
    const queue = new Queue('steps', { connection, prefix });
    const redis = new Redis(REDIS_URL);
    const scripts = new FollowUpScripts(redis);
    const processed: string[] = [];
    const worker = new Worker('steps', async (job: Job) => void processed.push(String(job.id)), {
      connection,
      prefix,
      removeOnComplete: { count: 0 },
    });
    cleanups.push(async () => {
      await worker.close();
      await queue.close();
      redis.disconnect();
      await dropPrefix(prefix);
    });
    const saved: string[] = [];
    interceptCompletions(worker, (jobId, call) => {
      if (!call) return undefined;
      return (async () => {
        const [revision, answer] = await scripts.run(main, [`${prefix}:saved:${jobId}`], [1], [call]);
        call.onReply?.(answer);
        saved.push(`${jobId}@${String(revision)}`);
      })();
    });

    await queue.add('a', {}, { jobId: 'one' });
    await queue.add('b', {}, { jobId: 'two' });
    await eventually(async () => saved.length === 2);

    expect(processed.sort()).toEqual(['one', 'two']);
    expect(saved.sort()).toEqual(['one@1', 'two@1']);
    expect(await redis.get(`${prefix}:saved:one`)).toBe('saved');
    // Completed and removed by BullMQ's own script: nothing active or waiting is left.
    await eventually(async () => (await queue.getJobCounts('active', 'wait', 'completed')).active === 0);
    expect(await queue.getJobCounts('active', 'wait', 'completed')).toEqual({ active: 0, wait: 0, completed: 0 });
  });
});
