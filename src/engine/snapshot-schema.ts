import { z } from 'zod';
import { RecordCorruptError } from '../errors.ts';
import type { SagaRecord } from '../persistence/saga-store.ts';
import { type SagaState, SagaStates, topLevelState } from '../vocabulary/states.ts';
import { isStoredSnapshot } from './compact-snapshot.ts';

/**
 * The shapes of a stored saga snapshot: the compact one (`compact-snapshot.ts`), and XState's
 * persisted snapshot, which records written before it hold. Checked on every load
 * from a store (not on the hot path of a hosted saga): a snapshot that is valid JSON of the wrong
 * shape (`42`, `null`, a context without steps, a counter that is a string) must be quarantined
 * as {@link RecordCorruptError}, never handed to XState or to a view, where it would fail every
 * later call with a raw TypeError.
 */

const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const stepName = z.string().min(1).max(64);

const errorInfo = z.object({
  name: z.string(),
  message: z.string(),
  code: z.string().optional(),
  terminal: z.boolean().optional(),
});

const stepStatus = z.enum([
  'idle',
  'running',
  'completed',
  'failed',
  'compensating',
  'compensated',
  'skipped',
  'compensation_failed',
  'in_doubt',
  'waiting',
]);

const step = z.object({
  status: stepStatus,
  attempts: count,
  compensationAttempts: count,
  result: z.unknown().optional(),
  error: errorInfo.optional(),
  inDoubt: z.literal(true).optional(),
  verified: z.boolean().optional(),
  signalId: z.string().max(256).optional(),
  timedOut: z.literal(true).optional(),
  tool: stepName.optional(),
  args: z.unknown().optional(),
});

/** The context fields both stored shapes hold alike. */
const contextFields = {
  input: z.unknown(),
  completed: z.array(stepName),
  compensated: z.array(stepName),
  skipped: z.array(stepName),
  cancelRequested: z.boolean(),
  rounds: z.record(stepName, count),
  runRounds: z.record(stepName, count).optional(),
  failure: z
    .object({ reason: z.enum(['failed', 'cancelled']), step: stepName.optional(), error: errorInfo.optional() })
    .optional(),
  escalation: z
    .object({
      direction: z.enum(['run', 'compensate']).optional(),
      inDoubt: z.literal(true).optional(),
      step: stepName,
      error: errorInfo,
      uncompensated: z.array(stepName),
    })
    .optional(),
  resolution: z.object({ note: z.string(), uncompensated: z.array(stepName) }).optional(),
  plan: z.array(stepName).optional(),
  idleResumes: count.optional(),
};

/** The context of an XState persisted snapshot: every field, the sagaId included. */
const context = z.object({ ...contextFields, sagaId: z.string(), steps: z.record(stepName, step) });

/** The context of a compact snapshot (see StoredContext): fields at their initial value may be absent. */
const storedContext = z.object({
  ...contextFields,
  completed: contextFields.completed.optional(),
  compensated: contextFields.compensated.optional(),
  skipped: contextFields.skipped.optional(),
  cancelRequested: contextFields.cancelRequested.optional(),
  rounds: contextFields.rounds.optional(),
  steps: z.record(stepName, step.extend({ attempts: count.optional(), compensationAttempts: count.optional() })),
});

const stateValue = z.union([
  z.enum(Object.values(SagaStates) as [SagaState, ...SagaState[]]),
  // A step's substate is its name; a parallel group's holds its members' regions (the machine
  // checks the exact shape when the saga is restored).
  z.record(z.string(), z.union([stepName, z.record(z.string(), z.unknown())])).refine(
    (value) => {
      const keys = Object.keys(value);
      return keys.length === 1 && (keys[0] === SagaStates.Pending || keys[0] === SagaStates.Compensating);
    },
    { message: 'must be a top-level state, or Pending or Compensating with one step or group' },
  ),
]);

/** A compact snapshot, as the engine stores it (see StoredSnapshot). */
const storedSnapshot = z.object({ v: stateValue, c: storedContext });

/** An XState persisted snapshot of a saga machine, as records written before the compact shape hold. */
const persistedSnapshot = z.object({
  status: z.enum(['active', 'done', 'error', 'stopped']),
  value: stateValue,
  context,
  children: z.record(z.string(), z.object({ src: z.string(), snapshot: z.object({}).loose() }).loose()),
  historyValue: z.record(z.string(), z.unknown()).optional(),
});

/**
 * Checks that a record's snapshot is a saga snapshot of this saga, in the state the record (and so
 * the state index) says. Both shapes load: the compact one the engine writes, and XState's
 * persisted snapshot of records written before it.
 *
 * @throws RecordCorruptError naming the first field that does not fit.
 */
export function checkSagaSnapshot(record: SagaRecord): void {
  const { sagaId } = record;
  const compact = isStoredSnapshot(record.snapshot);
  const parsed = compact ? storedSnapshot.safeParse(record.snapshot) : persistedSnapshot.safeParse(record.snapshot);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = ['snapshot', ...(issue?.path ?? []).map(String)].join('.');
    throw new RecordCorruptError(
      sagaId,
      path,
      `is not what a saga snapshot holds (${issue?.message ?? 'wrong shape'})`,
    );
  }
  const value = 'v' in parsed.data ? parsed.data.v : parsed.data.value;
  if ('context' in parsed.data && parsed.data.context.sagaId !== sagaId) {
    throw new RecordCorruptError(
      sagaId,
      'snapshot.context.sagaId',
      `is "${parsed.data.context.sagaId.slice(0, 80)}", not this saga`,
    );
  }
  if (topLevelState(value) !== record.state) {
    throw new RecordCorruptError(
      sagaId,
      'state',
      `is ${record.state} but the snapshot is in ${topLevelState(value)}; one of them was edited`,
    );
  }
}
