import type {
  AnySagaDefinition,
  StepDefinition,
  StepKind,
  ToolDefinition,
  WaitDefinition,
} from '../definition/types.ts';
import type { SagaContext } from './context.ts';

/** The tool a dynamic saga's step `name` was appended with; undefined for any other step or saga. */
export function toolOf(definition: AnySagaDefinition, context: SagaContext, name: string): ToolDefinition | undefined {
  const tool = context.steps?.[name]?.tool;
  return tool === undefined ? undefined : definition.dynamic?.tools[tool];
}

/** The kinds of a dynamic saga's appended steps, in order: what the kind rule checks the next one against. */
export function planKinds(definition: AnySagaDefinition, context: SagaContext): StepKind[] {
  return (context.plan ?? []).flatMap((name) => toolOf(definition, context, name)?.kind ?? []);
}

/**
 * The definition of step `name` of a saga: from the definition's steps, or, for a dynamic saga,
 * from the tool the step was appended with (its place in the plan as its index).
 */
export function stepOf(definition: AnySagaDefinition, context: SagaContext, name: string): StepDefinition | undefined {
  if (!definition.dynamic) return definition.steps.find((step) => step.name === name);
  const tool = toolOf(definition, context, name);
  if (!tool) return undefined;
  const { args: _args, ...policies } = tool;
  return { ...policies, name, index: context.plan?.indexOf(name) ?? -1 };
}

/** The wait (or sleep) named `name` in a definition: a step's, or a dynamic saga's wait tool's. */
export function waitOf(definition: AnySagaDefinition, name: string): WaitDefinition | undefined {
  return definition.dynamic
    ? definition.dynamic.tools[name]?.wait
    : definition.steps.find((s) => s.name === name)?.wait;
}

/**
 * The step of the wait named `name` in a saga: the step itself in a defined saga; in a dynamic one,
 * the newest step appended for that wait.
 */
export function waitStepOf(definition: AnySagaDefinition, context: SagaContext, name: string): string | undefined {
  if (!definition.dynamic) return name;
  return (context.plan ?? []).findLast((step) => context.steps[step]?.tool === name);
}

/** The name of the step a dynamic saga appends at `index` (0-based) with `tool`: structural, never from model output. */
export function dynamicStepName(tool: string, index: number): string {
  return `${tool}-${index + 1}`;
}
