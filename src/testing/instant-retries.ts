import type { AnySagaDefinition, AttemptPolicy } from '../definition/types.ts';

/**
 * A copy of a definition whose retries wait 0 ms and whose sleeps end at once, for tests that drive many failures through the
 * real engine (checkCompensationAtEveryIndex uses it). Attempts, timeouts and steps are unchanged,
 * and so are the name and version: use the copy in place of the original, not beside it in one
 * engine (a second definition under the same name and version is refused unless its steps match).
 *
 * @example
 * ```ts
 * const { sagaId } = await engine.start(withInstantRetries(trip), input);
 * ```
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
          ...(step.wait?.type === 'sleep' ? { wait: { ...step.wait, timeoutMs: 0, until: undefined } } : {}),
        }),
      ),
    ),
  });
}
