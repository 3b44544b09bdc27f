import type { ErrorInfo, StepOutcomeEvent } from '../vocabulary/events.ts';
import { SagaEvents } from '../vocabulary/events.ts';
import type { StepJob, StepOutcome } from './step-queue.ts';

/**
 * A step's result that its handler's `verify` found at the participant, instead of a second write:
 * what an attempt runner resolves with so that the outcome records the step as verified.
 */
export class VerifiedResult {
  constructor(readonly result: unknown) {}
}

/**
 * The final outcome of a step job, addressed to its saga: `result` when its handler returned, or
 * `error` when it failed for good (`inDoubt` when it may still have taken effect, `verified: false`
 * when its verify found it had not; `verified: true` on a result verify found). The one place an outcome is made, whoever learned it: a worker,
 * the in-process queue, or a deadline that timed the job out. The job's trace context goes with it,
 * for the next step to continue the saga's trace.
 */
export function stepOutcome(
  job: StepJob,
  attempts: number,
  ending: { result: unknown } | { error: ErrorInfo },
): StepOutcome {
  const base = { step: job.step, direction: job.direction, round: job.round, attempts };
  let event: StepOutcomeEvent;
  if ('error' in ending) {
    event = { type: SagaEvents.stepFailed, ...base, error: ending.error };
    // A run that failed for good without saying so (a timeout, a transient error, a lost worker)
    // may still have taken effect; a terminal error or a verify that found nothing is definite.
    if (ending.error.code === 'STEP_NOT_DONE') event.verified = false;
    else if (job.direction === 'run' && ending.error.terminal !== true) event.inDoubt = true;
  } else if (ending.result instanceof VerifiedResult) {
    event = { type: SagaEvents.stepDone, ...base, result: ending.result.result, verified: true };
  } else {
    event = { type: SagaEvents.stepDone, ...base, result: ending.result };
  }
  return { jobId: job.id, sagaId: job.sagaId, event, ...(job.trace ? { trace: job.trace } : {}) };
}
