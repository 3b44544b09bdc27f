import { describe, expect, it } from 'vitest';
import { createActor, initialTransition, transition } from 'xstate';
import { z } from 'zod';
import type { ErrorInfo, SagaEvent, SagaMachine } from '../../src/index.ts';
import { buildSagaMachine, defineSaga, SagaEvents, SagaStates } from '../../src/index.ts';
import { NEXT_COMPENSATION } from '../../src/machines/build-saga-machine.ts';
import type { StepJobRequest } from '../../src/machines/context.ts';

/**
 * a (compensable), b (no compensation), c (compensable), d (no compensation), e (compensable).
 * Mixes compensable and non-compensable steps so every rollback target is distinct.
 */
const mixed = defineSaga({
  name: 'mixed',
  version: 1,
  input: z.object({ n: z.number() }),
  steps: [
    { name: 'a', compensate: true },
    { name: 'b', kind: 'query' },
    { name: 'c', compensate: true },
    { name: 'd', kind: 'query' },
    { name: 'e', compensate: true },
  ],
});

type Snapshot = ReturnType<typeof initialTransition<SagaMachine>>[0];
type Actions = ReturnType<typeof initialTransition<SagaMachine>>[1];

const boom: ErrorInfo = { name: 'Error', message: 'boom' };
const done = (step: string, extra: { attempts?: number; result?: unknown } = {}): SagaEvent => ({
  type: SagaEvents.stepDone,
  step,
  direction: 'run',
  attempts: extra.attempts ?? 1,
  round: 0,
  ...('result' in extra ? { result: extra.result } : {}),
});
const failed = (step: string, attempts = 1): SagaEvent => ({
  type: SagaEvents.stepFailed,
  step,
  direction: 'run',
  attempts,
  round: 0,
  error: boom,
});
const undone = (step: string, round = 0, attempts = 1): SagaEvent => ({
  type: SagaEvents.stepDone,
  step,
  direction: 'compensate',
  attempts,
  round,
});
const undoFailed = (step: string, round = 0, attempts = 5): SagaEvent => ({
  type: SagaEvents.stepFailed,
  step,
  direction: 'compensate',
  attempts,
  round,
  error: boom,
});

/** The step-job requests among a transition's actions (each `invoke` is a spawnChild action). */
function jobs(actions: Actions): StepJobRequest[] {
  return actions
    .filter((a) => a.type === 'xstate.spawnChild')
    .map((a) => (a as unknown as { params: { src: string; input: StepJobRequest } }).params)
    .map((p) => {
      expect(p.src).toBe('stepJob');
      return p.input;
    });
}

/** Applies events one after another with the pure `transition`, checking each one is accepted. */
function run(machine: SagaMachine, events: SagaEvent[], from?: Snapshot): [Snapshot, Actions] {
  let snapshot = from ?? initialTransition(machine, { sagaId: 's1', input: { n: 1 } })[0];
  let actions: Actions = [];
  for (const event of events) {
    expect(snapshot.can(event), `event ${JSON.stringify(event)} in ${JSON.stringify(snapshot.value)}`).toBe(true);
    [snapshot, actions] = transition(machine, snapshot, event);
  }
  return [snapshot, actions];
}

const start: SagaEvent = { type: SagaEvents.start };

describe('buildSagaMachine', () => {
  describe('shape', () => {
    const machine = buildSagaMachine(mixed);

    it('has the six top-level states, in order', () => {
      expect(Object.keys(machine.root.states)).toEqual([
        'Started',
        'Pending',
        'Compensating',
        'Completed',
        'Failed',
        'Escalated',
      ]);
      expect(Object.values(SagaStates)).toEqual(Object.keys(machine.root.states));
    });

    it('has one Pending substate per step, in definition order', () => {
      expect(Object.keys(machine.root.states.Pending?.states ?? {})).toEqual(['a', 'b', 'c', 'd', 'e']);
    });

    it('has one Compensating substate per compensable step, entered through the one that picks the next', () => {
      expect(Object.keys(machine.root.states.Compensating?.states ?? {})).toEqual([NEXT_COMPENSATION, 'a', 'c', 'e']);
    });

    it('has final Completed and Failed states and a non-final Escalated state', () => {
      expect(machine.root.states.Completed?.type).toBe('final');
      expect(machine.root.states.Failed?.type).toBe('final');
      expect(machine.root.states.Escalated?.type).not.toBe('final');
    });

    it('is built the same way every time and leaves the definition untouched', () => {
      const before = JSON.stringify(mixed.steps);
      expect(JSON.stringify(buildSagaMachine(mixed).toJSON())).toBe(JSON.stringify(machine.toJSON()));
      expect(JSON.stringify(mixed.steps)).toBe(before);
    });
  });

  describe('forward run', () => {
    const machine = buildSagaMachine(mixed);

    it('starts in Started with every step idle and dispatches nothing', () => {
      const [snapshot, actions] = initialTransition(machine, { sagaId: 's1', input: { n: 1 } });
      expect(snapshot.value).toBe('Started');
      expect(jobs(actions)).toEqual([]);
      expect(snapshot.context).toEqual({
        sagaId: 's1',
        input: { n: 1 },
        steps: Object.fromEntries(
          ['a', 'b', 'c', 'd', 'e'].map((n) => [n, { status: 'idle', attempts: 0, compensationAttempts: 0 }]),
        ),
        completed: [],
        compensated: [],
        skipped: [],
        cancelRequested: false,
        rounds: {},
      });
    });

    it('on start enters the first step and invokes its run job', () => {
      const [snapshot, actions] = run(machine, [start]);
      expect(snapshot.value).toEqual({ Pending: 'a' });
      expect(snapshot.context.steps.a?.status).toBe('running');
      expect(jobs(actions)).toEqual([{ sagaId: 's1', step: 'a', direction: 'run', round: 0 }]);
    });

    it('moves through the steps one by one, recording results and attempts, and ends Completed', () => {
      let [snapshot, actions] = run(machine, [start, done('a', { result: { id: 1 }, attempts: 2 })]);
      expect(snapshot.value).toEqual({ Pending: 'b' });
      expect(jobs(actions)).toEqual([{ sagaId: 's1', step: 'b', direction: 'run', round: 0 }]);
      expect(snapshot.context.steps.a).toEqual({
        status: 'completed',
        attempts: 2,
        compensationAttempts: 0,
        result: { id: 1 },
      });

      [snapshot] = run(machine, [done('b'), done('c'), done('d'), done('e')], snapshot);
      expect(snapshot.value).toBe('Completed');
      expect(snapshot.status).toBe('done');
      expect(snapshot.context.completed).toEqual(['a', 'b', 'c', 'd', 'e']);
      expect(snapshot.context.compensated).toEqual([]);
      expect(snapshot.context.failure).toBeUndefined();
    });
  });

  describe('rollback target', () => {
    const machine = buildSagaMachine(mixed);
    const forward = ['a', 'b', 'c', 'd', 'e'];

    it.each([
      // [failing step, expected state, skipped so far]
      ['a', 'Failed', []],
      ['b', { Compensating: 'a' }, []],
      ['c', { Compensating: 'a' }, ['b']],
      ['d', { Compensating: 'c' }, []],
      ['e', { Compensating: 'c' }, ['d']],
    ])('a failure at step %s goes to the newest compensable step before it: %j', (step, state, skipped) => {
      const k = forward.indexOf(step);
      const [snapshot, actions] = run(machine, [start, ...forward.slice(0, k).map((s) => done(s)), failed(step, 3)]);

      expect(snapshot.value).toEqual(state);
      expect(snapshot.context.skipped).toEqual(skipped);
      expect(snapshot.context.steps[step]).toEqual({
        status: 'failed',
        attempts: 3,
        compensationAttempts: 0,
        error: boom,
      });
      expect(snapshot.context.failure).toEqual({ reason: 'failed', step, error: boom });
      for (const name of skipped) expect(snapshot.context.steps[name]?.status).toBe('skipped');
      // Steps after the failing one never started.
      for (const name of forward.slice(k + 1)) expect(snapshot.context.steps[name]?.status).toBe('idle');
      const target =
        typeof state === 'string'
          ? []
          : [{ sagaId: 's1', step: state.Compensating, direction: 'compensate', round: 0 }];
      expect(jobs(actions)).toEqual(target);
    });

    it('compensates newest first, skipping steps without compensation, and ends Failed', () => {
      let [snapshot, actions] = run(machine, [start, done('a'), done('b'), done('c'), done('d'), failed('e')]);
      expect(snapshot.value).toEqual({ Compensating: 'c' });

      [snapshot, actions] = run(machine, [undone('c')], snapshot);
      expect(snapshot.value).toEqual({ Compensating: 'a' });
      expect(jobs(actions)).toEqual([{ sagaId: 's1', step: 'a', direction: 'compensate', round: 0 }]);
      expect(snapshot.context.steps.c?.status).toBe('compensated');

      [snapshot, actions] = run(machine, [undone('a', 0, 2)], snapshot);
      expect(snapshot.value).toBe('Failed');
      expect(snapshot.status).toBe('done');
      expect(snapshot.context.compensated).toEqual(['c', 'a']);
      expect(snapshot.context.skipped).toEqual(['d', 'b']);
      expect(snapshot.context.steps.a?.compensationAttempts).toBe(2);
      expect(Object.fromEntries(Object.entries(snapshot.context.steps).map(([n, s]) => [n, s.status]))).toEqual({
        a: 'compensated',
        b: 'skipped',
        c: 'compensated',
        d: 'skipped',
        e: 'failed',
      });
      expect(jobs(actions)).toEqual([]);
    });

    it('goes straight to Failed when no step is compensable, recording completed steps as skipped', () => {
      const plain = buildSagaMachine(
        defineSaga({
          name: 'plain',
          version: 1,
          input: z.object({}),
          steps: [
            { name: 'x', kind: 'query' },
            { name: 'y', kind: 'query' },
            { name: 'z', kind: 'query' },
          ],
        }),
      );
      expect(Object.keys(plain.root.states.Compensating?.states ?? {})).toEqual([NEXT_COMPENSATION]);
      const [snapshot] = run(plain, [start, done('x'), done('y'), failed('z')]);
      expect(snapshot.value).toBe('Failed');
      expect(snapshot.context.skipped).toEqual(['y', 'x']);
    });
  });

  describe('stale and duplicate events', () => {
    const machine = buildSagaMachine(mixed);

    it('ignores an outcome for another step', () => {
      const [snapshot] = run(machine, [start, done('a')]);
      expect(snapshot.value).toEqual({ Pending: 'b' });
      expect(snapshot.can(done('a'))).toBe(false);
      expect(snapshot.can(done('c'))).toBe(false);
      expect(snapshot.can(failed('a'))).toBe(false);
      const [next, actions] = transition(machine, snapshot, done('a'));
      expect(next.value).toEqual({ Pending: 'b' });
      expect(next.context).toEqual(snapshot.context);
      expect(actions).toEqual([]);
    });

    it('ignores an outcome in the wrong direction', () => {
      const [pending] = run(machine, [start, done('a'), done('b'), done('c')]);
      expect(pending.can(undone('d'))).toBe(false);
      expect(pending.can(undoFailed('d'))).toBe(false);

      const [compensating] = run(machine, [failed('d')], pending);
      expect(compensating.value).toEqual({ Compensating: 'c' });
      expect(compensating.can(done('c'))).toBe(false);
      expect(compensating.can(failed('c'))).toBe(false);
      expect(compensating.can(undone('c'))).toBe(true);
    });

    it('ignores a compensation outcome from a stale round after resume', () => {
      const [escalated] = run(machine, [start, done('a'), failed('b'), undoFailed('a', 0)]);
      expect(escalated.value).toBe('Escalated');
      const [resumed] = run(machine, [{ type: SagaEvents.resume }], escalated);
      expect(resumed.value).toEqual({ Compensating: 'a' });
      expect(resumed.context.rounds).toEqual({ a: 1 });
      expect(resumed.can(undone('a', 0))).toBe(false);
      expect(resumed.can(undoFailed('a', 0))).toBe(false);
      expect(resumed.can(undone('a', 1))).toBe(true);
    });

    it('ignores commands that do not apply to the current state', () => {
      const [started] = initialTransition(machine, { sagaId: 's1', input: { n: 1 } });
      expect(started.can({ type: SagaEvents.resume })).toBe(false);
      expect(started.can({ type: SagaEvents.resolve })).toBe(false);
      expect(started.can(done('a'))).toBe(false);

      const [pending] = run(machine, [start]);
      expect(pending.can(start)).toBe(false);
      expect(pending.can({ type: SagaEvents.resume })).toBe(false);

      const [completed] = run(machine, [done('a'), done('b'), done('c'), done('d'), done('e')], pending);
      for (const event of [
        start,
        { type: SagaEvents.cancel },
        { type: SagaEvents.resume },
        done('e'),
        undone('e'),
      ] as SagaEvent[]) {
        expect(completed.can(event)).toBe(false);
      }
    });
  });

  describe('cancel', () => {
    const machine = buildSagaMachine(mixed);

    it('in Started ends Failed with reason cancelled and dispatches nothing', () => {
      const [snapshot, actions] = run(machine, [{ type: SagaEvents.cancel }]);
      expect(snapshot.value).toBe('Failed');
      expect(snapshot.context.failure).toEqual({ reason: 'cancelled' });
      expect(jobs(actions)).toEqual([]);
    });

    it('in Pending waits for the step in flight, then compensates it if it completed', () => {
      const [cancelled, actions] = run(machine, [start, done('a'), done('b'), { type: SagaEvents.cancel }]);
      expect(cancelled.value).toEqual({ Pending: 'c' });
      expect(cancelled.context.cancelRequested).toBe(true);
      expect(jobs(actions)).toEqual([]);
      expect(cancelled.can({ type: SagaEvents.cancel })).toBe(false);

      const [next, nextActions] = run(machine, [done('c')], cancelled);
      expect(next.value).toEqual({ Compensating: 'c' });
      expect(next.context.completed).toEqual(['a', 'b', 'c']);
      expect(next.context.failure).toEqual({ reason: 'cancelled' });
      expect(jobs(nextActions)).toEqual([{ sagaId: 's1', step: 'c', direction: 'compensate', round: 0 }]);
    });

    it('in Pending, when the step in flight has no compensation, skips it and compensates the one before', () => {
      const [snapshot] = run(machine, [start, done('a'), { type: SagaEvents.cancel }, done('b')]);
      expect(snapshot.value).toEqual({ Compensating: 'a' });
      expect(snapshot.context.skipped).toEqual(['b']);
      expect(snapshot.context.steps.b?.status).toBe('skipped');
    });

    it('in Pending, when the step in flight fails, does not compensate it and keeps reason cancelled', () => {
      const [snapshot] = run(machine, [start, done('a'), done('b'), { type: SagaEvents.cancel }, failed('c')]);
      expect(snapshot.value).toEqual({ Compensating: 'a' });
      expect(snapshot.context.failure).toEqual({ reason: 'cancelled', step: 'c', error: boom });
      expect(snapshot.context.skipped).toEqual(['b']);
    });

    it('of the first step: undoes it when it has a compensation, else ends Failed', () => {
      const [snapshot] = run(machine, [start, { type: SagaEvents.cancel }, done('a')]);
      // a is compensable: it is undone.
      expect(snapshot.value).toEqual({ Compensating: 'a' });
      const plain = buildSagaMachine(
        defineSaga({
          name: 'plain',
          version: 1,
          input: z.object({}),
          steps: [
            { name: 'x', kind: 'query' },
            { name: 'y', kind: 'query' },
          ],
        }),
      );
      const [ended] = run(plain, [start, { type: SagaEvents.cancel }, done('x')]);
      expect(ended.value).toBe('Failed');
      expect(ended.context.failure).toEqual({ reason: 'cancelled' });
      expect(ended.context.skipped).toEqual(['x']);
    });
  });

  describe('escalation', () => {
    const machine = buildSagaMachine(mixed);
    const toEscalation: SagaEvent[] = [
      start,
      done('a'),
      done('b'),
      done('c'),
      done('d'),
      failed('e'),
      undoFailed('c', 0, 5),
    ];

    it('goes to Escalated when a compensation fails, listing the compensable steps left newest first', () => {
      const [snapshot, actions] = run(machine, toEscalation);
      expect(snapshot.value).toBe('Escalated');
      expect(snapshot.status).toBe('active');
      expect(snapshot.context.escalation).toEqual({
        direction: 'compensate',
        step: 'c',
        error: boom,
        uncompensated: ['c', 'a'],
      });
      expect(snapshot.context.steps.c).toMatchObject({
        status: 'compensation_failed',
        compensationAttempts: 5,
        error: boom,
      });
      expect(jobs(actions)).toEqual([]);
    });

    it('resume retries the failed compensation in a new round, then carries on to Failed', () => {
      const [escalated] = run(machine, toEscalation);
      const [resumed, actions] = run(machine, [{ type: SagaEvents.resume }], escalated);
      expect(resumed.value).toEqual({ Compensating: 'c' });
      expect(resumed.context.escalation).toBeUndefined();
      expect(jobs(actions)).toEqual([{ sagaId: 's1', step: 'c', direction: 'compensate', round: 1 }]);

      const [ended] = run(machine, [undone('c', 1, 1), undone('a', 0, 1)], resumed);
      expect(ended.value).toBe('Failed');
      expect(ended.context.compensated).toEqual(['c', 'a']);
      expect(ended.context.steps.c?.compensationAttempts).toBe(6);
    });

    it('a second escalation of the same step needs a second round', () => {
      const [escalated] = run(machine, [...toEscalation, { type: SagaEvents.resume }, undoFailed('c', 1, 5)]);
      expect(escalated.value).toBe('Escalated');
      const [resumed, actions] = run(machine, [{ type: SagaEvents.resume }], escalated);
      expect(resumed.context.rounds).toEqual({ c: 2 });
      expect(jobs(actions)).toEqual([{ sagaId: 's1', step: 'c', direction: 'compensate', round: 2 }]);
    });

    it('resolve ends Failed, keeping the note and what was left', () => {
      const [escalated] = run(machine, toEscalation);
      const [resolved] = run(machine, [{ type: SagaEvents.resolve, note: 'refunded by hand' }], escalated);
      expect(resolved.value).toBe('Failed');
      expect(resolved.status).toBe('done');
      expect(resolved.context.resolution).toEqual({ note: 'refunded by hand', uncompensated: ['c', 'a'] });
    });
  });

  describe('as an actor', () => {
    it('restores from a persisted snapshot in the same state and context', () => {
      const machine = buildSagaMachine(mixed);
      const actor = createActor(machine, { input: { sagaId: 's1', input: { n: 1 } } });
      actor.start();
      actor.send(start);
      actor.send(done('a', { result: 'A' }));
      const persisted = actor.getPersistedSnapshot();
      actor.stop();

      const restored = createActor(machine, { snapshot: persisted as never, input: undefined as never });
      restored.start();
      expect(restored.getSnapshot().value).toEqual({ Pending: 'b' });
      expect(restored.getSnapshot().context.steps.a?.result).toBe('A');
      restored.send(done('a'));
      expect(restored.getSnapshot().value).toEqual({ Pending: 'b' });
      restored.send(done('b'));
      expect(restored.getSnapshot().value).toEqual({ Pending: 'c' });
      restored.stop();
    });
  });
});
