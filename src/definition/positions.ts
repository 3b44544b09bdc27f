import type { AnySagaDefinition, GroupDefinition, StepDefinition } from './types.ts';

/** One place in the order of a saga's steps: a step, or a parallel group with its members. */
export type Position =
  | { step: StepDefinition; group?: undefined }
  | { group: GroupDefinition; members: readonly StepDefinition[] };

/** The saga's steps in the order they run: a group's members together, in one position. */
export function positionsOf(definition: AnySagaDefinition): Position[] {
  const positions: Position[] = [];
  for (const step of definition.steps) {
    if (step.group === undefined) {
      positions.push({ step });
      continue;
    }
    const last = positions[positions.length - 1];
    if (last?.group?.name === step.group) continue;
    const group = definition.groups.find((g) => g.name === step.group) as GroupDefinition;
    positions.push({ group, members: definition.steps.filter((s) => s.group === step.group) });
  }
  return positions;
}
