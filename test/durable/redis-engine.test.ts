import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { Participants, trip, tripHandlers } from '../../examples/trip-booking/saga.ts';
import { readStoredSnapshot } from '../../src/engine/compact-snapshot.ts';
import { type CompensationContext, createEngine, type Engine, type StepContext } from '../../src/index.ts';
import { createRedisStore } from '../../src/persistence/redis-store.ts';
import { withInstantRetries } from '../../src/testing/index.ts';
import { dropPrefix, REDIS_URL } from './redis-helpers.ts';

/** The states a completed trip passes through, in its log (`to` of each entry). */
const TRIP_PATH = [
  'Started',
  'Pending.reserveFlight',
  'Pending.reserveHotel',
  'Pending.reserveCar',
  'Pending.chargePayment',
  'Pending.sendConfirmation',
  'Completed',
];

describe('engine on Redis + BullMQ', () => {
  const opened: Array<{ engine: Engine; prefix: string }> = [];
  afterEach(async () => {
    for (const { engine, prefix } of opened.splice(0)) {
      await engine.close();
      await dropPrefix(prefix);
    }
  });

  function open(participants: Participants, prefix = `xsaga-test-${randomUUID()}`, withHandlers = true) {
    const engine = createEngine({
      redis: { connection: REDIS_URL, prefix },
      sagas: [trip],
      ...(withHandlers ? { handlers: { [trip.name]: tripHandlers(participants) } } : {}),
    });
    opened.push({ engine, prefix });
    return { engine, prefix };
  }

  it('completes a saga with steps run as BullMQ jobs and the snapshot in Redis', async () => {
    const participants = new Participants();
    const { engine } = open(participants);
    const { sagaId } = await engine.start(trip, { tripId: 'r-1', cardDeclined: false });
    const final = await engine.waitFor(sagaId, { timeoutMs: 20_000 });
    expect(final.state).toBe('Completed');
    expect(final.history.map((h) => h.to)).toEqual(TRIP_PATH);
    expect(participants.bookings.size).toBe(4);
  });

  it('compensates newest first when the payment is declined', async () => {
    const participants = new Participants();
    const { engine } = open(participants);
    const { sagaId } = await engine.start(trip, { tripId: 'r-2', cardDeclined: true });
    const final = await engine.waitFor(sagaId, { timeoutMs: 20_000 });
    expect(final.state).toBe('Failed');
    expect(final.compensated).toEqual(['reserveCar', 'reserveHotel', 'reserveFlight']);
    expect(participants.bookings.size).toBe(0);
  });

  it('lets a second engine process finish a saga the first one started', async () => {
    const participants = new Participants();
    // Engine A has no handlers and no worker: it only starts the saga and goes away.
    const a = open(participants, undefined, false);
    const { sagaId } = await a.engine.start(trip, { tripId: 'r-3', cardDeclined: false });
    await a.engine.close();
    opened.splice(0, 1);
    // Engine B, same prefix, runs the worker and consumes the outcomes.
    const b = open(participants, a.prefix);
    const final = await b.engine.waitFor(sagaId, { timeoutMs: 20_000 });
    expect(final.state).toBe('Completed');
    expect(participants.log.filter((l) => l.startsWith('booked'))).toHaveLength(4);
  });

  it('stores value and context only, in the snapshot key beside a listpack hash, and short log lines', async () => {
    const participants = new Participants();
    const { engine, prefix } = open(participants);
    const { sagaId } = await engine.start(trip, { tripId: 'r-5', cardDeclined: false });
    await engine.waitFor(sagaId, { timeoutMs: 20_000 });
    const redis = new Redis(REDIS_URL);
    try {
      const stored = JSON.parse((await redis.get(`${prefix}:snap:{${sagaId}}`)) as string);
      expect(Object.keys(stored)).toEqual(['v', 'c']);
      expect(stored.v).toBe('Completed');
      expect(await redis.object('ENCODING', `${prefix}:saga:{${sagaId}}`)).toBe('listpack');
      const log = await redis.lrange(`${prefix}:log:{${sagaId}}`, 0, -1);
      // No `f`: each entry starts where the one before it ended.
      expect(log.map((line) => JSON.parse(line))).toEqual([
        { at: expect.any(Number), t: 'Started', e: 'saga.created' },
        { at: expect.any(Number), t: 'Pending.reserveFlight', e: 'saga.start' },
        { at: expect.any(Number), t: 'Pending.reserveHotel', e: 'step.done', a: 1 },
        { at: expect.any(Number), t: 'Pending.reserveCar', e: 'step.done', a: 1 },
        { at: expect.any(Number), t: 'Pending.chargePayment', e: 'step.done', a: 1 },
        { at: expect.any(Number), t: 'Pending.sendConfirmation', e: 'step.done', a: 1 },
        { at: expect.any(Number), t: 'Completed', e: 'step.done', a: 1 },
      ]);
    } finally {
      await redis.quit();
    }
  });

  it('finishes a saga whose record and log an old version wrote (snapshot in the hash, persisted snapshot, full log lines)', async () => {
    const participants = new Participants();
    const a = open(participants, undefined, false);
    const { sagaId } = await a.engine.start(trip, { tripId: 'r-4', cardDeclined: false });
    await a.engine.close();
    opened.splice(0, 1);
    const redis = new Redis(REDIS_URL);
    try {
      // Rewrite the record as the version before the compact snapshot and the snapshot key stored it.
      const sagaKey = `${a.prefix}:saga:{${sagaId}}`;
      const snapshotKey = `${a.prefix}:snap:{${sagaId}}`;
      const logKey = `${a.prefix}:log:{${sagaId}}`;
      const data = readStoredSnapshot(sagaId, JSON.parse((await redis.get(snapshotKey)) as string));
      expect(data?.value).toEqual({ Pending: 'reserveFlight' });
      const persisted = {
        status: 'active',
        value: data?.value,
        historyValue: {},
        context: data?.context,
        children: {
          '0.trip-booking.Pending.reserveFlight': {
            snapshot: { status: 'active', input: { sagaId, step: 'reserveFlight', direction: 'run', round: 0 } },
            src: 'stepJob',
            syncSnapshot: false,
          },
        },
      };
      await redis.del(snapshotKey);
      await redis.hset(sagaKey, 'snapshot', JSON.stringify(persisted));
      const reader = createRedisStore({ connection: redis, prefix: a.prefix });
      const full = (await reader.history(sagaId)).map(({ sagaId: _, ...entry }) => JSON.stringify(entry));
      await redis.del(logKey);
      await redis.rpush(logKey, ...full);
      // What an operator sees before the saga moves on: the record and its log, read as they are.
      expect((await reader.load(sagaId))?.snapshot).toEqual(JSON.parse(JSON.stringify(persisted)));
      expect((await reader.history(sagaId)).map((h) => h.from)).toEqual(['', 'Started']);
      await reader.close();

      const b = open(participants, a.prefix);
      const final = await b.engine.waitFor(sagaId, { timeoutMs: 20_000 });
      expect(final.state).toBe('Completed');
      expect(final.history.map((h) => h.to)).toEqual(TRIP_PATH);
      expect(final.history[2]).toMatchObject({ step: 'reserveFlight', direction: 'run', attempt: 1 });
      expect(participants.log.filter((l) => l.startsWith('booked'))).toHaveLength(4);
      expect(final.history.map((h) => h.from)).toEqual(['', ...TRIP_PATH.slice(0, -1)]);
      // Moved on to the new layout by its first save: the snapshot in its key, none in the hash.
      expect(await redis.hexists(sagaKey, 'snapshot')).toBe(0);
      const stored = JSON.parse((await redis.get(snapshotKey)) as string);
      expect(Object.keys(stored)).toEqual(['v', 'c']);
    } finally {
      await redis.quit();
    }
  });

  it('keeps reverse compensation order at every failure index on Redis + BullMQ', async () => {
    const prefix = `xsaga-test-${randomUUID()}`;
    const saga = withInstantRetries(trip);
    for (let failAt = 0; failAt <= 5; failAt++) {
      const participants = new Participants();
      const undone: string[] = [];
      const base = tripHandlers(participants);
      const handlers = Object.fromEntries(
        Object.entries(base).map(([name, h], index) => [
          name,
          {
            run: async (ctx: StepContext) => {
              if (index === failAt) throw Object.assign(new Error('injected'), { name: 'TerminalError' });
              return h.run(ctx as never);
            },
            ...('compensate' in h && {
              compensate: async (ctx: CompensationContext) => {
                undone.push(name);
                return h.compensate?.(ctx as never);
              },
            }),
          },
        ]),
      );
      const engine = createEngine({ redis: { connection: REDIS_URL, prefix }, handlers: { [trip.name]: handlers } });
      try {
        const { sagaId } = await engine.start(saga, { tripId: `k-${failAt}`, cardDeclined: false });
        const final = await engine.waitFor(sagaId, { timeoutMs: 20_000 });
        // Up to the pivot (chargePayment) a failure rolls the reservations back; the confirmation
        // after it escalates as a forward failure, undoing nothing.
        const reservations = ['reserveFlight', 'reserveHotel', 'reserveCar'];
        expect(final.state).toBe(failAt === 5 ? 'Completed' : failAt === 4 ? 'Escalated' : 'Failed');
        expect(undone).toEqual(failAt >= 4 ? [] : reservations.slice(0, failAt).reverse());
      } finally {
        await engine.close();
      }
    }
    await dropPrefix(prefix);
  });
});
