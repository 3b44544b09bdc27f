import type { AnySagaDefinition, AttemptPolicy } from '../definition/types.ts';

/**
 * A copy of a definition whose retries wait 0 ms, for tests that drive many failures through the
 * real engine. Attempts, timeouts and steps are unchanged.
 */
export function withInstantRetries<D extends AnySagaDefinition>(definition: D): D {
  const instant = (policy: AttemptPolicy): AttemptPolicy => ({
    ...policy,
    backoff: { ...policy.backoff, delayMs: 0, maxDelayMs: 0 },
  });
  return Object.freeze({
    ...definition,
    steps: Object.freeze(
      definition.steps.map((step) =>
        Object.freeze({
          ...step,
          run: instant(step.run),
          compensation: step.compensation && instant(step.compensation),
        }),
      ),
    ),
  });
}
