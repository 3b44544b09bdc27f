import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type {
  CompensationContext,
  HandlerRegistry,
  StepContext,
  StepHandler,
  TransitionEntry,
} from '../../src/index.ts';
import { defineSaga, TerminalError } from '../../src/index.ts';
import { withInstantRetries } from '../../src/testing/index.ts';
import { BACKENDS, type Backend, engineFixture, statuses } from '../support/backends.ts';
import { type Deferred, deferred, type Gate, gate } from '../support/deferred.ts';

type Member = 'hotel' | 'car' | 'flight' | 'train' | 'rates';
type Step = 'hold' | Member | 'confirm';
type Policy = 'all' | 'any' | 'majority' | { atLeast: number };

/**
 * A trip: `hold` a budget, then the group `reserve` runs its members at once, then `confirm` reads
 * what the group reserved. Every step is compensable unless declared a query; two attempts per run,
 * retried at once.
 */
function trip(
  name: string,
  policy: Policy,
  members: readonly { name: Member; kind?: 'query' }[],
  surplus: 'keep' | 'compensate' = 'keep',
) {
  return withInstantRetries(
    defineSaga({
      name,
      version: 1,
      input: z.object({}),
      steps: [
        { name: 'hold', retry: { attempts: 2 } },
        { group: 'reserve', policy, surplus, parallel: members.map((m) => ({ ...m, retry: { attempts: 2 } })) },
        { name: 'confirm', retry: { attempts: 2 } },
      ],
    }),
  );
}

const three = [{ name: 'hotel' }, { name: 'car' }, { name: 'flight' }] as const;
const all = trip('trip-all', 'all', [...three, { name: 'train' }]);
const any = trip('trip-any', 'any', three);
const majority = trip('trip-majority', 'majority', three);
const atLeastTwo = trip('trip-at-least-two', { atLeast: 2 }, three);
const withQuery = trip('trip-rates', 'all', [{ name: 'hotel' }, { name: 'rates', kind: 'query' }, { name: 'car' }]);
const firstOnly = trip('trip-first-only', 'any', three, 'compensate');
const SAGAS = [all, any, majority, atLeastTwo, withQuery, firstOnly];

/** One handler call: `car.run`, `car.compensate` (with what `ctx.inDoubt` said). */
interface Call {
  call: string;
  key: string;
  inDoubt?: boolean;
}

const engines = engineFixture();

function harness(backend: Backend) {
  /** Runs that throw TerminalError: they fail for good, and not in doubt. */
  const refuse = new Set<Step>();
  /** Runs that throw a plain Error on every attempt: they fail in doubt. */
  const flaky = new Set<Step>();
  const held = new Map<Step, Gate>();
  const log: Call[] = [];
  /** What `confirm` found in `ctx.results`. */
  const confirmSaw: Record<string, unknown>[] = [];

  const handler = (step: Step): StepHandler => ({
    run: async (ctx: StepContext) => {
      log.push({ call: `${step}.run`, key: ctx.idempotencyKey });
      if (step === 'confirm') confirmSaw.push(ctx.results);
      const gate = held.get(step);
      if (gate) {
        gate.started.resolve();
        await gate.release.promise;
      }
      if (flaky.has(step)) throw new Error(`${step} unavailable`);
      if (refuse.has(step)) throw new TerminalError(`${step} refused`);
      return `${step}-done`;
    },
    ...(step === 'rates'
      ? {}
      : {
          compensate: async (ctx: CompensationContext) => {
            log.push({ call: `${step}.compensate`, key: ctx.idempotencyKey, inDoubt: ctx.inDoubt });
          },
        }),
  });
  const handlers: HandlerRegistry = Object.fromEntries(
    SAGAS.map((saga) => [saga.name, Object.fromEntries(saga.steps.map((s) => [s.name, handler(s.name as Step)]))]),
  );

  const engine = engines.open(backend, { handlers });

  // A member's outcome is known once its transition is persisted: the test waits for it before it
  // releases the next member, which is how it chooses the order members complete in.
  const outcomes = new Map<string, Deferred>();
  const outcomeOf = (step: string) => {
    if (!outcomes.has(step)) outcomes.set(step, deferred());
    return outcomes.get(step) as Deferred;
  };
  engine.on('transition', (entry: TransitionEntry) => {
    if (entry.step && entry.direction === 'run') outcomeOf(entry.step).resolve();
  });

  return {
    engine,
    refuse,
    flaky,
    log,
    confirmSaw,
    /** Holds each step's run in flight until the test finishes it. */
    hold: (...steps: Step[]) => {
      for (const step of steps) {
        const holding = gate();
        held.set(step, holding);
        engines.track(holding);
      }
    },
    /** Resolves when every one of the held steps has been called. */
    started: (...steps: Step[]) => Promise.all(steps.map((s) => held.get(s)?.started.promise)),
    /** Resolves when the step's run outcome (done or failed for good) is in the saga log. */
    outcome: (step: Step) => outcomeOf(step).promise,
    /** Lets a held step's run finish, and waits until its outcome is in the saga log. */
    finish: async (step: Step) => {
      held.get(step)?.release.resolve();
      await outcomeOf(step).promise;
    },
    /** The handler calls in order. */
    calls: () => log.map((c) => c.call),
    /** The compensations in order, with `ctx.inDoubt`. */
    compensations: () => log.filter((c) => c.call.endsWith('.compensate')).map((c) => [c.call, c.inDoubt]),
    settled: (sagaId: string) => engine.waitFor(sagaId, { timeoutMs: 20_000 }),
  };
}

const sorted = (list: readonly string[]) => [...list].sort();
const refused = (step: Step) => ({
  name: 'TerminalError',
  message: `${step} refused`,
  code: 'TERMINAL',
  terminal: true,
});

describe.each(BACKENDS)('parallel groups on the %s backend', (backend) => {
  it('dispatches every member at once and moves on when all complete', async () => {
    const h = harness(backend);
    h.hold('hotel', 'car', 'flight', 'train');
    const { sagaId } = await h.engine.start(all, {});

    // Every member's handler is running before any is allowed to finish.
    await h.started('hotel', 'car', 'flight', 'train');
    const during = await h.engine.get(sagaId);
    expect(during.state).toBe('Pending');
    expect(statuses(during)).toEqual({
      hold: 'completed',
      hotel: 'running',
      car: 'running',
      flight: 'running',
      train: 'running',
      confirm: 'idle',
    });
    expect(h.calls()[0]).toBe('hold.run');
    expect(sorted(h.calls().slice(1))).toEqual(['car.run', 'flight.run', 'hotel.run', 'train.run']);

    await h.finish('train');
    await h.finish('hotel');
    await h.finish('car');
    await h.finish('flight');
    const view = await h.settled(sagaId);

    expect(view.state).toBe('Completed');
    expect(h.calls().slice(5)).toEqual(['confirm.run']);
    expect(view.completed).toEqual(['hold', 'train', 'hotel', 'car', 'flight', 'confirm']);
    expect(view.compensated).toEqual([]);
    expect(view.failure).toBeUndefined();
    expect(h.confirmSaw).toEqual([
      {
        hold: 'hold-done',
        train: 'train-done',
        hotel: 'hotel-done',
        car: 'car-done',
        flight: 'flight-done',
        reserve: { hotel: 'hotel-done', car: 'car-done', flight: 'flight-done', train: 'train-done' },
      },
    ]);
    expect(view.steps.find((s) => s.name === 'car')).toMatchObject({
      status: 'completed',
      attempts: 1,
      result: 'car-done',
    });
  });

  it('runs each member as its own job, under its own idempotency key', async () => {
    const h = harness(backend);
    const { sagaId } = await h.engine.start(all, {});
    await h.settled(sagaId);

    const keys = Object.fromEntries(h.log.map((c) => [c.call, c.key]));
    expect(keys).toEqual({
      'hold.run': `${sagaId}~hold~run`,
      'hotel.run': `${sagaId}~hotel~run`,
      'car.run': `${sagaId}~car~run`,
      'flight.run': `${sagaId}~flight~run`,
      'train.run': `${sagaId}~train~run`,
      'confirm.run': `${sagaId}~confirm~run`,
    });
  });

  it("logs each member's outcome in the group's state, naming the member as the step", async () => {
    const h = harness(backend);
    h.hold('hotel', 'car', 'flight', 'train');
    h.refuse.add('car');
    const { sagaId } = await h.engine.start(all, {});
    await h.started('hotel', 'car', 'flight', 'train');

    await h.finish('car');
    await h.finish('hotel');
    await h.finish('flight');
    await h.finish('train');
    const view = await h.settled(sagaId);

    const members = ['hotel', 'car', 'flight', 'train'];
    expect(
      view.history
        .filter((e) => e.direction === 'run' && members.includes(e.step as string))
        .map((e) => [e.step, e.event, e.from, e.to]),
    ).toEqual([
      ['car', 'step.failed', 'Pending.reserve', 'Pending.reserve'],
      ['hotel', 'step.done', 'Pending.reserve', 'Pending.reserve'],
      ['flight', 'step.done', 'Pending.reserve', 'Pending.reserve'],
      // The last member to settle decides the group: here it rolls back.
      ['train', 'step.done', 'Pending.reserve', 'Compensating.train'],
    ]);
    expect(view.history.find((e) => e.step === 'hold')).toMatchObject({
      event: 'step.done',
      from: 'Pending.hold',
      to: 'Pending.reserve',
    });
  });

  describe("with surplus: 'compensate'", () => {
    it('undoes the members that completed beyond what the policy needed, newest first, before moving on', async () => {
      const h = harness(backend);
      h.hold('hotel', 'car', 'flight');
      const { sagaId } = await h.engine.start(firstOnly, {});
      await h.started('hotel', 'car', 'flight');

      await h.finish('car');
      await h.finish('hotel');
      await h.finish('flight');
      const view = await h.settled(sagaId);

      expect(view.state).toBe('Completed');
      // 'any' needed one: car. hotel and flight came after it, and are undone, flight first.
      expect(h.compensations()).toEqual([
        ['flight.compensate', false],
        ['hotel.compensate', false],
      ]);
      expect(h.calls().at(-1)).toBe('confirm.run');
      expect(view.compensated).toEqual(['flight', 'hotel']);
      expect(statuses(view)).toMatchObject({ car: 'completed', hotel: 'compensated', flight: 'compensated' });
      // Going forward, only what still stands is a result.
      expect(h.confirmSaw).toEqual([{ hold: 'hold-done', car: 'car-done', reserve: { car: 'car-done' } }]);
    });
  });

  describe("with policy 'all'", () => {
    it('waits for the members in flight when one fails for good, then compensates the completed ones newest first and the steps before the group', async () => {
      const h = harness(backend);
      h.hold('car', 'flight', 'train');
      h.refuse.add('hotel');
      const { sagaId } = await h.engine.start(all, {});
      await h.started('car', 'flight', 'train');
      await h.outcome('hotel');

      const during = await h.engine.get(sagaId);
      expect(during.state).toBe('Pending');
      expect(statuses(during)).toMatchObject({ hotel: 'failed', car: 'running', flight: 'running', train: 'running' });
      expect(h.compensations()).toEqual([]);

      await h.finish('flight');
      await h.finish('train');
      await h.finish('car');
      const view = await h.settled(sagaId);

      expect(sorted(h.calls().slice(0, 5))).toEqual(['car.run', 'flight.run', 'hold.run', 'hotel.run', 'train.run']);
      expect(h.calls().slice(5)).toEqual([
        'car.compensate',
        'train.compensate',
        'flight.compensate',
        'hold.compensate',
      ]);
      expect(view.state).toBe('Failed');
      expect(view.completed).toEqual(['hold', 'flight', 'train', 'car']);
      expect(view.compensated).toEqual(['car', 'train', 'flight', 'hold']);
      expect(view.failure).toEqual({ reason: 'failed', step: 'hotel', error: refused('hotel') });
      expect(statuses(view)).toEqual({
        hold: 'compensated',
        hotel: 'failed',
        car: 'compensated',
        flight: 'compensated',
        train: 'compensated',
        confirm: 'idle',
      });
      // Every member settled before the first compensation started.
      const firstUndo = view.history.findIndex((e) => e.direction === 'compensate');
      const lastMember = view.history.findLastIndex((e) => e.direction === 'run' && e.step !== 'hold');
      expect(lastMember).toBeLessThan(firstUndo);
    });

    it('compensates every member newest first when a step after the group fails', async () => {
      const h = harness(backend);
      h.hold('hotel', 'car', 'flight', 'train');
      h.refuse.add('confirm');
      const { sagaId } = await h.engine.start(all, {});
      await h.started('hotel', 'car', 'flight', 'train');

      await h.finish('flight');
      await h.finish('hotel');
      await h.finish('train');
      await h.finish('car');
      const view = await h.settled(sagaId);

      expect(h.calls().slice(5)).toEqual([
        'confirm.run',
        'car.compensate',
        'train.compensate',
        'hotel.compensate',
        'flight.compensate',
        'hold.compensate',
      ]);
      expect(view.state).toBe('Failed');
      expect(view.completed).toEqual(['hold', 'flight', 'hotel', 'train', 'car']);
      expect(view.compensated).toEqual(['car', 'train', 'hotel', 'flight', 'hold']);
      expect(view.failure).toEqual({ reason: 'failed', step: 'confirm', error: refused('confirm') });
    });
  });

  it("with policy 'any', completes when one member fails, compensating nothing", async () => {
    const h = harness(backend);
    h.hold('car', 'flight');
    h.refuse.add('hotel');
    const { sagaId } = await h.engine.start(any, {});
    await h.started('car', 'flight');
    await h.outcome('hotel');

    await h.finish('car');
    await h.finish('flight');
    const view = await h.settled(sagaId);

    expect(view.state).toBe('Completed');
    expect(view.failure).toBeUndefined();
    expect(h.compensations()).toEqual([]);
    expect(view.compensated).toEqual([]);
    expect(view.completed).toEqual(['hold', 'car', 'flight', 'confirm']);
    expect(statuses(view)).toEqual({
      hold: 'completed',
      hotel: 'failed',
      car: 'completed',
      flight: 'completed',
      confirm: 'completed',
    });
    expect(h.confirmSaw).toEqual([
      {
        hold: 'hold-done',
        car: 'car-done',
        flight: 'flight-done',
        reserve: { car: 'car-done', flight: 'flight-done' },
      },
    ]);
  });

  it("with policy 'majority' of 3, rolls back when 2 fail, naming the first failed member in definition order", async () => {
    const h = harness(backend);
    h.hold('hotel');
    h.refuse.add('hotel');
    h.refuse.add('flight');
    const { sagaId } = await h.engine.start(majority, {});
    await h.started('hotel');
    // `flight` and `car` settle first; `hotel` fails last, yet it comes first in the definition.
    await h.outcome('flight');
    await h.outcome('car');
    await h.finish('hotel');
    const view = await h.settled(sagaId);

    expect(h.calls().slice(4)).toEqual(['car.compensate', 'hold.compensate']);
    expect(view.state).toBe('Failed');
    expect(view.completed).toEqual(['hold', 'car']);
    expect(view.compensated).toEqual(['car', 'hold']);
    expect(view.failure).toEqual({ reason: 'failed', step: 'hotel', error: refused('hotel') });
    expect(statuses(view)).toEqual({
      hold: 'compensated',
      hotel: 'failed',
      car: 'compensated',
      flight: 'failed',
      confirm: 'idle',
    });
  });

  it('with policy { atLeast: 2 } of 3, completes when 1 fails', async () => {
    const h = harness(backend);
    h.hold('hotel', 'car');
    h.refuse.add('flight');
    const { sagaId } = await h.engine.start(atLeastTwo, {});
    await h.started('hotel', 'car');
    await h.outcome('flight');

    await h.finish('car');
    await h.finish('hotel');
    const view = await h.settled(sagaId);

    expect(view.state).toBe('Completed');
    expect(h.compensations()).toEqual([]);
    expect(view.completed).toEqual(['hold', 'car', 'hotel', 'confirm']);
    expect(statuses(view)).toMatchObject({ flight: 'failed', confirm: 'completed' });
    expect(h.confirmSaw[0]?.reserve).toEqual({ hotel: 'hotel-done', car: 'car-done' });
  });

  it.each([
    { policy: 'any', saga: any, failing: ['hotel', 'car'], state: 'Completed', compensated: [] },
    { policy: 'any', saga: any, failing: ['hotel', 'car', 'flight'], state: 'Failed', compensated: ['hold'] },
    { policy: 'majority', saga: majority, failing: ['car'], state: 'Completed', compensated: [] },
    { policy: 'majority', saga: majority, failing: ['car', 'flight'], state: 'Failed', compensated: ['hotel', 'hold'] },
    { policy: '{ atLeast: 2 }', saga: atLeastTwo, failing: ['hotel'], state: 'Completed', compensated: [] },
    {
      policy: '{ atLeast: 2 }',
      saga: atLeastTwo,
      failing: ['hotel', 'car'],
      state: 'Failed',
      compensated: ['flight', 'hold'],
    },
  ] as const)(
    'with policy $policy of 3 and $failing failing, ends $state',
    async ({ saga, failing, state, compensated }) => {
      const h = harness(backend);
      for (const step of failing) h.refuse.add(step);
      const { sagaId } = await h.engine.start(saga, {});
      const view = await h.settled(sagaId);

      expect(view.state).toBe(state);
      expect(view.compensated).toEqual(compensated);
      expect(h.calls().includes('confirm.run')).toBe(state === 'Completed');
      for (const step of failing) expect(view.steps.find((s) => s.name === step)?.status).toBe('failed');
    },
  );

  it('compensates a member that failed in doubt first, with ctx.inDoubt, and not one that failed for good', async () => {
    const h = harness(backend);
    h.hold('hotel', 'flight', 'train');
    h.flaky.add('car');
    const { sagaId } = await h.engine.start(all, {});
    await h.started('hotel', 'flight', 'train');
    await h.outcome('car');

    await h.finish('train');
    await h.finish('hotel');
    await h.finish('flight');
    const view = await h.settled(sagaId);

    expect(h.calls().filter((c) => c === 'car.run')).toHaveLength(2);
    expect(h.compensations()).toEqual([
      ['car.compensate', true],
      ['flight.compensate', false],
      ['hotel.compensate', false],
      ['train.compensate', false],
      ['hold.compensate', false],
    ]);
    expect(view.state).toBe('Failed');
    expect(view.compensated).toEqual(['car', 'flight', 'hotel', 'train', 'hold']);
    const unavailable = { name: 'Error', message: 'car unavailable' };
    expect(view.failure).toEqual({ reason: 'failed', step: 'car', error: unavailable });
    expect(view.steps.find((s) => s.name === 'car')).toEqual({
      name: 'car',
      status: 'compensated',
      attempts: 2,
      compensationAttempts: 1,
      error: unavailable,
      inDoubt: true,
    });
    expect(view.history.find((e) => e.step === 'car' && e.direction === 'run')).toMatchObject({
      event: 'step.failed',
      from: 'Pending.reserve',
      to: 'Pending.reserve',
      inDoubt: true,
    });
  });

  it('honours a cancel while the group runs once every member has settled, and rolls back', async () => {
    const h = harness(backend);
    h.hold('hotel', 'car', 'flight', 'train');
    const { sagaId } = await h.engine.start(all, {});
    await h.started('hotel', 'car', 'flight', 'train');

    await h.engine.cancel(sagaId);
    const during = await h.engine.get(sagaId);
    expect(during.state).toBe('Pending');
    expect(statuses(during)).toMatchObject({ hotel: 'running', car: 'running', flight: 'running', train: 'running' });

    await h.finish('car');
    await h.finish('hotel');
    // Cancelling again while the group still runs changes nothing.
    await h.engine.cancel(sagaId);
    await h.finish('train');
    await h.finish('flight');
    const view = await h.settled(sagaId);

    expect(h.calls().slice(5)).toEqual([
      'flight.compensate',
      'train.compensate',
      'hotel.compensate',
      'car.compensate',
      'hold.compensate',
    ]);
    expect(view.state).toBe('Failed');
    expect(view.failure).toEqual({ reason: 'cancelled' });
    expect(view.completed).toEqual(['hold', 'car', 'hotel', 'train', 'flight']);
    expect(view.compensated).toEqual(['flight', 'train', 'hotel', 'car', 'hold']);
    expect(statuses(view)).toMatchObject({ confirm: 'idle' });
    expect(view.history.filter((e) => e.event === 'saga.cancel')).toHaveLength(1);
  });

  it('never compensates a query member: rollback passes over it as skipped', async () => {
    const h = harness(backend);
    h.hold('hotel', 'rates', 'car');
    h.refuse.add('car');
    const { sagaId } = await h.engine.start(withQuery, {});
    await h.started('hotel', 'rates', 'car');

    await h.finish('rates');
    await h.finish('hotel');
    await h.finish('car');
    const view = await h.settled(sagaId);

    expect(h.calls().slice(4)).toEqual(['hotel.compensate', 'hold.compensate']);
    expect(view.state).toBe('Failed');
    expect(view.completed).toEqual(['hold', 'rates', 'hotel']);
    expect(view.compensated).toEqual(['hotel', 'hold']);
    expect(view.skipped).toEqual(['rates']);
    expect(view.failure).toEqual({ reason: 'failed', step: 'car', error: refused('car') });
    expect(statuses(view)).toEqual({
      hold: 'compensated',
      hotel: 'compensated',
      rates: 'skipped',
      car: 'failed',
      confirm: 'idle',
    });
  });
});
