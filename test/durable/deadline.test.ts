import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createEngine, createWorker, defineSaga, type StepHandler } from '../../src/index.ts';
import { dropPrefix, eventually, REDIS_URL } from './redis-helpers.ts';

const saga = defineSaga({
  name: 'deadline',
  version: 1,
  input: z.object({}),
  steps: [
    { name: 'first', compensate: true, timeoutMs: 200, retry: { attempts: 1 } },
    { name: 'second', compensate: true, timeoutMs: 200, retry: { attempts: 1 } },
  ],
});

describe('durable step deadlines', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('fails a step whose worker died mid-step, and compensates what was done', async () => {
    const prefix = `xsaga-test-${randomUUID()}`;
    cleanups.push(() => dropPrefix(prefix));
    const calls: string[] = [];
    let secondStarted = false;
    const handlers: Record<string, StepHandler> = {
      first: { run: () => calls.push('first') && 'done', compensate: () => void calls.push('undo first') },
      // The worker "dies" while this runs: the promise never settles and the signal is ignored.
      second: {
        run: () => {
          secondStarted = true;
          return new Promise(() => undefined);
        },
        compensate: () => undefined,
      },
    };
    const engine = createEngine({ redis: { connection: REDIS_URL, prefix, deadlineGraceMs: 300 }, sagas: [saga] });
    cleanups.push(() => engine.close());
    const doomed = createWorker({
      connection: REDIS_URL,
      prefix,
      handlers: { deadline: handlers },
      lockDurationMs: 400,
    });
    const { sagaId } = await engine.start(saga, {});
    await eventually(async () => secondStarted);
    // Killed without finishing its job: the lock is never renewed, and no worker is left at all.
    await doomed.close(true);

    // A fresh worker for the compensation only (the dead one's job must not run again).
    const rescuer = createWorker({ connection: REDIS_URL, prefix, handlers: { deadline: handlers } });
    cleanups.push(() => rescuer.close());
    const final = await engine.waitFor(sagaId, { timeoutMs: 20_000 });
    expect(final.state).toBe('Failed');
    expect(final.failure?.step).toBe('second');
    expect(final.failure?.error?.code).toBe('STEP_TIMEOUT');
    expect(calls).toEqual(['first', 'undo first']);
  });
});
