import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { Participants, trip, tripHandlers } from '../../examples/trip-booking/saga.ts';
import { createEngine, type Engine } from '../../src/index.ts';
import { createRedisStore } from '../../src/persistence/redis-store.ts';
import { dropPrefix, eventually, REDIS_URL } from './redis-helpers.ts';

describe('bad stored data', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('quarantines a corrupt snapshot and an unknown definition version, and the other sagas go on', async () => {
    const prefix = `xsaga-test-${randomUUID()}`;
    cleanups.push(() => dropPrefix(prefix));
    // Engine A has no worker: its sagas wait in Pending.reserveFlight.
    const a = createEngine({ redis: { connection: REDIS_URL, prefix }, sagas: [trip] });
    const ids = [];
    for (const tripId of ['corrupt', 'unknown-version', 'healthy']) {
      ids.push((await a.start(trip, { tripId, cardDeclined: false })).sagaId);
    }
    await a.close();
    const [corrupt, unknownVersion, healthy] = ids as [string, string, string];

    const redis = new Redis(REDIS_URL);
    cleanups.push(async () => void (await redis.quit()));
    await redis.set(`${prefix}:snap:{${corrupt}}`, '{"value": not json');
    await redis.hset(`${prefix}:saga:{${unknownVersion}}`, 'version', '99');

    const quarantined: string[] = [];
    const engine: Engine = createEngine({
      redis: { connection: REDIS_URL, prefix },
      sagas: [trip],
      handlers: { [trip.name]: tripHandlers(new Participants()) },
    });
    cleanups.push(() => engine.close());
    engine.on('quarantined', ({ sagaId }) => quarantined.push(sagaId));
    engine.on('error', () => undefined);

    expect((await engine.waitFor(healthy, { timeoutMs: 20_000 })).state).toBe('Completed');
    await eventually(async () => quarantined.length === 2);
    expect(quarantined.sort()).toEqual([corrupt, unknownVersion].sort());

    const store = createRedisStore({ connection: REDIS_URL, prefix });
    cleanups.push(() => store.close());
    expect((await store.listQuarantined()).sort()).toEqual([corrupt, unknownVersion].sort());
    // Moved aside, not deleted: the data is kept for a person, and the log says why.
    expect(await redis.exists(`${prefix}:saga:{${corrupt}}`)).toBe(0);
    // The snapshot is copied into the quarantine hash: one key holds the whole record.
    expect(await redis.exists(`${prefix}:snap:{${corrupt}}`)).toBe(0);
    expect(await redis.hget(`${prefix}:quarantine:{${corrupt}}`, 'snapshot')).toBe('{"value": not json');
    const log = await store.history(unknownVersion);
    expect(log.at(-1)).toMatchObject({ to: 'Quarantined', error: { code: 'RECORD_CORRUPT' } });
    expect(log.at(-1)?.error?.message).toContain('version 99');
    const pending = await store.list({ state: 'Pending' });
    expect(pending.items.map((r) => r.sagaId)).not.toContain(corrupt);
  });
});
