import { SagaError } from '../errors.ts';
import type { SagaState } from '../machines/states.ts';
import type { SagaRecord } from './saga-store.ts';

/**
 * Rebuilds a {@link SagaRecord} from the fields of its Redis hash (an `HGETALL` reply, either the
 * flat `[field, value, ...]` array a script returns or the object ioredis makes of it). Numbers are
 * stored as decimal strings and the snapshot as JSON; `idempotencyKey` is absent when never set.
 *
 * @throws SagaError with code `SNAPSHOT_CORRUPT` when the stored snapshot is not valid JSON.
 */
export function decodeSagaRecord(reply: readonly string[] | Record<string, string>): SagaRecord {
  const fields = Array.isArray(reply) ? pairs(reply) : (reply as Record<string, string>);
  const sagaId = fields.sagaId ?? '';
  const record: SagaRecord = {
    sagaId,
    name: fields.name ?? '',
    version: Number(fields.version),
    state: fields.state as SagaState,
    snapshot: parseSnapshot(sagaId, fields.snapshot),
    revision: Number(fields.revision),
    createdAt: Number(fields.createdAt),
    updatedAt: Number(fields.updatedAt),
  };
  if (fields.idempotencyKey !== undefined) record.idempotencyKey = fields.idempotencyKey;
  return record;
}

/** The JSON a snapshot is stored as (`null` for a missing one, which JSON cannot hold). */
export function encodeSnapshot(snapshot: unknown): string {
  return JSON.stringify(snapshot ?? null);
}

function parseSnapshot(sagaId: string, json: string | undefined): unknown {
  try {
    return JSON.parse(json ?? 'null');
  } catch (cause) {
    throw new SagaError(
      'SNAPSHOT_CORRUPT',
      `the stored snapshot of saga "${sagaId}" is not valid JSON; it was changed outside xsaga`,
      { cause },
    );
  }
}

function pairs(flat: readonly string[]): Record<string, string> {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i] as string] = flat[i + 1] as string;
  return fields;
}
