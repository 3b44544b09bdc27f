import type { z } from 'zod';
import { DefinitionError } from '../errors.ts';
import { DEFAULT_COMPENSATION_POLICY, DEFAULT_RUN_POLICY } from './defaults.ts';
import { describeIssues, issuePath } from './issue-path.ts';
import { type FlatStep, flattenEntries, neededBy, type ParsedWait, sagaConfigSchema } from './schema.ts';
import { pivotOf } from './step-kinds.ts';
import type {
  AttemptPolicy,
  RetryPolicy,
  SagaConfig,
  SagaDefinition,
  StepConfig,
  StepDefinition,
  StepEntry,
  StepNamesOf,
  WaitDefinition,
  WaitNamesOf,
} from './types.ts';

/**
 * Validates a saga definition and returns it frozen, with every default filled in.
 * Throws a {@link DefinitionError} naming the offending field (`steps.2.retry.attempts`, ...).
 *
 * @example
 * ```ts
 * const trip = defineSaga({
 *   name: 'trip-booking', version: 1,
 *   input: z.object({ tripId: z.string() }),
 *   steps: [
 *     { name: 'reserveFlight', retry: { attempts: 3 } }, // compensable, the default kind
 *     { name: 'chargePayment', kind: 'pivot' },
 *     { name: 'sendConfirmation', kind: 'noncompensable' },
 *   ],
 * });
 * ```
 */
export function defineSaga<
  const TName extends string,
  TSchema extends z.ZodType,
  const TSteps extends readonly StepEntry[],
>(
  config: SagaConfig<TName, TSchema, TSteps>,
): SagaDefinition<
  TName,
  z.output<TSchema>,
  StepNamesOf<TSteps[number]>,
  z.input<TSchema>,
  WaitNamesOf<TSteps[number]>
> {
  const parsed = sagaConfigSchema.safeParse(config);
  if (!parsed.success) {
    const label = typeof config?.name === 'string' ? `saga "${config.name}"` : 'saga definition';
    const first = parsed.error.issues[0];
    throw new DefinitionError(
      `${label} is invalid: ${describeIssues(parsed.error.issues, 'definition')}`,
      first ? issuePath(first) : '',
      { cause: parsed.error },
    );
  }
  const flat = flattenEntries(parsed.data.steps);
  const steps = flat.map(({ step, group, wait }, index) => {
    const resolved = resolveStep(step, index, group?.group);
    return Object.freeze(wait === undefined ? resolved : { ...resolved, wait: resolveWait(wait, index, flat) });
  });
  const groups = parsed.data.steps.flatMap((entry) =>
    'group' in entry
      ? [
          Object.freeze({
            name: entry.group,
            members: Object.freeze(entry.parallel.map((member) => member.name)),
            policy: entry.policy ?? 'all',
            needed: neededBy(entry.policy, entry.parallel.length) as number,
            surplus: entry.surplus ?? 'keep',
          }),
        ]
      : [],
  );
  return Object.freeze({
    ...definitionHeader(config, parsed.data),
    steps: Object.freeze(steps),
    groups: Object.freeze(groups),
    waits: Object.freeze(flat.flatMap(({ step, wait }) => (wait ? [step.name] : []))),
    pivot: pivotOf(steps)?.name,
    // The checked definition carries what the config's types say; TypeScript cannot follow the parse.
  }) as unknown as SagaDefinition<
    TName,
    z.output<TSchema>,
    StepNamesOf<TSteps[number]>,
    z.input<TSchema>,
    WaitNamesOf<TSteps[number]>
  >;
}

/**
 * What every definition holds, defined or dynamic: its mark, name, version, description, input
 * schema and stuck threshold, from the config as written and as parsed.
 */
export function definitionHeader(
  config: { name: string; input: z.ZodType },
  parsed: { version: number; description?: string | undefined; stuckAfterMs?: number | undefined },
) {
  return {
    kind: 'xsaga.definition' as const,
    name: config.name,
    version: parsed.version,
    description: parsed.description,
    input: config.input,
    ...(parsed.stuckAfterMs === undefined ? {} : { stuckAfterMs: parsed.stuckAfterMs }),
  };
}

/** A step as written, with every default filled in (shared with the tools of dynamic sagas). */
export function resolveStep(step: StepConfig, index: number, group: string | undefined): StepDefinition {
  const kind = step.kind ?? 'compensable';
  const run = resolvePolicy(DEFAULT_RUN_POLICY, step.retry, step.timeoutMs);
  const options = typeof step.compensate === 'object' ? step.compensate : {};
  const compensation =
    kind === 'compensable'
      ? resolvePolicy(DEFAULT_COMPENSATION_POLICY, options.retry, options.timeoutMs ?? step.timeoutMs)
      : undefined;
  const inDoubt = step.inDoubt ?? (kind === 'compensable' ? 'compensate' : 'escalate');
  return {
    name: step.name,
    index,
    kind,
    ...(group === undefined ? {} : { group }),
    verify: step.verify ?? 'inDoubt',
    inDoubt,
    run,
    compensation,
  };
}

/** A wait's or sleep's settings with defaults: a wait before the pivot rolls back at its deadline, one after it escalates. */
function resolveWait(wait: ParsedWait, index: number, flat: readonly FlatStep[]): WaitDefinition {
  if ('sleep' in wait) {
    return Object.freeze({
      type: 'sleep',
      signal: undefined,
      timeoutMs: wait.forMs,
      until: wait.until as WaitDefinition['until'],
      onTimeout: 'continue',
      reject: undefined,
    });
  }
  const pivot = pivotOf(flat.map(({ step }) => ({ ...step, kind: step.kind ?? 'compensable' })));
  const afterPivot = pivot !== undefined && flat.findIndex(({ step }) => step.name === pivot.name) < index;
  return Object.freeze({
    type: 'signal',
    signal: wait.signal,
    timeoutMs: wait.timeoutMs,
    until: wait.until as WaitDefinition['until'],
    onTimeout: wait.onTimeout ?? (afterPivot ? 'escalate' : 'compensate'),
    reject: wait.reject as WaitDefinition['reject'],
  });
}

function resolvePolicy(
  base: AttemptPolicy,
  retry: RetryPolicy | undefined,
  timeoutMs: number | undefined,
): AttemptPolicy {
  return {
    attempts: retry?.attempts ?? base.attempts,
    backoff: { ...base.backoff, ...retry?.backoff },
    timeoutMs: timeoutMs ?? base.timeoutMs,
  };
}

/** True for a value produced by {@link defineSaga}. */
export function isSagaDefinition(value: unknown): value is SagaDefinition {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'xsaga.definition';
}
