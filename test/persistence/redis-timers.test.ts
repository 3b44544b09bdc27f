import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { StoreError } from '../../src/errors.ts';
import type { RedisStore } from '../../src/persistence/redis-store.ts';
import type { SagaTimer } from '../../src/persistence/saga-store.ts';
import { REDIS_URL } from '../durable/redis-helpers.ts';
import { createdEntry, startedRecord, T0 } from '../support/records.ts';
import { useRedisStores } from '../support/redis-stores.ts';

// How timers behave is the SagaStore contract (test/contracts/saga-store.contract.ts, "timers"),
// which RedisStore passes; here is only how RedisStore lays them out, and what it does with keys
// changed outside xsaga.

const admin = new Redis(REDIS_URL);
afterAll(async () => {
  await admin.quit();
});

const entry = createdEntry;

describe('the timer set of a RedisStore', () => {
  const makeStore = useRedisStores('timers');
  const save = (store: RedisStore, revision: number, timer?: SagaTimer | null) =>
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

  it('is one sorted set of timer ids by due time, each saga’s member named by its hash field `timer`', async () => {
    const { store, keys } = makeStore();
    await store.create(startedRecord('s1'), entry('s1'));
    await save(store, 1, { id: 's1~a~run', dueAt: T0 + 100 });
    expect(await admin.zrange(keys.timers, 0, -1, 'WITHSCORES')).toEqual(['s1~a~run', String(T0 + 100)]);
    // Without the sagaId: the hash's own key names the saga.
    expect(await admin.hget(keys.saga('s1'), 'timer')).toBe('~a~run');

    await save(store, 2, null);
    expect(await admin.exists(keys.timers)).toBe(0);
    expect(await admin.hexists(keys.saga('s1'), 'timer')).toBe(0);
  });

  it('removes the timer of a quarantined saga from the set, and keeps its hash as it was for a person', async () => {
    const { store, keys } = makeStore();
    await store.create(startedRecord('s1'), entry('s1'));
    await save(store, 1, { id: 's1~a~run', dueAt: T0 + 100 });

    expect(await store.quarantine('s1', { ...entry('s1'), to: 'Quarantined' })).toBe(true);

    expect(await admin.zcard(keys.timers)).toBe(0);
    expect(await admin.hget(keys.quarantine('s1'), 'timer')).toBe('~a~run');
  });

  it('keeps the saga hash a listpack when a step name is long: its timer field leaves the sagaId out', async () => {
    const { store, keys } = makeStore();
    const sagaId = '0d6c1f2e-8a4b-4c2d-9e7f-3a5b6c7d8e9f';
    const member = `${sagaId}~chargePaymentWithRetries~run`;
    expect(member.length).toBeGreaterThan(64);
    await store.create(startedRecord(sagaId), entry(sagaId));
    await store.save(
      { sagaId, expectedRevision: 1, state: 'Pending', snapshot: {}, updatedAt: T0, timer: { id: member, dueAt: T0 } },
      { ...entry(sagaId), from: 'Started', to: 'Pending' },
    );

    expect(await admin.object('ENCODING', keys.saga(sagaId))).toBe('listpack');
    expect(await admin.zrange(keys.timers, 0, -1)).toEqual([member]);
  });

  it('replaces and removes a timer whose field a previous version wrote with the whole member', async () => {
    const { store, keys } = makeStore();
    await store.create(startedRecord('s1'), entry('s1'));
    await save(store, 1, { id: 's1~a~run', dueAt: T0 });
    // As a previous version left it.
    await admin.hset(keys.saga('s1'), 'timer', 's1~a~run');

    await save(store, 2, { id: 's1~b~run', dueAt: T0 + 1 });
    expect(await admin.zrange(keys.timers, 0, -1)).toEqual(['s1~b~run']);
    await admin.hset(keys.saga('s1'), 'timer', 's1~b~run');
    expect(await store.quarantine('s1', { ...entry('s1'), to: 'Quarantined' })).toBe(true);
    expect(await admin.zcard(keys.timers)).toBe(0);
  });

  it('quarantines a saga whose key is not a hash, leaving the timer set alone', async () => {
    const { store, keys } = makeStore();
    await admin.set(keys.saga('s1'), 'not a hash');
    await admin.zadd(keys.timers, T0, 'other~a~run');

    expect(await store.quarantine('s1', { ...entry('s1'), to: 'Quarantined' })).toBe(true);

    expect(await admin.zrange(keys.timers, 0, -1)).toEqual(['other~a~run']);
  });

  it('refuses a save that sets or clears a timer while the timer key is not a sorted set, and writes nothing', async () => {
    const { store, keys } = makeStore();
    await store.create(startedRecord('s1'), entry('s1'));
    await admin.set(keys.timers, 'not a sorted set');

    for (const timer of [{ id: 's1~a~run', dueAt: T0 }, null]) {
      const saving = save(store, 1, timer);
      await expect(saving).rejects.toBeInstanceOf(StoreError);
      await expect(saving).rejects.toMatchObject({
        code: 'STORE_FAILED',
        message: expect.stringContaining(keys.timers),
      });
    }
    expect((await store.load('s1'))?.revision).toBe(1);
    // A save that leaves the timer as it is does not touch the key.
    expect(await save(store, 1)).toBe(2);
  });

  it('claims nothing from a timer key that is not a sorted set, and says so when asked for the next due time', async () => {
    const { store, keys } = makeStore();
    await admin.set(keys.timers, 'not a sorted set');

    expect(await store.claimDueTimers(T0, T0 + 1_000, 10)).toEqual([]);
    const next = store.nextTimerAt();
    await expect(next).rejects.toBeInstanceOf(StoreError);
    await expect(next).rejects.toMatchObject({ code: 'STORE_FAILED', message: expect.stringContaining(keys.timers) });
    expect(await admin.get(keys.timers)).toBe('not a sorted set');
  });
});
