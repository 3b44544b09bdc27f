import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { CompensationContext, Engine, EngineEventMap, StepConfig, StepContext } from '../../src/index.ts';
import { createEngine, defineSaga, TerminalError } from '../../src/index.ts';
import { TestClock } from '../../src/testing/test-clock.ts';

type Names = 'a' | 'b' | 'c' | 'd' | 'e' | 'f';
const NAMES: Names[] = ['a', 'b', 'c', 'd', 'e', 'f'];

/**
 * a, c, d, e, f are compensable; b is not. The input says which step fails (terminally) and which
 * compensations fail.
 */
function sagaWith(overrides: Partial<Record<Names, Omit<StepConfig, 'name'>>> = {}) {
  return defineSaga({
    name: 'rollback',
    version: 1,
    input: z.object({ failAt: z.string().optional(), failUndo: z.array(z.string()).optional() }),
    steps: NAMES.map((name) => ({
      name,
      ...(name === 'b' ? { kind: 'query' as const } : {}),
      ...overrides[name],
    })) as unknown as readonly StepConfig<Names>[],
  });
}

interface Call {
  step: string;
  direction: 'run' | 'compensate';
  attempt: number;
  result?: unknown;
}

const engines: Engine[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close();
});

/** The engine, with handlers for every step: `compensate` only on the steps the saga compensates. */
function harness(queries: readonly Names[] = ['b']) {
  const clock = new TestClock();
  const calls: Call[] = [];
  const handler = (name: Names) => ({
    run: (ctx: StepContext<{ failAt?: string }>) => {
      calls.push({ step: name, direction: 'run', attempt: ctx.attempt });
      if (ctx.input.failAt === name) throw new TerminalError(`${name} refused`);
      return { booking: `${name}-1` };
    },
    compensate: (ctx: CompensationContext<{ failUndo?: string[] }>) => {
      calls.push({ step: name, direction: 'compensate', attempt: ctx.attempt, result: ctx.result });
      if (ctx.input.failUndo?.includes(name)) throw new Error(`${name} undo failed`);
    },
  });
  const handlers = (name: Names) => (queries.includes(name) ? { run: handler(name).run } : handler(name));
  const engine = createEngine({
    clock,
    random: () => 0,
    handlers: { rollback: Object.fromEntries(NAMES.map((n) => [n, handlers(n)])) },
  });
  engines.push(engine);
  const escalations: EngineEventMap['escalated'][0][] = [];
  engine.on('escalated', (alert) => escalations.push(alert));
  return { engine, clock, calls, escalations };
}

const runs = (calls: Call[]) => calls.filter((c) => c.direction === 'run').map((c) => c.step);
const undos = (calls: Call[]) => calls.filter((c) => c.direction === 'compensate').map((c) => c.step);

describe('compensation', () => {
  it('undoes completed steps newest first, in exact reverse order of completion', async () => {
    const { engine, clock, calls } = harness();
    const { sagaId } = await engine.start(sagaWith(), { failAt: 'e' });
    await clock.runAll();
    const view = await engine.waitFor(sagaId);

    expect(runs(calls)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(undos(calls)).toEqual(['d', 'c', 'a']);
    expect(view.state).toBe('Failed');
    expect(view.completed).toEqual(['a', 'b', 'c', 'd']);
    expect(view.compensated).toEqual(['d', 'c', 'a']);
    expect(view.failure).toEqual({
      reason: 'failed',
      step: 'e',
      error: { name: 'TerminalError', message: 'e refused', code: 'TERMINAL', terminal: true },
    });
  });

  it('does not compensate the step that failed before completing, nor steps that never started', async () => {
    const { engine, clock, calls } = harness();
    const { sagaId } = await engine.start(sagaWith(), { failAt: 'c' });
    await clock.runAll();
    const view = await engine.waitFor(sagaId);

    expect(undos(calls)).toEqual(['a']);
    expect(Object.fromEntries(view.steps.map((s) => [s.name, s.status]))).toEqual({
      a: 'compensated',
      b: 'skipped',
      c: 'failed',
      d: 'idle',
      e: 'idle',
      f: 'idle',
    });
    expect(view.steps.find((s) => s.name === 'd')?.attempts).toBe(0);
  });

  it('ends Failed with nothing to undo when the first step fails', async () => {
    const { engine, clock, calls } = harness();
    const { sagaId } = await engine.start(sagaWith(), { failAt: 'a' });
    await clock.runAll();
    const view = await engine.waitFor(sagaId);
    expect(view.state).toBe('Failed');
    expect(undos(calls)).toEqual([]);
    expect(view.compensated).toEqual([]);
    expect(view.skipped).toEqual([]);
  });

  it('skips a completed step without compensation and records it in skipped and its status', async () => {
    const saga = sagaWith({ d: { kind: 'query' } });
    const { engine, clock, calls } = harness(['b', 'd']);
    const { sagaId } = await engine.start(saga, { failAt: 'f' });
    await clock.runAll();
    const view = await engine.waitFor(sagaId);

    expect(undos(calls)).toEqual(['e', 'c', 'a']);
    expect(view.skipped).toEqual(['d', 'b']);
    expect(view.compensated).toEqual(['e', 'c', 'a']);
    expect(view.steps.find((s) => s.name === 'b')?.status).toBe('skipped');
    expect(view.steps.find((s) => s.name === 'd')?.status).toBe('skipped');
    expect(view.state).toBe('Failed');
  });

  it('gives a compensation the result of the step it undoes', async () => {
    const { engine, clock, calls } = harness();
    const { sagaId } = await engine.start(sagaWith(), { failAt: 'd' });
    await clock.runAll();
    await engine.waitFor(sagaId);
    expect(calls.filter((c) => c.direction === 'compensate').map((c) => [c.step, c.result])).toEqual([
      ['c', { booking: 'c-1' }],
      ['a', { booking: 'a-1' }],
    ]);
  });

  it('logs every compensation transition with its step, direction and attempts', async () => {
    const { engine, clock } = harness();
    const { sagaId } = await engine.start(sagaWith(), { failAt: 'd' });
    await clock.runAll();
    const { history } = await engine.waitFor(sagaId);
    expect(history.slice(-3).map((e) => [e.from, e.to, e.event, e.step, e.direction, e.attempt])).toEqual([
      ['Pending.d', 'Compensating.c', 'step.failed', 'd', 'run', 1],
      ['Compensating.c', 'Compensating.a', 'step.done', 'c', 'compensate', 1],
      ['Compensating.a', 'Failed', 'step.done', 'a', 'compensate', 1],
    ]);
  });

  describe('retries of a compensation', () => {
    it('uses its own retry policy, not the forward one', async () => {
      const saga = sagaWith({
        c: {
          compensate: { retry: { attempts: 2, backoff: { type: 'fixed', delayMs: 40 } } },
          retry: { attempts: 9, backoff: { type: 'fixed', delayMs: 1 } },
        },
      });
      const { engine, clock, calls } = harness();
      const { sagaId } = await engine.start(saga, { failAt: 'e', failUndo: ['c'] });
      await clock.runAll();
      const view = await engine.waitFor(sagaId);

      expect(calls.filter((c) => c.step === 'c' && c.direction === 'compensate').map((c) => c.attempt)).toEqual([1, 2]);
      expect(view.steps.find((s) => s.name === 'c')).toMatchObject({
        status: 'compensation_failed',
        compensationAttempts: 2,
      });
      // Timeouts are 30 000 ms; the only backoff was c's compensation, once.
      expect(clock.delays.filter((d) => d !== 30_000)).toEqual([40]);
    });

    it('uses the default compensation policy: 5 attempts, 200 ms doubling', async () => {
      const { engine, clock, calls } = harness();
      const { sagaId } = await engine.start(sagaWith(), { failAt: 'b', failUndo: ['a'] });
      await clock.runAll();
      const view = await engine.waitFor(sagaId);
      expect(calls.filter((c) => c.direction === 'compensate').map((c) => c.attempt)).toEqual([1, 2, 3, 4, 5]);
      expect(clock.delays.filter((d) => d !== 30_000)).toEqual([200, 400, 800, 1600]);
      expect(view.state).toBe('Escalated');
    });

    it('stops retrying a compensation that throws TerminalError, and escalates', async () => {
      const clock = new TestClock();
      const terminal = defineSaga({
        name: 'terminal-undo',
        version: 1,
        input: z.object({}),
        steps: [
          { name: 'x', compensate: { retry: { attempts: 4 } } },
          { name: 'y', kind: 'query' },
        ],
      });
      const attempts: number[] = [];
      const engine = createEngine({
        clock,
        random: () => 0,
        handlers: {
          'terminal-undo': {
            x: {
              run: () => 'x',
              compensate: (ctx) => {
                attempts.push(ctx.attempt);
                throw new TerminalError('already refunded by hand');
              },
            },
            y: {
              run: () => {
                throw new TerminalError('y refused');
              },
            },
          },
        },
      });
      engines.push(engine);
      const started = await engine.start(terminal, {});
      await clock.runAll();
      const view = await engine.waitFor(started.sagaId);
      expect(attempts).toEqual([1]);
      expect(view.state).toBe('Escalated');
      expect(view.escalation?.error).toEqual({
        name: 'TerminalError',
        message: 'already refunded by hand',
        code: 'TERMINAL',
        terminal: true,
      });
    });

    it('times out a compensation on its own timeoutMs, aborting its signal', async () => {
      const saga = defineSaga({
        name: 'slow-undo',
        version: 1,
        input: z.object({}),
        steps: [
          { name: 'x', timeoutMs: 5_000, compensate: { timeoutMs: 40, retry: { attempts: 1 } } },
          { name: 'y', kind: 'query' },
        ],
      });
      const clock = new TestClock();
      const signals: AbortSignal[] = [];
      const engine = createEngine({
        clock,
        random: () => 0,
        handlers: {
          'slow-undo': {
            x: {
              run: () => 'x',
              compensate: (ctx) => {
                signals.push(ctx.signal);
                return new Promise(() => {});
              },
            },
            y: {
              run: () => {
                throw new TerminalError('no');
              },
            },
          },
        },
      });
      engines.push(engine);
      const { sagaId } = await engine.start(saga, {});
      await clock.advance(39);
      expect(signals).toHaveLength(1);
      expect(signals[0]?.aborted).toBe(false);
      await clock.advance(1);
      const view = await engine.waitFor(sagaId);

      expect(signals[0]?.aborted).toBe(true);
      expect((signals[0]?.reason as { code?: string } | undefined)?.code).toBe('STEP_TIMEOUT');
      expect(view.state).toBe('Escalated');
      expect(view.escalation?.error).toMatchObject({ name: 'StepTimeoutError', code: 'STEP_TIMEOUT' });
      expect(view.escalation?.error.message).toContain('40 ms');
    });

    it('counts a compensation that succeeds after retries as compensated', async () => {
      const saga = defineSaga({
        name: 'flaky-undo',
        version: 1,
        input: z.object({}),
        steps: [
          { name: 'x', compensate: { retry: { attempts: 3, backoff: { type: 'fixed', delayMs: 5 } } } },
          { name: 'y', kind: 'query' },
        ],
      });
      const clock = new TestClock();
      const engine = createEngine({
        clock,
        random: () => 0,
        handlers: {
          'flaky-undo': {
            x: {
              run: () => 'x',
              compensate: (ctx) => {
                if (ctx.attempt < 3) throw new Error('busy');
              },
            },
            y: {
              run: () => {
                throw new TerminalError('no');
              },
            },
          },
        },
      });
      engines.push(engine);
      const { sagaId } = await engine.start(saga, {});
      await clock.runAll();
      const view = await engine.waitFor(sagaId);
      expect(view.state).toBe('Failed');
      expect(view.steps[0]).toMatchObject({ status: 'compensated', compensationAttempts: 3 });
    });
  });

  describe('escalation', () => {
    it('escalates when a compensation exhausts its retries, listing the steps left to undo', async () => {
      const saga = sagaWith({ c: { compensate: { retry: { attempts: 2, backoff: { type: 'fixed', delayMs: 1 } } } } });
      const { engine, clock, calls, escalations } = harness();
      const { sagaId } = await engine.start(saga, { failAt: 'e', failUndo: ['c'] });
      await clock.runAll();
      const view = await engine.waitFor(sagaId);

      expect(view.state).toBe('Escalated');
      expect(undos(calls)).toEqual(['d', 'c', 'c']);
      expect(view.compensated).toEqual(['d']);
      expect(view.escalation).toEqual({
        direction: 'compensate',
        step: 'c',
        error: { name: 'Error', message: 'c undo failed' },
        uncompensated: ['c', 'a'],
      });
      expect(view.steps.find((s) => s.name === 'a')?.status).toBe('completed');
      expect(escalations).toEqual([{ sagaId, name: 'rollback', escalation: view.escalation }]);
      expect(view.history.at(-1)).toMatchObject({
        from: 'Compensating.c',
        to: 'Escalated',
        event: 'step.failed',
        step: 'c',
        direction: 'compensate',
        attempt: 2,
        error: { name: 'Error', message: 'c undo failed' },
      });
    });

    it('is never reported as Completed or Failed while compensations are left', async () => {
      const { engine, clock } = harness();
      const { sagaId } = await engine.start(sagaWith(), { failAt: 'c', failUndo: ['a'] });
      await clock.runAll();
      const view = await engine.waitFor(sagaId);
      expect(view.state).toBe('Escalated');
      expect((await engine.list({ state: 'Escalated' })).items.map((v) => v.sagaId)).toEqual([sagaId]);
      expect((await engine.list({ state: 'Failed' })).items).toEqual([]);
      expect((await engine.list({ state: 'Completed' })).items).toEqual([]);
    });
  });
});
