import { z } from 'zod';
import { NAME_PATTERN } from '../definition/schema.ts';
import { RecordCorruptError } from '../errors.ts';
import { type SagaState, SagaStates } from '../vocabulary/states.ts';
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
const direction = z.enum(['run', 'compensate']);

/** A log line as written before the short form: the entry without its sagaId. */
const longEntry = z.object({
  at: z.number().finite(),
  from: z.string(),
  to: z.string(),
  event: z.string(),
  step: z.string().optional(),
  direction: direction.optional(),
  attempt: z.number().optional(),
  error: errorInfo.optional(),
  inDoubt: z.literal(true).optional(),
  verified: z.boolean().optional(),
});

/** A log line in the short form (see {@link encodeLogEntry}); `f` only when the log cannot imply it. */
const shortEntry = z.object({
  at: z.number().finite(),
  f: z.string().optional(),
  t: z.string(),
  e: z.string(),
  s: z.string().optional(),
  d: direction.optional(),
  a: z.number().optional(),
  error: errorInfo.optional(),
  i: z.literal(true).optional(),
  v: z.boolean().optional(),
});

/** The event of a log line that could not be read: it is shown in its place rather than failing the log. */
export const UNREADABLE_LOG_ENTRY = 'log.unreadable';

/**
 * One log entry as stored: JSON in a short form, since a saga writes one per transition.
 *
 * - no `sagaId`: the log's key names the saga;
 * - `f`, `t`, `e`, `s`, `d`, `a`, `i`, `v` for `from`, `to`, `event`, `step`, `direction`,
 *   `attempt`, `inDoubt`, `verified`;
 * - no `f` with `fromImplied`: the caller knows that the entry starts where the log's last entry
 *   ends (its `t`), or that the log is empty and `from` is ''. The engine's entries always do,
 *   each transition leaving the state the one before entered, so `f` would repeat the `t` before it;
 * - `s` and `d` left out when they are what `from` says (a step outcome leaves `Pending.<step>` for
 *   `run` or `Compensating.<step>` for `compensate`), which a step outcome's entry always is:
 *   `{"at":1796135471886,"t":"Pending.reserveHotel","e":"step.done","a":1}`
 *   instead of the 150 bytes of the full entry.
 *
 * `f` is kept, `fromImplied` or not, when `from` is not well-formed UTF-16 (a lone surrogate): the
 * save script compares it with the last entry's `t` as UTF-8 bytes, which cannot tell such a string
 * from U+FFFD. An entry the short form cannot carry exactly (a field it does not know, an attempt
 * without a step) is written as the full entry, with `from`; {@link decodeLogEntry} reads it, as it
 * reads the lines of logs written before the short form and short lines with `f`.
 */
export function encodeLogEntry(entry: TransitionEntry, fromImplied = false): string {
  const {
    sagaId: _sagaId,
    at,
    from,
    to,
    event,
    step,
    direction,
    attempt,
    error,
    inDoubt,
    verified,
    ...unknown
  } = entry;
  const implied = step !== undefined && direction !== undefined && isStepOf(from, step, direction);
  const readsAsImplied = step === undefined && direction === undefined && attempt !== undefined;
  if (readsAsImplied || Object.keys(unknown).length > 0) {
    const { sagaId: _, ...full } = entry;
    return JSON.stringify(full);
  }
  const short: Record<string, unknown> = { at };
  if (!fromImplied || LONE_SURROGATE.test(from)) short.f = from;
  short.t = to;
  short.e = event;
  if (step !== undefined && !(implied && attempt !== undefined)) short.s = step;
  if (direction !== undefined && !(implied && attempt !== undefined)) short.d = direction;
  if (attempt !== undefined) short.a = attempt;
  if (error !== undefined) short.error = error;
  if (inDoubt !== undefined) short.i = inDoubt;
  if (verified !== undefined) short.v = verified;
  return JSON.stringify(short);
}

const LONE_SURROGATE = /\p{Surrogate}/u;

/**
 * Decodes a saga's whole log, oldest first: each line as {@link decodeLogEntry} does, with the
 * `from` of a line without `f` taken from the line before it.
 */
export function decodeLog(sagaId: string, lines: readonly string[]): TransitionEntry[] {
  let previousTo = '';
  return lines.map((json, index) => {
    const value = parseLine(json);
    const entry = entryOf(sagaId, index, json, value, previousTo);
    previousTo = endOf(value) ?? '';
    return entry;
  });
}

/**
 * Decodes one stored log line: short (with or without `f`) or full (see {@link encodeLogEntry}).
 * A line without `f` starts at `previousTo`: the state the line before it ended in, which
 * {@link decodeLog} passes. Where nothing before it says (the first line of a log trimmed from the
 * front, or a line before it that is not a JSON object with a string `t` or `to`: changed outside
 * xsaga, since the save script keeps `f` after such a line), `from` is ''.
 *
 * A line that is not a log entry does not make the whole log unreadable: it becomes an entry with
 * event {@link UNREADABLE_LOG_ENTRY} that says what was wrong.
 */
export function decodeLogEntry(sagaId: string, index: number, json: string, previousTo = ''): TransitionEntry {
  return entryOf(sagaId, index, json, parseLine(json), previousTo);
}

/** A line's JSON, or undefined when it is not JSON. */
function parseLine(json: string): unknown {
  try {
    return JSON.parse(json);
  } catch {
    return undefined;
  }
}

function entryOf(sagaId: string, index: number, json: string, value: unknown, previousTo: string): TransitionEntry {
  if (typeof value === 'object' && value !== null) {
    if (!('to' in value)) {
      // Checked, then read as stored: the schema's output would drop what it does not list (error.terminal).
      if (shortEntry.safeParse(value).success) return fromShort(sagaId, value as ShortEntry, previousTo);
    } else if (longEntry.safeParse(value).success) {
      return { sagaId, ...(value as Omit<TransitionEntry, 'sagaId'>) };
    }
  }
  return unreadableLogEntry(sagaId, `log entry ${index} is not a transition entry: ${quote(json)}`);
}

/**
 * The state a stored line ends in, as the save script reads it to decide whether the next line
 * needs `f` (`lastTo` in `redis-scripts.ts`; the two must agree): `to` when it is a string, else
 * `t` when `to` is absent and `t` is a string, else nothing.
 */
function endOf(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { to, t } = value as { to?: unknown; t?: unknown };
  if (typeof to === 'string') return to;
  return !('to' in value) && typeof t === 'string' ? t : undefined;
}

type ShortEntry = z.infer<typeof shortEntry> & Pick<TransitionEntry, 'error'>;

function fromShort(sagaId: string, short: ShortEntry, previousTo: string): TransitionEntry {
  const from = short.f ?? previousTo;
  const entry: TransitionEntry = { sagaId, at: short.at, from, to: short.t, event: short.e };
  const implied = short.s === undefined && short.d === undefined && short.a !== undefined ? stepOf(from) : undefined;
  const step = short.s ?? implied?.step;
  const direction = short.d ?? implied?.direction;
  if (step !== undefined) entry.step = step;
  if (direction !== undefined) entry.direction = direction;
  if (short.a !== undefined) entry.attempt = short.a;
  if (short.error !== undefined) entry.error = short.error;
  if (short.i !== undefined) entry.inDoubt = short.i;
  if (short.v !== undefined) entry.verified = short.v;
  return entry;
}

/** The step and direction a state path runs: `Pending.x` runs x, `Compensating.x` compensates it. */
function stepOf(path: string): { step: string; direction: 'run' | 'compensate' } | undefined {
  const dot = path.indexOf('.');
  if (dot < 0 || dot === path.length - 1) return undefined;
  const top = path.slice(0, dot);
  const direction = top === SagaStates.Pending ? 'run' : top === SagaStates.Compensating ? 'compensate' : undefined;
  return direction && { step: path.slice(dot + 1), direction };
}

function isStepOf(path: string, step: string, direction: string): boolean {
  const of = stepOf(path);
  return of !== undefined && of.step === step && of.direction === direction;
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
