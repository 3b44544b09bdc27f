import { InputError } from '../errors.ts';
import { type SagaState, SagaStates } from '../vocabulary/states.ts';
import type { SagaQuery } from './saga-store.ts';

/** Page size of `list` when the query gives none. */
export const DEFAULT_PAGE_SIZE = 100;
/** The largest page `list` serves: each item is a record load. */
export const MAX_PAGE_SIZE = 10_000;

/**
 * Checks the parts of a `list` query every store reads the same way, so that both stores refuse the
 * same bad queries with the same error, and returns the page size.
 *
 * @throws InputError (`INPUT_INVALID`) naming `limit` or `state`.
 */
export function pageSizeOf(query: SagaQuery): number {
  const limit = query.limit ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
    throw new InputError(`list limit must be a whole number from 1 to ${MAX_PAGE_SIZE}, got ${String(limit)}`, 'limit');
  }
  if (query.state !== undefined && !Object.values<string>(SagaStates).includes(query.state as SagaState)) {
    throw new InputError(
      `list state must be one of ${Object.values(SagaStates).join(', ')}, got ${JSON.stringify(query.state)}`,
      'state',
    );
  }
  return limit;
}

/** The error for a cursor that the store did not make: the same on every store. */
export function badCursor(cursor: unknown): InputError {
  return new InputError(
    `list cursor ${JSON.stringify(String(cursor)).slice(0, 100)} was not made by this store; pass page.cursor back unchanged`,
    'cursor',
  );
}
