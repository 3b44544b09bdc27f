import type { Random } from '../clock.ts';
import type { BackoffPolicy } from '../definition/types.ts';

/**
 * Delay before attempt `failedAttempt + 1`, after `failedAttempt` failed. Exponential doubles the
 * base each time up to `maxDelayMs`; jitter then removes a random share (up to `jitter` of it), so
 * many sagas failing together do not retry in lockstep.
 */
export function backoffDelay(policy: Required<BackoffPolicy>, failedAttempt: number, random: Random): number {
  const growth = policy.type === 'exponential' ? 2 ** Math.max(0, failedAttempt - 1) : 1;
  const capped = Math.min(policy.delayMs * growth, policy.maxDelayMs);
  return Math.round(capped * (1 - policy.jitter * random()));
}
