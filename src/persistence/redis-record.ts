import { RecordCorruptError } from '../errors.ts';
import { decodeSagaRecord } from './record-schema.ts';
import { ScriptCode, scriptError } from './redis-script-codes.ts';
import type { SagaRecord } from './saga-store.ts';

/**
 * What a read script returns for one saga (Lua `readRecord` in `redis-scripts.ts`): the flat
 * `[field, value, ...]` of its hash with its snapshot key's value (null when it has no snapshot
 * key: a record of the layout before it, whose snapshot is the hash field `snapshot`), or a code.
 */
export type RecordReply =
  | [fields: string[], snapshot: string | null]
  | 0
  | typeof ScriptCode.RecordCorrupt
  | typeof ScriptCode.SnapshotCorrupt;

/**
 * Rebuilds a {@link SagaRecord} from a read script's reply; undefined when there is no such saga.
 *
 * @throws RecordCorruptError when a key is of the wrong type or a field is unusable.
 */
export function decodeRecordReply(sagaId: string, reply: RecordReply): SagaRecord | undefined {
  if (reply === 0) return undefined;
  if (reply === ScriptCode.RecordCorrupt) throw new RecordCorruptError(sagaId, 'key', 'is not a Redis hash');
  if (reply === ScriptCode.SnapshotCorrupt) throw scriptError(reply, sagaId, 0);
  const [fields, snapshot] = reply;
  return decodeRedisRecord(sagaId, fields, snapshot);
}

/**
 * Rebuilds a {@link SagaRecord} from the flat `[field, value, ...]` of its hash (an `HGETALL` in a
 * script) and the value of its snapshot key. The snapshot key wins over a hash field `snapshot`;
 * without the key (null), the field is the snapshot (the layout before the snapshot key). Every
 * field is checked (see `record-schema.ts`).
 *
 * @throws RecordCorruptError naming the first unusable field.
 */
export function decodeRedisRecord(sagaId: string, flat: readonly string[], snapshot?: string | null): SagaRecord {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i] as string] = flat[i + 1] as string;
  if (typeof snapshot === 'string') fields.snapshot = snapshot;
  return decodeSagaRecord(sagaId, fields);
}

/** The JSON a snapshot is stored as (`null` for a missing one, which JSON cannot hold). */
export function encodeSnapshot(snapshot: unknown): string {
  return JSON.stringify(snapshot ?? null);
}
