import { describe, expect, it } from 'vitest';
import type { SagaError } from '../../src/errors.ts';
import { MemoryStore } from '../../src/persistence/memory-store.ts';
import { describeSagaStoreContract } from '../contracts/saga-store.contract.ts';

describeSagaStoreContract('MemoryStore', async () => ({ store: new MemoryStore(), cleanup: async () => {} }));

describe('MemoryStore and script calls', () => {
  it('refuses a save that carries script calls rather than drop them, and saves nothing', async () => {
    const store = new MemoryStore();
    await store.create(
      {
        sagaId: 's-1',
        name: 'trip',
        version: 1,
        state: 'Started',
        snapshot: {},
        revision: 1,
        createdAt: 1,
        updatedAt: 1,
      },
      { sagaId: 's-1', at: 1, from: '', to: 'Started', event: 'saga.created' },
    );
    const call = { name: 'push', lua: 'return 1', keys: ['k'], args: [] };
    const error = (await store
      .save(
        { sagaId: 's-1', expectedRevision: 1, state: 'Pending', snapshot: {}, updatedAt: 2, scriptCalls: [call] },
        { sagaId: 's-1', at: 2, from: 'Started', to: 'Pending', event: 'saga.start' },
      )
      .catch((thrown: unknown) => thrown)) as SagaError;

    expect(error.code).toBe('STORE_FAILED');
    expect((await store.load('s-1'))?.revision).toBe(1);
  });
});
