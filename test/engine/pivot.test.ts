import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { EngineEventMap, HandlerRegistry, StepContext, StepHandler } from '../../src/index.ts';
import { defineSaga, InvalidStateError, TerminalError } from '../../src/index.ts';
import { withInstantRetries } from '../../src/testing/index.ts';
import { BACKENDS, type Backend, engineFixture, statuses } from '../support/backends.ts';
import { caught } from '../support/caught.ts';
import { type Gate, gate } from '../support/deferred.ts';

/**
 * An order: `reserve` is undone by a compensation, `quote` only reads, `charge` is the point of no
 * return, `ship` is retried forward, `notify` cannot be undone. Two attempts per run, retried at once.
 */
const order = withInstantRetries(
  defineSaga({
    name: 'order',
    version: 1,
    input: z.object({}),
    steps: [
      { name: 'reserve', retry: { attempts: 2 } },
      { name: 'quote', kind: 'query', retry: { attempts: 2 } },
      { name: 'charge', kind: 'pivot', retry: { attempts: 2 } },
      { name: 'ship', kind: 'retryable', retry: { attempts: 2 } },
      { name: 'notify', kind: 'noncompensable', retry: { attempts: 2 } },
    ],
  }),
);

/** A notice without a pivot: its last step, `email`, cannot be undone, so it acts as the pivot. */
const notice = withInstantRetries(
  defineSaga({
    name: 'notice',
    version: 1,
    input: z.object({}),
    steps: [
      { name: 'hold', retry: { attempts: 2 } },
      { name: 'lookup', kind: 'query', retry: { attempts: 2 } },
      { name: 'email', kind: 'noncompensable', retry: { attempts: 2 } },
    ],
  }),
);

type Step = 'reserve' | 'quote' | 'charge' | 'ship' | 'notify' | 'hold' | 'lookup' | 'email';
const COMPENSABLE: ReadonlySet<Step> = new Set(['reserve', 'hold']);

/** What the handlers do, changed by each test as it goes. */
interface Behaviour {
  /** Runs that throw TerminalError while listed: they fail for good, and not in doubt. */
  refuse: Set<Step>;
  /** Runs whose first attempt throws a plain (transient) Error while listed: they are retried. */
  stumble: Set<Step>;
  /** Compensations that throw while listed. */
  failUndo: Set<Step>;
  gates: Map<Step, Gate>;
}

/** One handler call: `reserve.run`, `reserve.compensate`, with the attempt and the idempotency key. */
interface Call {
  call: string;
  attempt: number;
  key: string;
}

const engines = engineFixture();

function harness(backend: Backend) {
  const behaviour: Behaviour = { refuse: new Set(), stumble: new Set(), failUndo: new Set(), gates: new Map() };
  const log: Call[] = [];
  const handler = (step: Step): StepHandler => ({
    run: async (ctx: StepContext) => {
      log.push({ call: `${step}.run`, attempt: ctx.attempt, key: ctx.idempotencyKey });
      const gate = behaviour.gates.get(step);
      if (gate) {
        gate.started.resolve();
        await gate.release.promise;
      }
      if (behaviour.stumble.has(step) && ctx.attempt === 1) throw new Error(`${step} unavailable`);
      if (behaviour.refuse.has(step)) throw new TerminalError(`${step} refused`);
      return `${step}-done`;
    },
    ...(COMPENSABLE.has(step)
      ? {
          compensate: async (ctx: StepContext) => {
            log.push({ call: `${step}.compensate`, attempt: ctx.attempt, key: ctx.idempotencyKey });
            if (behaviour.failUndo.has(step)) throw new Error(`${step} undo failed`);
          },
        }
      : {}),
  });
  const registry = (sagaSteps: readonly { name: string }[]) =>
    Object.fromEntries(sagaSteps.map((s) => [s.name, handler(s.name as Step)]));
  const handlers: HandlerRegistry = { order: registry(order.steps), notice: registry(notice.steps) };

  const engine =
    backend === 'redis'
      ? engines.open(backend, { sagas: [order, notice], handlers })
      : engines.open(backend, { handlers, random: () => 0 });
  const escalations: EngineEventMap['escalated'][0][] = [];
  engine.on('escalated', (alert) => escalations.push(alert));

  /** Holds `step`'s run in flight until the test releases it. */
  const hold = (step: Step): Gate => {
    const held = gate();
    behaviour.gates.set(step, held);
    engines.track(held);
    return held;
  };
  /** Makes `step` fail for good on its second attempt, after a transient failure of its first. */
  const failAfterRetry = (step: Step) => {
    behaviour.stumble.add(step);
    behaviour.refuse.add(step);
  };
  /** Lets `step` succeed again. */
  const repair = (step: Step) => {
    behaviour.stumble.delete(step);
    behaviour.refuse.delete(step);
  };
  /** The handler calls in order, without attempts and keys. */
  const calls = () => log.map((c) => c.call);
  const settled = (sagaId: string) => engine.waitFor(sagaId, { timeoutMs: 20_000 });
  return { engine, behaviour, log, calls, hold, failAfterRetry, repair, settled, escalations };
}

describe.each(BACKENDS)('on the %s backend', (backend) => {
  describe('the pivot', () => {
    it('is the step declared pivot, or else a last noncompensable step', () => {
      expect(order.pivot).toBe('charge');
      expect(notice.pivot).toBe('email');
    });

    it('rolls back the steps before the pivot when the pivot fails', async () => {
      const h = harness(backend);
      h.behaviour.refuse.add('charge');
      const { sagaId } = await h.engine.start(order, {});
      const view = await h.settled(sagaId);

      expect(h.calls()).toEqual(['reserve.run', 'quote.run', 'charge.run', 'reserve.compensate']);
      expect(view.state).toBe('Failed');
      expect(view.completed).toEqual(['reserve', 'quote']);
      expect(view.compensated).toEqual(['reserve']);
      expect(view.skipped).toEqual(['quote']);
      expect(view.failure).toEqual({
        reason: 'failed',
        step: 'charge',
        error: { name: 'TerminalError', message: 'charge refused', code: 'TERMINAL', terminal: true },
      });
      expect(view.escalation).toBeUndefined();
      expect(statuses(view)).toEqual({
        reserve: 'compensated',
        quote: 'skipped',
        charge: 'failed',
        ship: 'idle',
        notify: 'idle',
      });
    });

    it('retries the pivot by its policy first, and rolls back when it then fails for good', async () => {
      const h = harness(backend);
      h.failAfterRetry('charge');
      const { sagaId } = await h.engine.start(order, {});
      const view = await h.settled(sagaId);

      expect(h.log.map((c) => [c.call, c.attempt])).toEqual([
        ['reserve.run', 1],
        ['quote.run', 1],
        ['charge.run', 1],
        ['charge.run', 2],
        ['reserve.compensate', 1],
      ]);
      expect(view.state).toBe('Failed');
      expect(view.compensated).toEqual(['reserve']);
      expect(view.failure).toEqual({
        reason: 'failed',
        step: 'charge',
        error: { name: 'TerminalError', message: 'charge refused', code: 'TERMINAL', terminal: true },
      });
      expect(view.steps.find((s) => s.name === 'charge')).toMatchObject({ status: 'failed', attempts: 2 });
    });

    it('leaves a rollback that cannot finish Escalated in the compensate direction, and resolve ends it Failed', async () => {
      const h = harness(backend);
      h.behaviour.refuse.add('charge');
      h.behaviour.failUndo.add('reserve');
      const { sagaId } = await h.engine.start(order, {});
      const escalated = await h.settled(sagaId);

      expect(escalated.state).toBe('Escalated');
      expect(escalated.escalation).toEqual({
        direction: 'compensate',
        step: 'reserve',
        error: { name: 'Error', message: 'reserve undo failed' },
        uncompensated: ['reserve'],
      });
      const callsBefore = h.calls();

      await h.engine.resolve(sagaId, 'refunded the reservation by hand');
      const view = await h.engine.get(sagaId);

      expect(view.state).toBe('Failed');
      expect(view.resolution).toEqual({ note: 'refunded the reservation by hand', uncompensated: ['reserve'] });
      expect(h.calls()).toEqual(callsBefore);
    });
  });

  describe('a failure after the pivot', () => {
    it('escalates in the run direction and compensates nothing', async () => {
      const h = harness(backend);
      h.failAfterRetry('ship');
      const { sagaId } = await h.engine.start(order, {});
      const view = await h.settled(sagaId);

      expect(h.calls()).toEqual(['reserve.run', 'quote.run', 'charge.run', 'ship.run', 'ship.run']);
      expect(view.state).toBe('Escalated');
      expect(view.escalation).toEqual({
        direction: 'run',
        step: 'ship',
        error: { name: 'TerminalError', message: 'ship refused', code: 'TERMINAL', terminal: true },
        uncompensated: [],
      });
      expect(view.completed).toEqual(['reserve', 'quote', 'charge']);
      expect(view.compensated).toEqual([]);
      expect(view.skipped).toEqual([]);
      expect(view.failure).toBeUndefined();
      expect(statuses(view)).toEqual({
        reserve: 'completed',
        quote: 'completed',
        charge: 'completed',
        ship: 'failed',
        notify: 'idle',
      });
      expect(h.escalations.map((e) => [e.sagaId, e.escalation])).toEqual([[sagaId, view.escalation]]);
    });

    it('escalates a terminal failure of the last noncompensable step the same way', async () => {
      const h = harness(backend);
      h.behaviour.refuse.add('notify');
      const { sagaId } = await h.engine.start(order, {});
      const view = await h.settled(sagaId);

      expect(h.calls()).toEqual(['reserve.run', 'quote.run', 'charge.run', 'ship.run', 'notify.run']);
      expect(view.state).toBe('Escalated');
      expect(view.escalation).toEqual({
        direction: 'run',
        step: 'notify',
        error: { name: 'TerminalError', message: 'notify refused', code: 'TERMINAL', terminal: true },
        uncompensated: [],
      });
      expect(view.compensated).toEqual([]);
    });

    it('is retried forward by resume, under the same idempotency key and from attempt 1, and the saga then completes', async () => {
      const h = harness(backend);
      h.failAfterRetry('ship');
      const { sagaId } = await h.engine.start(order, {});
      expect((await h.settled(sagaId)).state).toBe('Escalated');

      h.repair('ship');
      await h.engine.resume(sagaId);
      const view = await h.settled(sagaId);

      const key = `${sagaId}~ship~run`;
      expect(h.log.filter((c) => c.call === 'ship.run')).toEqual([
        { call: 'ship.run', attempt: 1, key },
        { call: 'ship.run', attempt: 2, key },
        { call: 'ship.run', attempt: 1, key },
      ]);
      expect(h.calls()).toEqual([
        'reserve.run',
        'quote.run',
        'charge.run',
        'ship.run',
        'ship.run',
        'ship.run',
        'notify.run',
      ]);
      expect(view.state).toBe('Completed');
      // Attempts count every round, as compensation attempts do: two before the escalation, one after.
      expect(view.steps.find((s) => s.name === 'ship')?.attempts).toBe(3);
      expect(view.escalation).toBeUndefined();
      expect(view.resolution).toBeUndefined();
      expect(view.completed).toEqual(['reserve', 'quote', 'charge', 'ship', 'notify']);
      expect(view.compensated).toEqual([]);
      expect(view.history.find((e) => e.event === 'saga.resume')).toMatchObject({
        from: 'Escalated',
        to: 'Pending.ship',
      });
    });

    it('escalates again when the step still fails after resume', async () => {
      const h = harness(backend);
      h.failAfterRetry('ship');
      const { sagaId } = await h.engine.start(order, {});
      await h.settled(sagaId);

      await h.engine.resume(sagaId);
      const view = await h.settled(sagaId);

      expect(h.calls().filter((c) => c === 'ship.run')).toHaveLength(4);
      expect(h.calls()).not.toContain('notify.run');
      expect(view.state).toBe('Escalated');
      expect(view.escalation).toMatchObject({ direction: 'run', step: 'ship', uncompensated: [] });
      expect(h.escalations.map((e) => e.escalation.step)).toEqual(['ship', 'ship']);
    });

    it('is ended Completed by resolve, with the note, running nothing more', async () => {
      const h = harness(backend);
      h.failAfterRetry('ship');
      const { sagaId } = await h.engine.start(order, {});
      await h.settled(sagaId);
      const callsBefore = h.calls();

      await h.engine.resolve(sagaId, 'shipped by hand, ticket OPS-12');
      const view = await h.engine.get(sagaId);

      expect(view.state).toBe('Completed');
      expect(view.resolution).toEqual({ note: 'shipped by hand, ticket OPS-12', uncompensated: [] });
      expect(view.compensated).toEqual([]);
      expect(view.history.at(-1)).toMatchObject({ from: 'Escalated', to: 'Completed', event: 'saga.resolve' });
      expect(h.calls()).toEqual(callsBefore);
      expect((await caught(h.engine.resume(sagaId))).code).toBe('INVALID_STATE');
    });
  });

  describe('cancel', () => {
    it.each([
      ['the pivot', 'charge'],
      ['a retryable step after the pivot', 'ship'],
      ['the last noncompensable step after the pivot', 'notify'],
    ] as const)('is refused while %s runs, and the saga finishes normally', async (_what, step) => {
      const h = harness(backend);
      const gate = h.hold(step);
      const { sagaId } = await h.engine.start(order, {});
      await gate.started.promise;
      const before = await h.engine.get(sagaId);
      expect(before.state).toBe('Pending');

      const error = await caught(h.engine.cancel(sagaId));

      expect(error).toBeInstanceOf(InvalidStateError);
      expect(error.code).toBe('INVALID_STATE');
      expect(error.message).toContain('pivot');
      const during = await h.engine.get(sagaId);
      expect(during.revision).toBe(before.revision);
      expect(during.steps.find((s) => s.name === step)?.status).toBe('running');

      gate.release.resolve();
      const view = await h.settled(sagaId);

      expect(view.state).toBe('Completed');
      expect(view.failure).toBeUndefined();
      expect(h.calls()).toEqual(['reserve.run', 'quote.run', 'charge.run', 'ship.run', 'notify.run']);
      expect(view.history.map((e) => e.event)).not.toContain('saga.cancel');
    });

    it.each([
      ['reserve', ['reserve.run', 'reserve.compensate'], []],
      ['quote', ['reserve.run', 'quote.run', 'reserve.compensate'], ['quote']],
    ] as const)('before the pivot (while %s runs) still rolls the saga back', async (step, expected, skipped) => {
      const h = harness(backend);
      const gate = h.hold(step);
      const { sagaId } = await h.engine.start(order, {});
      await gate.started.promise;

      await h.engine.cancel(sagaId);
      gate.release.resolve();
      const view = await h.settled(sagaId);

      expect(h.calls()).toEqual(expected);
      expect(view.state).toBe('Failed');
      expect(view.failure).toEqual({ reason: 'cancelled' });
      expect(view.compensated).toEqual(['reserve']);
      expect(view.skipped).toEqual(skipped);
      expect(view.steps.find((s) => s.name === 'charge')?.status).toBe('idle');
      expect(view.history.map((e) => e.event)).toContain('saga.cancel');
    });
  });

  describe('a saga without a pivot', () => {
    it('rolls back when its last noncompensable step fails', async () => {
      const h = harness(backend);
      h.behaviour.refuse.add('email');
      const { sagaId } = await h.engine.start(notice, {});
      const view = await h.settled(sagaId);

      expect(h.calls()).toEqual(['hold.run', 'lookup.run', 'email.run', 'hold.compensate']);
      expect(view.state).toBe('Failed');
      expect(view.failure).toMatchObject({ reason: 'failed', step: 'email' });
      expect(view.compensated).toEqual(['hold']);
      expect(view.skipped).toEqual(['lookup']);
      expect(view.escalation).toBeUndefined();
    });

    it('refuses cancel while its last noncompensable step runs, and completes', async () => {
      const h = harness(backend);
      const gate = h.hold('email');
      const { sagaId } = await h.engine.start(notice, {});
      await gate.started.promise;

      const error = await caught(h.engine.cancel(sagaId));
      expect(error).toBeInstanceOf(InvalidStateError);
      expect(error.code).toBe('INVALID_STATE');
      expect(error.message).toContain('pivot');

      gate.release.resolve();
      const view = await h.settled(sagaId);
      expect(view.state).toBe('Completed');
      expect(h.calls()).toEqual(['hold.run', 'lookup.run', 'email.run']);
    });

    it('still honours cancel before that step', async () => {
      const h = harness(backend);
      const gate = h.hold('lookup');
      const { sagaId } = await h.engine.start(notice, {});
      await gate.started.promise;

      await h.engine.cancel(sagaId);
      gate.release.resolve();
      const view = await h.settled(sagaId);

      expect(h.calls()).toEqual(['hold.run', 'lookup.run', 'hold.compensate']);
      expect(view.state).toBe('Failed');
      expect(view.failure).toEqual({ reason: 'cancelled' });
      expect(view.skipped).toEqual(['lookup']);
    });
  });
});
