import { stepOutcome } from './step-outcome.ts';
import type { StepJob, StepOutcome } from './step-queue.ts';

/**
 * The longest a step job may take before the saga stops waiting for it: every attempt running to
 * its timeout, every backoff at its longest (no jitter), plus `graceMs` for a worker to notice a
 * dead peer (BullMQ's stall check). Past it, a job no live worker holds is failed for good. A
 * forward run's attempt may also call `verify` once (before a retry, or after the last attempt),
 * twice with `verify: 'always'`, each call with the same timeout.
 */
export function stepDeadlineMs(job: Pick<StepJob, 'policy' | 'direction' | 'verify'>, graceMs: number): number {
  const { policy } = job;
  const calls = job.direction === 'compensate' ? 1 : job.verify === 'always' ? 3 : 2;
  let total = policy.attempts * policy.timeoutMs * calls + graceMs;
  for (let attempt = 1; attempt < policy.attempts; attempt++) {
    const growth = policy.backoff.type === 'exponential' ? 2 ** (attempt - 1) : 1;
    total += Math.min(policy.backoff.delayMs * growth, policy.backoff.maxDelayMs);
  }
  return total;
}

/** The outcome reported for a step job whose deadline passed with no worker holding it. */
export function deadlineOutcome(job: StepJob, attempts: number, deadlineMs: number, reason?: string): StepOutcome {
  return stepOutcome(job, attempts, {
    error: {
      name: 'StepTimeoutError',
      code: 'STEP_TIMEOUT',
      message:
        reason ??
        `no worker finished ${job.direction} of step "${job.step}" within its deadline of ${deadlineMs} ms (all attempts, backoff and grace); is any worker running?`,
    },
  });
}
