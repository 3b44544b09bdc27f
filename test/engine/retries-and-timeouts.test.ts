import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Engine, EngineOptions, StepConfig, StepContext, StepHandler } from '../../src/index.ts';
import { createEngine, defineSaga, StepTimeoutError, TerminalError } from '../../src/index.ts';
import { TestClock } from '../../src/testing/test-clock.ts';
import { deferred } from '../support/deferred.ts';

const TIMEOUT = 1_000;

/** One saga of two steps: `flaky` (configurable) then `after`. Both compensable. */
function sagaWith(flaky: Omit<StepConfig<'flaky'>, 'name'>) {
  return defineSaga({
    name: 'retrying',
    version: 1,
    input: z.object({}),
    steps: [
      { name: 'flaky', timeoutMs: TIMEOUT, ...flaky },
      { name: 'after', compensate: true, timeoutMs: TIMEOUT },
    ],
  });
}

interface Harness {
  engine: Engine;
  clock: TestClock;
  attempts: number[];
  afterRuns: () => number;
}

const engines: Engine[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close();
});

/** An engine whose `flaky` step runs `run`, recording each attempt number. */
function harness(run: StepHandler['run'], options: Partial<EngineOptions> = {}): Harness {
  const clock = new TestClock();
  const attempts: number[] = [];
  let afterRuns = 0;
  const engine = createEngine({
    clock,
    random: () => 0,
    ...options,
    handlers: {
      retrying: {
        flaky: {
          run: (ctx) => {
            attempts.push(ctx.attempt);
            return run(ctx);
          },
          compensate: () => undefined,
        },
        after: {
          run: () => {
            afterRuns++;
            return 'after';
          },
          compensate: () => undefined,
        },
      },
    },
  });
  engines.push(engine);
  return { engine, clock, attempts, afterRuns: () => afterRuns };
}

/** Fails the first `n` attempts with a transient error, then returns `ok`. */
const failFirst = (n: number) => (ctx: StepContext) => {
  if (ctx.attempt <= n) throw new Error(`blip ${ctx.attempt}`);
  return 'ok';
};

/** Backoff delays among the clock's delays (the per-attempt timeouts are TIMEOUT). */
const backoffs = (clock: TestClock) => clock.delays.filter((d) => d !== TIMEOUT);

describe('retries', () => {
  it('retries a transient failure with exponential backoff, then moves on', async () => {
    const saga = sagaWith({ retry: { attempts: 3, backoff: { type: 'exponential', delayMs: 100, jitter: 0.5 } } });
    const { engine, clock, attempts, afterRuns } = harness(failFirst(2));

    const { sagaId } = await engine.start(saga, {});
    await clock.advance(0);
    expect(attempts).toEqual([1]);

    await clock.advance(99);
    expect(attempts).toEqual([1]);
    await clock.advance(1);
    expect(attempts).toEqual([1, 2]);

    await clock.advance(199);
    expect(attempts).toEqual([1, 2]);
    await clock.advance(1);
    expect(attempts).toEqual([1, 2, 3]);

    const view = await engine.waitFor(sagaId);
    expect(view.state).toBe('Completed');
    expect(view.steps.map((s) => [s.name, s.attempts])).toEqual([
      ['flaky', 3],
      ['after', 1],
    ]);
    expect(afterRuns()).toBe(1);
    // Each attempt has its timeout timer; between attempts, backoff 100 then 200 (random 0: no jitter).
    expect(clock.delays).toEqual([TIMEOUT, 100, TIMEOUT, 200, TIMEOUT, TIMEOUT]);
  });

  it('removes up to `jitter` of each delay at random (random 1, jitter 0.5: half)', async () => {
    const saga = sagaWith({ retry: { attempts: 4, backoff: { type: 'exponential', delayMs: 100, jitter: 0.5 } } });
    const { engine, clock } = harness(failFirst(3), { random: () => 1 });
    const { sagaId } = await engine.start(saga, {});
    await clock.runAll();
    expect((await engine.waitFor(sagaId)).state).toBe('Completed');
    expect(backoffs(clock)).toEqual([50, 100, 200]);
  });

  it('caps each delay at maxDelayMs', async () => {
    const saga = sagaWith({
      retry: { attempts: 5, backoff: { type: 'exponential', delayMs: 100, maxDelayMs: 250, jitter: 0 } },
    });
    const { engine, clock } = harness(failFirst(4), { random: () => 0.9 });
    const { sagaId } = await engine.start(saga, {});
    await clock.runAll();
    expect((await engine.waitFor(sagaId)).state).toBe('Completed');
    expect(backoffs(clock)).toEqual([100, 200, 250, 250]);
  });

  it('waits the same delay every time with fixed backoff', async () => {
    const saga = sagaWith({ retry: { attempts: 4, backoff: { type: 'fixed', delayMs: 70 } } });
    const { engine, clock } = harness(failFirst(3));
    const { sagaId } = await engine.start(saga, {});
    await clock.runAll();
    expect((await engine.waitFor(sagaId)).state).toBe('Completed');
    expect(backoffs(clock)).toEqual([70, 70, 70]);
  });

  it('uses the default policy (3 attempts, 100 ms doubling) when the step sets none', async () => {
    const saga = sagaWith({});
    const { engine, clock, attempts } = harness(() => {
      throw new Error('down');
    });
    const { sagaId } = await engine.start(saga, {});
    await clock.runAll();
    const view = await engine.waitFor(sagaId);
    expect(attempts).toEqual([1, 2, 3]);
    expect(backoffs(clock)).toEqual([100, 200]);
    expect(view.steps[0]?.attempts).toBe(3);
  });

  it('fails the step after policy.attempts attempts, records the last error and rolls back, compensating it in doubt', async () => {
    const saga = sagaWith({ retry: { attempts: 3, backoff: { type: 'fixed', delayMs: 10 } } });
    const { engine, clock, attempts, afterRuns } = harness((ctx) => {
      throw new Error(`down on attempt ${ctx.attempt}`);
    });

    const { sagaId } = await engine.start(saga, {});
    await clock.runAll();
    const view = await engine.waitFor(sagaId);

    expect(attempts).toEqual([1, 2, 3]);
    expect(afterRuns()).toBe(0);
    expect(view.state).toBe('Failed');
    // A transient error may hide a write that happened: the step is compensated in doubt.
    expect(view.steps[0]).toEqual({
      name: 'flaky',
      status: 'compensated',
      attempts: 3,
      compensationAttempts: 1,
      error: { name: 'Error', message: 'down on attempt 3' },
      inDoubt: true,
    });
    expect(view.steps[1]?.status).toBe('idle');
    expect(view.failure).toEqual({
      reason: 'failed',
      step: 'flaky',
      error: { name: 'Error', message: 'down on attempt 3' },
    });
    expect(backoffs(clock)).toEqual([10, 10]);
  });

  it('records a thrown non-Error as data and retries it like any transient failure', async () => {
    const saga = sagaWith({ retry: { attempts: 2, backoff: { type: 'fixed', delayMs: 5 } } });
    const { engine, clock, attempts } = harness(() => {
      throw { status: 503 };
    });
    const { sagaId } = await engine.start(saga, {});
    await clock.runAll();
    const view = await engine.waitFor(sagaId);
    expect(attempts).toEqual([1, 2]);
    expect(view.steps[0]?.error).toEqual({
      name: 'NonError',
      message: 'a handler threw a non-Error value: {"status":503}',
    });
  });
});

describe('TerminalError', () => {
  it('fails the step on the first attempt without retrying', async () => {
    const saga = sagaWith({ retry: { attempts: 5, backoff: { type: 'fixed', delayMs: 10 } } });
    const { engine, clock, attempts } = harness(() => {
      throw new TerminalError('card declined');
    });

    const { sagaId } = await engine.start(saga, {});
    await clock.runAll();
    const view = await engine.waitFor(sagaId);

    expect(attempts).toEqual([1]);
    expect(backoffs(clock)).toEqual([]);
    expect(view.state).toBe('Failed');
    expect(view.steps[0]?.attempts).toBe(1);
    expect(view.steps[0]?.error).toEqual({
      name: 'TerminalError',
      message: 'card declined',
      code: 'TERMINAL',
      terminal: true,
    });
  });

  it('is recognised by name when thrown by another copy of xsaga', async () => {
    const saga = sagaWith({ retry: { attempts: 5 } });
    const { engine, clock, attempts } = harness(() => {
      const foreign = new Error('declined elsewhere');
      foreign.name = 'TerminalError';
      throw foreign;
    });
    const { sagaId } = await engine.start(saga, {});
    await clock.runAll();
    const view = await engine.waitFor(sagaId);
    expect(attempts).toEqual([1]);
    expect(view.steps[0]?.error?.terminal).toBe(true);
  });

  it('fails a step whose result cannot be stored as JSON, terminally', async () => {
    const saga = sagaWith({ retry: { attempts: 5 } });
    const { engine, clock, attempts } = harness(() => ({ big: 10n }));
    const { sagaId } = await engine.start(saga, {});
    await clock.runAll();
    const view = await engine.waitFor(sagaId);
    expect(attempts).toEqual([1]);
    expect(view.steps[0]?.error).toMatchObject({ name: 'TerminalError', code: 'TERMINAL', terminal: true });
    expect(view.steps[0]?.error?.message).toContain('step "flaky"');
  });
});

describe('per-attempt timeout', () => {
  it("aborts the handler's signal with a StepTimeoutError, counts a failed attempt, then retries", async () => {
    const saga = sagaWith({ timeoutMs: 50, retry: { attempts: 3, backoff: { type: 'fixed', delayMs: 20 } } });
    const signals: AbortSignal[] = [];
    const { engine, clock, attempts } = harness((ctx) => {
      signals.push(ctx.signal);
      // The first attempt hangs until aborted; the second answers.
      if (ctx.attempt === 1) return new Promise(() => {});
      return 'second try';
    });

    const { sagaId } = await engine.start(saga, {});
    await clock.advance(49);
    expect(signals).toHaveLength(1);
    expect(signals[0]?.aborted).toBe(false);

    await clock.advance(1);
    expect(signals[0]?.aborted).toBe(true);
    const reason = signals[0]?.reason as StepTimeoutError;
    expect(reason).toBeInstanceOf(StepTimeoutError);
    expect(reason.code).toBe('STEP_TIMEOUT');
    expect(reason.step).toBe('flaky');
    expect(reason.timeoutMs).toBe(50);
    expect(attempts).toEqual([1]);

    await clock.advance(20);
    expect(attempts).toEqual([1, 2]);
    expect(signals[1]?.aborted).toBe(false);

    const view = await engine.waitFor(sagaId);
    expect(view.state).toBe('Completed');
    expect(view.steps[0]).toMatchObject({ status: 'completed', attempts: 2, result: 'second try' });
    expect(clock.delays.slice(0, 3)).toEqual([50, 20, 50]);
  });

  it('fails the step with STEP_TIMEOUT when every attempt times out', async () => {
    const saga = sagaWith({ timeoutMs: 30, retry: { attempts: 2, backoff: { type: 'fixed', delayMs: 5 } } });
    const { engine, clock, attempts } = harness(() => new Promise(() => {}));
    const { sagaId } = await engine.start(saga, {});
    await clock.advance(30 + 5 + 30);
    const view = await engine.waitFor(sagaId);
    expect(attempts).toEqual([1, 2]);
    expect(view.state).toBe('Failed');
    expect(view.steps[0]).toMatchObject({ status: 'compensated', attempts: 2, inDoubt: true });
    expect(view.steps[0]?.error).toEqual({
      name: 'StepTimeoutError',
      message: 'step "flaky" did not finish within 30 ms; its signal was aborted',
      code: 'STEP_TIMEOUT',
    });
  });

  it('hands a handler that first reads its signal after the timeout an aborted one, with the same reason', async () => {
    const saga = sagaWith({ timeoutMs: 50, retry: { attempts: 1 } });
    let late: AbortSignal | undefined;
    let abortedWhenRead: boolean | undefined;
    // The handler reads its signal only once the test has let the timeout pass: no real-time race.
    const started = deferred();
    const timeoutPassed = deferred();
    const read = deferred();
    const { engine, clock } = harness(async (ctx) => {
      started.resolve();
      await timeoutPassed.promise;
      late = ctx.signal;
      abortedWhenRead = late.aborted;
      read.resolve();
      return 'too late';
    });
    const { sagaId } = await engine.start(saga, {});
    await started.promise;
    await clock.advance(50);
    timeoutPassed.resolve();
    await read.promise;
    expect(abortedWhenRead).toBe(true);
    expect(late?.reason).toBeInstanceOf(StepTimeoutError);
    const view = await engine.waitFor(sagaId);
    expect(view.steps[0]?.error?.code).toBe('STEP_TIMEOUT');
  });

  it('does not abort the signal of an attempt that finished in time', async () => {
    const saga = sagaWith({ timeoutMs: 50 });
    const signals: AbortSignal[] = [];
    const { engine, clock } = harness((ctx) => {
      signals.push(ctx.signal);
      return 'quick';
    });
    const { sagaId } = await engine.start(saga, {});
    await engine.waitFor(sagaId);
    await clock.runAll();
    expect(signals[0]?.aborted).toBe(false);
    expect(clock.pending).toBe(0);
  });
});

describe('saga log of attempts', () => {
  it('records the attempts of each outcome, and the error of a failure', async () => {
    const saga = sagaWith({ retry: { attempts: 2, backoff: { type: 'fixed', delayMs: 1 } } });
    const { engine, clock } = harness(() => {
      throw new TerminalError('no seats');
    });
    const { sagaId } = await engine.start(saga, {});
    await clock.runAll();
    const { history } = await engine.waitFor(sagaId);

    const failure = history.find((e) => e.event === 'step.failed');
    expect(failure).toEqual({
      sagaId,
      at: 0,
      from: 'Pending.flaky',
      to: 'Failed',
      event: 'step.failed',
      step: 'flaky',
      direction: 'run',
      attempt: 1,
      error: { name: 'TerminalError', message: 'no seats', code: 'TERMINAL', terminal: true },
    });
  });

  it('records the attempt that succeeded after retries', async () => {
    const saga = sagaWith({ retry: { attempts: 3, backoff: { type: 'fixed', delayMs: 10 } } });
    const { engine, clock } = harness(failFirst(2));
    const { sagaId } = await engine.start(saga, {});
    await clock.runAll();
    const { history } = await engine.waitFor(sagaId);
    expect(history.filter((e) => e.event === 'step.done').map((e) => [e.step, e.direction, e.attempt, e.at])).toEqual([
      ['flaky', 'run', 3, 20],
      ['after', 'run', 1, 20],
    ]);
    expect(history.some((e) => e.error !== undefined)).toBe(false);
  });
});
