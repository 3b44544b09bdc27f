import type { StateValue } from 'xstate';
import type { SagaContext, StepState } from '../machines/context.ts';

/**
 * What a saga needs to resume anywhere: its state value and its context. Everything else in
 * XState's persisted snapshot (`status`, `historyValue`, the invoked step job under `children`
 * with its input) follows from these two and the machine: see `restore-actor.ts`.
 */
export interface SagaSnapshotData {
  value: StateValue;
  context: SagaContext;
}

/** Context fields left out of a stored snapshot while they hold their initial value. */
const INITIAL = {
  completed: () => [],
  compensated: () => [],
  skipped: () => [],
  cancelRequested: () => false,
  rounds: () => ({}),
} as const satisfies { [K in keyof SagaContext]?: () => SagaContext[K] };

type InitialField = keyof typeof INITIAL;

/** A step as stored: its counters left out while they are 0. */
export type StoredStep = Omit<StepState, 'attempts' | 'compensationAttempts'> &
  Partial<Pick<StepState, 'attempts' | 'compensationAttempts'>>;

/** A context as stored: no `sagaId` (the record names the saga), fields at their initial value left out. */
export type StoredContext = Omit<SagaContext, 'sagaId' | 'steps' | InitialField> &
  Partial<Pick<SagaContext, InitialField>> & { steps: Record<string, StoredStep> };

/**
 * A saga's snapshot as the engine stores it: JSON, about half the bytes of XState's persisted
 * snapshot at the end of a saga, and a third while a step runs.
 *
 * | field | holds |
 * |-------|-------|
 * | `v`   | the state value: `"Started"`, `{"Pending":"reserveHotel"}`, `"Completed"` |
 * | `c`   | the context, without `sagaId` and without `completed`, `compensated`, `skipped`, `cancelRequested`, `rounds` while they are empty or false; each step without `attempts` / `compensationAttempts` while 0 |
 *
 * Records written before this shape hold XState's persisted snapshot (`status`, `value`,
 * `context`, `children`, ...); they still load (see {@link readStoredSnapshot}) and are written in
 * this shape at their next transition.
 */
export interface StoredSnapshot {
  v: StateValue;
  c: StoredContext;
}

/** The stored form of a snapshot: what the engine hands its store. */
export function toStoredSnapshot({ value, context }: SagaSnapshotData): StoredSnapshot {
  // Runs on every transition: for-in loops, no arrays of keys or entries.
  const c: Record<string, unknown> = {};
  const fields = context as unknown as Record<string, unknown>;
  for (const key in fields) {
    if (!Object.hasOwn(fields, key)) continue;
    const field = fields[key];
    if (key === 'sagaId' || field === undefined || isInitial(key, field)) continue;
    c[key] = key === 'steps' ? storedSteps(field as SagaContext['steps']) : field;
  }
  return { v: value, c: c as unknown as StoredContext };
}

/** Whether a stored snapshot is in the compact shape (else it is an XState persisted snapshot). */
export function isStoredSnapshot(snapshot: unknown): snapshot is StoredSnapshot {
  return typeof snapshot === 'object' && snapshot !== null && 'v' in snapshot;
}

/**
 * The state value and context of a stored snapshot of saga `sagaId`, in either shape: the compact
 * one, or XState's persisted snapshot of older records. Undefined when it is neither. Reads a
 * snapshot that `checkSagaSnapshot` accepted; its parts are not copied.
 */
export function readStoredSnapshot(sagaId: string, snapshot: unknown): SagaSnapshotData | undefined {
  if (typeof snapshot !== 'object' || snapshot === null) return undefined;
  if (isStoredSnapshot(snapshot)) {
    if (typeof snapshot.c !== 'object' || snapshot.c === null) return undefined;
    return { value: snapshot.v, context: fullContext(sagaId, snapshot.c) };
  }
  const persisted = snapshot as { value?: StateValue; context?: SagaContext };
  if (persisted.value === undefined || typeof persisted.context !== 'object' || persisted.context === null) {
    return undefined;
  }
  return { value: persisted.value, context: persisted.context };
}

function fullContext(sagaId: string, stored: StoredContext): SagaContext {
  const context: Record<string, unknown> = { sagaId };
  for (const key in INITIAL) context[key] = INITIAL[key as InitialField]();
  Object.assign(context, stored);
  context.sagaId = sagaId;
  if (typeof stored.steps === 'object' && stored.steps !== null) context.steps = mapValues(stored.steps, fullStep);
  return context as unknown as SagaContext;
}

function isInitial(key: string, value: unknown): boolean {
  switch (key as InitialField) {
    case 'completed':
    case 'compensated':
    case 'skipped':
      return Array.isArray(value) && value.length === 0;
    case 'cancelRequested':
      return value === false;
    case 'rounds':
      return typeof value === 'object' && value !== null && isEmpty(value);
    default:
      return false;
  }
}

/** `Object.keys(object).length === 0` without the array. */
function isEmpty(object: object): boolean {
  for (const key in object) if (Object.hasOwn(object, key)) return false;
  return true;
}

function storedSteps(steps: SagaContext['steps']): Record<string, StoredStep> {
  const stored: Record<string, StoredStep> = {};
  for (const name in steps) if (Object.hasOwn(steps, name)) stored[name] = storedStep(steps[name] as StepState);
  return stored;
}

function storedStep(step: StepState): StoredStep {
  if (step.attempts !== 0 && step.compensationAttempts !== 0) return step;
  // Every transition stores every step: the fields a step has are written out (cheaper than
  // copying key by key), unless the step holds a key this list does not know.
  let keys = 0;
  for (const key in step) if (Object.hasOwn(step, key)) keys++;
  const hasResult = 'result' in step;
  const hasError = 'error' in step;
  const known = 'status' in step && 'attempts' in step && 'compensationAttempts' in step;
  if (known && keys === 3 + (hasResult ? 1 : 0) + (hasError ? 1 : 0)) {
    const stored: StoredStep = { status: step.status };
    if (step.attempts !== 0) stored.attempts = step.attempts;
    if (step.compensationAttempts !== 0) stored.compensationAttempts = step.compensationAttempts;
    if (hasResult) stored.result = step.result;
    if (hasError) stored.error = step.error;
    return stored;
  }
  const stored: Record<string, unknown> = {};
  const fields = step as unknown as Record<string, unknown>;
  for (const key in fields) {
    if (!Object.hasOwn(fields, key)) continue;
    const field = fields[key];
    if (field === 0 && (key === 'attempts' || key === 'compensationAttempts')) continue;
    stored[key] = field;
  }
  return stored as unknown as StoredStep;
}

function fullStep(step: StoredStep): StepState {
  const { status, ...rest } = step;
  return { status, attempts: 0, compensationAttempts: 0, ...rest };
}

function mapValues<A, B>(record: Record<string, A>, fn: (value: A) => B): Record<string, B> {
  const out: Record<string, B> = {};
  for (const key in record) if (Object.hasOwn(record, key)) out[key] = fn(record[key] as A);
  return out;
}
