import { z } from 'zod';
import { definitionHeader, resolveStep } from '../definition/define-saga.ts';
import { describeIssues, issuePath } from '../definition/issue-path.ts';
import {
  compensationSchema,
  isZodSchema,
  MAX_WAIT_MS,
  NAME_PATTERN,
  name,
  retrySchema,
  STUCK_AFTER_MAX_MS,
  timeout,
  waitSchema,
} from '../definition/schema.ts';
import { STEP_KINDS } from '../definition/step-kinds.ts';
import type {
  CompensationOptions,
  InDoubtPolicy,
  RetryPolicy,
  SagaDefinition,
  StepKind,
  ToolDefinition,
  WaitConfig,
  WaitDefinition,
} from '../definition/types.ts';
import { DefinitionError } from '../errors.ts';
import type { CompensationContext, StepContext, StepHandler, VerifyAnswer } from './handlers.ts';

/** What a tool's handlers see: the step context, with the arguments the agent gave (checked by `args`). */
export interface ToolContext<TInput, TArgs> extends StepContext<TInput> {
  args: TArgs;
}

/** What a tool's compensation sees. */
export interface ToolCompensationContext<TInput, TArgs> extends CompensationContext<TInput> {
  args: TArgs;
}

/**
 * One tool an agent may call as a step of a dynamic saga: its kind (as a defined step's, see
 * {@link StepKind}), the schema of its arguments, its handlers and policies.
 */
export interface ToolSpec<TInput, TArgs extends z.ZodType> {
  /** Default `compensable` (which needs `compensate`). */
  kind?: StepKind;
  /** Schema of the arguments: `appendStep` refuses others with INPUT_INVALID and stores nothing. */
  args: TArgs;
  run: (ctx: ToolContext<TInput, z.output<TArgs>>) => unknown;
  compensate?: (ctx: ToolCompensationContext<TInput, z.output<TArgs>>) => unknown;
  verify?: (ctx: ToolContext<TInput, z.output<TArgs>>) => VerifyAnswer | Promise<VerifyAnswer>;
  /** Also read back with `verify` after every successful run. */
  verifyAlways?: boolean;
  retry?: RetryPolicy;
  timeoutMs?: number;
  inDoubt?: InDoubtPolicy;
  /** Retry policy and timeout of the compensation. */
  compensation?: CompensationOptions;
}

/**
 * A wait an agent may append (`appendStep(sagaId, { wait })`): the saga parks until a signal of that
 * name or the deadline, as a defined saga's wait (see `WaitConfig`). After the pivot, a deadline
 * that would compensate, and a rejection, escalate instead: nothing there can roll back.
 */
// biome-ignore lint/suspicious/noExplicitAny: the widest wait accepts every signal schema
export type DynamicWaitSpec<TSignal extends z.ZodType = z.ZodType<any>> = Omit<WaitConfig<string, TSignal>, 'wait'>;

/** What {@link defineDynamicSaga} accepts. */
export interface DynamicSagaConfig<
  TName extends string,
  TSchema extends z.ZodType,
  TArgs extends Record<string, z.ZodType>,
  TSignals extends Record<string, z.ZodType> = Record<string, z.ZodType>,
> {
  name: TName;
  version: number;
  input: TSchema;
  /** The tools the agent may append as steps, by name (letters, digits, `_`, `-`; at most 56 characters). */
  tools: { [K in keyof TArgs]: ToolSpec<z.output<TSchema>, TArgs[K]> };
  /** Waits the agent may append, by name (sharing the namespace of the tools). */
  waits?: { [K in keyof TSignals]: DynamicWaitSpec<TSignals[K]> };
  /**
   * With no step appended and no `complete` for this long (ms, at most a year), the saga rolls back:
   * the agent is taken to be gone. After the pivot it escalates instead.
   */
  idleTimeoutMs: number;
  description?: string;
  stuckAfterMs?: number;
}

/** A dynamic saga: a definition whose steps are appended at run time, with its tools' handlers. */
export type DynamicSaga<TName extends string, TInput, TInputIn> = SagaDefinition<TName, TInput, string, TInputIn> & {
  /** The tools' handlers, by tool name: pass them as `createEngine({ handlers: { [saga.name]: saga.handlers } })`. */
  readonly handlers: Readonly<Record<string, StepHandler<TInput>>>;
};

/** A wait takes no arguments. */
const NO_ARGS = z.strictObject({});

const fn = (what: string) =>
  z.custom<(...args: never[]) => unknown>((value) => typeof value === 'function', {
    message: `must be a function (${what})`,
  });

const toolSchema = z
  .strictObject({
    kind: z.enum(STEP_KINDS).optional(),
    args: z.custom<z.ZodType>(isZodSchema, {
      message: 'must be a zod schema of the arguments, e.g. z.object({ ... })',
    }),
    run: fn('ctx => result'),
    compensate: fn('ctx => void').optional(),
    verify: fn('ctx => { done, result? }').optional(),
    verifyAlways: z.boolean().optional(),
    retry: retrySchema.optional(),
    timeoutMs: timeout.optional(),
    inDoubt: z.enum(['compensate', 'escalate']).optional(),
    compensation: compensationSchema.optional(),
  })
  .superRefine((tool, ctx) => {
    const kind = tool.kind ?? 'compensable';
    if (kind === 'compensable' && !tool.compensate) {
      ctx.addIssue({
        code: 'custom',
        path: ['compensate'],
        message:
          "a compensable tool needs compensate; or declare kind 'query', 'pivot', 'retryable' or 'noncompensable'",
      });
    }
    if (kind !== 'compensable' && (tool.compensate || tool.compensation)) {
      ctx.addIssue({
        code: 'custom',
        path: ['compensate'],
        message: `a ${kind} tool is never compensated: remove compensate`,
      });
    }
    if (tool.inDoubt === 'compensate' && kind !== 'compensable') {
      ctx.addIssue({
        code: 'custom',
        path: ['inDoubt'],
        message: `a ${kind} tool has no compensation: in doubt it can only escalate`,
      });
    }
    if (tool.verifyAlways && !tool.verify) {
      ctx.addIssue({ code: 'custom', path: ['verify'], message: 'verifyAlways needs a verify handler' });
    }
  });

const toolName = name.max(56, { message: 'a tool name has at most 56 characters (its steps are named <tool>-<n>)' });

const dynamicSchema = z.strictObject({
  name,
  version: z.number().int().min(1),
  input: z.custom<z.ZodType>(isZodSchema, { message: 'must be a zod schema, e.g. z.object({ ... })' }),
  tools: z
    .record(z.string(), toolSchema)
    .refine((tools) => Object.keys(tools).length > 0, { message: 'a dynamic saga needs at least one tool' })
    .superRefine((tools, ctx) => {
      for (const key of Object.keys(tools)) {
        if (!toolName.safeParse(key).success) {
          ctx.addIssue({
            code: 'custom',
            path: [key],
            message: `tool name "${key}" ${NAME_PATTERN.test(key) ? 'is too long' : 'must start with a letter and contain only letters, digits, "_" or "-"'}`,
          });
        }
      }
    }),
  waits: z
    .record(z.string(), z.unknown())
    .superRefine((waits, ctx) => {
      for (const [key, wait] of Object.entries(waits)) {
        if (!toolName.safeParse(key).success) {
          ctx.addIssue({ code: 'custom', path: [key], message: `wait name "${key}" must be a tool name` });
        }
        const parsed = waitSchema.safeParse({ ...(wait as object), wait: key });
        for (const issue of parsed.error?.issues ?? []) {
          ctx.addIssue({ code: 'custom', path: [key, ...(issue.path as PropertyKey[])], message: issue.message });
        }
      }
    })
    .optional(),
  idleTimeoutMs: z.number().int().min(1).max(MAX_WAIT_MS),
  description: z.string().max(1000).optional(),
  stuckAfterMs: z.number().int().min(1).max(STUCK_AFTER_MAX_MS).optional(),
});

/**
 * Defines a saga an agent builds at run time: `engine.appendStep(sagaId, { tool, args })` runs one
 * of `tools` as the next step (its arguments checked by the tool's schema; its compensation recorded
 * with it before it is dispatched) and resolves with its outcome; `engine.complete(sagaId)` ends the
 * saga `Completed`; `engine.cancel` rolls back what was appended, newest first. Tools follow the kind
 * rule of a defined saga, checked at each append (a compensable tool after the pivot is refused).
 * Idempotency keys are structural (`<sagaId>~<tool>-<n>~<direction>`), never from model output.
 *
 * @example
 * ```ts
 * const agent = defineDynamicSaga({
 *   name: 'agent', version: 1, input: z.object({ customer: z.string() }), idleTimeoutMs: 60_000,
 *   tools: {
 *     crmUpsert: { args: z.object({ email: z.string() }), run: upsert, compensate: removeContact },
 *     postToSlack: { kind: 'noncompensable', args: z.object({ text: z.string() }), run: post },
 *   },
 * });
 * const engine = createEngine({ handlers: { [agent.name]: agent.handlers } });
 * ```
 */
export function defineDynamicSaga<
  const TName extends string,
  TSchema extends z.ZodType,
  TArgs extends Record<string, z.ZodType>,
  TSignals extends Record<string, z.ZodType> = Record<string, z.ZodType>,
>(config: DynamicSagaConfig<TName, TSchema, TArgs, TSignals>): DynamicSaga<TName, z.output<TSchema>, z.input<TSchema>> {
  const parsed = dynamicSchema.safeParse(config);
  if (!parsed.success) {
    const label = typeof config?.name === 'string' ? `dynamic saga "${config.name}"` : 'dynamic saga definition';
    const first = parsed.error.issues[0];
    throw new DefinitionError(
      `${label} is invalid: ${describeIssues(parsed.error.issues, 'definition')}`,
      first ? issuePath(first) : '',
      { cause: parsed.error },
    );
  }
  const tools: Record<string, ToolDefinition> = {};
  for (const [wait, spec] of Object.entries(config.waits ?? {})) {
    if (wait in config.tools) {
      throw new DefinitionError(`dynamic saga "${config.name}" has a tool and a wait named "${wait}"`, `waits.${wait}`);
    }
    const { index: _index, group: _group, ...step } = resolveStep({ name: wait, kind: 'query' }, -1, undefined);
    const resolved: WaitDefinition = {
      type: 'signal',
      signal: spec.signal,
      timeoutMs: spec.timeoutMs,
      until: spec.until,
      onTimeout: spec.onTimeout ?? 'compensate',
      reject: spec.reject as WaitDefinition['reject'],
    };
    tools[wait] = Object.freeze({ ...step, args: NO_ARGS, wait: Object.freeze(resolved) });
  }
  const handlers: Record<string, StepHandler<never>> = {};
  for (const [tool, spec] of Object.entries(config.tools as Record<string, ToolSpec<never, z.ZodType>>)) {
    const {
      index: _index,
      group: _group,
      ...step
    } = resolveStep(
      {
        name: tool,
        kind: spec.kind ?? 'compensable',
        ...(spec.retry === undefined ? {} : { retry: spec.retry }),
        ...(spec.timeoutMs === undefined ? {} : { timeoutMs: spec.timeoutMs }),
        ...(spec.inDoubt === undefined ? {} : { inDoubt: spec.inDoubt }),
        ...(spec.verifyAlways ? { verify: 'always' as const } : {}),
        ...(spec.compensation === undefined ? {} : { compensate: spec.compensation }),
      },
      -1,
      undefined,
    );
    tools[tool] = Object.freeze({ ...step, args: spec.args });
    handlers[tool] = {
      run: spec.run as StepHandler<never>['run'],
      ...(spec.compensate ? { compensate: spec.compensate as StepHandler<never>['compensate'] } : {}),
      ...(spec.verify ? { verify: spec.verify as StepHandler<never>['verify'] } : {}),
    };
  }
  return Object.freeze({
    ...definitionHeader(config, parsed.data),
    steps: Object.freeze([]),
    groups: Object.freeze([]),
    waits: Object.freeze([]),
    pivot: undefined,
    dynamic: Object.freeze({ tools: Object.freeze(tools), idleTimeoutMs: parsed.data.idleTimeoutMs }),
    handlers: Object.freeze(handlers),
  }) as unknown as DynamicSaga<TName, z.output<TSchema>, z.input<TSchema>>;
}
