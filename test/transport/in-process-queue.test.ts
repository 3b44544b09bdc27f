import { afterEach, describe, expect, it } from 'vitest';
import type { AttemptPolicy, AttemptRunner, StepJob, StepOutcome } from '../../src/index.ts';
import { InProcessQueue } from '../../src/index.ts';
import { TestClock } from '../../src/testing/test-clock.ts';
import { type Deferred, deferred } from '../support/deferred.ts';

const policy = (overrides: Partial<AttemptPolicy> = {}): AttemptPolicy => ({
  attempts: 3,
  backoff: { type: 'exponential', delayMs: 100, maxDelayMs: 30_000, jitter: 0.5 },
  timeoutMs: 1_000,
  ...overrides,
});

function job(sagaId: string, overrides: Partial<StepJob> = {}): StepJob {
  return {
    id: `${sagaId}~step~run`,
    sagaId,
    sagaName: 'saga',
    sagaVersion: 1,
    step: 'step',
    direction: 'run',
    round: 0,
    idempotencyKey: `${sagaId}~step~run`,
    input: { n: 1 },
    results: {},
    policy: policy(),
    ...overrides,
  };
}

const queues: InProcessQueue[] = [];
afterEach(async () => {
  for (const queue of queues.splice(0)) await queue.close();
});

function queueWith(
  runAttempt: AttemptRunner,
  options: { random?: () => number; concurrency?: number; onDeliveryError?: (e: unknown, o: StepOutcome) => void } = {},
) {
  const clock = new TestClock();
  const outcomes: StepOutcome[] = [];
  const queue = new InProcessQueue({ runAttempt, clock, random: options.random ?? (() => 0), ...options });
  queues.push(queue);
  const consume = () =>
    queue.consume(async (outcome) => {
      outcomes.push(outcome);
    });
  return { queue, clock, outcomes, consume };
}

describe('InProcessQueue', () => {
  describe('backoff between attempts', () => {
    it('waits the policy delay on its clock, jittered by its random source', async () => {
      const attempts: number[] = [];
      const { queue, clock, outcomes, consume } = queueWith(
        async (_job, attempt) => {
          attempts.push(attempt);
          throw new Error('down');
        },
        { random: () => 0.5 },
      );
      consume();
      await queue.enqueue(job('s1'));
      await clock.advance(0);
      expect(attempts).toEqual([1]);

      await clock.advance(74);
      expect(attempts).toEqual([1]);
      await clock.advance(1);
      expect(attempts).toEqual([1, 2]);

      await clock.runAll();
      expect(attempts).toEqual([1, 2, 3]);
      // 100 and 200, each less a quarter (jitter 0.5 * random 0.5).
      expect(clock.delays).toEqual([75, 150]);
      expect(outcomes.map((o) => o.event.type)).toEqual(['step.failed']);
    });
  });

  describe('concurrency', () => {
    it('runs at most `concurrency` jobs at once, the rest in order', async () => {
      const started: string[] = [];
      const gates = new Map<string, Deferred>();
      const { queue, clock, outcomes, consume } = queueWith(
        async (j) => {
          started.push(j.sagaId);
          const g = deferred();
          gates.set(j.sagaId, g);
          await g.promise;
          return j.sagaId;
        },
        { concurrency: 2 },
      );
      consume();
      for (const id of ['s1', 's2', 's3', 's4']) await queue.enqueue(job(id));
      await clock.advance(0);
      expect(started).toEqual(['s1', 's2']);

      gates.get('s2')?.resolve();
      await clock.advance(0);
      expect(started).toEqual(['s1', 's2', 's3']);

      gates.get('s1')?.resolve();
      gates.get('s3')?.resolve();
      await clock.advance(0);
      expect(started).toEqual(['s1', 's2', 's3', 's4']);
      gates.get('s4')?.resolve();
      await clock.advance(0);
      expect(outcomes.map((o) => o.sagaId)).toEqual(['s2', 's1', 's3', 's4']);
    });
  });

  describe('unacked jobs', () => {
    it('lists jobs until they are acked, finished ones included', async () => {
      const { queue, clock, consume } = queueWith(async () => 'ok');
      consume();
      await queue.enqueue(job('s1'));
      await queue.enqueue(job('s2'));
      await clock.advance(0);
      expect(queue.jobIds()).toEqual(['s1~step~run', 's2~step~run']);
      await queue.ack('s1~step~run');
      expect(queue.jobIds()).toEqual(['s2~step~run']);
    });

    it('copies the job on enqueue, so later changes by the caller do not reach the runner', async () => {
      const seen: unknown[] = [];
      const { queue, clock, consume } = queueWith(async (j) => {
        seen.push(j.input);
      });
      consume();
      const original = job('s1', { input: { n: 1 } });
      await queue.enqueue(original);
      (original.input as { n: number }).n = 99;
      await clock.advance(0);
      expect(seen).toEqual([{ n: 1 }]);
    });
  });

  describe('delivery errors', () => {
    it('reports a rejected delivery and redelivers the kept outcome on the next enqueue of that id', async () => {
      const reported: Array<[string, string]> = [];
      let runs = 0;
      const { queue, clock } = queueWith(
        async () => {
          runs++;
          return 'ok';
        },
        { onDeliveryError: (error, outcome) => reported.push([(error as Error).message, outcome.jobId]) },
      );
      let fail = true;
      const delivered: StepOutcome[] = [];
      queue.consume(async (outcome) => {
        if (fail) throw new Error('store down');
        delivered.push(outcome);
      });

      await queue.enqueue(job('s1'));
      await clock.advance(0);
      expect(reported).toEqual([['store down', 's1~step~run']]);
      expect(delivered).toEqual([]);

      fail = false;
      await queue.enqueue(job('s1'));
      await clock.advance(0);
      expect(delivered.map((o) => o.jobId)).toEqual(['s1~step~run']);
      expect(runs).toBe(1);
    });
  });

  describe('close', () => {
    it('stops retrying: a pending backoff never fires and no outcome is delivered', async () => {
      const attempts: number[] = [];
      const { queue, clock, outcomes, consume } = queueWith(async (_j, attempt) => {
        attempts.push(attempt);
        throw new Error('down');
      });
      consume();
      await queue.enqueue(job('s1'));
      await clock.advance(0);
      expect(clock.pending).toBe(1);

      await queue.close();
      expect(clock.pending).toBe(0);
      await clock.advance(10_000);
      expect(attempts).toEqual([1]);
      expect(outcomes).toEqual([]);
    });

    it('ignores jobs enqueued after close', async () => {
      let runs = 0;
      const { queue, clock, consume } = queueWith(async () => {
        runs++;
      });
      consume();
      await queue.close();
      await queue.enqueue(job('s1'));
      await clock.advance(0);
      expect(runs).toBe(0);
      expect(queue.jobIds()).toEqual([]);
    });
  });
});
