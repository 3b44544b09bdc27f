import { z } from 'zod';
import { MAX_ATTEMPTS, MAX_DURATION_MS } from './defaults.ts';
import { checkStepOrder, STEP_KINDS } from './step-kinds.ts';

/**
 * Names end up in XState state ids, BullMQ job ids and Redis keys: no dots (state paths), no colons
 * (BullMQ), no `~` (our job-id separator), no spaces.
 */
export const NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

const name = z.string().regex(NAME_PATTERN, {
  message: 'must start with a letter and contain only letters, digits, "_" or "-" (at most 64 characters)',
});

const duration = z.number().int().min(0).max(MAX_DURATION_MS);

/** A saga may legitimately wait on one step for days (long timeouts, many retries): up to 30 days. */
const STUCK_AFTER_MAX_MS = 30 * MAX_DURATION_MS;

const backoffSchema = z.strictObject({
  type: z.enum(['exponential', 'fixed']),
  delayMs: duration,
  maxDelayMs: duration.optional(),
  jitter: z.number().min(0).max(1).optional(),
});

const retrySchema = z.strictObject({
  attempts: z.number().int().min(1).max(MAX_ATTEMPTS),
  backoff: backoffSchema.optional(),
});

const timeout = z.number().int().min(1).max(MAX_DURATION_MS);

const compensationSchema = z.strictObject({
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

const isZodSchema = (value: unknown): value is z.ZodType =>
  typeof value === 'object' && value !== null && typeof (value as { safeParse?: unknown }).safeParse === 'function';

/** zod schema of what `defineSaga` accepts; the single source of the definition-time rules. */
export const sagaConfigSchema = z
  .strictObject({
    name,
    version: z.number().int().min(1),
    input: z.custom<z.ZodType>(isZodSchema, { message: 'must be a zod schema, e.g. z.object({ ... })' }),
    steps: z.array(stepSchema).min(1, { message: 'a saga needs at least one step' }).max(200),
    description: z.string().max(1000).optional(),
    stuckAfterMs: z.number().int().min(1).max(STUCK_AFTER_MAX_MS).optional(),
  })
  .superRefine((config, ctx) => {
    const seen = new Map<string, number>();
    config.steps.forEach((step, index) => {
      const first = seen.get(step.name);
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['steps', index, 'name'],
          message: `duplicate step name "${step.name}" (already used by steps.${first})`,
        });
      }
      seen.set(step.name, index);
    });
    const kinded = config.steps.map((step) => ({ ...step, kind: step.kind ?? 'compensable' }));
    for (const problem of checkStepOrder(kinded)) {
      ctx.addIssue({ code: 'custom', path: ['steps', problem.index, problem.field], message: problem.message });
    }
  });
