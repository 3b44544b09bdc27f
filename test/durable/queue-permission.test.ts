import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Participants, trip, tripHandlers } from '../../examples/trip-booking/saga.ts';
import { createEngine, createWorker, type SagaError } from '../../src/index.ts';
import { OwnRedis } from './redis-server.ts';

/**
 * A Redis ACL user that may write the saga store's keys but not BullMQ's. The save that dispatches
 * a step adds its job in the same script, so Redis refuses that script whole (it checks every key
 * first): the saga stays where it was, in `Started`, never Pending with no job, and the start says so.
 */
describe("a start whose step job Redis refuses to add (NOPERM on BullMQ's keys)", () => {
  let server: OwnRedis;
  let admin: Redis;
  const prefix = 'shop';
  beforeAll(async () => {
    server = await OwnRedis.start();
    admin = new Redis(server.url);
    const storeKeys = [
      'saga:*',
      'snap:*',
      'log:*',
      'idem:*',
      'all',
      'state:*',
      'name:*',
      'names',
      'timers',
      'quarantine*',
    ].map((pattern) => `~${prefix}:${pattern}`);
    // The store's channel too: its save script announces settled sagas there, and waitFor subscribes.
    await admin.call(
      'ACL',
      'SETUSER',
      'store-only',
      'on',
      '>secret',
      'resetkeys',
      ...storeKeys,
      `&${prefix}:*`,
      '+@all',
    );
  });
  afterAll(async () => {
    await admin.quit();
    await server.stop();
  });

  it('throws STORE_FAILED with nothing half done, and a repeated start with the same sagaId runs the saga once allowed', async () => {
    const limitedUrl = `redis://store-only:secret@127.0.0.1:${server.port}`;
    const engine = createEngine({ redis: { connection: limitedUrl, prefix }, sagas: [trip] });
    engine.on('error', () => undefined);
    const participants = new Participants();
    const worker = createWorker({
      connection: server.url,
      prefix,
      handlers: { [trip.name]: tripHandlers(participants) },
      onError: () => undefined,
    });
    try {
      const error = (await engine
        .start(trip, { tripId: 't-1', cardDeclined: false }, { sagaId: 'order-1' })
        .catch((e: unknown) => e)) as SagaError;
      expect(error.code).toBe('STORE_FAILED');
      expect(String((error.cause as Error).message)).toMatch(/NOPERM/);
      expect((await engine.get('order-1')).state).toBe('Started');

      // The operator fixes the ACL; the caller retries the start it saw fail.
      await admin.call('ACL', 'SETUSER', 'store-only', `~${prefix}:bull:*`);
      expect(await engine.start(trip, { tripId: 't-1', cardDeclined: false }, { sagaId: 'order-1' })).toEqual({
        sagaId: 'order-1',
        created: false,
      });
      expect((await engine.waitFor('order-1', { timeoutMs: 20_000 })).state).toBe('Completed');
      expect(participants.log.filter((line) => line.startsWith('booked'))).toHaveLength(4);
    } finally {
      await worker.close();
      await engine.close();
    }
  });
});
