import type { StepKind } from './types.ts';

/** Every step kind, in the order a saga may use them. */
export const STEP_KINDS = [
  'compensable',
  'query',
  'pivot',
  'retryable',
  'noncompensable',
] as const satisfies readonly StepKind[];

/** A step as the order rule sees it: its name, its kind, and whether it wrote `compensate`. */
export interface KindedStep {
  name: string;
  kind: StepKind;
  compensate?: unknown;
  inDoubt?: unknown;
}

/** A broken rule: the step index and what to write instead. */
export interface StepOrderProblem {
  index: number;
  field: 'kind' | 'compensate' | 'inDoubt';
  message: string;
}

const KINDS_TO_DECLARE =
  "declare its kind: 'query' if it only reads, 'noncompensable' if it cannot be undone and is the last step, " +
  "or 'retryable' if it comes after a 'pivot'";

/**
 * Checks the order `(compensable | query)* pivot? (retryable | query)* noncompensable?` and that only
 * compensable steps carry a compensation. Pure; one problem per offending step, each naming the
 * step and the rule, so a definition error says what to write.
 */
export function checkStepOrder(steps: readonly KindedStep[]): StepOrderProblem[] {
  const problems: StepOrderProblem[] = [];
  let pivot: KindedStep | undefined;
  steps.forEach((step, index) => {
    const label = `step "${step.name}"`;
    const last = index === steps.length - 1;
    if (step.compensate === false) {
      problems.push({
        index,
        field: 'compensate',
        message:
          `${label} has compensate: false, which xsaga no longer reads: a step with no compensation must say why, ` +
          `so ${KINDS_TO_DECLARE}`,
      });
      return;
    }
    if (step.kind !== 'compensable' && step.compensate !== undefined) {
      problems.push({
        index,
        field: 'compensate',
        message: `${label} is ${step.kind}, which is never compensated: remove its compensate option`,
      });
    }
    if (step.inDoubt === 'compensate' && step.kind !== 'compensable') {
      problems.push({
        index,
        field: 'inDoubt',
        message: `${label} is ${step.kind}, which has no compensation: an in-doubt ${step.kind} step can only escalate`,
      });
    }
    switch (step.kind) {
      case 'compensable':
        if (pivot) {
          problems.push({
            index,
            field: 'kind',
            message:
              `${label} is compensable but comes after the pivot "${pivot.name}", so it could never be compensated: ` +
              `declare it 'retryable' (idempotent, retried until it succeeds) or move it before the pivot`,
          });
        }
        break;
      case 'pivot':
        if (pivot) {
          problems.push({
            index,
            field: 'kind',
            message: `${label} is a second pivot (the first is "${pivot.name}"): a saga has at most one point of no return`,
          });
        }
        pivot ??= step;
        break;
      case 'retryable':
        if (!pivot) {
          problems.push({
            index,
            field: 'kind',
            message:
              `${label} is retryable, which is allowed only after a pivot: before it a failure rolls the saga back, ` +
              `so make it 'compensable' or mark the step the saga cannot go back from as 'pivot'`,
          });
        }
        break;
      case 'noncompensable':
        if (!last) {
          problems.push({
            index,
            field: 'kind',
            message:
              `${label} is noncompensable, so it must be the last step: a later failure would roll the saga back ` +
              `and it cannot be undone; move it last, give it a compensate handler (kind 'compensable'), ` +
              `or declare it 'query' if it only reads`,
          });
        }
        break;
      case 'query':
        break;
    }
  });
  return problems;
}

/**
 * The step after which a saga never rolls back: the `pivot`, else a last `noncompensable` step.
 * Undefined when every step can be rolled back.
 */
export function pivotOf<T extends KindedStep>(steps: readonly T[]): T | undefined {
  const last = steps[steps.length - 1];
  return steps.find((step) => step.kind === 'pivot') ?? (last?.kind === 'noncompensable' ? last : undefined);
}

/** The index of a definition's pivot (see {@link pivotOf}); Infinity when every step can roll back. */
export function pivotIndexOf(definition: {
  readonly steps: readonly { readonly name: string; readonly index: number }[];
  readonly pivot: string | undefined;
}): number {
  return definition.steps.find((step) => step.name === definition.pivot)?.index ?? Number.POSITIVE_INFINITY;
}

/**
 * Why a dynamic saga whose appended steps have `kinds` (in order) cannot take a step of `kind` next,
 * by the same order rule as a definition's steps; undefined when it can.
 */
export function appendRefusal(kinds: readonly StepKind[], kind: StepKind): string | undefined {
  if (kinds.includes('noncompensable')) {
    return 'a noncompensable step was appended, which must be the last: complete the saga';
  }
  const pivot = kinds.includes('pivot');
  if (kind === 'compensable' && pivot) {
    return 'a compensable step cannot come after the pivot, where nothing is rolled back: use a retryable or query tool';
  }
  if (kind === 'pivot' && pivot) return 'the saga already has its pivot: a saga has at most one point of no return';
  if (kind === 'retryable' && !pivot) {
    return 'a retryable step comes only after the pivot: before it a failure rolls back, so use a compensable tool';
  }
  return undefined;
}
