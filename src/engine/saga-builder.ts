import { z } from 'zod';
import { defineSaga } from '../definition/define-saga.ts';
import type {
  CompensationOptions,
  GroupPolicy,
  InDoubtPolicy,
  RetryPolicy,
  SagaDefinition,
  SleepConfig,
  StepConfig,
  StepEntry,
  StepKind,
  WaitConfig,
} from '../definition/types.ts';
import type { CompensationContext, StepContext, StepHandler, VerifyAnswer } from './handlers.ts';

/** The options of a step that a definition holds, written beside its handlers. */
interface StepOptions {
  /** Retry policy of the run. */
  retry?: RetryPolicy;
  /** Per-attempt timeout of the run (and of `verify`) in milliseconds. */
  timeoutMs?: number;
  /** What happens when the last attempt is in doubt and no `verify` tells. */
  inDoubt?: InDoubtPolicy;
  /** Also read back with `verify` after every successful run (`verify: 'always'` of a definition). */
  verifyAlways?: boolean;
}

/** A step whose effect cannot be undone by xsaga: its run, and optionally its read-back. */
export interface StepSpec<TInput> extends StepOptions {
  run: (ctx: StepContext<TInput>) => unknown;
  verify?: (ctx: StepContext<TInput>) => VerifyAnswer | Promise<VerifyAnswer>;
}

/** A compensable step: its run, its compensation, optionally its read-back and compensation policy. */
export interface CompensableStepSpec<TInput> extends StepSpec<TInput> {
  compensate: (ctx: CompensationContext<TInput>) => unknown;
  /** Retry policy and timeout of the compensation. */
  compensation?: CompensationOptions;
}

/** A saga built by {@link saga}: the validated definition, with the handlers written beside its steps. */
export type BuiltSaga<
  TName extends string,
  TInput,
  TStepName extends string,
  TInputIn,
  TWaitName extends string = never,
> = SagaDefinition<TName, TInput, TStepName, TInputIn, TWaitName> & {
  /** The handlers, by step name (waits and sleeps have none): pass them as `createEngine({ handlers: { [saga.name]: saga.handlers } })`. */
  readonly handlers: { readonly [K in Exclude<TStepName, TWaitName>]: StepHandler<TInput> };
};

interface Written {
  config: StepConfig;
  handler: StepHandler<never>;
}

/** A wait or a sleep as written: it has no handler. */
interface WrittenWait {
  parked: WaitConfig | SleepConfig;
}

type Entry = Written | WrittenGroup | WrittenWait;

/** A group as written: its options and members. */
interface WrittenGroup {
  group: string;
  policy: GroupPolicy | undefined;
  surplus: 'keep' | 'compensate' | undefined;
  members: readonly Written[];
}

/** The members of a parallel group, written one after another (see {@link SagaBuilder.group}). */
export class GroupBuilder<TInput, TStepName extends string = never> {
  readonly #members: readonly Written[];

  /** @internal made by SagaBuilder.group */
  constructor(members: readonly Written[] = []) {
    this.#members = members;
  }

  /** A compensable member. */
  step<N extends string>(name: N, spec: CompensableStepSpec<TInput>): GroupBuilder<TInput, TStepName | N> {
    return new GroupBuilder([...this.#members, written(name, 'compensable', spec)]);
  }

  /** A member that only reads. */
  query<N extends string>(name: N, spec: StepSpec<TInput>): GroupBuilder<TInput, TStepName | N> {
    return new GroupBuilder([...this.#members, written(name, 'query', spec)]);
  }

  /** @internal read by SagaBuilder.group */
  get members(): readonly Written[] {
    return this.#members;
  }
}

/**
 * A saga written step by step, each step beside its handlers; `build()` checks it with exactly the
 * rules of {@link defineSaga} and returns the same definition, plus its handlers. Immutable: every
 * call returns a new builder.
 *
 * @example
 * ```ts
 * const trip = saga('trip', 1)
 *   .input(z.object({ tripId: z.string() }))
 *   .step('reserveFlight', { run: book, compensate: cancel })
 *   .pivot('charge', { run: charge, verify: findCharge })
 *   .noncompensable('email', { run: mail })
 *   .build();
 * const engine = createEngine({ handlers: { [trip.name]: trip.handlers } });
 * ```
 */
export class SagaBuilder<
  TName extends string,
  TSchema extends z.ZodType,
  TStepName extends string = never,
  TWaitName extends string = never,
> {
  readonly #name: TName;
  readonly #version: number;
  readonly #schema: TSchema;
  readonly #description: string | undefined;
  readonly #entries: readonly Entry[];

  /** @internal made by {@link saga} */
  constructor(
    name: TName,
    version: number,
    schema: TSchema,
    description: string | undefined,
    entries: readonly Entry[],
  ) {
    this.#name = name;
    this.#version = version;
    this.#schema = schema;
    this.#description = description;
    this.#entries = entries;
  }

  /** The schema of the saga's input (default: an empty object). */
  input<S extends z.ZodType>(schema: S): SagaBuilder<TName, S, TStepName, TWaitName> {
    return new SagaBuilder(this.#name, this.#version, schema, this.#description, this.#entries);
  }

  /** Free text shown in graphs and tooling. */
  describe(description: string): SagaBuilder<TName, TSchema, TStepName, TWaitName> {
    return new SagaBuilder(this.#name, this.#version, this.#schema, description, this.#entries);
  }

  /** A compensable step (the default kind): undone by `compensate` when the saga rolls back. */
  step<N extends string>(
    name: N,
    spec: CompensableStepSpec<z.output<TSchema>>,
  ): SagaBuilder<TName, TSchema, TStepName | N, TWaitName> {
    return this.#with(written(name, 'compensable', spec));
  }

  /** A step that only reads: nothing to undo. */
  query<N extends string>(
    name: N,
    spec: StepSpec<z.output<TSchema>>,
  ): SagaBuilder<TName, TSchema, TStepName | N, TWaitName> {
    return this.#with(written(name, 'query', spec));
  }

  /** The point of no return: once it completes, the saga only goes forward. */
  pivot<N extends string>(
    name: N,
    spec: StepSpec<z.output<TSchema>>,
  ): SagaBuilder<TName, TSchema, TStepName | N, TWaitName> {
    return this.#with(written(name, 'pivot', spec));
  }

  /** After the pivot: idempotent, retried until it succeeds; a failure escalates. */
  retryable<N extends string>(
    name: N,
    spec: StepSpec<z.output<TSchema>>,
  ): SagaBuilder<TName, TSchema, TStepName | N, TWaitName> {
    return this.#with(written(name, 'retryable', spec));
  }

  /** Cannot be undone (a mail, a message): the last step only. */
  noncompensable<N extends string>(
    name: N,
    spec: StepSpec<z.output<TSchema>>,
  ): SagaBuilder<TName, TSchema, TStepName | N, TWaitName> {
    return this.#with(written(name, 'noncompensable', spec));
  }

  /**
   * A durable wait for the signal `name` (see WaitConfig): the saga parks, holding nothing in any
   * process, until `engine.signal(sagaId, name, payload)` or the deadline; no handler.
   */
  wait<N extends string, S extends z.ZodType>(
    name: N,
    options: Omit<WaitConfig<N, S>, 'wait'>,
  ): SagaBuilder<TName, TSchema, TStepName | N, TWaitName | N> {
    return this.#with({ parked: { ...options, wait: name } as WaitConfig });
  }

  /** A durable sleep (see SleepConfig): the saga parks until `forMs` has passed or `until`; no handler. */
  sleep<N extends string>(
    name: N,
    options: Omit<SleepConfig<N>, 'sleep'>,
  ): SagaBuilder<TName, TSchema, TStepName | N, TWaitName | N> {
    return this.#with({ parked: { ...options, sleep: name } });
  }

  /** Steps that run at once (see GroupConfig), written with `members`. */
  group<M extends string>(
    name: string,
    options: { policy?: GroupPolicy; surplus?: 'keep' | 'compensate' },
    members: (group: GroupBuilder<z.output<TSchema>>) => GroupBuilder<z.output<TSchema>, M>,
  ): SagaBuilder<TName, TSchema, TStepName | M, TWaitName> {
    const entry = {
      group: name,
      policy: options.policy,
      surplus: options.surplus,
      members: members(new GroupBuilder()).members,
    };
    return new SagaBuilder(this.#name, this.#version, this.#schema, this.#description, [...this.#entries, entry]);
  }

  /**
   * The definition, checked by {@link defineSaga} (a `DefinitionError` names what is wrong), with
   * the handlers as `handlers`.
   */
  build(): BuiltSaga<TName, z.output<TSchema>, TStepName, z.input<TSchema>, TWaitName> {
    const steps: StepEntry[] = this.#entries.map((entry) =>
      'parked' in entry
        ? entry.parked
        : 'group' in entry
          ? {
              group: entry.group,
              parallel: entry.members.map((m) => m.config),
              ...(entry.policy === undefined ? {} : { policy: entry.policy }),
              ...(entry.surplus === undefined ? {} : { surplus: entry.surplus }),
            }
          : entry.config,
    );
    const definition = defineSaga({
      name: this.#name,
      version: this.#version,
      input: this.#schema,
      steps,
      ...(this.#description === undefined ? {} : { description: this.#description }),
    });
    const handlers = Object.fromEntries(
      this.#entries
        .flatMap((entry) => ('parked' in entry ? [] : 'group' in entry ? entry.members : [entry]))
        .map((w) => [w.config.name, w.handler]),
    );
    return Object.freeze({ ...definition, handlers: Object.freeze(handlers) }) as unknown as BuiltSaga<
      TName,
      z.output<TSchema>,
      TStepName,
      z.input<TSchema>,
      TWaitName
    >;
  }

  #with(step: Written | WrittenWait) {
    return new SagaBuilder(this.#name, this.#version, this.#schema, this.#description, [
      ...this.#entries,
      step,
    ]) as never;
  }
}

/**
 * Starts a saga written step by step, each step beside its handlers (see {@link SagaBuilder}):
 * the fluent twin of {@link defineSaga}, with the same rules and the same definition.
 */
export function saga<TName extends string>(name: TName, version: number): SagaBuilder<TName, typeof NO_INPUT> {
  return new SagaBuilder(name, version, NO_INPUT, undefined, []);
}

/** The input schema of a saga built without `.input()`: an empty object. */
const NO_INPUT = z.object({});

/** A step's definition entry and handler, from what the builder was given. */
function written(name: string, kind: StepKind, spec: StepSpec<never> & Partial<CompensableStepSpec<never>>): Written {
  const config: StepConfig = { name, kind };
  if (spec.retry !== undefined) config.retry = spec.retry;
  if (spec.timeoutMs !== undefined) config.timeoutMs = spec.timeoutMs;
  if (spec.inDoubt !== undefined) config.inDoubt = spec.inDoubt;
  if (spec.verifyAlways) config.verify = 'always';
  if (kind === 'compensable' && spec.compensation !== undefined) config.compensate = spec.compensation;
  const handler: StepHandler<never> = { run: spec.run };
  if (spec.compensate) handler.compensate = spec.compensate;
  if (spec.verify) handler.verify = spec.verify;
  return { config, handler };
}
