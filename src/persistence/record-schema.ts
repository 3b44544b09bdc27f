import { z } from 'zod';
import { NAME_PATTERN } from '../definition/schema.ts';
import { RecordCorruptError } from '../errors.ts';
import type { SagaState } from '../machines/states.ts';
import type { SagaRecord, TransitionEntry } from './saga-store.ts';

/**
 * What a stored record must look like to be used. A store that keeps its records outside this
 * process (Redis) checks every field on load: a record edited by hand, or written by a version of
 * xsaga that stored another shape, must be reported as {@link RecordCorruptError} and quarantined
 * once, never fed to the compare-and-set (a revision that parses to NaN would make every save
 * conflict forever). The snapshot's shape belongs to the machine, and the engine checks it.
 */

/** Decimal integers as the store writes them, small enough to be exact in a JS number. */
const positiveInt = /^[1-9][0-9]{0,14}$/;
const nonNegativeInt = /^(0|[1-9][0-9]{0,14})$/;

/**
 * Rebuilds and checks a {@link SagaRecord} from the string fields of its stored hash.
 *
 * @param sagaId the id the record was loaded under: the stored `sagaId` must be the same.
 * @throws RecordCorruptError naming the first field that is missing or malformed.
 */
export function decodeSagaRecord(sagaId: string, fields: Record<string, string>): SagaRecord {
  const field = (name: string, pattern: RegExp, problem: string): string => {
    const value = fields[name];
    if (value === undefined) throw new RecordCorruptError(sagaId, name, 'is missing');
    if (!pattern.test(value)) throw new RecordCorruptError(sagaId, name, `${problem}, got ${quote(value)}`);
    return value;
  };
  if (fields.sagaId !== sagaId) {
    throw new RecordCorruptError(
      sagaId,
      'sagaId',
      `must be "${sagaId}" (the key's id), got ${quote(fields.sagaId ?? '')}`,
    );
  }
  const name = field('name', NAME_PATTERN, 'is not a saga name');
  const version = Number(field('version', positiveInt, 'must be a positive integer'));
  const state = field('state', /^(Started|Pending|Compensating|Completed|Failed|Escalated)$/, 'is not a saga state');
  const revision = Number(field('revision', positiveInt, 'must be a positive integer'));
  const createdAt = Number(field('createdAt', nonNegativeInt, 'must be milliseconds since the epoch'));
  const updatedAt = Number(field('updatedAt', nonNegativeInt, 'must be milliseconds since the epoch'));
  const record: SagaRecord = {
    sagaId,
    name,
    version,
    state: state as SagaState,
    snapshot: decodeSnapshot(sagaId, fields.snapshot),
    revision,
    createdAt,
    updatedAt,
  };
  const idempotencyKey = fields.idempotencyKey;
  if (idempotencyKey !== undefined) {
    if (idempotencyKey.length === 0 || idempotencyKey.length > 256) {
      throw new RecordCorruptError(sagaId, 'idempotencyKey', 'must be 1 to 256 characters');
    }
    record.idempotencyKey = idempotencyKey;
  }
  return record;
}

/** Parses a stored snapshot: any JSON (its shape is the engine's to check, see `snapshot-schema.ts`). */
function decodeSnapshot(sagaId: string, json: string | undefined): unknown {
  if (json === undefined) throw new RecordCorruptError(sagaId, 'snapshot', 'is missing');
  try {
    return JSON.parse(json);
  } catch (cause) {
    throw new RecordCorruptError(sagaId, 'snapshot', 'is not valid JSON', { cause });
  }
}

const errorInfo = z.object({ name: z.string(), message: z.string(), code: z.string().optional() });

const logEntry = z.object({
  at: z.number().finite(),
  from: z.string(),
  to: z.string(),
  event: z.string(),
  step: z.string().optional(),
  direction: z.enum(['run', 'compensate']).optional(),
  attempt: z.number().optional(),
  error: errorInfo.optional(),
});

/** The event of a log line that could not be read: it is shown in its place rather than failing the log. */
export const UNREADABLE_LOG_ENTRY = 'log.unreadable';

/**
 * Decodes one stored log line. A line that is not a log entry does not make the whole log
 * unreadable: it becomes an entry with event {@link UNREADABLE_LOG_ENTRY} that says what was wrong.
 */
export function decodeLogEntry(sagaId: string, index: number, json: string): TransitionEntry {
  try {
    const value: unknown = JSON.parse(json);
    if (logEntry.safeParse(value).success) return { sagaId, ...(value as Omit<TransitionEntry, 'sagaId'>) };
  } catch {
    // Reported below like any other malformed line.
  }
  return unreadableLogEntry(sagaId, `log entry ${index} is not a transition entry: ${quote(json)}`);
}

/** The entry that stands in for a log that could not be read at all (or one line of it). */
export function unreadableLogEntry(sagaId: string, message: string): TransitionEntry {
  return {
    sagaId,
    at: 0,
    from: '',
    to: '',
    event: UNREADABLE_LOG_ENTRY,
    error: { name: 'RecordCorruptError', code: 'RECORD_CORRUPT', message },
  };
}

/** A stored value for an error message: quoted, and cut short when huge. */
function quote(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}...` : value);
}
