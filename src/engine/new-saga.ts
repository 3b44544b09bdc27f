import { randomUUID } from 'node:crypto';
import { InputError } from '../errors.ts';
import type { SagaRecord, TransitionEntry } from '../persistence/saga-store.ts';
import { SagaStates } from '../vocabulary/states.ts';
import type { StoredSnapshot } from './compact-snapshot.ts';
import type { StartOptions } from './engine-api.ts';

/** What a saga id may be: it becomes part of job ids and Redis keys. */
const SAGA_ID_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;
/** The longest idempotency key `start` takes. */
const IDEMPOTENCY_KEY_MAX = 256;

/**
 * The id of a saga about to be started: the one `options` chooses, else a random UUID. Throws an
 * InputError (nothing stored yet) for an id or an idempotency key that cannot be used.
 */
export function sagaIdOf(options: StartOptions): string {
  const sagaId = options.sagaId ?? randomUUID();
  if (!SAGA_ID_PATTERN.test(sagaId)) {
    throw new InputError(
      `sagaId "${sagaId}" is invalid: use 1-128 letters, digits, "_", "-" or "." (it becomes part of job ids and keys)`,
      'sagaId',
    );
  }
  const key = options.idempotencyKey;
  if (key !== undefined && (key === '' || key.length > IDEMPOTENCY_KEY_MAX)) {
    throw new InputError(
      `idempotencyKey must be a non-empty string of at most ${IDEMPOTENCY_KEY_MAX} characters`,
      'idempotencyKey',
    );
  }
  return sagaId;
}

/** A new saga's record, in `Started` at revision 1, and the first line of its log. */
export function newSaga(
  definition: { name: string; version: number },
  sagaId: string,
  snapshot: StoredSnapshot,
  now: number,
  idempotencyKey: string | undefined,
): { record: SagaRecord; entry: TransitionEntry } {
  const record: SagaRecord = {
    sagaId,
    name: definition.name,
    version: definition.version,
    state: SagaStates.Started,
    snapshot,
    revision: 1,
    ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
    createdAt: now,
    updatedAt: now,
  };
  const entry: TransitionEntry = { sagaId, at: now, from: '', to: SagaStates.Started, event: 'saga.created' };
  return { record, entry };
}
