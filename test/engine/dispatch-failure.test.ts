import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { systemClock } from '../../src/clock.ts';
import { createStepRunner } from '../../src/engine/step-runner.ts';
import {
  createEngine,
  defineSaga,
  type Engine,
  type HandlerRegistry,
  InProcessQueue,
  MemoryStore,
  type SagaError,
  type StepJob,
} from '../../src/index.ts';

const saga = defineSaga({
  name: 'shipment',
  version: 1,
  input: z.object({}),
  steps: [
    { name: 'pick', compensate: true },
    { name: 'pack', compensate: true },
  ],
});

/** An in-process queue whose enqueue fails, like a Redis user without write access to the queue keys. */
class BrokenQueue extends InProcessQueue {
  broken = true;
  enqueued: string[] = [];
  override async enqueue(job: StepJob): Promise<void> {
    if (this.broken)
      throw Object.assign(new Error("NOPERM this user has no permissions to access the 'wait' key"), {
        name: 'ReplyError',
      });
    this.enqueued.push(job.id);
    return super.enqueue(job);
  }
}

const engines: Engine[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close();
});

function setup() {
  const calls: string[] = [];
  const handlers: HandlerRegistry = {
    shipment: {
      pick: { run: async () => void calls.push('pick'), compensate: async () => void calls.push('unpick') },
      pack: { run: async () => void calls.push('pack'), compensate: async () => void calls.push('unpack') },
    },
  };
  const queue = new BrokenQueue({ runAttempt: createStepRunner(handlers, systemClock) });
  const store = new MemoryStore();
  const engine = createEngine({ store, queue, handlers, sagas: [saga] });
  engines.push(engine);
  return { engine, queue, store, calls };
}

describe('a dispatch that fails after the save', () => {
  it('throws QUEUE_FAILED naming the saga and step, with the store error as cause, and keeps the saga', async () => {
    const { engine } = setup();
    const error = (await engine.start(saga, {}, { sagaId: 's-1' }).catch((e: unknown) => e)) as SagaError;
    expect(error.code).toBe('QUEUE_FAILED');
    expect(error.message).toContain('"s-1"');
    expect(error.message).toContain('"pick"');
    expect((error.cause as Error).message).toMatch(/^NOPERM/);
    expect((await engine.get('s-1')).state).toBe('Pending');
  });

  it('is dispatched again by a repeated start with the same sagaId', async () => {
    const { engine, queue, calls } = setup();
    await engine.start(saga, {}, { sagaId: 's-1' }).catch(() => undefined);
    queue.broken = false;

    const again = await engine.start(saga, {}, { sagaId: 's-1' });
    expect(again).toEqual({ sagaId: 's-1', created: false });
    expect((await engine.waitFor('s-1', { timeoutMs: 5_000 })).state).toBe('Completed');
    expect(calls).toEqual(['pick', 'pack']);
  });

  it('is dispatched again by a command that leaves the saga in its step (a cancel), which then takes effect', async () => {
    const { engine, queue, calls } = setup();
    await engine.start(saga, {}, { sagaId: 's-1' }).catch(() => undefined);
    queue.broken = false;

    await engine.cancel('s-1');
    const final = await engine.waitFor('s-1', { timeoutMs: 5_000 });
    expect(final.state).toBe('Failed');
    expect(final.failure?.reason).toBe('cancelled');
    expect(calls).toEqual(['pick', 'unpick']);
  });

  it('is dispatched again by recovery', async () => {
    const { engine, queue, calls } = setup();
    await engine.start(saga, {}, { sagaId: 's-1' }).catch(() => undefined);
    queue.broken = false;

    expect(await engine.recover()).toBe(1);
    expect((await engine.waitFor('s-1', { timeoutMs: 5_000 })).state).toBe('Completed');
    expect(calls).toEqual(['pick', 'pack']);
    // One job per step: re-dispatching did not add a second run of the step.
    expect(queue.enqueued.filter((id) => id.includes('pick'))).toHaveLength(1);
  });
});

describe('store failures', () => {
  it('surface as STORE_FAILED with the cause, and nothing half-done', async () => {
    const { engine, store } = setup();
    const failing = new Error('connect ECONNREFUSED 127.0.0.1:6379');
    store.create = async () => {
      throw failing;
    };
    const error = (await engine.start(saga, {}, { sagaId: 's-2' }).catch((e: unknown) => e)) as SagaError;
    expect(error.code).toBe('STORE_FAILED');
    expect(error.message).toContain('"s-2"');
    expect(error.cause).toBe(failing);
    store.load = async () => {
      throw failing;
    };
    await expect(engine.get('s-2')).rejects.toMatchObject({ code: 'STORE_FAILED' });
  });
});
