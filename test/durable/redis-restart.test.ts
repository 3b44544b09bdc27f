import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Participants, trip, tripHandlers } from '../../examples/trip-booking/saga.ts';
import { createEngine, type Engine, type StepContext, type StepHandler } from '../../src/index.ts';
import { OwnRedis } from './redis-server.ts';

const SAGAS = 60;

describe('Redis killed and restarted mid-run (AOF, appendfsync always)', () => {
  let redis: OwnRedis;
  let engine: Engine | undefined;
  beforeAll(async () => {
    redis = await OwnRedis.start();
  });
  afterAll(async () => {
    await engine?.close();
    await redis?.stop();
  });

  it('loses no saga and leaves none stuck', async () => {
    const participants = new Participants();
    // Slow steps, so the kill lands while many sagas are between steps.
    const slow = Object.fromEntries(
      Object.entries(tripHandlers(participants)).map(([name, handler]) => [
        name,
        {
          run: async (ctx: StepContext) => {
            await new Promise((r) => setTimeout(r, 30));
            return (handler as StepHandler).run(ctx as never);
          },
          compensate: (handler as StepHandler).compensate,
        } satisfies StepHandler,
      ]),
    );
    engine = createEngine({
      redis: { connection: redis.url, prefix: `restart-${randomUUID()}`, lockDurationMs: 2000 },
      sagas: [trip],
      handlers: { [trip.name]: slow },
    });
    engine.on('error', () => undefined);
    const ids: string[] = [];
    for (let i = 0; i < SAGAS; i++) {
      ids.push((await engine.start(trip, { tripId: `r-${i}`, cardDeclined: i % 6 === 0 })).sagaId);
    }
    await new Promise((r) => setTimeout(r, 150));
    await redis.kill();
    await new Promise((r) => setTimeout(r, 500));
    await redis.restart();

    const running = engine;
    const finals = await Promise.all(ids.map((id) => running.waitFor(id, { timeoutMs: 60_000 })));
    const states = finals.map((f) => f.state);
    console.log(
      `redis restart: ${SAGAS} sagas, completed ${states.filter((s) => s === 'Completed').length}, failed ${states.filter((s) => s === 'Failed').length}, other ${states.filter((s) => s !== 'Completed' && s !== 'Failed').length}`,
    );
    for (const [i, view] of finals.entries()) {
      expect(view.state).toBe(i % 6 === 0 ? 'Failed' : 'Completed');
      expect(view.history).toHaveLength(view.revision);
    }
    // The declined trips left nothing booked; the others each hold four bookings.
    expect(participants.bookings.size).toBe((SAGAS - SAGAS / 6) * 4);
  }, 120_000);
});
