import { pivotIndexOf } from '../definition/step-kinds.ts';
import type { AnySagaDefinition, StepDefinition } from '../definition/types.ts';

/**
 * What the node builders of a defined saga's machine (see buildSagaMachine) share, read once from
 * its definition: where the top-level states are, which steps compensate, and where the pivot is.
 */
export interface SagaLayout {
  /** The machine's id: the saga's name. */
  readonly id: string;
  /** The definition's steps, a group's members among them. */
  readonly steps: AnySagaDefinition['steps'];
  /** The id of a top-level state (`#id.State`), a target from anywhere inside the machine. */
  readonly top: (state: string) => string;
  /** The steps with a compensation, in definition order. */
  readonly compensable: StepDefinition[];
  /** The names of {@link SagaLayout.compensable}. */
  readonly compensates: Set<string>;
  /** The pivot's index (`Infinity` without one): steps up to it roll back, those after it escalate. */
  readonly pivotIndex: number;
  /** A step's index in the definition, `-1` for a name that is not one of its steps. */
  readonly indexOf: (name: string) => number;
  /** The names of the waits and sleeps among the steps. */
  readonly waits: Set<string>;
}

/** The layout of a saga whose steps its definition lists. */
export function layoutOf(definition: AnySagaDefinition): SagaLayout {
  const steps = definition.steps;
  const id = definition.name;
  const top = (state: string) => `#${id}.${state}`;
  const compensable = steps.filter((s) => s.compensation !== undefined);
  const compensates = new Set(compensable.map((s) => s.name));
  const pivotIndex = pivotIndexOf(definition);
  const indexOf = (name: string) => steps.find((s) => s.name === name)?.index ?? -1;
  const waits = new Set(steps.filter((s) => s.wait !== undefined).map((s) => s.name));
  return { id, steps, top, compensable, compensates, pivotIndex, indexOf, waits };
}
