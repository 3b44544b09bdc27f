import { describe, expect, it } from 'vitest';
import { createStepRunner } from '../../src/engine/step-runner.ts';
import { createEngine, createTracing, InProcessQueue, type StepJob, type StepQueue } from '../../src/index.ts';
import { TestClock } from '../../src/testing/test-clock.ts';
import { shop, shopHandlers } from './shop-saga.ts';

// No OpenTelemetry SDK is registered in this file (each test file runs in its own worker).
describe('tracing with no OpenTelemetry SDK', () => {
  it('carries nothing in jobs and changes nothing in how sagas run', async () => {
    const clock = new TestClock();
    const tracing = createTracing();
    const inner = new InProcessQueue({ runAttempt: createStepRunner({ shop: shopHandlers() }, clock, tracing), clock });
    const jobs: StepJob[] = [];
    const queue: StepQueue = {
      enqueue: (job) => {
        jobs.push(job);
        return inner.enqueue(job);
      },
      consume: (handler) => inner.consume(handler),
      ack: (jobId) => inner.ack(jobId),
      close: () => inner.close(),
    };
    const engine = createEngine({ clock, random: () => 0, queue, sagas: [shop], instrumentation: tracing });
    try {
      const { sagaId } = await engine.start(shop, { refuse: true });
      await clock.runAll();
      expect((await engine.waitFor(sagaId)).state).toBe('Failed');
      expect(jobs.map((job) => `${job.direction} ${job.step}`)).toEqual([
        'run a',
        'run b',
        'run c',
        'compensate b',
        'compensate a',
      ]);
      expect(jobs.filter((job) => 'trace' in job)).toEqual([]);
    } finally {
      await engine.close();
      await inner.close();
    }
  });

  it('writes no trace context when a saga starts', () => {
    const carrier = {};
    createTracing().sagaStarted?.({ sagaId: 's1', name: 'shop', version: 1, at: 0 }, carrier);
    expect(carrier).toEqual({});
  });
});
