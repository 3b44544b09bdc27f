import type { AnySagaDefinition } from '../definition/types.ts';
import { RecordCorruptError } from '../errors.ts';
import type { SagaContext, SagaEscalation, SagaFailure, StepStatus } from '../machines/context.ts';
import type { SagaRecord, TransitionEntry } from '../persistence/saga-store.ts';
import type { ErrorInfo } from '../vocabulary/events.ts';
import type { SagaState } from '../vocabulary/states.ts';
import { readStoredSnapshot } from './compact-snapshot.ts';

/** One step as `engine.get` reports it. */
export interface StepView {
  name: string;
  status: StepStatus;
  /** Attempts of the forward run, every round (a `resume` after a forward failure starts another). */
  attempts: number;
  /** Attempts of the compensation, all rounds. */
  compensationAttempts: number;
  result?: unknown;
  error?: ErrorInfo;
  /** Its run ended in doubt (it may have taken effect): compensated with `ctx.inDoubt`, or escalated. */
  inDoubt?: true;
  /** What its `verify` found: `true` the run took effect (read back, not repeated), `false` it did not. */
  verified?: boolean;
  /** A dynamic saga's step: the tool it ran, with the agent's arguments. */
  tool?: string;
  args?: unknown;
}

/** A saga as the engine reports it: status, steps, and (from `get`) its log. */
export interface SagaView {
  sagaId: string;
  name: string;
  version: number;
  state: SagaState;
  input: unknown;
  steps: StepView[];
  /** Step names in the order they completed, and in the order they were compensated. */
  completed: string[];
  compensated: string[];
  /** Completed steps passed over in rollback because they have no compensation. */
  skipped: string[];
  failure?: SagaFailure;
  escalation?: SagaEscalation;
  resolution?: { note: string; uncompensated: string[] };
  revision: number;
  createdAt: number;
  updatedAt: number;
  /** The saga log, oldest first; empty in `list` results. */
  history: TransitionEntry[];
}

/**
 * The context inside a record's stored snapshot, in either stored shape (see compact-snapshot.ts).
 *
 * @throws RecordCorruptError when the snapshot holds none (a record `checkSagaSnapshot` refuses).
 */
export function contextOf(record: SagaRecord): SagaContext {
  const data = readStoredSnapshot(record.sagaId, record.snapshot);
  if (!data) throw new RecordCorruptError(record.sagaId, 'snapshot', 'holds no saga context');
  return data.context;
}

/** Builds the public view of a stored saga, steps in definition order. */
export function toSagaView(
  record: SagaRecord,
  history: TransitionEntry[],
  definition: AnySagaDefinition | undefined,
): SagaView {
  const context = contextOf(record);
  const names =
    definition && !definition.dynamic
      ? definition.steps.map((s) => s.name)
      : (context.plan ?? Object.keys(context.steps));
  const steps = names.map((name) => {
    const step = context.steps[name] ?? { status: 'idle' as const, attempts: 0, compensationAttempts: 0 };
    return {
      name,
      status: step.status,
      attempts: step.attempts,
      compensationAttempts: step.compensationAttempts,
      ...('result' in step && step.result !== undefined ? { result: step.result } : {}),
      ...(step.error ? { error: step.error } : {}),
      ...(step.inDoubt ? { inDoubt: true as const } : {}),
      ...(step.verified !== undefined ? { verified: step.verified } : {}),
      ...(step.tool !== undefined ? { tool: step.tool, args: step.args } : {}),
    };
  });
  return {
    sagaId: record.sagaId,
    name: record.name,
    version: record.version,
    state: record.state,
    input: context.input,
    steps,
    completed: context.completed,
    compensated: context.compensated,
    skipped: context.skipped,
    ...(context.failure ? { failure: context.failure } : {}),
    ...(context.escalation ? { escalation: context.escalation } : {}),
    ...(context.resolution ? { resolution: context.resolution } : {}),
    revision: record.revision,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    history,
  };
}
