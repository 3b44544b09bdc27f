import type { AnySagaDefinition } from '../definition/types.ts';
import { SagaError } from '../errors.ts';
import { idleRound } from '../machines/build-dynamic-machine.ts';
import { jobRound, parkedAt } from '../machines/build-saga-machine.ts';
import type { SagaContext } from '../machines/context.ts';
import { stepOf } from '../machines/step-of.ts';
import type { SagaTimer } from '../persistence/saga-store.ts';
import { waitTimerId } from '../transport/job-id.ts';
import { IDLE_DEADLINE } from '../vocabulary/events.ts';
import { resultsOf } from './build-step-job.ts';

/** Where a saga stands, as a parked-saga check reads it: its state value and context. */
export interface SagaAt {
  value: unknown;
  context: SagaContext;
}

/**
 * Whether the saga is parked for something outside: at a wait or sleep (a signal or its deadline
 * moves it), or a dynamic saga in `Pending.idle` (its agent's next step, `complete`, or the idle
 * deadline). Nothing of it runs then; its caller (a signal sender, an agent) may wait for that.
 */
export function isParked(definition: AnySagaDefinition, at: SagaAt): boolean {
  return parkedAt(at.context) !== undefined || isIdle(definition, at.value);
}

/** A dynamic saga waiting for its agent. */
export function isIdle(definition: AnySagaDefinition, value: unknown): boolean {
  return definition.dynamic !== undefined && (value as { Pending?: unknown } | undefined)?.Pending === 'idle';
}

/**
 * The timer of a parked saga, saved with the transition that parked it: its wait's deadline (null
 * for a wait with none) or its idle deadline; undefined when it is not parked. A deadline that a
 * wait's `until` cannot give (it threw, or returned no date) is now, reported to `onError`: the
 * wait's `onTimeout` then decides, rather than the saga waiting for ever unseen.
 */
export function parkedTimer(
  definition: AnySagaDefinition,
  at: SagaAt,
  now: number,
  onError: (error: SagaError) => void,
): SagaTimer | null | undefined {
  const { context } = at;
  if (isIdle(definition, at.value) && definition.dynamic) {
    const id = waitTimerId(context.sagaId, IDLE_DEADLINE, idleRound(context));
    return { id, dueAt: now + definition.dynamic.idleTimeoutMs };
  }
  const step = parkedAt(context);
  if (step === undefined) return undefined;
  const wait = stepOf(definition, context, step)?.wait;
  if (!wait) return null;
  let dueAt = wait.timeoutMs === undefined ? undefined : now + wait.timeoutMs;
  if (wait.until) {
    try {
      const until = wait.until({
        sagaId: context.sagaId,
        input: context.input,
        results: resultsOf(definition, context, true),
      });
      dueAt = until instanceof Date ? until.getTime() : until;
      if (typeof dueAt !== 'number' || !Number.isFinite(dueAt)) throw new TypeError(`it returned ${String(until)}`);
    } catch (error) {
      dueAt = now;
      onError(
        new SagaError(
          'DEFINITION_INVALID',
          `until of wait "${step}" in saga "${context.sagaId}" gave no date (${error instanceof Error ? error.message : String(error)}); its deadline is now`,
          { cause: error },
        ),
      );
    }
  }
  if (dueAt === undefined) return null;
  return { id: waitTimerId(context.sagaId, step, jobRound(context, step, 'run')), dueAt };
}
