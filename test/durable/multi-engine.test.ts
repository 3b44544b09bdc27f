import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { Participants, trip, tripHandlers } from '../../examples/trip-booking/saga.ts';
import { createEngine, type Engine, SagaEvents, type StepOutcome, TerminalError } from '../../src/index.ts';
import { bullMqPrefix } from '../../src/persistence/redis-keys.ts';
import { dropPrefix, eventually, REDIS_URL } from './redis-helpers.ts';

describe('several engine processes on one Redis', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  function engineOn(prefix: string, participants: Participants): Engine {
    const engine = createEngine({
      redis: { connection: REDIS_URL, prefix },
      sagas: [trip],
      handlers: { [trip.name]: tripHandlers(participants) },
    });
    cleanups.push(() => engine.close());
    return engine;
  }

  it('two engines consuming the same sagas lose no update and apply no step twice', async () => {
    const prefix = `xsaga-test-${randomUUID()}`;
    cleanups.push(() => dropPrefix(prefix));
    const participants = new Participants();
    const engines = [engineOn(prefix, participants), engineOn(prefix, participants)];
    const ids = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const engine = engines[i % 2] as Engine;
        return (await engine.start(trip, { tripId: `m-${i}`, cardDeclined: i % 5 === 0 })).sagaId;
      }),
    );
    const finals = await Promise.all(
      ids.map((id, i) => (engines[(i + 1) % 2] as Engine).waitFor(id, { timeoutMs: 30_000 })),
    );
    for (const [i, view] of finals.entries()) {
      expect(view.state).toBe(i % 5 === 0 ? 'Failed' : 'Completed');
      // One log entry per revision: no write was lost or applied twice.
      expect(view.history).toHaveLength(view.revision);
      const forward = view.history
        .filter((h) => h.event === SagaEvents.stepDone && h.direction === 'run')
        .map((h) => h.step);
      expect(forward).toEqual(
        i % 5 === 0 ? ['reserveFlight', 'reserveHotel', 'reserveCar'] : trip.steps.map((s) => s.name),
      );
    }
    // Every booking made once (the participant dedupes by key, so count first-time bookings).
    const booked = participants.log.filter((l) => l.startsWith('booked')).length;
    expect(booked).toBe(32 * 4 + 8 * 3);
    expect(participants.bookings.size).toBe(32 * 4);
  });

  it('ignores a step outcome delivered twice', async () => {
    const prefix = `xsaga-test-${randomUUID()}`;
    cleanups.push(() => dropPrefix(prefix));
    const engine = engineOn(prefix, new Participants());
    const { sagaId } = await engine.start(trip, { tripId: 'dup', cardDeclined: false });
    const before = await engine.waitFor(sagaId, { timeoutMs: 20_000 });
    const outcomes = new Queue('xsaga-outcomes', { connection: { url: REDIS_URL }, prefix: bullMqPrefix(prefix) });
    cleanups.push(() => outcomes.close());
    const duplicate: StepOutcome = {
      jobId: `${sagaId}~reserveHotel~run`,
      sagaId,
      event: {
        type: SagaEvents.stepDone,
        step: 'reserveHotel',
        direction: 'run',
        attempts: 1,
        round: 0,
        result: { bookingId: 'other' },
      },
    };
    const job = await outcomes.add('done', duplicate, { jobId: 'duplicate-delivery', removeOnComplete: false });
    await eventually(async () => (await job.getState()) === 'completed');
    const after = await engine.get(sagaId);
    expect(after.revision).toBe(before.revision);
    expect(after.history).toEqual(before.history);
    expect(after.steps.find((s) => s.name === 'reserveHotel')?.result).toEqual(
      before.steps.find((s) => s.name === 'reserveHotel')?.result,
    );
  });

  it('of a resume and a resolve sent to two engines at once, exactly one takes effect', async () => {
    const prefix = `xsaga-test-${randomUUID()}`;
    cleanups.push(() => dropPrefix(prefix));
    const participants = new Participants();
    const base = tripHandlers(participants);
    // The car cannot be cancelled: a declined card escalates at its compensation.
    const handlers = {
      [trip.name]: {
        ...base,
        reserveCar: {
          ...base.reserveCar,
          compensate: async () => {
            throw new TerminalError('the rental desk is closed');
          },
        },
      },
    };
    const open = () => {
      const engine = createEngine({ redis: { connection: REDIS_URL, prefix }, sagas: [trip], handlers });
      cleanups.push(() => engine.close());
      return engine;
    };
    const [a, b] = [open(), open()];
    const { sagaId } = await a.start(trip, { tripId: 'race', cardDeclined: true });
    expect((await a.waitFor(sagaId, { timeoutMs: 20_000 })).state).toBe('Escalated');
    // Both engines have the saga hosted, so each decides against its own copy first.
    await b.get(sagaId);

    const settled = await Promise.allSettled([a.resume(sagaId), b.resolve(sagaId, 'car returned by hand')]);

    expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(1);
    const refused = settled.find((s) => s.status === 'rejected') as PromiseRejectedResult;
    expect(refused.reason.code).toBe('INVALID_STATE');
    const view = await a.waitFor(sagaId, { timeoutMs: 20_000 });
    const resolved = settled[1]?.status === 'fulfilled';
    expect(view.resolution?.note).toBe(resolved ? 'car returned by hand' : undefined);
    // One log entry per revision: neither command was applied on top of a stale copy.
    expect(view.history).toHaveLength(view.revision);
  });
});
