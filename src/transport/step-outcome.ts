import type { ErrorInfo } from '../machines/events.ts';
import { SagaEvents } from '../machines/events.ts';
import type { StepJob, StepOutcome } from './step-queue.ts';

/**
 * The final outcome of a step job, addressed to its saga: `result` when its handler returned, or
 * `error` when it failed for good. The one place an outcome is made, whoever learned it: a worker,
 * the in-process queue, or a deadline that timed the job out. The job's trace context goes with it,
 * for the next step to continue the saga's trace.
 */
export function stepOutcome(
  job: StepJob,
  attempts: number,
  ending: { result: unknown } | { error: ErrorInfo },
): StepOutcome {
  const base = { step: job.step, direction: job.direction, round: job.round, attempts };
  const event =
    'error' in ending
      ? { type: SagaEvents.stepFailed, ...base, error: ending.error }
      : { type: SagaEvents.stepDone, ...base, result: ending.result };
  return { jobId: job.id, sagaId: job.sagaId, event, ...(job.trace ? { trace: job.trace } : {}) };
}
