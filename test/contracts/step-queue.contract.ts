import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AttemptPolicy } from '../../src/definition/types.ts';
import { StepNotDoneError, TerminalError } from '../../src/errors.ts';
import { VerifiedResult } from '../../src/transport/step-outcome.ts';
import type { AttemptRunner, OutcomeHandler, StepJob, StepOutcome, StepQueue } from '../../src/transport/step-queue.ts';

/** What a contract run needs from an implementation: a fresh queue around the given runner. */
export type MakeStepQueue = (runAttempt: AttemptRunner) => Promise<{ queue: StepQueue; cleanup(): Promise<void> }>;

/** Retries without waiting long: no jitter, no delay, generous per-attempt timeout. */
const quickPolicy = (attempts: number): AttemptPolicy => ({
  attempts,
  backoff: { type: 'fixed', delayMs: 0, maxDelayMs: 0, jitter: 0 },
  timeoutMs: 30_000,
});

let jobCounter = 0;
/** A job with a fresh id (a queue may keep ids across tests of one connection). */
function makeJob(overrides: Partial<StepJob> = {}): StepJob {
  jobCounter++;
  const sagaId = `contract-${process.pid}-${Date.now()}-${jobCounter}`;
  return {
    id: `${sagaId}~reserve~run`,
    sagaId,
    sagaName: 'contract',
    sagaVersion: 3,
    step: 'reserve',
    direction: 'run',
    round: 0,
    idempotencyKey: `${sagaId}~reserve~run`,
    input: { orderId: 'o-1', lines: [{ sku: 'A', qty: 2 }] },
    results: { earlier: { id: 7 } },
    policy: quickPolicy(3),
    ...overrides,
  };
}

interface Call {
  jobId: string;
  attempt: number;
  job: StepJob;
}

/** Collects outcomes and lets a test wait for the n-th one of a job. */
function createInbox() {
  const outcomes: StepOutcome[] = [];
  let wake: Array<() => void> = [];
  const handler: OutcomeHandler = async (outcome) => {
    outcomes.push(structuredClone(outcome));
    const waiting = wake;
    wake = [];
    for (const resolve of waiting) resolve();
  };
  const of = (jobId: string) => outcomes.filter((o) => o.jobId === jobId);
  async function waitFor(jobId: string, count = 1): Promise<StepOutcome[]> {
    while (of(jobId).length < count) await new Promise<void>((resolve) => wake.push(resolve));
    return of(jobId);
  }
  return { outcomes, handler, of, waitFor };
}

/** Lets pending callbacks run: enough turns for an in-process queue to show a stray run or outcome. */
async function turns(n = 20): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * The contract every StepQueue must pass (InProcessQueue, BullMQ...). `makeQueue` builds a fresh
 * queue around the given attempt runner; consume() is left to the tests.
 *
 * @example
 * ```ts
 * describeStepQueueContract('InProcessQueue', async (runAttempt) => {
 *   const queue = new InProcessQueue({ runAttempt });
 *   return { queue, cleanup: () => queue.close() };
 * });
 * ```
 */
export function describeStepQueueContract(name: string, makeQueue: MakeStepQueue): void {
  describe(`StepQueue contract: ${name}`, () => {
    let queue: StepQueue;
    let cleanup: () => Promise<void>;
    let calls: Call[];
    /** What the runner does; tests replace it. Default: return a result built from the job. */
    let behaviour: AttemptRunner;
    let inbox: ReturnType<typeof createInbox>;

    /** Sends a sentinel through the queue and waits for it: whatever was in flight before has settled. */
    async function quiesce(): Promise<void> {
      const sentinel = makeJob();
      await queue.enqueue(sentinel);
      await inbox.waitFor(sentinel.id);
      await queue.ack(sentinel.id);
      await turns();
    }
    const callsOf = (jobId: string) => calls.filter((c) => c.jobId === jobId);

    beforeEach(async () => {
      calls = [];
      inbox = createInbox();
      behaviour = async (job) => ({ ranFor: job.sagaId });
      const made = await makeQueue(async (job, attempt) => {
        calls.push({ jobId: job.id, attempt, job: structuredClone(job) });
        return behaviour(job, attempt);
      });
      queue = made.queue;
      cleanup = made.cleanup;
    });

    afterEach(async () => {
      await cleanup();
    });

    it('runs an enqueued job and delivers one outcome carrying the job fields', async () => {
      queue.consume(inbox.handler);
      const job = makeJob();
      await queue.enqueue(job);
      await inbox.waitFor(job.id);
      await quiesce();

      expect(callsOf(job.id).map((c) => c.attempt)).toEqual([1]);
      expect(inbox.of(job.id)).toEqual([
        {
          jobId: job.id,
          sagaId: job.sagaId,
          event: {
            type: 'step.done',
            step: 'reserve',
            direction: 'run',
            round: 0,
            attempts: 1,
            result: { ranFor: job.sagaId },
          },
        },
      ]);
    });

    it('reports the direction and round of a compensation job', async () => {
      queue.consume(inbox.handler);
      const job = makeJob({ direction: 'compensate', round: 2, result: { booking: 'B-1' } });
      const id = `${job.sagaId}~reserve~compensate~r2`;
      await queue.enqueue({ ...job, id });
      const [outcome] = await inbox.waitFor(id);
      expect(outcome?.event).toEqual({
        type: 'step.done',
        step: 'reserve',
        direction: 'compensate',
        round: 2,
        attempts: 1,
        result: { ranFor: job.sagaId },
      });
    });

    it('passes the job to the runner unchanged, idempotency key included', async () => {
      queue.consume(inbox.handler);
      const job = makeJob({ direction: 'compensate', result: { booking: 'B-9' } });
      await queue.enqueue(job);
      await inbox.waitFor(job.id);
      expect(callsOf(job.id)).toHaveLength(1);
      expect(callsOf(job.id)[0]?.job).toEqual(job);
      expect(callsOf(job.id)[0]?.job.idempotencyKey).toBe(job.idempotencyKey);
    });

    it('runs a job enqueued twice under the same id once', async () => {
      queue.consume(inbox.handler);
      const job = makeJob();
      await Promise.all([queue.enqueue(job), queue.enqueue(structuredClone(job))]);
      await inbox.waitFor(job.id);
      await quiesce();
      expect(callsOf(job.id)).toHaveLength(1);
      expect(inbox.of(job.id)).toHaveLength(1);
    });

    it('does not run a job again when it is enqueued while its first run is in flight', async () => {
      queue.consume(inbox.handler);
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      behaviour = async () => {
        await gate;
        return 'once';
      };
      const job = makeJob();
      await queue.enqueue(job);
      while (callsOf(job.id).length === 0) await turns(1);

      await queue.enqueue(job);
      release();
      await inbox.waitFor(job.id);
      behaviour = async () => 'sentinel';
      await quiesce();

      expect(callsOf(job.id)).toHaveLength(1);
      expect(inbox.of(job.id)).toHaveLength(1);
    });

    it('redelivers the outcome of a finished but unacked job to a saga re-attaching to it, without running it again', async () => {
      queue.consume(inbox.handler);
      const job = makeJob();
      await queue.enqueue(job);
      const [first] = await inbox.waitFor(job.id);

      await queue.enqueue(job, { reattach: true });
      const both = await inbox.waitFor(job.id, 2);
      await quiesce();

      expect(callsOf(job.id)).toHaveLength(1);
      expect(both[1]).toEqual(first);
      expect(inbox.of(job.id)).toHaveLength(2);
    });

    it('forgets a job once acked: the same id is run again', async () => {
      queue.consume(inbox.handler);
      const job = makeJob();
      await queue.enqueue(job);
      await inbox.waitFor(job.id);
      await queue.ack(job.id);

      await queue.enqueue(job);
      await inbox.waitFor(job.id, 2);
      expect(callsOf(job.id).map((c) => c.attempt)).toEqual([1, 1]);
    });

    it('does not deliver again an acked outcome', async () => {
      queue.consume(inbox.handler);
      const job = makeJob();
      await queue.enqueue(job);
      await inbox.waitFor(job.id);
      await queue.ack(job.id);
      await quiesce();
      expect(inbox.of(job.id)).toHaveLength(1);
    });

    it('retries up to policy.attempts, then delivers step.failed with attempts = policy.attempts, in doubt', async () => {
      queue.consume(inbox.handler);
      behaviour = async (_job, attempt) => {
        throw new Error(`down ${attempt}`);
      };
      const job = makeJob({ policy: quickPolicy(4) });
      await queue.enqueue(job);
      const [outcome] = await inbox.waitFor(job.id);
      await quiesce();

      expect(callsOf(job.id).map((c) => c.attempt)).toEqual([1, 2, 3, 4]);
      expect(outcome).toEqual({
        jobId: job.id,
        sagaId: job.sagaId,
        event: {
          type: 'step.failed',
          step: 'reserve',
          direction: 'run',
          round: 0,
          attempts: 4,
          error: { name: 'Error', message: 'down 4' },
          // A plain error says nothing of whether the run took effect.
          inDoubt: true,
        },
      });
      expect(inbox.of(job.id)).toHaveLength(1);
    });

    it('delivers step.done with the attempt that succeeded after retries', async () => {
      queue.consume(inbox.handler);
      behaviour = async (_job, attempt) => {
        if (attempt < 3) throw new Error('blip');
        return 'third time';
      };
      const job = makeJob({ policy: quickPolicy(5) });
      await queue.enqueue(job);
      const [outcome] = await inbox.waitFor(job.id);
      expect(callsOf(job.id).map((c) => c.attempt)).toEqual([1, 2, 3]);
      expect(outcome?.event).toMatchObject({ type: 'step.done', attempts: 3, result: 'third time' });
    });

    it('stops at attempt 1 on a TerminalError, marking the error terminal', async () => {
      queue.consume(inbox.handler);
      behaviour = async () => {
        throw new TerminalError('card declined');
      };
      const job = makeJob({ policy: quickPolicy(5) });
      await queue.enqueue(job);
      const [outcome] = await inbox.waitFor(job.id);
      await quiesce();

      expect(callsOf(job.id).map((c) => c.attempt)).toEqual([1]);
      expect(outcome?.event).toEqual({
        type: 'step.failed',
        step: 'reserve',
        direction: 'run',
        round: 0,
        attempts: 1,
        error: { name: 'TerminalError', message: 'card declined', code: 'TERMINAL', terminal: true },
      });
    });

    it("delivers a result that the step's verify read back as step.done marked verified", async () => {
      queue.consume(inbox.handler);
      behaviour = async () => new VerifiedResult({ bookingId: 'B-1' });
      const job = makeJob();
      await queue.enqueue(job);
      const [outcome] = await inbox.waitFor(job.id);
      expect(outcome?.event).toEqual({
        type: 'step.done',
        step: 'reserve',
        direction: 'run',
        round: 0,
        attempts: 1,
        result: { bookingId: 'B-1' },
        verified: true,
      });
    });

    it('delivers a run that verify found not done as a definite failure, verified false and not in doubt', async () => {
      queue.consume(inbox.handler);
      behaviour = async () => {
        throw new StepNotDoneError('reserve', 'nothing found');
      };
      const job = makeJob({ policy: quickPolicy(2) });
      await queue.enqueue(job);
      const [outcome] = await inbox.waitFor(job.id);
      expect(callsOf(job.id).map((c) => c.attempt)).toEqual([1, 2]);
      expect(outcome?.event).toMatchObject({ type: 'step.failed', verified: false, error: { code: 'STEP_NOT_DONE' } });
      expect(outcome?.event).not.toHaveProperty('inDoubt');
    });

    it('keeps outcomes produced before consume() and delivers each once when it is called', async () => {
      const job = makeJob();
      await queue.enqueue(job);
      while (callsOf(job.id).length === 0) await turns(1);
      await turns();
      expect(inbox.outcomes).toEqual([]);

      queue.consume(inbox.handler);
      const [outcome] = await inbox.waitFor(job.id);
      await quiesce();

      expect(outcome?.event.type).toBe('step.done');
      expect(inbox.of(job.id)).toHaveLength(1);
      expect(callsOf(job.id)).toHaveLength(1);
    });

    it('runs jobs with different ids independently', async () => {
      queue.consume(inbox.handler);
      const a = makeJob();
      const b = makeJob({ step: 'charge' });
      const bId = `${b.sagaId}~charge~run`;
      await queue.enqueue(a);
      await queue.enqueue({ ...b, id: bId });
      await inbox.waitFor(a.id);
      const [outcomeB] = await inbox.waitFor(bId);
      expect(outcomeB?.event.step).toBe('charge');
      expect(callsOf(a.id)).toHaveLength(1);
      expect(callsOf(bId)).toHaveLength(1);
    });

    it('accepts an ack of an unknown id', async () => {
      await expect(queue.ack('never-enqueued~x~run')).resolves.toBeUndefined();
    });
  });
}
