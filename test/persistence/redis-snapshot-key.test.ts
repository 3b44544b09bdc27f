import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import type { RedisKeys } from '../../src/persistence/redis-keys.ts';
import type { SagaRecord, SagaUpdate, TransitionEntry } from '../../src/persistence/saga-store.ts';
import type { SagaState } from '../../src/vocabulary/states.ts';
import { REDIS_URL } from '../durable/redis-helpers.ts';
import { flightBookedEntry } from '../support/records.ts';
import { useRedisStores } from '../support/redis-stores.ts';

// How a RedisStore keeps a saga's snapshot in a key of its own beside the saga hash, reads the
// records of the layout before it (snapshot as the hash field `snapshot`), and moves them on.

const T0 = 1_700_000_000_000;
/** A snapshot as long as the engine's (hundreds of bytes): too long for a listpack hash value. */
const SNAPSHOT = { v: { Pending: 'reserveHotel' }, c: { sagaId: 's1', input: { tripId: 'x'.repeat(300) } } };
const admin = new Redis(REDIS_URL);
afterAll(async () => {
  await admin.quit();
});

function record(overrides: Partial<SagaRecord> = {}): SagaRecord {
  return {
    sagaId: 's1',
    name: 'trip',
    version: 1,
    state: 'Pending',
    snapshot: SNAPSHOT,
    revision: 1,
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

const move = (from: string, to: string, at = T0 + 1): TransitionEntry => ({ sagaId: 's1', at, from, to, event: 'e' });

function update(expectedRevision: number, state: SagaState, snapshot: unknown = { state }): SagaUpdate {
  return { sagaId: 's1', expectedRevision, state, snapshot, updatedAt: T0 + expectedRevision };
}

/**
 * Writes saga s1 as the version before the snapshot key did: the snapshot in the hash, log lines
 * with `f`, and its index entries.
 */
async function writeOldLayout(keys: RedisKeys, saga: SagaRecord, log: string[]): Promise<void> {
  await admin.hset(keys.saga(saga.sagaId), {
    sagaId: saga.sagaId,
    name: saga.name,
    version: String(saga.version),
    state: saga.state,
    snapshot: JSON.stringify(saga.snapshot),
    revision: String(saga.revision),
    createdAt: String(saga.createdAt),
    updatedAt: String(saga.updatedAt),
  });
  await admin.rpush(keys.log(saga.sagaId), ...log);
  await admin.zadd(keys.all, saga.createdAt, saga.sagaId);
  await admin.zadd(keys.state(saga.state), saga.createdAt, saga.sagaId);
  await admin.zadd(keys.name(saga.name), saga.createdAt, saga.sagaId);
  await admin.sadd(keys.names, saga.name);
}

const OLD_LOG = [
  `{"at":${T0},"f":"","t":"Started","e":"saga.created"}`,
  `{"at":${T0 + 1},"f":"Started","t":"Pending.reserveFlight","e":"saga.start"}`,
  `{"at":${T0 + 2},"f":"Pending.reserveFlight","t":"Pending.reserveHotel","e":"step.done","a":1}`,
];
const OLD_HISTORY: TransitionEntry[] = [
  { sagaId: 's1', at: T0, from: '', to: 'Started', event: 'saga.created' },
  { sagaId: 's1', at: T0 + 1, from: 'Started', to: 'Pending.reserveFlight', event: 'saga.start' },
  flightBookedEntry('s1', T0 + 2),
];

describe('the snapshot key of a RedisStore', () => {
  const makeStore = useRedisStores('snap');

  it('holds the snapshot, so that the saga hash stays a listpack', async () => {
    const { store, keys } = makeStore();
    await store.create(record({ state: 'Started' }), move('', 'Started'));
    await store.save(update(1, 'Completed', SNAPSHOT), move('Started', 'Completed'));

    expect(await admin.hkeys(keys.saga('s1'))).toEqual([
      'sagaId',
      'name',
      'version',
      'state',
      'revision',
      'createdAt',
      'updatedAt',
    ]);
    expect(await admin.object('ENCODING', keys.saga('s1'))).toBe('listpack');
    expect(JSON.parse((await admin.get(keys.snapshot('s1'))) as string)).toEqual(SNAPSHOT);
    expect(await store.load('s1')).toStrictEqual(record({ state: 'Completed', revision: 2, updatedAt: T0 + 1 }));
  });

  describe('a record of the layout before the snapshot key', () => {
    it('loads, lists and shows its history, with the log lines that carry f', async () => {
      const { store, keys } = makeStore();
      await writeOldLayout(keys, record(), OLD_LOG);

      expect(await store.load('s1')).toStrictEqual(record());
      expect((await store.list({ state: 'Pending' })).items).toStrictEqual([record()]);
      expect(await store.history('s1')).toStrictEqual(OLD_HISTORY);
      expect(await store.loadSettled('s1')).toStrictEqual({ record: record() });
    });

    it('moves on when saved: the snapshot goes to its key, and the hash is rewritten as a listpack', async () => {
      const { store, keys } = makeStore();
      await writeOldLayout(keys, record(), OLD_LOG);
      expect(await admin.object('ENCODING', keys.saga('s1'))).toBe('hashtable');

      await store.save(update(1, 'Completed', SNAPSHOT), move('Pending.reserveHotel', 'Completed', T0 + 3));

      expect(await admin.hexists(keys.saga('s1'), 'snapshot')).toBe(0);
      expect(await admin.object('ENCODING', keys.saga('s1'))).toBe('listpack');
      expect(JSON.parse((await admin.get(keys.snapshot('s1'))) as string)).toEqual(SNAPSHOT);
      const saved = record({ state: 'Completed', revision: 2, updatedAt: T0 + 1 });
      expect(await store.load('s1')).toStrictEqual(saved);
      expect((await store.list({ state: 'Completed' })).items).toStrictEqual([saved]);
      const history = [...OLD_HISTORY, move('Pending.reserveHotel', 'Completed', T0 + 3)];
      // The new line leaves f out: the old line before it says where the saga was.
      expect(await admin.lindex(keys.log('s1'), -1)).toBe(`{"at":${T0 + 3},"t":"Completed","e":"e"}`);
      expect(await store.history('s1')).toStrictEqual(history);
      expect(await store.loadSettled('s1')).toStrictEqual({ record: saved, history });
    });

    it('keeps the deadline its hash had, and gives it to the snapshot key', async () => {
      const { store, keys } = makeStore();
      await writeOldLayout(keys, record(), OLD_LOG);
      await admin.pexpire(keys.saga('s1'), 60_000);
      const deadline = await admin.pexpiretime(keys.saga('s1'));

      await store.save(update(1, 'Pending'), move('Pending.reserveHotel', 'Pending.reserveCar'));

      expect(await admin.pexpiretime(keys.saga('s1'))).toBe(deadline);
      expect(await admin.pexpiretime(keys.snapshot('s1'))).toBe(deadline);
    });

    it('is read from its snapshot key when the hash also has the field', async () => {
      const { store, keys } = makeStore();
      await writeOldLayout(keys, record(), OLD_LOG);
      await admin.set(keys.snapshot('s1'), '{"from":"the key"}');

      expect((await store.load('s1'))?.snapshot).toEqual({ from: 'the key' });
    });
  });

  describe('changed outside xsaga', () => {
    it('is RECORD_CORRUPT for every read and for a save, which writes nothing, when it is not a string', async () => {
      const { store, keys } = makeStore();
      await store.create(record(), move('', 'Started'));
      await admin.del(keys.snapshot('s1'));
      await admin.rpush(keys.snapshot('s1'), 'not a string');
      const corrupt = { code: 'RECORD_CORRUPT', sagaId: 's1', field: 'snapshot' };

      await expect(store.load('s1')).rejects.toMatchObject(corrupt);
      await expect(store.loadSettled('s1')).rejects.toMatchObject(corrupt);
      const page = await store.list();
      expect(page.items).toEqual([]);
      expect(page.unusable).toEqual([expect.objectContaining(corrupt)]);
      await expect(store.save(update(1, 'Completed'), move('Started', 'Completed'))).rejects.toMatchObject(corrupt);
      expect(await admin.hget(keys.saga('s1'), 'revision')).toBe('1');
      expect(await admin.llen(keys.log('s1'))).toBe(1);
      await expect(store.create(record(), move('', 'Started'))).rejects.toMatchObject(corrupt);
    });

    it('is RECORD_CORRUPT when neither the key nor the hash field holds it', async () => {
      const { store, keys } = makeStore();
      await store.create(record(), move('', 'Started'));
      await admin.del(keys.snapshot('s1'));

      await expect(store.load('s1')).rejects.toMatchObject({ code: 'RECORD_CORRUPT', field: 'snapshot' });
    });

    it('is replaced by the create of a saga whose hash was deleted', async () => {
      const { store, keys } = makeStore();
      await admin.rpush(keys.snapshot('s1'), 'left over');

      expect((await store.create(record(), move('', 'Started'))).created).toBe(true);
      expect(await store.load('s1')).toStrictEqual(record());
    });
  });

  describe('quarantine', () => {
    it('copies the snapshot into the quarantine hash and deletes its key', async () => {
      const { store, keys } = makeStore();
      await store.create(record(), move('', 'Started'));
      await admin.hset(keys.quarantineSnapshot('s1'), 'from', 'an earlier quarantine');

      expect(await store.quarantine('s1', move('', 'Quarantined'))).toBe(true);

      expect(await admin.exists(keys.saga('s1'), keys.snapshot('s1'), keys.quarantineSnapshot('s1'))).toBe(0);
      expect(JSON.parse((await admin.hget(keys.quarantine('s1'), 'snapshot')) as string)).toEqual(SNAPSHOT);
    });

    it('renames a snapshot key that cannot be copied, whatever its type', async () => {
      const { store, keys } = makeStore();
      await store.create(record(), move('', 'Started'));
      await admin.del(keys.snapshot('s1'));
      await admin.rpush(keys.snapshot('s1'), 'not a string');

      expect(await store.quarantine('s1', move('', 'Quarantined'))).toBe(true);

      expect(await admin.exists(keys.snapshot('s1'))).toBe(0);
      expect(await admin.lrange(keys.quarantineSnapshot('s1'), 0, -1)).toEqual(['not a string']);
      expect(await admin.hexists(keys.quarantine('s1'), 'snapshot')).toBe(0);
    });

    it('keeps the snapshot field of a record of the layout before the snapshot key', async () => {
      const { store, keys } = makeStore();
      await writeOldLayout(keys, record(), OLD_LOG);

      expect(await store.quarantine('s1', move('', 'Quarantined'))).toBe(true);

      expect(JSON.parse((await admin.hget(keys.quarantine('s1'), 'snapshot')) as string)).toEqual(SNAPSHOT);
      expect(await store.history('s1')).toStrictEqual([...OLD_HISTORY, move('', 'Quarantined')]);
    });
  });
});
