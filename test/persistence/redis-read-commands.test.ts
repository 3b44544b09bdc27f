import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisStore, type RedisStore } from '../../src/persistence/redis-store.ts';
import type { SagaRecord, TransitionEntry } from '../../src/persistence/saga-store.ts';
import { dropPrefix, REDIS_URL } from '../durable/redis-helpers.ts';

// A saga is two keys (hash and snapshot) and a waiter also wants its log: each read is still one
// command, so that reading costs one round trip and sees one instant.

const T0 = 1_700_000_000_000;

describe('reads of a RedisStore', () => {
  const connection = new Redis(REDIS_URL);
  const prefix = `xsaga-reads-${randomUUID()}`;
  let store: RedisStore;
  /** Names of the commands the store sent since the last `sent.length = 0`. */
  const sent: string[] = [];

  beforeAll(async () => {
    const send = connection.sendCommand.bind(connection);
    connection.sendCommand = ((command: { name: string }, ...rest: unknown[]) => {
      sent.push(command.name);
      return (send as (...args: unknown[]) => unknown)(command, ...rest);
    }) as typeof connection.sendCommand;
    store = createRedisStore({ connection, prefix });
    for (let i = 0; i < 5; i++) {
      const sagaId = `s${i}`;
      const record: SagaRecord = {
        sagaId,
        name: 'trip',
        version: 1,
        state: 'Started',
        snapshot: { i },
        revision: 1,
        createdAt: T0 + i,
        updatedAt: T0,
      };
      const entry: TransitionEntry = { sagaId, at: T0, from: '', to: 'Started', event: 'saga.created' };
      await store.create(record, entry);
      await store.save(
        { sagaId, expectedRevision: 1, state: 'Completed', snapshot: { i }, updatedAt: T0 },
        { ...entry, from: 'Started', to: 'Completed' },
      );
    }
    // Each script is loaded into Redis by its first call (EVALSHA, then EVAL once): done here.
    await store.loadSettled('s0');
    await store.list({ limit: 1 });
  });

  afterAll(async () => {
    await store.close();
    await connection.quit();
    await dropPrefix(prefix);
  });

  it('load is one command', async () => {
    sent.length = 0;
    expect((await store.load('s1'))?.snapshot).toEqual({ i: 1 });
    expect(sent).toEqual(['evalsha']);
  });

  it('loadSettled is one command, log included', async () => {
    sent.length = 0;
    expect((await store.loadSettled('s1'))?.history).toHaveLength(2);
    expect(sent).toEqual(['evalsha']);
  });

  it('list reads a page of records in one command after the index range', async () => {
    sent.length = 0;
    expect((await store.list({ limit: 5 })).items).toHaveLength(5);
    expect(sent).toEqual(['zrange', 'evalsha']);
  });
});
