import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { Participants, trip, tripHandlers } from '../../examples/trip-booking/saga.ts';
import {
  BullMqQueue,
  createEngine,
  createRedisStore,
  createWorker,
  type Engine,
  type StepWorker,
} from '../../src/index.ts';
import { bullMqPrefix, createRedisKeys } from '../../src/persistence/redis-keys.ts';
import { dropPrefix, REDIS_URL } from './redis-helpers.ts';
import { OwnRedis } from './redis-server.ts';

/** Every key under `match` (SCAN is fine in tests). */
async function keysMatching(url: string, match: string): Promise<string[]> {
  const redis = new Redis(url);
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', match, 'COUNT', 1000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  await redis.quit();
  return keys;
}

describe('one prefix for the engine and its workers', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** An engine with no handlers and a separate worker, both given `prefix` (or neither, if undefined). */
  function engineAndWorker(url: string, prefix: string | undefined, participants: Participants) {
    const engine: Engine = createEngine({ redis: { connection: url, ...(prefix ? { prefix } : {}) }, sagas: [trip] });
    const worker: StepWorker = createWorker({
      connection: url,
      ...(prefix ? { prefix } : {}),
      handlers: { [trip.name]: tripHandlers(participants) },
    });
    cleanups.push(
      () => engine.close(),
      () => worker.close(),
    );
    return engine;
  }

  it('completes a saga when the engine and createWorker are given the same prefix', async () => {
    const prefix = `xsaga-test-${randomUUID()}`;
    cleanups.push(() => dropPrefix(prefix));
    const participants = new Participants();
    const engine = engineAndWorker(REDIS_URL, prefix, participants);

    const { sagaId } = await engine.start(trip, { tripId: 'same-prefix' });
    const final = await engine.waitFor(sagaId, { timeoutMs: 20_000 });
    expect(final.state).toBe('Completed');
    expect(participants.bookings.size).toBe(4);
  });

  it('keeps every key of a prefix, BullMQ’s included, under "<prefix>:"', async () => {
    const prefix = `xsaga-test-${randomUUID()}`;
    cleanups.push(() => dropPrefix(prefix));
    const engine = engineAndWorker(REDIS_URL, prefix, new Participants());
    const { sagaId } = await engine.start(trip, { tripId: 'layout' });
    await engine.waitFor(sagaId, { timeoutMs: 20_000 });

    const keys = await keysMatching(REDIS_URL, `${prefix}*`);
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.filter((key) => !key.startsWith(`${prefix}:`))).toEqual([]);
    expect(keys).toContain(createRedisKeys(prefix).saga(sagaId));
    expect(keys.some((key) => key.startsWith(`${prefix}:bull:xsaga-steps:`))).toBe(true);
  });

  it('completes a saga when neither the engine nor createWorker is given a prefix (both "xsaga")', async () => {
    // Its own server: the default prefix is shared by anything else on the shared Redis.
    const redis = await OwnRedis.start();
    cleanups.push(() => redis.stop());
    const participants = new Participants();
    const engine = engineAndWorker(redis.url, undefined, participants);

    const { sagaId } = await engine.start(trip, { tripId: 'defaults', cardDeclined: true });
    const final = await engine.waitFor(sagaId, { timeoutMs: 20_000 });
    expect(final.state).toBe('Failed');
    expect(participants.bookings.size).toBe(0);
    const keys = await keysMatching(redis.url, '*');
    expect(keys.filter((key) => !key.startsWith('xsaga:'))).toEqual([]);
    expect(keys.some((key) => key.startsWith('xsaga:bull:'))).toBe(true);
  });
});

describe('prefix rules', () => {
  it('derives the BullMQ prefix from the xsaga prefix, "xsaga:bull" by default', () => {
    expect(bullMqPrefix('shop')).toBe('shop:bull');
    expect(bullMqPrefix()).toBe('xsaga:bull');
  });

  it.each([
    ['a colon, which would put one prefix’s keys under another’s', 'shop:eu'],
    ['glob characters, which would widen an ACL key pattern', 'shop*'],
    ['a question mark', 'shop?'],
    ['brackets', 'shop[1]'],
    ['a backslash', 'shop\\1'],
    ['braces, which would become the Cluster hash tag', 'app{1}'],
    ['a space', 'my shop'],
    ['nothing', ''],
    ['more than 64 characters', 'x'.repeat(65)],
  ])('refuses a prefix with %s, everywhere a prefix is taken', (_why, prefix) => {
    const refused = /prefix .* is not usable/;
    expect(() => createRedisKeys(prefix)).toThrow(TypeError);
    expect(() => bullMqPrefix(prefix)).toThrow(refused);
    // Each refuses before opening a connection, so nothing is left to close.
    expect(() => createRedisStore({ connection: REDIS_URL, prefix })).toThrow(refused);
    expect(() => createEngine({ redis: { connection: REDIS_URL, prefix } })).toThrow(refused);
    expect(() => createWorker({ connection: REDIS_URL, prefix, runAttempt: async () => 1 })).toThrow(refused);
    expect(() => new BullMqQueue({ connection: REDIS_URL, prefix })).toThrow(refused);
  });

  it('accepts letters, digits, "_", "." and "-" up to 64 characters', () => {
    for (const prefix of ['shop', 'acme-bull', 'tenant_1.prod', 'x'.repeat(64)]) {
      expect(createRedisKeys(prefix).saga('s-1')).toBe(`${prefix}:saga:{s-1}`);
      expect(bullMqPrefix(prefix)).toBe(`${prefix}:bull`);
    }
  });

  it('suggests a usable prefix in the message', () => {
    expect(() => createRedisKeys('shop:eu')).toThrow(/e\.g\. "shop-eu"/);
  });
});
