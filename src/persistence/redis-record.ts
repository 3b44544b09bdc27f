import { decodeSagaRecord } from './record-schema.ts';
import type { SagaRecord } from './saga-store.ts';

/**
 * Rebuilds a {@link SagaRecord} from the fields of its Redis hash: an `HGETALL` reply, either the
 * flat `[field, value, ...]` array a script returns or the object ioredis makes of it. Every field
 * is checked (see `record-schema.ts`).
 *
 * @throws RecordCorruptError naming the first unusable field.
 */
export function decodeRedisRecord(sagaId: string, reply: readonly string[] | Record<string, string>): SagaRecord {
  return decodeSagaRecord(sagaId, Array.isArray(reply) ? pairs(reply) : (reply as Record<string, string>));
}

/** The JSON a snapshot is stored as (`null` for a missing one, which JSON cannot hold). */
export function encodeSnapshot(snapshot: unknown): string {
  return JSON.stringify(snapshot ?? null);
}

function pairs(flat: readonly string[]): Record<string, string> {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i] as string] = flat[i + 1] as string;
  return fields;
}
