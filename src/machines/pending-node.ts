import { type Position, positionsOf } from '../definition/positions.ts';
import type { AnySagaDefinition } from '../definition/types.ts';
import { SagaStates } from '../vocabulary/states.ts';
import { groupNode } from './group-node.ts';
import type { SagaLayout } from './saga-layout.ts';
import { stepNode } from './step-node.ts';
import { waitNode } from './wait-node.ts';

/**
 * The `Pending` state: one substate per position of the saga's steps, in the order they run (a
 * step, a wait or sleep, or a parallel group), each going forward to the next and the last to
 * `Completed`.
 */
export const pendingNode = (definition: AnySagaDefinition, layout: SagaLayout) => {
  const { top } = layout;
  const positions = positionsOf(definition);
  const nameOf = (position: Position) => (position.group ? position.group.name : position.step.name);
  const pendingStates = Object.fromEntries(
    positions.map((position, index) => {
      const next = positions[index + 1];
      const forward = next ? nameOf(next) : top(SagaStates.Completed);
      return [
        nameOf(position),
        position.group
          ? groupNode(
              layout,
              position.group,
              position.members,
              next ? `${top(SagaStates.Pending)}.${forward}` : forward,
            )
          : position.step.wait
            ? waitNode(layout, position.step, position.step.wait, forward)
            : stepNode(layout, position.step, forward),
      ];
    }),
  );
  return {
    initial: nameOf(positions[0] as Position),
    states: pendingStates,
  };
};
