import type { AnySagaDefinition } from '../definition/types.ts';
import { SagaStates } from '../vocabulary/states.ts';
import { buildDynamicMachine } from './build-dynamic-machine.ts';
import { compensatingNode } from './compensating-node.ts';
import type { StepState } from './context.ts';
import { escalatedNode } from './escalated-node.ts';
import { initialContext, sagaMachineSetup, startedState } from './machine-parts.ts';
import { pendingNode } from './pending-node.ts';
import { layoutOf } from './saga-layout.ts';

export { inFlight, jobRound, NEXT_COMPENSATION, parkedAt } from './machine-parts.ts';

/**
 * Builds the XState v5 machine of a saga definition. Pure: no I/O, no clock.
 *
 * Top-level states are the saga's public status (`Started`, `Pending`, `Compensating`, `Completed`,
 * `Failed`, `Escalated`); `Pending` has one substate per step and `Compensating` one per compensable
 * step. Rollback order is data: `Compensating` enters through {@link NEXT_COMPENSATION}, which picks
 * the newest completed, not yet compensated step from `context.completed` (the order steps really
 * completed in), so the graph stays finite and a diagram still shows every compensation.
 *
 * The pivot (see `SagaDefinition.pivot`) splits the steps: a step up to it that fails for good
 * rolls the saga back; a step after it escalates as a forward failure, and `cancel` is refused once
 * the pivot has started, because nothing from there on can be undone.
 *
 * @example
 * ```ts
 * const machine = buildSagaMachine(trip);
 * console.log(JSON.stringify(machine.toJSON())); // paste into the Stately visualizer
 * ```
 */
export function buildSagaMachine(definition: AnySagaDefinition): SagaMachine {
  // A dynamic saga's steps are data, appended at run time: its machine is built another way.
  if (definition.dynamic) return buildDynamicMachine(definition) as unknown as SagaMachine;
  return buildDefinedMachine(definition);
}

/**
 * The machine of a saga whose steps its definition lists (see buildSagaMachine). Each top-level
 * state with more to it than an event or two is built in a file of its own: `pending-node.ts` (with
 * `step-node.ts`, `wait-node.ts` and `group-node.ts` for its substates), `compensating-node.ts` and
 * `escalated-node.ts`.
 */
function buildDefinedMachine(definition: AnySagaDefinition) {
  const layout = layoutOf(definition);
  return sagaMachineSetup.createMachine({
    id: layout.id,
    description: definition.description,
    initial: SagaStates.Started,
    context: ({ input }) =>
      initialContext(
        input,
        Object.fromEntries(
          layout.steps.map((s) => [
            s.name,
            { status: 'idle', attempts: 0, compensationAttempts: 0 } satisfies StepState,
          ]),
        ),
      ),
    states: {
      [SagaStates.Started]: startedState,
      [SagaStates.Pending]: pendingNode(definition, layout),
      [SagaStates.Compensating]: compensatingNode(layout),
      [SagaStates.Completed]: { type: 'final' },
      [SagaStates.Failed]: { type: 'final' },
      [SagaStates.Escalated]: escalatedNode(layout),
    },
  });
}

/** The machine type of any saga definition. */
export type SagaMachine = ReturnType<typeof buildDefinedMachine>;
