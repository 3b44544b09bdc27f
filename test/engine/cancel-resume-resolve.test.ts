import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createStepRunner } from '../../src/engine/step-runner.ts';
import type {
  Engine,
  EngineEventMap,
  HandlerRegistry,
  SagaError,
  SagaUpdate,
  TransitionEntry,
} from '../../src/index.ts';
import {
  createEngine,
  defineSaga,
  InProcessQueue,
  InvalidStateError,
  MemoryStore,
  TerminalError,
} from '../../src/index.ts';
import { TestClock } from '../../src/testing/test-clock.ts';
import { caught } from '../support/caught.ts';
import { type Deferred, deferred } from '../support/deferred.ts';

const saga = defineSaga({
  name: 'booking',
  version: 1,
  input: z.object({}),
  steps: [
    { name: 'a', compensate: true },
    { name: 'b', compensate: true },
    { name: 'c', compensate: { retry: { attempts: 2, backoff: { type: 'fixed', delayMs: 10 } } } },
    { name: 'd', compensate: true },
    { name: 'e', compensate: true },
  ],
});
type Name = 'a' | 'b' | 'c' | 'd' | 'e';
const NAMES: Name[] = ['a', 'b', 'c', 'd', 'e'];

interface Behaviour {
  /** Steps whose run waits for this gate (and signals `started` when called). */
  gate?: { step: Name; started: Deferred; release: Deferred };
  /** Step whose run throws TerminalError. */
  failAt?: Name;
  /** Compensations that throw, while the flag is set. */
  failUndo: Set<Name>;
}

const engines: Engine[] = [];
const queues: InProcessQueue[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close();
  for (const queue of queues.splice(0)) await queue.close();
});

function harness(options: { queue?: 'inspectable'; store?: MemoryStore } = {}) {
  const clock = new TestClock();
  const calls: string[] = [];
  const behaviour: Behaviour = { failUndo: new Set() };
  const handlers: HandlerRegistry = {
    booking: Object.fromEntries(
      NAMES.map((name) => [
        name,
        {
          run: async () => {
            calls.push(`${name}.run`);
            if (behaviour.gate?.step === name) {
              behaviour.gate.started.resolve();
              await behaviour.gate.release.promise;
            }
            if (behaviour.failAt === name) throw new TerminalError(`${name} refused`);
            return `${name}-done`;
          },
          compensate: async () => {
            calls.push(`${name}.compensate`);
            if (behaviour.failUndo.has(name)) throw new Error(`${name} undo failed`);
          },
        },
      ]),
    ),
  };
  let queue: InProcessQueue | undefined;
  if (options.queue === 'inspectable') {
    queue = new InProcessQueue({ runAttempt: createStepRunner(handlers, clock), clock, random: () => 0 });
    queues.push(queue);
  }
  const engine = createEngine({
    clock,
    random: () => 0,
    handlers,
    ...(queue ? { queue } : {}),
    ...(options.store ? { store: options.store } : {}),
  });
  engines.push(engine);
  const escalations: EngineEventMap['escalated'][0][] = [];
  engine.on('escalated', (alert) => escalations.push(alert));
  return { engine, clock, calls, behaviour, queue, escalations };
}

/** Starts a saga that escalates on c's compensation (e fails, c cannot be undone twice). */
async function escalatedSaga(h: ReturnType<typeof harness>) {
  h.behaviour.failAt = 'e';
  h.behaviour.failUndo.add('c');
  const { sagaId } = await h.engine.start(saga, {});
  await h.clock.runAll();
  const view = await h.engine.waitFor(sagaId);
  expect(view.state).toBe('Escalated');
  await h.clock.advance(0);
  return sagaId;
}

/** Starts a saga whose step `step` is held in flight until `gate.release` resolves. */
async function startHeldAt(h: ReturnType<typeof harness>, step: Name) {
  const gate = { step, started: deferred(), release: deferred() };
  h.behaviour.gate = gate;
  const { sagaId } = await h.engine.start(saga, {});
  await gate.started.promise;
  return { sagaId, gate };
}

describe('cancel', () => {
  it('in Pending lets the step in flight finish, then compensates it and the earlier steps, ending Failed (cancelled)', async () => {
    const h = harness();
    const { sagaId, gate } = await startHeldAt(h, 'c');

    await h.engine.cancel(sagaId);
    const during = await h.engine.get(sagaId);
    expect(during.state).toBe('Pending');
    expect(during.steps.find((s) => s.name === 'c')?.status).toBe('running');
    expect(h.calls).toEqual(['a.run', 'b.run', 'c.run']);

    gate.release.resolve();
    const view = await h.engine.waitFor(sagaId);

    expect(h.calls).toEqual(['a.run', 'b.run', 'c.run', 'c.compensate', 'b.compensate', 'a.compensate']);
    expect(view.state).toBe('Failed');
    expect(view.failure).toEqual({ reason: 'cancelled' });
    expect(view.completed).toEqual(['a', 'b', 'c']);
    expect(view.compensated).toEqual(['c', 'b', 'a']);
    expect(view.steps.find((s) => s.name === 'd')?.status).toBe('idle');
    expect(view.history.map((e) => e.event)).toContain('saga.cancel');
  });

  it('in Pending, when the step in flight then fails, compensates only the steps before it', async () => {
    const h = harness();
    const gate = { step: 'c' as const, started: deferred(), release: deferred() };
    h.behaviour.gate = gate;
    h.behaviour.failAt = 'c';
    const { sagaId } = await h.engine.start(saga, {});
    await gate.started.promise;

    await h.engine.cancel(sagaId);
    gate.release.resolve();
    const view = await h.engine.waitFor(sagaId);

    expect(h.calls).toEqual(['a.run', 'b.run', 'c.run', 'b.compensate', 'a.compensate']);
    expect(view.state).toBe('Failed');
    expect(view.failure).toEqual({
      reason: 'cancelled',
      step: 'c',
      error: { name: 'TerminalError', message: 'c refused', code: 'TERMINAL', terminal: true },
    });
    expect(view.steps.find((s) => s.name === 'c')?.status).toBe('failed');
  });

  it('twice while a step is in flight has the effect of once', async () => {
    const h = harness();
    const { sagaId, gate } = await startHeldAt(h, 'b');
    await h.engine.cancel(sagaId);
    await h.engine.cancel(sagaId);
    gate.release.resolve();
    const view = await h.engine.waitFor(sagaId);
    expect(view.history.filter((e) => e.event === 'saga.cancel')).toHaveLength(1);
    expect(h.calls).toEqual(['a.run', 'b.run', 'b.compensate', 'a.compensate']);
  });

  it('in Started (the creator died before dispatching) ends Failed (cancelled) without running a step', async () => {
    class SaveFailsOnce extends MemoryStore {
      failNext = true;
      override async save(update: SagaUpdate, entry: TransitionEntry): Promise<number> {
        if (this.failNext) {
          this.failNext = false;
          throw new Error('disk full');
        }
        return super.save(update, entry);
      }
    }
    const store = new SaveFailsOnce();
    const h = harness({ store });
    await expect(h.engine.start(saga, {}, { sagaId: 'stuck' })).rejects.toThrow('disk full');
    expect((await h.engine.get('stuck')).state).toBe('Started');

    await h.engine.cancel('stuck');
    const view = await h.engine.waitFor('stuck');

    expect(view.state).toBe('Failed');
    expect(view.failure).toEqual({ reason: 'cancelled' });
    expect(h.calls).toEqual([]);
  });

  it('while compensating does nothing more', async () => {
    const h = harness();
    h.behaviour.failAt = 'c';
    // Hold b's compensation by failing it once: the saga stays in Compensating.b until the backoff fires.
    h.behaviour.failUndo.add('b');
    const { sagaId } = await h.engine.start(saga, {});
    await h.clock.advance(0);
    expect((await h.engine.get(sagaId)).state).toBe('Compensating');

    await h.engine.cancel(sagaId);
    h.behaviour.failUndo.delete('b');
    await h.clock.runAll();
    const view = await h.engine.waitFor(sagaId);
    expect(view.state).toBe('Failed');
    expect(view.failure?.reason).toBe('failed');
    expect(view.history.some((e) => e.event === 'saga.cancel')).toBe(false);
  });

  it.each([
    ['Completed', undefined],
    ['Failed', 'a' as const],
  ])('refuses a %s saga with INVALID_STATE', async (state, failAt) => {
    const h = harness();
    if (failAt) h.behaviour.failAt = failAt;
    const { sagaId } = await h.engine.start(saga, {});
    expect((await h.engine.waitFor(sagaId)).state).toBe(state);

    const error = await caught(h.engine.cancel(sagaId));
    expect(error).toBeInstanceOf(InvalidStateError);
    expect(error.code).toBe('INVALID_STATE');
    expect(error.message).toContain(state);
  });

  it('refuses an Escalated saga with INVALID_STATE', async () => {
    const h = harness();
    const sagaId = await escalatedSaga(h);
    expect((await caught(h.engine.cancel(sagaId))).code).toBe('INVALID_STATE');
  });

  it('throws SAGA_NOT_FOUND for an unknown saga', async () => {
    const h = harness();
    expect((await caught(h.engine.cancel('ghost'))).code).toBe('SAGA_NOT_FOUND');
  });
});

describe('resume', () => {
  it('retries the failed compensation in a new round, then the rest, and ends Failed', async () => {
    const h = harness();
    const sagaId = await escalatedSaga(h);
    expect(h.calls.filter((c) => c.endsWith('.compensate'))).toEqual(['d.compensate', 'c.compensate', 'c.compensate']);

    h.behaviour.failUndo.clear();
    await h.engine.resume(sagaId);
    await h.clock.runAll();
    const view = await h.engine.waitFor(sagaId);

    expect(view.state).toBe('Failed');
    expect(h.calls.filter((c) => c.endsWith('.compensate'))).toEqual([
      'd.compensate',
      'c.compensate',
      'c.compensate',
      'c.compensate',
      'b.compensate',
      'a.compensate',
    ]);
    expect(view.compensated).toEqual(['d', 'c', 'b', 'a']);
    expect(view.escalation).toBeUndefined();
    expect(view.steps.find((s) => s.name === 'c')).toMatchObject({ status: 'compensated', compensationAttempts: 3 });
    expect(view.history.find((e) => e.event === 'saga.resume')).toMatchObject({
      from: 'Escalated',
      to: 'Compensating.c',
    });
  });

  it('escalates again when the compensation still fails, alerting each time', async () => {
    const h = harness();
    const sagaId = await escalatedSaga(h);
    await h.engine.resume(sagaId);
    await h.clock.runAll();
    const view = await h.engine.waitFor(sagaId);

    expect(view.state).toBe('Escalated');
    expect(view.steps.find((s) => s.name === 'c')?.compensationAttempts).toBe(4);
    expect(h.escalations.map((e) => [e.sagaId, e.escalation.step, e.escalation.uncompensated])).toEqual([
      [sagaId, 'c', ['c', 'b', 'a']],
      [sagaId, 'c', ['c', 'b', 'a']],
    ]);
  });

  it('keeps the failed compensation job as a dead letter until resumed, then runs a new round', async () => {
    const h = harness({ queue: 'inspectable' });
    const sagaId = await escalatedSaga(h);
    expect(h.queue?.jobIds()).toEqual([`${sagaId}~c~compensate`]);

    h.behaviour.failUndo.clear();
    await h.engine.resume(sagaId);
    await h.clock.runAll();
    await h.engine.waitFor(sagaId);
    await h.clock.advance(0);
    expect(h.queue?.jobIds()).toEqual([]);
  });

  it.each([
    ['Completed', undefined],
    ['Failed', 'b' as const],
  ])('refuses a %s saga with INVALID_STATE', async (state, failAt) => {
    const h = harness();
    if (failAt) h.behaviour.failAt = failAt;
    const { sagaId } = await h.engine.start(saga, {});
    expect((await h.engine.waitFor(sagaId)).state).toBe(state);

    const error = await caught(h.engine.resume(sagaId));
    expect(error).toBeInstanceOf(InvalidStateError);
    expect(error.code).toBe('INVALID_STATE');
    expect(error.message).toContain(`is ${state}`);
  });

  it('refuses a Pending saga with INVALID_STATE', async () => {
    const h = harness();
    const { sagaId, gate } = await startHeldAt(h, 'a');
    expect((await caught(h.engine.resume(sagaId))).code).toBe('INVALID_STATE');
    expect((await caught(h.engine.resolve(sagaId, 'x'))).code).toBe('INVALID_STATE');
    gate.release.resolve();
    expect((await h.engine.waitFor(sagaId)).state).toBe('Completed');
  });

  it('throws SAGA_NOT_FOUND for an unknown saga', async () => {
    const h = harness();
    expect((await caught(h.engine.resume('ghost'))).code).toBe('SAGA_NOT_FOUND');
  });
});

describe('resolve', () => {
  it('ends an Escalated saga Failed, keeping the note and the steps left, running nothing more', async () => {
    const h = harness({ queue: 'inspectable' });
    const sagaId = await escalatedSaga(h);
    const callsBefore = [...h.calls];

    await h.engine.resolve(sagaId, 'refunded c and a by hand, ticket OPS-7');
    await h.clock.runAll();
    const view = await h.engine.get(sagaId);

    expect(view.state).toBe('Failed');
    expect(view.resolution).toEqual({ note: 'refunded c and a by hand, ticket OPS-7', uncompensated: ['c', 'b', 'a'] });
    expect(h.calls).toEqual(callsBefore);
    expect(view.history.at(-1)).toMatchObject({ from: 'Escalated', to: 'Failed', event: 'saga.resolve' });
    expect(h.queue?.jobIds()).toEqual([]);
  });

  it('refuses a saga that is not Escalated with INVALID_STATE', async () => {
    const h = harness();
    const { sagaId } = await h.engine.start(saga, {});
    await h.engine.waitFor(sagaId);
    const error = await caught(h.engine.resolve(sagaId, 'nothing to fix'));
    expect(error.code).toBe('INVALID_STATE');
    expect(error.message).toContain('Completed');
  });

  it('cannot be applied twice', async () => {
    const h = harness();
    const sagaId = await escalatedSaga(h);
    await h.engine.resolve(sagaId, 'done');
    expect((await caught(h.engine.resolve(sagaId, 'again'))).code).toBe('INVALID_STATE');
    expect((await h.engine.get(sagaId)).resolution?.note).toBe('done');
  });
});

describe('commands racing each other and the saga', () => {
  it('of a resume and a resolve sent at once, exactly one takes effect and the other throws INVALID_STATE', async () => {
    for (const order of ['resume-first', 'resolve-first'] as const) {
      const h = harness();
      const sagaId = await escalatedSaga(h);
      h.behaviour.failUndo.clear();
      const send = {
        resume: () => h.engine.resume(sagaId),
        resolve: () => h.engine.resolve(sagaId, 'refunded by hand'),
      };
      const [first, second] = order === 'resume-first' ? [send.resume, send.resolve] : [send.resolve, send.resume];
      // Both sent in the same tick, before either has been applied.
      const settled = await Promise.allSettled([first(), second()]);

      expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(1);
      const refused = settled.find((s) => s.status === 'rejected') as PromiseRejectedResult;
      expect(refused.reason).toBeInstanceOf(InvalidStateError);
      expect(refused.reason.code).toBe('INVALID_STATE');
      await h.clock.runAll();
      const view = await h.engine.waitFor(sagaId);
      // The winner decides the end, and the loser's effect is nowhere: no silently dropped note.
      const resumeWon = (order === 'resume-first' ? settled[0] : settled[1])?.status === 'fulfilled';
      if (resumeWon) {
        expect(view.resolution).toBeUndefined();
        expect(view.compensated).toContain('c');
      } else {
        expect(view.resolution?.note).toBe('refunded by hand');
      }
    }
  });

  it('a cancel racing the last step never resolves on a saga that then completes', async () => {
    // Release the last step's handler, then cancel after 0..12 microtask yields: whichever lands
    // first, the cancel either took effect (the saga ends Failed, cancelled) or says it did not.
    for (let yields = 0; yields <= 12; yields++) {
      const h = harness();
      const { sagaId, gate } = await startHeldAt(h, 'e');
      gate.release.resolve();
      for (let i = 0; i < yields; i++) await Promise.resolve();
      const cancel = await h.engine.cancel(sagaId).then(
        () => 'took effect',
        (error: SagaError) => error.code,
      );
      await h.clock.runAll();
      const view = await h.engine.waitFor(sagaId);
      if (cancel === 'took effect') {
        expect(view.state, `after ${yields} yields`).toBe('Failed');
        expect(view.failure?.reason).toBe('cancelled');
      } else {
        expect(cancel, `after ${yields} yields`).toBe('INVALID_STATE');
        expect(view.state).toBe('Completed');
      }
    }
  });

  it('a second cancel of a saga already being cancelled succeeds and changes nothing', async () => {
    const h = harness();
    const { sagaId, gate } = await startHeldAt(h, 'b');
    await h.engine.cancel(sagaId);
    const revision = (await h.engine.get(sagaId)).revision;
    await h.engine.cancel(sagaId);
    expect((await h.engine.get(sagaId)).revision).toBe(revision);
    gate.release.resolve();
    await h.clock.runAll();
    expect((await h.engine.waitFor(sagaId)).failure?.reason).toBe('cancelled');
  });

  it('refuses a resolve note that is not a string, with INPUT_INVALID', async () => {
    const h = harness();
    const sagaId = await escalatedSaga(h);
    await expect(h.engine.resolve(sagaId, 42 as unknown as string)).rejects.toMatchObject({
      code: 'INPUT_INVALID',
      path: 'note',
    });
    expect((await h.engine.get(sagaId)).state).toBe('Escalated');
  });
});
