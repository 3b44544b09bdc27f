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

/**
 * How a saga must end when step `failAt` fails for good (or nothing fails, `undefined`), from the
 * definition alone: `Completed`; `Failed` after undoing the steps completed before it when it is at
 * or before the pivot; `Escalated` as a forward failure, with nothing undone, when it is after the
 * pivot. `inDoubt`: the step's last attempt ended in doubt and no verify told: by its `inDoubt`
 * policy it is undone first, in doubt, or the saga escalates (a query changed nothing: definite).
 */
export function expectedEnding(
  definition: AnySagaDefinition,
  failAt: number | undefined,
  inDoubt = false,
): { state: 'Completed' | 'Failed' | 'Escalated'; completed: string[]; compensations: string[] } {
  const names = definition.steps.map((s) => s.name);
  if (failAt === undefined) return { state: 'Completed', completed: names, compensations: [] };
  const completed = names.slice(0, failAt);
  const step = definition.steps[failAt];
  const pivot = definition.steps.find((s) => s.name === definition.pivot)?.index ?? Number.POSITIVE_INFINITY;
  if (failAt > pivot) return { state: 'Escalated', completed, compensations: [] };
  const rollback = expectedRollback(definition, completed).expectedCompensations;
  if (!inDoubt || step?.kind === 'query') return { state: 'Failed', completed, compensations: rollback };
  if (step?.inDoubt === 'escalate') return { state: 'Escalated', completed, compensations: [] };
  return { state: 'Failed', completed, compensations: [step?.name as string, ...rollback] };
}
