import type { AnySagaDefinition, StepDefinition } from '../definition/types.ts';
import type { SagaContext } from './context.ts';

/**
 * The definition of step `name` of a saga: from the definition's steps, or, for a dynamic saga,
 * from the tool the step was appended with (its place in the plan as its index).
 */
export function stepOf(definition: AnySagaDefinition, context: SagaContext, name: string): StepDefinition | undefined {
  if (!definition.dynamic) return definition.steps.find((step) => step.name === name);
  const tool = definition.dynamic.tools[context.steps[name]?.tool ?? ''];
  if (!tool) return undefined;
  const { args: _args, ...policies } = tool;
  return { ...policies, name, index: context.plan?.indexOf(name) ?? -1 };
}

/** The name of the step a dynamic saga appends at `index` (0-based) with `tool`: structural, never from model output. */
export function dynamicStepName(tool: string, index: number): string {
  return `${tool}-${index + 1}`;
}
