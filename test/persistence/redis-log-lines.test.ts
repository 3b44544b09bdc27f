import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import type { createRedisKeys } from '../../src/persistence/redis-keys.ts';
import type { RedisStore } from '../../src/persistence/redis-store.ts';
import type { TransitionEntry } from '../../src/persistence/saga-store.ts';
import { REDIS_URL } from '../durable/redis-helpers.ts';
import { startedRecord, T0 } from '../support/records.ts';
import { useRedisStores } from '../support/redis-stores.ts';

// That `history` returns every entry exactly as saved is the SagaStore contract; here is how a
// RedisStore's log lines leave out `f` (the state an entry comes from) when the line before says
// it, which the save script decides from the log itself.

const admin = new Redis(REDIS_URL);
afterAll(async () => {
  await admin.quit();
});

const move = (sagaId: string, at: number, from: string, to: string, event = 'saga.start'): TransitionEntry => ({
  sagaId,
  at,
  from,
  to,
  event,
});

describe('the log lines of a RedisStore', () => {
  const makeStore = useRedisStores('log');
  /** Creates saga s1 with `first`, then saves each of `rest` in turn. */
  async function write(store: RedisStore, first: TransitionEntry, ...rest: TransitionEntry[]) {
    await store.create(startedRecord('s1'), first);
    for (const [i, entry] of rest.entries()) {
      await store.save(
        { sagaId: 's1', expectedRevision: i + 1, state: 'Pending', snapshot: {}, updatedAt: entry.at },
        entry,
      );
    }
  }
  const lines = async (keys: ReturnType<typeof createRedisKeys>) =>
    (await admin.lrange(keys.log('s1'), 0, -1)).map((line) => JSON.parse(line) as Record<string, unknown>);

  it('leaves f out of each entry that starts where the one before ended, as the engine’s entries do', async () => {
    const { store, keys } = makeStore();
    const entries = [
      move('s1', T0, '', 'Started', 'saga.created'),
      move('s1', T0 + 1, 'Started', 'Pending.reserveFlight'),
      {
        ...move('s1', T0 + 2, 'Pending.reserveFlight', 'Pending.reserveHotel', 'step.done'),
        step: 'reserveFlight',
        direction: 'run' as const,
        attempt: 1,
      },
    ];
    await write(store, ...(entries as [TransitionEntry, ...TransitionEntry[]]));

    expect(await admin.lrange(keys.log('s1'), 0, -1)).toEqual([
      `{"at":${T0},"t":"Started","e":"saga.created"}`,
      `{"at":${T0 + 1},"t":"Pending.reserveFlight","e":"saga.start"}`,
      `{"at":${T0 + 2},"t":"Pending.reserveHotel","e":"step.done","a":1}`,
    ]);
    expect(await store.history('s1')).toStrictEqual(entries);
  });

  it('keeps f where the entry does not start where the log ends: a first entry from elsewhere, a jump, a quarantine', async () => {
    const { store, keys } = makeStore();
    await write(store, move('s1', T0, 'Before', 'Started'), move('s1', T0 + 1, 'Pending', 'Pending.b'));
    const quarantined = { ...move('s1', T0 + 2, '', 'Quarantined', 'saga.quarantined') };
    await store.quarantine('s1', quarantined);

    expect((await lines(keys)).map((line) => line.f)).toEqual(['Before', 'Pending', '']);
    expect((await store.history('s1')).map((entry) => entry.from)).toEqual(['Before', 'Pending', '']);
  });

  it('chains on from a log line written in full, and from one written before f was left out', async () => {
    const { store, keys } = makeStore();
    await store.create(startedRecord('s1'), move('s1', T0, '', 'Started', 'saga.created'));
    await admin.rpush(
      keys.log('s1'),
      `{"at":${T0 + 1},"from":"Started","to":"Pending.a","event":"saga.start"}`,
      `{"at":${T0 + 2},"f":"Pending.a","t":"Pending.b","e":"step.done","a":1}`,
    );
    await store.save(
      { sagaId: 's1', expectedRevision: 1, state: 'Pending', snapshot: {}, updatedAt: T0 },
      move('s1', T0 + 3, 'Pending.b', 'Completed', 'step.done'),
    );

    expect((await lines(keys)).at(-1)).not.toHaveProperty('f');
    expect((await store.history('s1')).map(({ from, to }) => [from, to])).toEqual([
      ['', 'Started'],
      ['Started', 'Pending.a'],
      ['Pending.a', 'Pending.b'],
      ['Pending.b', 'Completed'],
    ]);
  });

  it('keeps f after a line that does not say where it ended, and shows that line as unreadable', async () => {
    const { store, keys } = makeStore();
    await store.create(startedRecord('s1'), move('s1', T0, '', 'Started', 'saga.created'));
    await admin.rpush(keys.log('s1'), '{not json');
    await store.save(
      { sagaId: 's1', expectedRevision: 1, state: 'Pending', snapshot: {}, updatedAt: T0 },
      move('s1', T0 + 1, 'Started', 'Pending.a'),
    );
    await admin.rpush(keys.log('s1'), '{"at":1,"t":42}');
    await store.save(
      { sagaId: 's1', expectedRevision: 2, state: 'Pending', snapshot: {}, updatedAt: T0 },
      move('s1', T0 + 2, 'Pending.a', 'Pending.b'),
    );

    const raw = await admin.lrange(keys.log('s1'), 0, -1);
    expect(raw.map((line) => line.includes('"f"'))).toEqual([false, false, true, false, true]);
    expect((await store.history('s1')).map(({ from, event }) => [from, event])).toEqual([
      ['', 'saga.created'],
      ['', 'log.unreadable'],
      ['Started', 'saga.start'],
      ['', 'log.unreadable'],
      ['Pending.a', 'saga.start'],
    ]);
  });

  it('reads from as "" for the first line left of a log trimmed from the front', async () => {
    const { store, keys } = makeStore();
    await write(
      store,
      move('s1', T0, '', 'Started', 'saga.created'),
      move('s1', T0 + 1, 'Started', 'Pending.a'),
      move('s1', T0 + 2, 'Pending.a', 'Completed'),
    );
    await admin.ltrim(keys.log('s1'), 1, -1);

    expect((await store.history('s1')).map(({ from, to }) => [from, to])).toEqual([
      ['', 'Pending.a'],
      ['Pending.a', 'Completed'],
    ]);
  });
});
