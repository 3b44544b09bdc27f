import { z } from 'zod';
import { MAX_ATTEMPTS, MAX_DURATION_MS } from './defaults.ts';
import { checkStepOrder, pivotOf, STEP_KINDS } from './step-kinds.ts';

/**
 * Names end up in XState state ids, BullMQ job ids and Redis keys: no dots (state paths), no colons
 * (BullMQ), no `~` (our job-id separator), no spaces.
 */
export const NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

/** A saga, step, group or tool name (see NAME_PATTERN). */
export const name = z.string().regex(NAME_PATTERN, {
  message: 'must start with a letter and contain only letters, digits, "_" or "-" (at most 64 characters)',
});

const duration = z.number().int().min(0).max(MAX_DURATION_MS);

/** A saga may legitimately wait on one step for days (long timeouts, many retries): up to 30 days. */
export const STUCK_AFTER_MAX_MS = 30 * MAX_DURATION_MS;

const backoffSchema = z.strictObject({
  type: z.enum(['exponential', 'fixed']),
  delayMs: duration,
  maxDelayMs: duration.optional(),
  jitter: z.number().min(0).max(1).optional(),
});

/** A retry policy as written. */
export const retrySchema = z.strictObject({
  attempts: z.number().int().min(1).max(MAX_ATTEMPTS),
  backoff: backoffSchema.optional(),
});

/** A per-attempt timeout in ms. */
export const timeout = z.number().int().min(1).max(MAX_DURATION_MS);

/** A compensation's own policy as written. */
export const compensationSchema = z.strictObject({
  retry: retrySchema.optional(),
  timeoutMs: timeout.optional(),
});

const stepSchema = z.strictObject({
  name,
  kind: z.enum(STEP_KINDS).optional(),
  verify: z.literal('always').optional(),
  inDoubt: z.enum(['compensate', 'escalate']).optional(),
  compensate: z.union([z.boolean(), compensationSchema]).optional(),
  retry: retrySchema.optional(),
  timeoutMs: timeout.optional(),
});

const policySchema = z.union([
  z.enum(['all', 'any', 'majority']),
  z.strictObject({ atLeast: z.number().int().min(1) }),
]);

const groupSchema = z.strictObject({
  group: name,
  parallel: z.array(stepSchema).min(2, { message: 'a parallel group needs at least two steps' }).max(50),
  policy: policySchema.optional(),
  surplus: z.enum(['keep', 'compensate']).optional(),
});

export const isZodSchema = (value: unknown): value is z.ZodType =>
  typeof value === 'object' && value !== null && typeof (value as { safeParse?: unknown }).safeParse === 'function';

/** A wait may last far longer than any attempt: up to a year. */
export const MAX_WAIT_MS = 366 * MAX_DURATION_MS;

const waitDuration = z.number().int().min(0).max(MAX_WAIT_MS);
const untilFn = z.custom<(ctx: never) => Date | number>((value) => typeof value === 'function', {
  message: 'must be a function of the saga context returning a Date or epoch milliseconds',
});

/** A wait as written in a saga's steps (a dynamic saga's waits are checked by it too). */
export const waitSchema = z
  .strictObject({
    wait: name,
    signal: z.custom<z.ZodType>(isZodSchema, {
      message: 'must be a zod schema of the payload, e.g. z.object({ ... })',
    }),
    timeoutMs: waitDuration.optional(),
    until: untilFn.optional(),
    onTimeout: z.enum(['compensate', 'escalate', 'continue']).optional(),
    reject: z
      .custom<(payload: never) => boolean>((value) => typeof value === 'function', {
        message: 'must be a function of the payload returning true to roll the saga back',
      })
      .optional(),
  })
  .refine((wait) => wait.timeoutMs === undefined || wait.until === undefined, {
    message: 'give timeoutMs or until, not both',
    path: ['until'],
  });

const sleepSchema = z
  .strictObject({ sleep: name, forMs: waitDuration.optional(), until: untilFn.optional() })
  .refine((sleep) => (sleep.forMs === undefined) !== (sleep.until === undefined), {
    message: 'a sleep needs exactly one of forMs or until',
    path: ['forMs'],
  });

/** Which schema an entry is checked against: the key that names it says what it is. */
function schemaOf(entry: unknown): z.ZodType {
  if (typeof entry !== 'object' || entry === null) return stepSchema;
  if ('group' in entry) return groupSchema;
  if ('wait' in entry) return waitSchema;
  if ('sleep' in entry) return sleepSchema;
  return stepSchema;
}

type Entry =
  | z.infer<typeof stepSchema>
  | z.infer<typeof groupSchema>
  | z.infer<typeof waitSchema>
  | z.infer<typeof sleepSchema>;

/** A step, a group, a wait or a sleep, each checked against its own schema, so errors name the field. */
const entrySchema = z.unknown().transform((entry, ctx): Entry => {
  const parsed = schemaOf(entry).safeParse(entry);
  if (parsed.success) return parsed.data as Entry;
  for (const issue of parsed.error.issues) {
    ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path as PropertyKey[] });
  }
  return z.NEVER;
});

/** A parsed wait or sleep. */
export type ParsedWait = z.infer<typeof waitSchema> | z.infer<typeof sleepSchema>;

/**
 * A step as it is checked and resolved: a group's members flattened, each with the path it was
 * written at; a wait or sleep as a `query` step with its wait.
 */
export interface FlatStep {
  step: z.infer<typeof stepSchema>;
  path: (string | number)[];
  group?: z.infer<typeof groupSchema>;
  wait?: ParsedWait;
}

/** The steps of parsed entries in definition order, a group's members in place of the group. */
export function flattenEntries(entries: readonly Entry[]): FlatStep[] {
  return entries.flatMap((entry, index): FlatStep[] => {
    if ('group' in entry) {
      return entry.parallel.map((step, member) => ({ step, path: ['steps', index, 'parallel', member], group: entry }));
    }
    if ('wait' in entry) return [{ step: { name: entry.wait, kind: 'query' }, path: ['steps', index], wait: entry }];
    if ('sleep' in entry) return [{ step: { name: entry.sleep, kind: 'query' }, path: ['steps', index], wait: entry }];
    return [{ step: entry, path: ['steps', index] }];
  });
}

/** Members a policy needs out of `members`; undefined when it can never be met. */
export function neededBy(policy: z.infer<typeof policySchema> | undefined, members: number): number | undefined {
  if (policy === undefined || policy === 'all') return members;
  if (policy === 'any') return 1;
  if (policy === 'majority') return Math.floor(members / 2) + 1;
  return policy.atLeast <= members ? policy.atLeast : undefined;
}

/** zod schema of what `defineSaga` accepts; the single source of the definition-time rules. */
export const sagaConfigSchema = z
  .strictObject({
    name,
    version: z.number().int().min(1),
    input: z.custom<z.ZodType>(isZodSchema, { message: 'must be a zod schema, e.g. z.object({ ... })' }),
    steps: z.array(entrySchema).min(1, { message: 'a saga needs at least one step' }).max(200),
    description: z.string().max(1000).optional(),
    stuckAfterMs: z.number().int().min(1).max(STUCK_AFTER_MAX_MS).optional(),
  })
  .superRefine((config, ctx) => {
    const flat = flattenEntries(config.steps);
    // Step and group names share one namespace: results and diagrams are keyed by them.
    const seen = new Map<string, string>();
    const claim = (name: string, path: (string | number)[]) => {
      const first = seen.get(name);
      if (first !== undefined) {
        ctx.addIssue({ code: 'custom', path, message: `duplicate step name "${name}" (already used by ${first})` });
      }
      seen.set(name, path.slice(0, -1).join('.'));
    };
    config.steps.forEach((entry, index) => {
      if ('group' in entry) claim(entry.group, ['steps', index, 'group']);
    });
    for (const { step, path, wait } of flat) {
      claim(step.name, [...path, wait === undefined ? 'name' : 'wait' in wait ? 'wait' : 'sleep']);
    }
    config.steps.forEach((entry, index) => {
      if (!('group' in entry)) return;
      if (neededBy(entry.policy, entry.parallel.length) === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['steps', index, 'policy', 'atLeast'],
          message: `group "${entry.group}" has ${entry.parallel.length} steps, so at least ${(entry.policy as { atLeast: number }).atLeast} of them can never complete`,
        });
      }
      entry.parallel.forEach((member, at) => {
        const kind = member.kind ?? 'compensable';
        if (kind !== 'compensable' && kind !== 'query') {
          ctx.addIssue({
            code: 'custom',
            path: ['steps', index, 'parallel', at, 'kind'],
            message: `step "${member.name}" of group "${entry.group}" is ${kind}: a group's steps are compensable or query steps, before the pivot`,
          });
        }
        if (member.inDoubt === 'escalate') {
          ctx.addIssue({
            code: 'custom',
            path: ['steps', index, 'parallel', at, 'inDoubt'],
            message: `step "${member.name}" of group "${entry.group}" cannot escalate in doubt: the group's other steps would be left running; use verify, or inDoubt: 'compensate'`,
          });
        }
      });
    });
    const kinded = flat.map(({ step }) => ({ ...step, kind: step.kind ?? 'compensable' }));
    for (const problem of checkStepOrder(kinded)) {
      ctx.addIssue({
        code: 'custom',
        path: [...(flat[problem.index]?.path ?? []), problem.field],
        message: problem.message,
      });
    }
    // Nothing after the pivot can roll back: a wait there may not ask to.
    const pivot = pivotOf(kinded);
    const pivotAt = pivot ? kinded.indexOf(pivot) : Number.POSITIVE_INFINITY;
    flat.forEach(({ wait, path }, index) => {
      if (!wait || !('wait' in wait) || index < pivotAt) return;
      const label = `wait "${wait.wait}" comes after the pivot "${pivot?.name}", where nothing can be rolled back`;
      if (wait.onTimeout === 'compensate') {
        ctx.addIssue({
          code: 'custom',
          path: [...path, 'onTimeout'],
          message: `${label}: use onTimeout 'escalate' (the default there) or 'continue'`,
        });
      }
      if (wait.reject !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: [...path, 'reject'],
          message: `${label}: it cannot reject; move it before the pivot, or handle the answer in the next step`,
        });
      }
    });
  });
