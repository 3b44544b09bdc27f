import { SETTLED_STATES } from '../vocabulary/states.ts';
import type { SagaStore, SettledRead } from './saga-store.ts';

/**
 * `SagaStore.loadSettled` made of two reads, `load` then (settled only) `history`: what a store
 * with no single read of both does (MemoryStore, where a read costs no round trip), and what the
 * engine does for a store of your own without `loadSettled`.
 */
export async function loadThenHistory(
  store: Pick<SagaStore, 'load' | 'history'>,
  sagaId: string,
): Promise<SettledRead | undefined> {
  const record = await store.load(sagaId);
  if (!record) return undefined;
  return SETTLED_STATES.includes(record.state) ? { record, history: await store.history(sagaId) } : { record };
}
