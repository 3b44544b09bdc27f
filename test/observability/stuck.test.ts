import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  createEngine,
  defineDynamicSaga,
  defineSaga,
  type Engine,
  type StuckSaga,
  TerminalError,
} from '../../src/index.ts';
import { createMetrics } from '../../src/metrics/index.ts';
import { TestClock } from '../../src/testing/test-clock.ts';
import { eventually } from '../durable/redis-helpers.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** `hold` waits for the test to let it go; `fail` refuses, so `hold`'s undo runs (and may hang too). */
const slow = defineSaga({
  name: 'slow',
  version: 1,
  input: z.object({ fail: z.boolean().default(false) }),
  steps: [
    { name: 'hold', compensate: { timeoutMs: 2 * HOUR }, timeoutMs: 2 * HOUR, retry: { attempts: 1 } },
    { name: 'fail', retry: { attempts: 1 }, kind: 'query' },
  ],
});

/** The same shape with its own threshold: stuck only after 30 minutes. */
const patient = defineSaga({
  name: 'patient',
  version: 1,
  input: z.object({}),
  stuckAfterMs: 30 * MINUTE,
  steps: [{ name: 'hold', timeoutMs: 2 * HOUR, retry: { attempts: 1 }, kind: 'query' }],
});

/** Handlers that park `hold` (run and undo) until `release()`. */
function parked() {
  const waiting: Array<() => void> = [];
  const park = () => new Promise<void>((resolve) => waiting.push(resolve));
  const handlers = {
    run: async () => {
      await park();
      return {};
    },
    compensate: () => park(),
  };
  return {
    handlers: {
      slow: {
        hold: handlers,
        fail: {
          run: (ctx: { input: { fail: boolean } }) => {
            if (ctx.input.fail) throw new TerminalError('no');
            return {};
          },
        },
      },
      patient: { hold: { run: handlers.run } },
    },
    release: () => {
      for (const resolve of waiting.splice(0)) resolve();
    },
    get parked() {
      return waiting.length;
    },
  };
}

let engine: Engine | undefined;
afterEach(async () => {
  await engine?.close();
  engine = undefined;
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('stuck-saga detection', () => {
  it('reports a saga that has not moved past its threshold, once, by event and gauge', async () => {
    const clock = new TestClock(1_000_000);
    const metrics = createMetrics();
    const steps = parked();
    engine = createEngine({
      clock,
      handlers: steps.handlers,
      instrumentation: metrics,
      stuck: { checkIntervalMs: 10, afterMs: 15 * MINUTE },
    });
    const stuck: StuckSaga[] = [];
    engine.on('stuck', (saga) => stuck.push(saga));
    const pending = await engine.start(slow, {});
    const waiting = await engine.start(patient, {});
    await eventually(async () => steps.parked === 2);

    await sleep(50); // several passes: nothing is old enough yet
    expect(stuck).toEqual([]);

    await clock.advance(16 * MINUTE);
    await eventually(async () => stuck.length === 1);
    expect(stuck[0]).toEqual({
      sagaId: pending.sagaId,
      name: 'slow',
      version: 1,
      state: 'Pending',
      step: 'hold',
      since: 1_000_000,
      stuckForMs: expect.any(Number),
      thresholdMs: 15 * MINUTE,
      revision: expect.any(Number),
    });
    expect(stuck[0]?.stuckForMs).toBeGreaterThanOrEqual(16 * MINUTE);
    await eventually(async () => (await gauge(metrics.registry)).length === 1);
    expect(await gauge(metrics.registry)).toEqual([{ labels: { saga: 'slow', state: 'Pending' }, value: 1 }]);

    // The definition's own threshold (30 minutes) applies to the other saga.
    await clock.advance(15 * MINUTE);
    await eventually(async () => stuck.length === 2);
    expect(stuck[1]).toMatchObject({ sagaId: waiting.sagaId, name: 'patient', thresholdMs: 30 * MINUTE });

    await sleep(50); // more passes: each saga was announced once
    expect(stuck.map((s) => s.sagaId)).toEqual([pending.sagaId, waiting.sagaId]);

    // Once they move on and settle, the gauge empties.
    steps.release();
    expect((await engine.waitFor(pending.sagaId)).state).toBe('Completed');
    expect((await engine.waitFor(waiting.sagaId)).state).toBe('Completed');
    await eventually(async () => (await gauge(metrics.registry)).length === 0);
    expect(stuck).toHaveLength(2);
  });

  it('does not report a saga parked at a wait, or a dynamic saga waiting for its agent', async () => {
    const clock = new TestClock(1_000_000);
    const approval = defineSaga({
      name: 'approval',
      version: 1,
      input: z.object({}),
      steps: [{ wait: 'approve', signal: z.object({}), timeoutMs: 7 * 24 * HOUR }],
    });
    const agent = defineDynamicSaga({
      name: 'agent',
      version: 1,
      input: z.object({}),
      idleTimeoutMs: 24 * HOUR,
      tools: { look: { kind: 'query', args: z.object({}), run: () => 'seen' } },
    });
    engine = createEngine({
      clock,
      handlers: { agent: agent.handlers },
      stuck: { checkIntervalMs: 10, afterMs: 15 * MINUTE },
    });
    const stuck: StuckSaga[] = [];
    engine.on('stuck', (saga) => stuck.push(saga));
    const parkedSaga = await engine.start(approval, {});
    const idle = await engine.start(agent, {});
    await engine.appendStep(idle.sagaId, { tool: 'look', args: {} });

    await clock.advance(3 * HOUR);
    await sleep(50); // several passes, long past the threshold
    expect(stuck).toEqual([]);
    expect((await engine.get(parkedSaga.sagaId)).state).toBe('Pending');
    expect((await engine.get(idle.sagaId)).state).toBe('Pending');
  });

  it('reports a saga stuck in Compensating with the compensation it waits on', async () => {
    const clock = new TestClock();
    const steps = parked();
    engine = createEngine({ clock, handlers: steps.handlers, stuck: { checkIntervalMs: 10 } });
    const stuck: StuckSaga[] = [];
    engine.on('stuck', (saga) => stuck.push(saga));
    const { sagaId } = await engine.start(slow, { fail: true });
    await eventually(async () => steps.parked === 1);
    steps.release(); // hold done, fail refuses, the undo of hold parks
    await eventually(async () => steps.parked === 1 && (await engine?.get(sagaId))?.state === 'Compensating');

    await clock.advance(15 * MINUTE); // the default threshold: 15 minutes
    await eventually(async () => stuck.length === 1);
    expect(stuck[0]).toMatchObject({ sagaId, state: 'Compensating', step: 'hold', thresholdMs: 15 * MINUTE });
    steps.release();
    expect((await engine.waitFor(sagaId)).state).toBe('Failed');
  });

  it('announces a saga again only if it moved and then stopped again', async () => {
    const clock = new TestClock();
    const steps = parked();
    engine = createEngine({ clock, handlers: steps.handlers, stuck: { checkIntervalMs: 10, afterMs: MINUTE } });
    const stuck: StuckSaga[] = [];
    engine.on('stuck', (saga) => stuck.push(saga));
    const { sagaId } = await engine.start(slow, { fail: true });
    await eventually(async () => steps.parked === 1);
    await clock.advance(2 * MINUTE);
    await eventually(async () => stuck.length === 1);
    steps.release(); // moves on to Compensating, where it parks again
    await eventually(async () => steps.parked === 1 && (await engine?.get(sagaId))?.state === 'Compensating');
    await sleep(50);
    expect(stuck).toHaveLength(1);
    await clock.advance(2 * MINUTE);
    await eventually(async () => stuck.length === 2);
    expect(stuck.map((s) => s.state)).toEqual(['Pending', 'Compensating']);
    steps.release();
  });

  it('refuses a bad threshold in a definition or the engine options, naming the field', () => {
    const config = { name: 'odd', version: 1, input: z.object({}), steps: [{ name: 'x', kind: 'query' as const }] };
    expect(() => defineSaga({ ...config, stuckAfterMs: 0 })).toThrow(
      expect.objectContaining({ name: 'DefinitionError', path: 'stuckAfterMs' }),
    );
    expect(defineSaga({ ...config, stuckAfterMs: HOUR }).stuckAfterMs).toBe(HOUR);
    expect(() => createEngine({ stuck: { checkIntervalMs: 0 } })).toThrow(/stuck.checkIntervalMs must be/);
    expect(() => createEngine({ stuck: { afterMs: Number.NaN } })).toThrow(/stuck.afterMs must be/);
  });

  it('can be turned off', async () => {
    const clock = new TestClock();
    const steps = parked();
    engine = createEngine({ clock, handlers: steps.handlers, stuck: false });
    const stuck: StuckSaga[] = [];
    engine.on('stuck', (saga) => stuck.push(saga));
    await engine.start(slow, {});
    await eventually(async () => steps.parked === 1);
    await clock.advance(HOUR);
    await sleep(50);
    expect(stuck).toEqual([]);
    steps.release();
  });
});

async function gauge(registry: ReturnType<typeof createMetrics>['registry']) {
  const metric = registry.getSingleMetric('xsaga_sagas_stuck');
  return (await metric?.get())?.values.filter((v) => v.value > 0) ?? [];
}
