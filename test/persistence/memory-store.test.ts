import { MemoryStore } from '../../src/persistence/memory-store.ts';
import { describeSagaStoreContract } from '../contracts/saga-store.contract.ts';

describeSagaStoreContract('MemoryStore', async () => ({ store: new MemoryStore(), cleanup: async () => {} }));
