import type { AttemptPolicy } from './types.ts';

/** Forward runs: a few quick retries, because most participant failures are blips. */
export const DEFAULT_RUN_POLICY: AttemptPolicy = {
  attempts: 3,
  backoff: { type: 'exponential', delayMs: 100, maxDelayMs: 30_000, jitter: 0.5 },
  timeoutMs: 30_000,
};

/**
 * Compensations: more patience than forward runs, since giving up means a person has to act
 * (the saga is Escalated).
 */
export const DEFAULT_COMPENSATION_POLICY: AttemptPolicy = {
  attempts: 5,
  backoff: { type: 'exponential', delayMs: 200, maxDelayMs: 60_000, jitter: 0.5 },
  timeoutMs: 30_000,
};

/** Upper bound of any delay or timeout in a definition: one day. */
export const MAX_DURATION_MS = 86_400_000;

/** Upper bound of retry attempts, so a typo cannot keep a saga busy for ever. */
export const MAX_ATTEMPTS = 100;
