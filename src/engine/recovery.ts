import type { EngineEventEmitter } from '../observability/engine-events.ts';
import { RECOVERY_REPORT_EVERY } from '../observability/engine-events.ts';
import type { SagaQuery } from '../persistence/saga-store.ts';
import { type SagaState, SagaStates } from '../vocabulary/states.ts';
import type { SagaViewPage } from './engine-api.ts';

/** What recovery works with: the engine's list, its definitions and its one event path. */
export interface RecoveryParts {
  list(query: SagaQuery): Promise<SagaViewPage>;
  /** Whether this engine has the definition the saga was started with (others are left alone). */
  knows(saga: { name: string; version: number }): boolean;
  /** Applies `saga.start` to a saga stored in `Started` (its creator died before starting it). */
  start(sagaId: string): Promise<void>;
  /** Re-attaches a saga to the job of the state it is in. */
  reattach(sagaId: string): Promise<void>;
  events: EngineEventEmitter;
}

/**
 * Every unsettled saga of a known definition, page by page: `Started` ones are started, `Pending`
 * and `Compensating` ones re-attached to their step job. One saga that fails (quarantined, a store
 * hiccup) is reported on `error` and does not stop the others. Reports progress on `recovering`
 * every {@link RECOVERY_REPORT_EVERY} sagas and once at the end (`done: true`); returns how many
 * sagas were handled.
 */
export async function recoverSagas(parts: RecoveryParts): Promise<number> {
  const seen = new Set<string>();
  const states = [SagaStates.Started, SagaStates.Pending, SagaStates.Compensating] as const;
  let failed = 0;
  let handled = 0;
  const report = (state: SagaState, done: boolean) =>
    parts.events.emit('recovering', { state, recovered: seen.size, failed, done });
  for (const state of states) {
    let cursor: string | undefined;
    do {
      const page = await parts.list({ state, limit: 500, ...(cursor ? { cursor } : {}) });
      for (const saga of page.items) {
        // A saga started above shows up again among the Pending ones: re-attach it once.
        if (seen.has(saga.sagaId) || !parts.knows(saga)) continue;
        seen.add(saga.sagaId);
        try {
          if (state === SagaStates.Started) await parts.start(saga.sagaId);
          else await parts.reattach(saga.sagaId);
        } catch (error) {
          // One bad saga (quarantined, or a store hiccup) must not stop the others' recovery.
          seen.delete(saga.sagaId);
          failed++;
          parts.events.emit('error', error);
        }
        if (++handled % RECOVERY_REPORT_EVERY === 0) report(state, false);
      }
      cursor = page.cursor;
    } while (cursor);
  }
  report(SagaStates.Compensating, true);
  return seen.size;
}
