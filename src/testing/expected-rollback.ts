import type { AnySagaDefinition } from '../definition/types.ts';

/**
 * The rollback a saga owes after `completed` steps, computed from the definition alone, so tests
 * check the engine against an independent oracle: compensable completed steps newest first, and
 * the non-compensable ones skipped, newest first.
 */
export function expectedRollback(
  definition: AnySagaDefinition,
  completed: readonly string[],
): { expectedCompensations: string[]; expectedSkipped: string[] } {
  const byName = new Map(definition.steps.map((s) => [s.name, s]));
  const newestFirst = [...completed].reverse();
  return {
    expectedCompensations: newestFirst.filter((name) => byName.get(name)?.compensation !== undefined),
    expectedSkipped: newestFirst.filter((name) => byName.get(name)?.compensation === undefined),
  };
}
