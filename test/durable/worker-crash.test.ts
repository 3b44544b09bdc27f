import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { trip } from '../../examples/trip-booking/saga.ts';
import { createEngine, silentLogger } from '../../src/index.ts';
import { dropPrefix, exited, REDIS_URL } from './redis-helpers.ts';

const WORKER = fileURLToPath(new URL('./fixtures/crashing-worker.ts', import.meta.url));

function startWorker(prefix: string, env: Record<string, string>): Promise<ChildProcess> {
  const child = fork(WORKER, [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, REDIS_URL, PREFIX: prefix, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', () => resolve(child));
    child.once('exit', (code, signal) => reject(new Error(`worker exited early (${code ?? signal})`)));
  });
}

describe('a worker that advances sagas itself, killed right after a save', () => {
  const prefix = `xsaga-wcrash-${randomUUID()}`;
  const children: ChildProcess[] = [];
  const redis = new Redis(REDIS_URL);
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all(children.map(exited));
    await redis.quit();
    await dropPrefix(prefix);
  });

  async function crashThenRecover(env: Record<string, string>) {
    const engine = createEngine({ redis: { connection: REDIS_URL, prefix }, sagas: [trip], logger: silentLogger });
    try {
      const first = await startWorker(prefix, { CRASH_AT: 'Pending.reserveCar', CONCURRENCY: '1', ...env });
      children.push(first);
      const ids: string[] = [];
      for (let i = 0; i < 5; i++)
        ids.push((await engine.start(trip, { tripId: `w-${randomUUID()}`, cardDeclined: false })).sagaId);
      await exited(first);
      expect(first.signalCode).toBe('SIGKILL');

      // Another worker takes over: the stalled job, once its lock expires, and the car job.
      const second = await startWorker(prefix, {});
      children.push(second);
      const finals = await Promise.all(ids.map((id) => engine.waitFor(id, { timeoutMs: 30_000 })));
      expect(finals.map((view) => view.state)).toEqual(ids.map(() => 'Completed'));

      // Every step of every saga ran exactly once, under its one structural key.
      const calls = await redis.hgetall(`${prefix}:calls`);
      for (const id of ids) {
        for (const step of trip.steps.map((s) => s.name)) {
          const runs = Object.entries(calls).filter(([field]) => field.startsWith(`${id}|${step}|run|`));
          expect(runs, `${id} ${step}`).toEqual([[`${id}|${step}|run|${id}~${step}~run`, '1']]);
        }
      }
      second.kill('SIGTERM');
      await exited(second);
    } finally {
      await engine.close();
    }
  }

  it('loses nothing when the job was completed in the save: every saga completes, no step runs twice', async () => {
    await crashThenRecover({});
  }, 60_000);

  it('loses nothing when the job was still active (completeInSave: false): the stalled job is not run again', async () => {
    // The hotel job the first worker was running stays active (locked) after its save; the worker
    // that takes it over finds the saga moved past it and completes it without running the step.
    await crashThenRecover({ COMPLETE_IN_SAVE: '0' });
  }, 60_000);
});
