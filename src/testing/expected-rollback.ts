import { positionsOf } from '../definition/positions.ts';
import { pivotIndexOf } from '../definition/step-kinds.ts';
import type { AnySagaDefinition, GroupDefinition, StepDefinition } from '../definition/types.ts';

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
 * definition alone, given the order the other steps really completed in (`completedOrder`, which
 * only matters inside parallel groups): `Completed`; `Failed` after undoing the steps completed
 * before it when it is at or before the pivot; `Escalated` as a forward failure, with nothing
 * undone, when it is after the pivot. A group member's failure fails its group only when the other
 * members cannot meet the policy. `inDoubt`: the step's last attempt ended in doubt and no verify
 * told: by its `inDoubt` policy it is undone first, in doubt, or the saga escalates (a query
 * changed nothing: its failure is definite). Groups with `surplus: 'compensate'` that the saga
 * passed undo their surplus first, newest first.
 */
export function expectedEnding(
  definition: AnySagaDefinition,
  failAt: number | undefined,
  inDoubt = false,
  completedOrder: readonly string[] = definition.steps.map((s) => s.name),
): { state: 'Completed' | 'Failed' | 'Escalated'; completed: string[]; compensations: string[] } {
  const names = definition.steps.map((s) => s.name);
  const undoable = (name: string) => definition.steps.find((s) => s.name === name)?.compensation !== undefined;
  // What a group with surplus: 'compensate' undoes when it moves on: its members that completed
  // after the policy was met, newest first.
  const surplusOf = (group: GroupDefinition, failed?: string) =>
    group.surplus === 'compensate'
      ? completedOrder
          .filter((n) => group.members.includes(n) && n !== failed)
          .slice(group.needed)
          .filter(undoable)
          .reverse()
      : [];
  const trimsBefore = (position: number) =>
    definition.groups
      .filter((g) => positionOf(definition, g.members[0] as string) < position)
      .flatMap((g) => surplusOf(g));
  if (failAt === undefined) {
    return { state: 'Completed', completed: names, compensations: trimsBefore(Number.POSITIVE_INFINITY) };
  }
  const step = definition.steps[failAt] as StepDefinition;
  const position = positionOf(definition, step.name);
  const trimmed = trimsBefore(position);
  const pivot = pivotIndexOf(definition);
  const undoneFirst = inDoubt && step.kind === 'compensable' && step.inDoubt === 'compensate' ? [step.name] : [];
  const group = definition.groups.find((g) => g.name === step.group);
  if (group && group.members.length - 1 >= group.needed) {
    // The others meet the policy: the saga goes on, after undoing the member if it is in doubt
    // (and the surplus, if the group undoes it).
    return {
      state: 'Completed',
      completed: names.filter((n) => n !== step.name),
      compensations: [...trimmed, ...undoneFirst, ...surplusOf(group, step.name)],
    };
  }
  const completed = names.filter(
    (n) =>
      positionOf(definition, n) < position || (group !== undefined && n !== step.name && group.members.includes(n)),
  );
  if (failAt > pivot) return { state: 'Escalated', completed, compensations: trimmed };
  if (inDoubt && step.kind !== 'query' && step.inDoubt === 'escalate') {
    return { state: 'Escalated', completed, compensations: trimmed };
  }
  const inOrder = completedOrder.filter((n) => completed.includes(n) && !trimmed.includes(n));
  const rollback = expectedRollback(definition, inOrder).expectedCompensations;
  return { state: 'Failed', completed, compensations: [...trimmed, ...undoneFirst, ...rollback] };
}

/** A step's place in the order of positions (see positionsOf): a parallel group's members share their group's. */
export function positionOf(definition: AnySagaDefinition, name: string): number {
  return positionsOf(definition).findIndex((p) =>
    p.group ? p.members.some((m) => m.name === name) : p.step.name === name,
  );
}

/** Whether every position before `position` has what it needs among `completed` (a step; a group's policy). */
export function passedBefore(definition: AnySagaDefinition, completed: readonly string[], position: number): boolean {
  return positionsOf(definition).every((p, at) => {
    if (at >= position) return true;
    if (!p.group) return completed.includes(p.step.name);
    return p.members.filter((m) => completed.includes(m.name)).length >= p.group.needed;
  });
}
