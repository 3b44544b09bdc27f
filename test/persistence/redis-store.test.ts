import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { SagaError } from '../../src/errors.ts';
import { createRedisKeys } from '../../src/persistence/redis-keys.ts';
import { createRedisStore, type RedisStore } from '../../src/persistence/redis-store.ts';
import type { RedisStoreOptions } from '../../src/persistence/redis-store-options.ts';
import type { SagaRecord, TransitionEntry } from '../../src/persistence/saga-store.ts';
import type { ScriptCall } from '../../src/vocabulary/script-call.ts';
import type { SagaState } from '../../src/vocabulary/states.ts';
import { describeSagaStoreContract } from '../contracts/saga-store.contract.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const T0 = 1_700_000_000_000;

/** A key prefix no other test uses. */
function uniquePrefix(): string {
  return `xsaga-test-${randomUUID()}`;
}

/** Deletes every key under a prefix (SCAN is fine in tests, never in the store). */
async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

async function keysUnder(redis: Redis, prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
    found.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  return found.sort();
}

/** The part of a key Redis Cluster hashes: the first non-empty `{...}`, else the whole key. */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  const close = open === -1 ? -1 : key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

function sagaRecord(sagaId: string, overrides: Partial<SagaRecord> = {}): SagaRecord {
  return {
    sagaId,
    name: 'trip',
    version: 1,
    state: 'Started',
    snapshot: { value: 'Started' },
    revision: 1,
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

function entry(sagaId: string, to: SagaState = 'Started'): TransitionEntry {
  return { sagaId, at: T0, from: '', to, event: 'test' };
}

describeSagaStoreContract('RedisStore', async () => {
  const prefix = uniquePrefix();
  const store = createRedisStore({ connection: REDIS_URL, prefix });
  return {
    store,
    cleanup: async () => {
      await store.close();
      const admin = new Redis(REDIS_URL);
      await deletePrefix(admin, prefix);
      await admin.quit();
    },
  };
});

describe('RedisStore', () => {
  const admin = new Redis(REDIS_URL);
  const prefixes: string[] = [];
  const stores: { close(): Promise<void> }[] = [];

  /** A store on its own prefix, closed and cleaned after the test. */
  function makeStore(options: Omit<RedisStoreOptions, 'prefix'> = {}, prefix = uniquePrefix()) {
    prefixes.push(prefix);
    const store = createRedisStore({ connection: REDIS_URL, prefix, ...options });
    stores.push(store);
    return { store, prefix, keys: createRedisKeys(prefix) };
  }

  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
    await Promise.all(prefixes.splice(0).map((prefix) => deletePrefix(admin, prefix)));
  });

  afterAll(async () => {
    await admin.quit();
  });

  it('isolates prefixes: two stores on different prefixes do not see each other’s sagas', async () => {
    const a = makeStore();
    const b = makeStore();
    await a.store.create(sagaRecord('shared-id', { idempotencyKey: 'k' }), entry('shared-id'));

    expect(await b.store.load('shared-id')).toBeUndefined();
    expect(await b.store.list()).toStrictEqual({ items: [] });
    expect(await b.store.history('shared-id')).toEqual([]);
    const other = await b.store.create(sagaRecord('other-id', { idempotencyKey: 'k' }), entry('other-id'));
    expect(other.created).toBe(true);
    expect((await keysUnder(admin, a.prefix)).every((key) => !key.includes('other-id'))).toBe(true);
  });

  it('keeps all of one saga’s keys in one Cluster hash slot (the {sagaId} tag)', async () => {
    const { store, prefix, keys } = makeStore();
    const sagaId = 'a:b-c_1';
    await store.create(sagaRecord(sagaId, { idempotencyKey: 'k' }), entry(sagaId));
    await store.save(
      { sagaId, expectedRevision: 1, state: 'Pending', snapshot: {}, updatedAt: T0 },
      entry(sagaId, 'Pending'),
    );

    expect(hashTag(keys.saga(sagaId))).toBe(sagaId);
    expect(hashTag(keys.snapshot(sagaId))).toBe(sagaId);
    expect(hashTag(keys.log(sagaId))).toBe(sagaId);
    expect(hashTag(keys.quarantine(sagaId))).toBe(sagaId);
    expect(hashTag(keys.quarantineSnapshot(sagaId))).toBe(sagaId);
    const perSaga = (await keysUnder(admin, prefix)).filter((key) => key.includes(`{${sagaId}}`));
    expect(perSaga).toEqual([keys.log(sagaId), keys.saga(sagaId), keys.snapshot(sagaId)]);
    expect(await admin.type(keys.saga(sagaId))).toBe('hash');
    expect(await admin.type(keys.snapshot(sagaId))).toBe('string');
    expect(await admin.type(keys.log(sagaId))).toBe('list');
  });

  describe('script calls made with a save (`scriptCalls`)', () => {
    const push = (key: string, value: string): ScriptCall => ({
      name: 'push',
      lua: "return redis.call('RPUSH', KEYS[1], ARGV[1])",
      keys: [key],
      args: [value],
    });
    /** Saves saga s-1 from revision 1 to Pending, with `calls`: its revision, or the error's code. */
    const toPending = (store: RedisStore, calls: ScriptCall[]) =>
      store
        .save(
          { sagaId: 's-1', expectedRevision: 1, state: 'Pending', snapshot: {}, updatedAt: T0, scriptCalls: calls },
          entry('s-1', 'Pending'),
        )
        .catch((error: SagaError) => error);

    it('makes them in the save script when it saves, and not at all when it is refused', async () => {
      const { store, prefix } = makeStore();
      await store.create(sagaRecord('s-1'), entry('s-1'));
      const saved = await toPending(store, [push(`${prefix}:jobs`, 'a'), push(`${prefix}:jobs`, 'b')]);
      const refused = await toPending(store, [push(`${prefix}:jobs`, 'c')]);

      expect(saved).toBe(2);
      expect((refused as SagaError).code).toBe('CONFLICT');
      expect(await admin.lrange(`${prefix}:jobs`, 0, -1)).toEqual(['a', 'b']);
    });

    it('throws QUEUE_FAILED when a call fails after the save, which stands', async () => {
      const { store, prefix } = makeStore();
      await store.create(sagaRecord('s-1'), entry('s-1'));
      await admin.set(`${prefix}:jobs`, 'not a list');
      const error = (await toPending(store, [push(`${prefix}:jobs`, 'a')])) as SagaError;

      expect(error.code).toBe('QUEUE_FAILED');
      expect(error.message).toMatch(
        /saga "s-1" was saved \(revision 2\), but push in its save script failed: WRONGTYPE/,
      );
      expect((await store.load('s-1'))?.revision).toBe(2);
    });
  });

  it('keeps each saga in exactly one state index, scored by createdAt', async () => {
    const { store, keys } = makeStore();
    await store.create(sagaRecord('s1', { createdAt: T0 + 7 }), entry('s1'));
    await store.save(
      { sagaId: 's1', expectedRevision: 1, state: 'Pending', snapshot: {}, updatedAt: T0 + 9 },
      entry('s1', 'Pending'),
    );

    expect(await admin.zscore(keys.state('Started'), 's1')).toBeNull();
    expect(await admin.zscore(keys.state('Pending'), 's1')).toBe(String(T0 + 7));
    expect(await admin.zscore(keys.name('trip'), 's1')).toBe(String(T0 + 7));
    expect(await admin.zscore(keys.all, 's1')).toBe(String(T0 + 7));
  });

  it('rejects a prefix with braces, which would become the hash tag', () => {
    expect(() => createRedisStore({ connection: REDIS_URL, prefix: 'app{1}' })).toThrow(/prefix/);
  });

  it('rejects an ioredis keyPrefix, which its scripts could not honour', () => {
    expect(() => createRedisStore({ connection: { keyPrefix: 'app:', lazyConnect: true } })).toThrow(/keyPrefix/);
  });

  describe('retention', () => {
    it('sets one deadline on a saga, its snapshot, its log and its idempotency key when it reaches a final state', async () => {
      const { store, keys } = makeStore({ retention: { finalTtlSeconds: 60 } });
      await store.create(sagaRecord('s1', { idempotencyKey: 'order-1' }), entry('s1'));
      await store.save(
        { sagaId: 's1', expectedRevision: 1, state: 'Pending', snapshot: {}, updatedAt: T0 },
        entry('s1', 'Pending'),
      );
      expect(await admin.ttl(keys.saga('s1'))).toBe(-1);

      await store.save(
        { sagaId: 's1', expectedRevision: 2, state: 'Completed', snapshot: {}, updatedAt: T0 },
        entry('s1', 'Completed'),
      );

      const saga = [keys.saga('s1'), keys.snapshot('s1'), keys.log('s1'), keys.idempotency('trip', 'order-1')];
      for (const key of saga) {
        const ttl = await admin.ttl(key);
        expect(ttl, key).toBeGreaterThan(0);
        expect(ttl, key).toBeLessThanOrEqual(60);
      }
      // To the millisecond: no reader ever finds the hash without its snapshot.
      const deadlines = await Promise.all(saga.map((key) => admin.pexpiretime(key)));
      expect(new Set(deadlines).size).toBe(1);
    });

    it('sets the same deadline on a saga created in a final state', async () => {
      const { store, keys } = makeStore({ retention: { finalTtlSeconds: 60 } });
      await store.create(sagaRecord('s1', { state: 'Completed' }), entry('s1', 'Completed'));

      const deadlines = await Promise.all(
        [keys.saga('s1'), keys.snapshot('s1'), keys.log('s1')].map((key) => admin.pexpiretime(key)),
      );
      expect(deadlines[0]).toBeGreaterThan(Date.now());
      expect(new Set(deadlines).size).toBe(1);
    });

    it('keeps sagas in Escalated (not final) without a TTL', async () => {
      const { store, keys } = makeStore({ retention: { finalTtlSeconds: 60 } });
      await store.create(sagaRecord('s1'), entry('s1'));
      await store.save(
        { sagaId: 's1', expectedRevision: 1, state: 'Escalated', snapshot: {}, updatedAt: T0 },
        entry('s1', 'Escalated'),
      );
      expect(await admin.ttl(keys.saga('s1'))).toBe(-1);
    });

    it('list skips sagas that expired and prunes them from the index it walked', async () => {
      const { store, keys } = makeStore({ retention: { finalTtlSeconds: 1 } });
      for (const sagaId of ['s1', 's2', 's3']) {
        await store.create(sagaRecord(sagaId, { idempotencyKey: sagaId }), entry(sagaId));
        await store.save(
          { sagaId, expectedRevision: 1, state: 'Failed', snapshot: {}, updatedAt: T0 },
          entry(sagaId, 'Failed'),
        );
      }
      // Expire s2 now instead of sleeping a second.
      await admin.pexpire(keys.saga('s2'), 1);
      await admin.pexpire(keys.log('s2'), 1);
      await until(async () => (await admin.exists(keys.saga('s2'))) === 0);

      expect((await store.list({ state: 'Failed', limit: 1 })).items.map((r) => r.sagaId)).toEqual(['s1']);
      const { items } = await store.list({ state: 'Failed' });

      expect(items.map((r) => r.sagaId)).toEqual(['s1', 's3']);
      expect(await admin.zscore(keys.state('Failed'), 's2')).toBeNull();
      expect(await store.load('s2')).toBeUndefined();
      expect(await store.history('s2')).toEqual([]);
      expect((await store.list()).items.map((r) => r.sagaId)).toEqual(['s1', 's3']);
      expect(await admin.zscore(keys.all, 's2')).toBeNull();
    });

    it('lets an idempotency key whose saga expired start a new saga', async () => {
      const { store, keys } = makeStore({ retention: { finalTtlSeconds: 60 } });
      await store.create(sagaRecord('old', { idempotencyKey: 'order-1' }), entry('old'));
      await admin.del(keys.saga('old'));

      const result = await store.create(sagaRecord('new', { idempotencyKey: 'order-1' }), entry('new'));

      expect(result.created).toBe(true);
      expect(await admin.get(keys.idempotency('trip', 'order-1'))).toBe('new');
    });
  });

  it('keeps no log list with log: false', async () => {
    const { store, keys } = makeStore({ log: false });
    await store.create(sagaRecord('s1'), entry('s1'));
    await store.save(
      { sagaId: 's1', expectedRevision: 1, state: 'Pending', snapshot: {}, updatedAt: T0 },
      entry('s1', 'Pending'),
    );

    expect(await store.history('s1')).toEqual([]);
    expect(await admin.exists(keys.log('s1'))).toBe(0);
    expect((await store.load('s1'))?.revision).toBe(2);
  });

  it('reports a snapshot changed outside xsaga as RECORD_CORRUPT, naming the field', async () => {
    const { store, keys } = makeStore();
    await store.create(sagaRecord('s1'), entry('s1'));
    await admin.set(keys.snapshot('s1'), '{not json');

    await expect(store.load('s1')).rejects.toMatchObject({ code: 'RECORD_CORRUPT', field: 'snapshot', sagaId: 's1' });
  });

  it('refuses a cursor it did not make', async () => {
    const { store } = makeStore();
    await expect(store.list({ cursor: 'garbage' })).rejects.toThrow(/cursor/);
  });

  it('pages exactly through sagas created in the same millisecond (ties broken by sagaId)', async () => {
    const { store } = makeStore();
    const ids = Array.from({ length: 12 }, (_, i) => `tie-${String(i).padStart(2, '0')}`);
    for (const sagaId of [...ids].reverse()) await store.create(sagaRecord(sagaId), entry(sagaId));

    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.list({ limit: 5, ...(cursor === undefined ? {} : { cursor }) });
      seen.push(...page.items.map((r) => r.sagaId));
      cursor = page.cursor;
    } while (cursor !== undefined);

    expect(seen).toEqual(ids);
  });

  describe('connection', () => {
    it('leaves a connection it was given open on close', async () => {
      const shared = new Redis(REDIS_URL);
      const store = createRedisStore({ connection: shared, prefix: uniquePrefix() });
      await store.load('x');

      await store.close();

      expect(await shared.ping()).toBe('PONG');
      await shared.quit();
    });

    it('quits a connection it opened on close, and closing twice is harmless', async () => {
      const { store } = makeStore();
      await store.load('x');

      await store.close();
      await store.close();

      await expect(store.load('x')).rejects.toThrow();
    });
  });
});

/** Polls a condition every few milliseconds, for at most two seconds. */
async function until(condition: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 2_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met within 2 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
