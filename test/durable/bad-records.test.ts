import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { Participants, trip, tripHandlers } from '../../examples/trip-booking/saga.ts';
import { createEngine, type Engine, InProcessQueue, type SagaError } from '../../src/index.ts';
import { createRedisStore } from '../../src/persistence/redis-store.ts';
import { countKeys, dropPrefix, eventually, REDIS_URL } from './redis-helpers.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function admin(): Redis {
  const redis = new Redis(REDIS_URL);
  cleanups.push(async () => void (await redis.quit()));
  return redis;
}

function newPrefix(): string {
  const prefix = `xsaga-test-${randomUUID()}`;
  cleanups.push(() => dropPrefix(prefix));
  return prefix;
}

/** Starts sagas on an engine with no worker, so that they wait in Pending.reserveFlight. */
async function parkedSagas(prefix: string, tripIds: string[]): Promise<string[]> {
  const engine = createEngine({ redis: { connection: REDIS_URL, prefix }, sagas: [trip] });
  const ids: string[] = [];
  for (const tripId of tripIds) ids.push((await engine.start(trip, { tripId, cardDeclined: false })).sagaId);
  await engine.close();
  return ids;
}

/** An engine over the stored sagas that recovers nothing on its own and runs no step: only reads meet them. */
function readingEngine(redis: Redis, prefix: string): Engine {
  const engine = createEngine({
    store: createRedisStore({ connection: redis, prefix }),
    queue: new InProcessQueue({ runAttempt: async () => undefined }),
    sagas: [trip],
  });
  cleanups.push(() => engine.close());
  return engine;
}

function runningEngine(prefix: string, participants = new Participants()): Engine {
  const engine = createEngine({
    redis: { connection: REDIS_URL, prefix },
    sagas: [trip],
    handlers: { [trip.name]: tripHandlers(participants) },
  });
  engine.on('error', () => undefined);
  cleanups.push(() => engine.close());
  return engine;
}

describe('one corrupt field', () => {
  it.each([
    ['revision', 'abc'],
    ['revision', ''],
    ['revision', 'NaN'],
    ['createdAt', '-5'],
    ['version', '1.5'],
    ['state', 'Sleeping'],
    ['name', 'no such:name'],
    ['sagaId', 'someone-else'],
  ])('%s = %j quarantines that saga once, and a healthy saga beside it settles', async (field, value) => {
    const prefix = newPrefix();
    const [bad, healthy] = (await parkedSagas(prefix, ['bad', 'healthy'])) as [string, string];
    const redis = admin();
    await redis.hset(`${prefix}:saga:{${bad}}`, field, value);

    const engine = runningEngine(prefix);
    const quarantined: string[] = [];
    engine.on('quarantined', ({ sagaId }) => quarantined.push(sagaId));

    expect((await engine.waitFor(healthy, { timeoutMs: 15_000 })).state).toBe('Completed');
    await eventually(async () => quarantined.length > 0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(quarantined).toEqual([bad]);
    const log = await createRedisStore({ connection: redis, prefix }).history(bad);
    expect(log.at(-1)).toMatchObject({ to: 'Quarantined', error: { code: 'RECORD_CORRUPT' } });
    expect(log.at(-1)?.error?.message).toContain(bad);
    await expect(engine.get(bad)).rejects.toMatchObject({ code: 'SAGA_NOT_FOUND' });
  });

  it('costs O(1) work: no job or outcome is multiplied while the corrupt saga is met again and again', async () => {
    const prefix = newPrefix();
    const [bad, healthy] = (await parkedSagas(prefix, ['bad', 'healthy'])) as [string, string];
    const redis = admin();
    const engine = runningEngine(prefix);
    expect((await engine.waitFor(healthy, { timeoutMs: 15_000 })).state).toBe('Completed');
    expect((await engine.waitFor(bad, { timeoutMs: 15_000 })).state).toBe('Completed');
    // Both finished and acked: what is left is their records plus BullMQ's bookkeeping.
    const settledKeys = await countKeys(redis, prefix);

    await redis.hset(`${prefix}:saga:{${bad}}`, 'revision', 'abc');
    // Every read path meets it: recovery, list, get, waitFor, commands.
    for (let i = 0; i < 20; i++) {
      await engine.recover();
      await engine.list({ name: trip.name });
      await engine.cancel(bad).catch(() => undefined);
      await engine.get(bad).catch(() => undefined);
    }
    // Quarantined once; the rest of the tenant is untouched, and nothing was enqueued for it.
    const keys = await countKeys(redis, prefix);
    expect(keys).toBeLessThanOrEqual(settledKeys + 2);
    expect(await createRedisStore({ connection: redis, prefix }).listQuarantined()).toEqual([bad]);
    expect((await engine.get(healthy)).state).toBe('Completed');
  });
});

describe('a snapshot that is valid JSON of the wrong shape', () => {
  it.each([
    ['{"value":"Pending","context":{}}'],
    ['42'],
    ['null'],
    ['[]'],
    ['{"status":"active","value":{"Pending":"reserveFlight"},"context":{"sagaId":"x"},"children":{}}'],
  ])('%s: get throws RECORD_CORRUPT, list skips and flags it, and the saga is quarantined', async (snapshot) => {
    const prefix = newPrefix();
    const [bad, healthy] = (await parkedSagas(prefix, ['bad', 'healthy'])) as [string, string];
    const redis = admin();
    await redis.set(`${prefix}:snap:{${bad}}`, snapshot);
    // An engine that does not recover on its own: only reads meet the bad record.
    const engine = readingEngine(redis, prefix);

    const byName = await engine.list({ name: trip.name });
    expect(byName.items.map((view) => view.sagaId)).toEqual([healthy]);
    expect(byName.quarantined).toEqual([bad]);
    const byState = await engine.list({ state: 'Pending' });
    expect(byState.items.map((view) => view.sagaId)).toEqual([healthy]);
    expect(byState.quarantined).toBeUndefined();
    const error = (await engine.get(bad).catch((e: unknown) => e)) as SagaError;
    expect(error.code).toBe('SAGA_NOT_FOUND');
  });

  it('get of a saga never listed before throws RECORD_CORRUPT naming the saga and the field', async () => {
    const prefix = newPrefix();
    const [bad] = (await parkedSagas(prefix, ['bad'])) as [string];
    const redis = admin();
    await redis.set(`${prefix}:snap:{${bad}}`, '{"value":"Pending","context":{}}');
    const engine = readingEngine(redis, prefix);

    const error = (await engine.get(bad).catch((e: unknown) => e)) as SagaError & { field: string };
    expect(error.code).toBe('RECORD_CORRUPT');
    expect(error.field).toMatch(/^snapshot\./);
    expect(error.message).toContain(bad);
    expect(await createRedisStore({ connection: redis, prefix }).listQuarantined()).toEqual([bad]);
  });
});

describe('keys of the wrong type', () => {
  it('a saga key that is not a hash is quarantined; a log that is not a list reads as one flagged entry', async () => {
    const prefix = newPrefix();
    const [notHash, badLog, healthy] = (await parkedSagas(prefix, ['a', 'b', 'c'])) as [string, string, string];
    const redis = admin();
    await redis.del(`${prefix}:saga:{${notHash}}`);
    await redis.set(`${prefix}:saga:{${notHash}}`, 'not a hash');
    await redis.del(`${prefix}:log:{${badLog}}`);
    await redis.set(`${prefix}:log:{${badLog}}`, 'not a list');

    const engine = runningEngine(prefix);
    expect((await engine.waitFor(healthy, { timeoutMs: 15_000 })).state).toBe('Completed');
    // A saga whose log is unreadable still runs (its log entries cannot be appended: quarantined).
    await eventually(
      async () => (await createRedisStore({ connection: redis, prefix }).listQuarantined()).length === 2,
    );
    expect((await createRedisStore({ connection: redis, prefix }).listQuarantined()).sort()).toEqual(
      [notHash, badLog].sort(),
    );
    const log = await createRedisStore({ connection: redis, prefix }).history(badLog);
    expect(log).toEqual([expect.objectContaining({ event: 'log.unreadable' })]);
  });

  it('a snapshot key that is not a string is quarantined, and a healthy saga beside it settles', async () => {
    const prefix = newPrefix();
    const [bad, healthy] = (await parkedSagas(prefix, ['bad', 'healthy'])) as [string, string];
    const redis = admin();
    await redis.del(`${prefix}:snap:{${bad}}`);
    await redis.hset(`${prefix}:snap:{${bad}}`, 'not', 'a string');

    const engine = runningEngine(prefix);
    const quarantined: string[] = [];
    engine.on('quarantined', ({ sagaId }) => quarantined.push(sagaId));

    expect((await engine.waitFor(healthy, { timeoutMs: 15_000 })).state).toBe('Completed');
    await eventually(async () => quarantined.length > 0);
    expect(quarantined).toEqual([bad]);
    const log = await createRedisStore({ connection: redis, prefix }).history(bad);
    expect(log.at(-1)).toMatchObject({ to: 'Quarantined', error: { code: 'RECORD_CORRUPT' } });
    expect(log.at(-1)?.error?.message).toContain('snapshot is not a Redis string');
    // Kept for a person, beside the quarantined hash.
    expect(await redis.hgetall(`${prefix}:quarantine:snap:{${bad}}`)).toEqual({ not: 'a string' });
  });

  it('a log line that is not an entry is shown as log.unreadable, and the rest of the log stays readable', async () => {
    const prefix = newPrefix();
    const [sagaId] = (await parkedSagas(prefix, ['a'])) as [string];
    const redis = admin();
    await redis.rpush(`${prefix}:log:{${sagaId}}`, '{not json', '42', '{"at":"yesterday"}');
    const engine = readingEngine(redis, prefix);

    const view = await engine.get(sagaId);
    expect(view.history.map((entry) => entry.event)).toEqual([
      'saga.created',
      'saga.start',
      'log.unreadable',
      'log.unreadable',
      'log.unreadable',
    ]);
  });
});
