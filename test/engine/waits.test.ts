import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Engine, SagaView, StepHandler } from '../../src/index.ts';
import { defineSaga, TerminalError } from '../../src/index.ts';
import { createTestClock, type TestClock, withInstantRetries } from '../../src/testing/index.ts';
import { BACKENDS, type Backend, engineFixture, statuses } from '../support/backends.ts';
import { caught } from '../support/caught.ts';

const approvalSchema = z.object({ approved: z.boolean(), by: z.string().min(1), note: z.unknown().optional() });

/** A payment that a person approves: `reserve` is undone on rollback, `charge` is the pivot. */
const payment = withInstantRetries(
  defineSaga({
    name: 'payment',
    version: 1,
    input: z.object({ amount: z.number() }),
    steps: [
      { name: 'reserve' },
      {
        wait: 'approval',
        signal: approvalSchema,
        timeoutMs: 60_000,
        reject: (payload: z.infer<typeof approvalSchema>) => !payload.approved,
      },
      { name: 'charge', kind: 'pivot', retry: { attempts: 1 } },
    ],
  }),
);

/**
 * A wait with a deadline that escalates, a sleep before it, and a receipt after the pivot. Not
 * given instant retries: those end sleeps at once.
 */
const review = defineSaga({
  name: 'review',
  version: 1,
  input: z.object({ coolOffMs: z.number() }),
  steps: [
    { name: 'hold' },
    { sleep: 'coolOff', until: (ctx) => ctx.input.coolOffMs },
    { wait: 'check', signal: z.object({ ok: z.literal(true) }), timeoutMs: 1_000, onTimeout: 'escalate' },
    { name: 'release', kind: 'pivot', retry: { attempts: 1 } },
    { wait: 'receipt', signal: z.object({ id: z.string() }), timeoutMs: 1_000, onTimeout: 'continue' },
    { name: 'archive', kind: 'retryable' },
  ],
});

const engines = engineFixture();

function harness(backend: Backend, clock?: TestClock) {
  const calls: string[] = [];
  const seen: Record<string, unknown> = {};
  const refuse = new Set<string>();
  const handler = (step: string, compensable: boolean): StepHandler => ({
    run: async (ctx) => {
      calls.push(`${step}.run`);
      seen[step] = ctx.results;
      if (refuse.has(step)) throw new TerminalError(`${step} refused`);
      return `${step}-done`;
    },
    ...(compensable
      ? {
          compensate: async () => {
            calls.push(`${step}.compensate`);
          },
        }
      : {}),
  });
  const engine = engines.open(backend, {
    ...(clock ? { clock } : {}),
    handlers: {
      payment: { reserve: handler('reserve', true), charge: handler('charge', false) },
      review: {
        hold: handler('hold', true),
        release: handler('release', false),
        archive: handler('archive', false),
      },
    },
  });
  return { engine, calls, seen, refuse };
}

/**
 * Polls the saga (real time, a few ms apart) until `ready` holds: a wait is reached asynchronously.
 * With a test clock, each poll also fires what is due on it (a sleep already over).
 */
async function until(
  engine: Engine,
  sagaId: string,
  ready: (view: SagaView) => boolean,
  clock?: TestClock,
): Promise<SagaView> {
  for (let i = 0; i < 1_000; i++) {
    const view = await engine.get(sagaId);
    if (ready(view)) return view;
    await clock?.advance(0);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`saga ${sagaId} never reached the expected state`);
}

const waitingAt = (step: string) => (view: SagaView) => statuses(view)[step] === 'waiting';

/** Moves the test clock a little at a time until the saga settles (the engine's wake-ups run on it). */
async function advanceUntilSettled(engine: Engine, clock: TestClock, sagaId: string, stepMs = 500): Promise<SagaView> {
  for (let i = 0; i < 400; i++) {
    const view = await engine.get(sagaId);
    if (['Completed', 'Failed', 'Escalated'].includes(view.state)) return view;
    await clock.advance(stepMs);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`saga ${sagaId} did not settle`);
}

describe.each(BACKENDS)('waits and signals (%s)', (backend) => {
  describe('signals', () => {
    it('parks the saga at the wait and goes on with the payload in ctx.results', async () => {
      const { engine, calls, seen } = harness(backend);
      const { sagaId } = await engine.start(payment, { amount: 10 });
      const parked = await until(engine, sagaId, waitingAt('approval'));
      expect(parked.state).toBe('Pending');
      expect(calls).toEqual(['reserve.run']);

      const result = await engine.signal(sagaId, 'approval', { approved: true, by: 'ana' });
      expect(result).toEqual({ duplicate: false, state: 'Pending' });
      const done = await engine.waitFor(sagaId, { timeoutMs: 10_000 });
      expect(done.state).toBe('Completed');
      expect(calls).toEqual(['reserve.run', 'charge.run']);
      expect(seen.charge).toEqual({ reserve: 'reserve-done', approval: { approved: true, by: 'ana' } });
      expect(statuses(done)).toEqual({ reserve: 'completed', approval: 'completed', charge: 'completed' });
    });

    it('refuses a payload the schema rejects with SIGNAL_INVALID naming the field, and changes nothing', async () => {
      const { engine } = harness(backend);
      const { sagaId } = await engine.start(payment, { amount: 10 });
      const before = await until(engine, sagaId, waitingAt('approval'));

      const error = await caught(engine.signal(sagaId, 'approval', { approved: 'yes', by: 'ana' }));
      expect(error.code).toBe('SIGNAL_INVALID');
      expect((error as unknown as { path: string }).path).toBe('approved');
      expect(error.message).toMatch(/signal "approval" .* is invalid: .*approved/);
      const unstorable = await caught(
        engine.signal(sagaId, 'approval', { approved: true, by: 'ana', note: new Date() }),
      );
      expect(unstorable.code).toBe('SIGNAL_INVALID');
      expect(unstorable.message).toMatch(/not storable: payload\.note is a Date/);

      const after = await engine.get(sagaId);
      expect(after.revision).toBe(before.revision);
      expect(statuses(after).approval).toBe('waiting');
    });

    it('refuses a signal for a wait it has no name for, or has not reached', async () => {
      const { engine } = harness(backend);
      const { sagaId } = await engine.start(review, { coolOffMs: Number.MAX_SAFE_INTEGER });
      await until(engine, sagaId, waitingAt('coolOff'));

      const unknown = await caught(engine.signal(sagaId, 'approval', {}));
      expect(unknown.code).toBe('SIGNAL_INVALID');
      expect(unknown.message).toMatch(/has no wait named "approval"; its waits are "check", "receipt"/);
      const sleep = await caught(engine.signal(sagaId, 'coolOff', {}));
      expect(sleep.code).toBe('SIGNAL_INVALID');
      const early = await caught(engine.signal(sagaId, 'check', { ok: true }));
      expect(early.code).toBe('SIGNAL_NOT_AWAITED');
      expect(early.message).toMatch(
        /not waiting for signal "check": it has not reached that wait yet; nothing changed/,
      );
    });

    it('rolls the saga back when the wait rejects the signal, like a failed step', async () => {
      const { engine, calls } = harness(backend);
      const { sagaId } = await engine.start(payment, { amount: 10 });
      await until(engine, sagaId, waitingAt('approval'));

      await engine.signal(sagaId, 'approval', { approved: false, by: 'bo' });
      const view = await engine.waitFor(sagaId, { timeoutMs: 10_000 });
      expect(view.state).toBe('Failed');
      expect(view.failure).toMatchObject({ reason: 'failed', step: 'approval', error: { code: 'SIGNAL_REJECTED' } });
      expect(calls).toEqual(['reserve.run', 'reserve.compensate']);
      expect(statuses(view)).toEqual({ reserve: 'compensated', approval: 'failed', charge: 'idle' });
    });

    it('recognises a repeated signalId and changes nothing; another signal after it is refused', async () => {
      const { engine, calls } = harness(backend);
      const { sagaId } = await engine.start(payment, { amount: 10 });
      await until(engine, sagaId, waitingAt('approval'));

      const payload = { approved: true, by: 'ana' };
      await engine.signal(sagaId, 'approval', payload, { signalId: 'mail-7' });
      await engine.waitFor(sagaId, { timeoutMs: 10_000 });
      const again = await engine.signal(sagaId, 'approval', payload, { signalId: 'mail-7' });
      expect(again).toEqual({ duplicate: true, state: 'Completed' });
      const other = await caught(engine.signal(sagaId, 'approval', payload, { signalId: 'mail-8' }));
      expect(other.code).toBe('SIGNAL_NOT_AWAITED');
      expect(other.message).toMatch(/that wait already ended \(signal "mail-7"\)/);
      expect(calls).toEqual(['reserve.run', 'charge.run']);
      const bad = await caught(engine.signal(sagaId, 'approval', payload, { signalId: '' }));
      expect(bad.code).toBe('SIGNAL_INVALID');
    });

    it('of a signal and a cancel racing, exactly one takes effect', async () => {
      const { engine } = harness(backend);
      const { sagaId } = await engine.start(payment, { amount: 10 });
      await until(engine, sagaId, waitingAt('approval'));

      const [signal, cancel] = await Promise.allSettled([
        engine.signal(sagaId, 'approval', { approved: true, by: 'ana' }),
        engine.cancel(sagaId),
      ]);
      const view = await engine.waitFor(sagaId, { timeoutMs: 10_000 });
      if (signal.status === 'fulfilled') {
        // The signal came first: the charge (the pivot) started, so the cancel was refused.
        expect(cancel.status).toBe('rejected');
        expect(view.state).toBe('Completed');
      } else {
        expect((signal.reason as { code: string }).code).toBe('SIGNAL_NOT_AWAITED');
        expect(cancel.status).toBe('fulfilled');
        expect(view.state).toBe('Failed');
      }
    });
  });

  describe('cancel', () => {
    it('rolls a waiting saga back at once', async () => {
      const { engine, calls } = harness(backend);
      const { sagaId } = await engine.start(payment, { amount: 10 });
      await until(engine, sagaId, waitingAt('approval'));

      await engine.cancel(sagaId);
      const view = await engine.waitFor(sagaId, { timeoutMs: 10_000 });
      expect(view.state).toBe('Failed');
      expect(view.failure).toEqual({ reason: 'cancelled' });
      expect(calls).toEqual(['reserve.run', 'reserve.compensate']);
      expect(statuses(view)).toEqual({ reserve: 'compensated', approval: 'idle', charge: 'idle' });
    });
  });

  describe('deadlines', () => {
    it('rolls back when a wait gets no signal before its deadline (onTimeout compensate, the default)', async () => {
      const clock = createTestClock(Date.now());
      const { engine, calls } = harness(backend, clock);
      const { sagaId } = await engine.start(payment, { amount: 10 });
      await until(engine, sagaId, waitingAt('approval'));

      await clock.advance(59_000);
      expect(statuses(await engine.get(sagaId)).approval).toBe('waiting');
      const view = await advanceUntilSettled(engine, clock, sagaId);
      expect(view.state).toBe('Failed');
      expect(view.failure).toMatchObject({ step: 'approval', error: { code: 'WAIT_DEADLINE' } });
      expect(calls).toEqual(['reserve.run', 'reserve.compensate']);
      const late = await caught(engine.signal(sagaId, 'approval', { approved: true, by: 'ana' }));
      expect(late.code).toBe('SIGNAL_NOT_AWAITED');
      expect(late.message).toMatch(/that wait reached its deadline/);
    });

    it('sleeps until the date `until` computes, escalates a missed deadline, and waits again on resume', async () => {
      const clock = createTestClock(1_700_000_000_000);
      const { engine, calls } = harness(backend, clock);
      const { sagaId } = await engine.start(review, { coolOffMs: 1_700_000_005_000 });
      await until(engine, sagaId, waitingAt('coolOff'));
      await clock.advance(4_000);
      expect(statuses(await engine.get(sagaId)).coolOff).toBe('waiting');

      // The sleep ends at 5 s; the check then waits 1 s for a signal and escalates.
      const escalated = await advanceUntilSettled(engine, clock, sagaId, 250);
      expect(escalated.state).toBe('Escalated');
      expect(escalated.escalation).toMatchObject({ direction: 'run', step: 'check', error: { code: 'WAIT_DEADLINE' } });
      expect(escalated.escalation?.uncompensated).toEqual(['hold']);

      await engine.resume(sagaId);
      const again = await until(engine, sagaId, waitingAt('check'));
      // A fresh wait: the deadline error of the round before no longer holds.
      expect(again.steps.find((s) => s.name === 'check')).toEqual({
        name: 'check',
        status: 'waiting',
        attempts: 0,
        compensationAttempts: 0,
      });
      await engine.signal(sagaId, 'check', { ok: true });
      // After the pivot, a receipt that never comes lets the saga go on (onTimeout continue).
      await until(engine, sagaId, waitingAt('receipt'));
      const done = await advanceUntilSettled(engine, clock, sagaId, 250);
      expect(done.state).toBe('Completed');
      expect(calls).toEqual(['hold.run', 'release.run', 'archive.run']);
      const receipt = done.steps.find((s) => s.name === 'receipt');
      expect(receipt?.status).toBe('completed');
    });

    it('lets cancel roll back an escalated wait before the pivot', async () => {
      const clock = createTestClock(1_700_000_000_000);
      const { engine, calls } = harness(backend, clock);
      const { sagaId } = await engine.start(review, { coolOffMs: 0 });
      await until(engine, sagaId, waitingAt('check'), clock);
      const escalated = await advanceUntilSettled(engine, clock, sagaId, 250);
      expect(escalated.state).toBe('Escalated');

      await engine.cancel(sagaId);
      const view = await engine.waitFor(sagaId, { timeoutMs: 10_000 });
      expect(view.state).toBe('Failed');
      expect(calls).toEqual(['hold.run', 'hold.compensate']);
    });
  });
});

describe('waits in a definition', () => {
  const schema = z.object({ ok: z.boolean() });
  const define = (steps: unknown[]) =>
    defineSaga({ name: 'w', version: 1, input: z.object({}), steps: steps as never });

  it('refuses a wait after the pivot that would roll back at its deadline or on a rejection', () => {
    expect(() =>
      define([
        { name: 'pay', kind: 'pivot' },
        { wait: 'ok', signal: schema, timeoutMs: 5, onTimeout: 'compensate' },
      ]),
    ).toThrow(/steps\.1\.onTimeout.*wait "ok" comes after the pivot "pay", where nothing can be rolled back/);
    expect(() =>
      define([
        { name: 'pay', kind: 'pivot' },
        { wait: 'ok', signal: schema, reject: () => true },
      ]),
    ).toThrow(/steps\.1\.reject.*it cannot reject/);
  });

  it('defaults a wait to compensate before the pivot and to escalate after it; a sleep continues', () => {
    const saga = define([
      { name: 'hold' },
      { wait: 'before', signal: schema },
      { name: 'pay', kind: 'pivot' },
      { wait: 'after', signal: schema, timeoutMs: 5 },
      { sleep: 'nap', forMs: 5 },
    ]);
    const wait = (name: string) => saga.steps.find((s) => s.name === name)?.wait;
    expect(wait('before')).toMatchObject({ type: 'signal', onTimeout: 'compensate', timeoutMs: undefined });
    expect(wait('after')).toMatchObject({ type: 'signal', onTimeout: 'escalate', timeoutMs: 5 });
    expect(wait('nap')).toMatchObject({ type: 'sleep', onTimeout: 'continue', timeoutMs: 5 });
    expect(saga.waits).toEqual(['before', 'after', 'nap']);
    expect(saga.steps.find((s) => s.name === 'nap')?.kind).toBe('query');
  });

  it('names the field of a malformed wait or sleep', () => {
    expect(() => define([{ wait: 'ok', signal: 'yes' }])).toThrow(/steps\.0\.signal.*must be a zod schema/);
    expect(() => define([{ sleep: 'nap' }])).toThrow(/steps\.0\.forMs.*exactly one of forMs or until/);
    expect(() => define([{ wait: 'ok', signal: schema, timeoutMs: 5, until: () => 1 }])).toThrow(
      /steps\.0\.until.*not both/,
    );
    expect(() => define([{ name: 'ok' }, { sleep: 'ok', forMs: 1 }])).toThrow(
      /steps\.1\.sleep.*duplicate step name "ok"/,
    );
  });
});
