import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRedisKeys } from '../../src/persistence/redis-keys.ts';
import { createRedisStore, type RedisStore } from '../../src/persistence/redis-store.ts';
import type { SettleListener } from '../../src/persistence/saga-store.ts';
import type { SagaState } from '../../src/vocabulary/states.ts';
import { dropPrefix, eventually, REDIS_URL } from '../durable/redis-helpers.ts';
import { OwnRedis } from '../durable/redis-server.ts';
import { caught } from '../support/caught.ts';

const T0 = 1_700_000_000_000;
const quiet: SettleListener = { settled: () => undefined, resync: () => undefined };

async function createSaga(store: RedisStore, sagaId: string): Promise<void> {
  await store.create(
    { sagaId, name: 'trip', version: 1, state: 'Started', snapshot: {}, revision: 1, createdAt: T0, updatedAt: T0 },
    { sagaId, at: T0, from: '', to: 'Started', event: 'saga.created' },
  );
}

function save(store: RedisStore, sagaId: string, expectedRevision: number, state: SagaState) {
  return store.save(
    { sagaId, expectedRevision, state, snapshot: { state }, updatedAt: T0 + expectedRevision },
    { sagaId, at: T0 + expectedRevision, from: 'Started', to: state, event: 'test' },
  );
}

describe('RedisStore.onSettled: one subscriber connection per store', () => {
  const admin = new Redis(REDIS_URL);
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(async () => {
    await admin.quit();
  });

  function makeStore(connection: string | Redis = REDIS_URL) {
    const prefix = `xsaga-test-${randomUUID()}`;
    const store = createRedisStore({ connection, prefix });
    cleanups.push(() => dropPrefix(prefix));
    cleanups.push(() => store.close());
    return { store, channel: createRedisKeys(prefix).settled };
  }

  const subscribers = async (channel: string) => ((await admin.pubsub('NUMSUB', channel)) as [string, number])[1];

  it('subscribes on the first listener only, and serves every listener from that one connection', async () => {
    const { store, channel } = makeStore();
    await store.load('nothing-yet');
    expect(await subscribers(channel)).toBe(0);

    await store.onSettled(quiet);
    await store.onSettled(quiet);
    expect(await subscribers(channel)).toBe(1);
  });

  it('closes the subscriber with the store, also when the store was given its connection', async () => {
    const shared = new Redis(REDIS_URL);
    cleanups.push(async () => {
      await shared.quit();
    });
    const { store, channel } = makeStore(shared);
    await store.onSettled(quiet);
    expect(await subscribers(channel)).toBe(1);

    await store.close();
    await eventually(async () => (await subscribers(channel)) === 0, 2_000);
    expect(await shared.ping()).toBe('PONG');
    expect((await caught(store.onSettled(quiet))).code).toBe('STORE_FAILED');
  });

  it('publishes the sagaId alone, on a settling save only', async () => {
    const { store, channel } = makeStore();
    await createSaga(store, 'order-1');
    const listener = admin.duplicate();
    cleanups.push(async () => listener.disconnect());
    const messages: string[] = [];
    listener.on('message', (_channel: string, message: string) => messages.push(message));
    await listener.subscribe(channel);

    await save(store, 'order-1', 1, 'Pending');
    await save(store, 'order-1', 2, 'Completed');
    await eventually(async () => messages.length > 0, 2_000);
    expect(messages).toEqual(['order-1']);
  });
});

describe('RedisStore.onSettled under an ACL without the settle channel', () => {
  let server: OwnRedis;
  let admin: Redis;
  const prefix = 'shop';
  beforeAll(async () => {
    server = await OwnRedis.start();
    admin = new Redis(server.url);
    await admin.call('ACL', 'SETUSER', 'no-channels', 'on', '>secret', `~${prefix}:*`, 'resetchannels', '+@all');
  });
  afterAll(async () => {
    await admin?.quit();
    await server?.stop();
  });

  it('refuses a settling save before writing anything, and the subscription, both naming the channel', async () => {
    const store = createRedisStore({ connection: `redis://no-channels:secret@127.0.0.1:${server.port}`, prefix });
    try {
      await createSaga(store, 'order-1');
      expect(await save(store, 'order-1', 1, 'Pending')).toBe(2);
      const before = await admin.hgetall(createRedisKeys(prefix).saga('order-1'));

      const refused = await caught(save(store, 'order-1', 2, 'Completed'));
      expect(refused.code).toBe('STORE_FAILED');
      expect(refused.message).toContain('"shop:settled"');
      expect(await admin.hgetall(createRedisKeys(prefix).saga('order-1'))).toEqual(before);
      expect(await admin.llen(createRedisKeys(prefix).log('order-1'))).toBe(2);
      expect(await admin.zscore(createRedisKeys(prefix).state('Completed'), 'order-1')).toBeNull();

      const unsubscribed = await caught(store.onSettled(quiet));
      expect(unsubscribed.code).toBe('STORE_FAILED');
      expect(unsubscribed.message).toContain('"shop:settled"');
      expect(unsubscribed.message).toContain('&<prefix>:*');

      // Granted: the same save goes through, and the next onSettled subscribes.
      await admin.call('ACL', 'SETUSER', 'no-channels', `&${prefix}:*`);
      expect(await save(store, 'order-1', 2, 'Completed')).toBe(3);
      await store.onSettled(quiet);
    } finally {
      await store.close();
    }
  });
});
