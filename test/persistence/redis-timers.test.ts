import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createRedisStore, type RedisStore } from '../../src/persistence/redis-store.ts';
import type { SagaRecord, TransitionEntry } from '../../src/persistence/saga-store.ts';
import { dropPrefix, REDIS_URL } from '../durable/redis-helpers.ts';

const T0 = 1_700_000_000_000;
const admin = new Redis(REDIS_URL);
afterAll(async () => {
  await admin.quit();
});

function record(sagaId: string): SagaRecord {
  return {
    sagaId,
    name: 'trip',
    version: 1,
    state: 'Started',
    snapshot: {},
    revision: 1,
    createdAt: T0,
    updatedAt: T0,
  };
}
const entry = (sagaId: string): TransitionEntry => ({ sagaId, at: T0, from: '', to: 'Started', event: 'saga.created' });

describe('the timer set of a RedisStore', () => {
  const stores: RedisStore[] = [];
  const prefixes: string[] = [];
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
    for (const prefix of prefixes.splice(0)) await dropPrefix(prefix);
  });
  function makeStore() {
    const prefix = `xsaga-timers-${randomUUID()}`;
    prefixes.push(prefix);
    const store = createRedisStore({ connection: REDIS_URL, prefix });
    stores.push(store);
    return { store, timers: `${prefix}:timers` };
  }
  const save = (store: RedisStore, revision: number, timer?: { id: string; dueAt: number } | null) =>
    store.save(
      {
        sagaId: 's1',
        expectedRevision: revision,
        state: 'Pending',
        snapshot: {},
        updatedAt: T0,
        ...(timer === undefined ? {} : { timer }),
      },
      { ...entry('s1'), from: 'Started', to: 'Pending' },
    );

  it('is written by the save: a new timer replaces the saga’s last one, null removes it, absent keeps it', async () => {
    const { store, timers } = makeStore();
    await store.create(record('s1'), entry('s1'));
    await save(store, 1, { id: 's1~a~run', dueAt: T0 + 100 });
    expect(await admin.zrange(timers, 0, -1, 'WITHSCORES')).toEqual(['s1~a~run', String(T0 + 100)]);
    await save(store, 2, { id: 's1~b~run', dueAt: T0 + 200 });
    expect(await admin.zrange(timers, 0, -1, 'WITHSCORES')).toEqual(['s1~b~run', String(T0 + 200)]);
    await save(store, 3);
    expect(await admin.zrange(timers, 0, -1)).toEqual(['s1~b~run']);
    await save(store, 4, null);
    expect(await admin.zcard(timers)).toBe(0);
  });

  it('writes nothing of a save that conflicts', async () => {
    const { store, timers } = makeStore();
    await store.create(record('s1'), entry('s1'));
    await expect(save(store, 7, { id: 's1~a~run', dueAt: T0 })).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(await admin.zcard(timers)).toBe(0);
  });

  it('hands a due timer to one claimer at a time, and again to another once the claim’s lease ended', async () => {
    const { store } = makeStore();
    await store.create(record('s1'), entry('s1'));
    await save(store, 1, { id: 's1~a~run', dueAt: T0 + 100 });

    expect(await store.claimDueTimers(T0 + 99, T0 + 1_000, 10)).toEqual([]);
    const [first, second] = await Promise.all([
      store.claimDueTimers(T0 + 100, T0 + 1_000, 10),
      store.claimDueTimers(T0 + 100, T0 + 1_000, 10),
    ]);
    expect([...(first ?? []), ...(second ?? [])]).toEqual(['s1~a~run']);
    // The claimer died: once its lease ends, the timer is due again for anyone.
    expect(await store.claimDueTimers(T0 + 999, T0 + 2_000, 10)).toEqual([]);
    expect(await store.claimDueTimers(T0 + 1_000, T0 + 2_000, 10)).toEqual(['s1~a~run']);
  });

  it('lets only the holder of the claim settle a timer, and never undoes a save that replaced it', async () => {
    const { store, timers } = makeStore();
    await store.create(record('s1'), entry('s1'));
    await save(store, 1, { id: 's1~a~run', dueAt: T0 });
    await store.claimDueTimers(T0, T0 + 1_000, 10);

    await store.settleTimer('s1~a~run', T0 + 999); // not the claim it holds: nothing changes
    expect(await admin.zscore(timers, 's1~a~run')).toBe(String(T0 + 1_000));
    await store.settleTimer('s1~a~run', T0 + 1_000, T0 + 5_000); // held: look again later
    expect(await admin.zscore(timers, 's1~a~run')).toBe(String(T0 + 5_000));

    await store.claimDueTimers(T0 + 5_000, T0 + 6_000, 10);
    await save(store, 2, { id: 's1~b~run', dueAt: T0 + 9_000 }); // the saga moved on meanwhile
    await store.settleTimer('s1~a~run', T0 + 6_000);
    expect(await admin.zrange(timers, 0, -1, 'WITHSCORES')).toEqual(['s1~b~run', String(T0 + 9_000)]);
  });
});
