import type { z } from 'zod';

/** How a failed attempt is delayed before the next one. */
export interface BackoffPolicy {
  /** `exponential`: delayMs * 2^(attempt-1); `fixed`: delayMs every time. */
  type: 'exponential' | 'fixed';
  /** Base delay in milliseconds. */
  delayMs: number;
  /** Upper bound of one delay (before jitter). Default 30 000. */
  maxDelayMs?: number;
  /** Fraction of the delay that is randomised away (0 = none, 1 = full jitter). Default 0.5. */
  jitter?: number;
}

/** How often a handler is tried before its step fails for good. */
export interface RetryPolicy {
  /** Total attempts, the first included (1 = no retry). */
  attempts: number;
  /** Delay between attempts. Default: exponential from 100 ms. */
  backoff?: BackoffPolicy;
}

/** Options of a step's compensation, when it needs a policy of its own. */
export interface CompensationOptions {
  /** Retry policy of the compensation. Default: 5 attempts, exponential from 200 ms. */
  retry?: RetryPolicy;
  /** Per-attempt timeout of the compensation in milliseconds. Default: the step's `timeoutMs`. */
  timeoutMs?: number;
}

/**
 * What a step is to the saga's rollback, checked when the saga is defined. A saga's steps follow
 * `(compensable | query)* pivot? (retryable | query)* noncompensable?`.
 *
 * - `compensable` (the default): undone by its `compensate` handler when the saga rolls back.
 * - `pivot`: the point of no return; once it completes the saga only goes forward. At most one.
 * - `retryable`: after the pivot; idempotent and expected to succeed eventually. A failure for good
 *   escalates (a forward failure), never rolls back.
 * - `noncompensable`: cannot be undone (an email, a Slack message); last only. Without a pivot it
 *   acts as the pivot.
 * - `query`: reads only, nothing to undo; anywhere.
 */
export type StepKind = 'compensable' | 'pivot' | 'retryable' | 'noncompensable' | 'query';

/**
 * What xsaga does with a step whose last attempt is in doubt (it timed out, threw a transient
 * error, or its worker died: it may have taken effect) when no `verify` can tell:
 *
 * - `compensate` (default for compensable steps): the saga rolls back and the step's compensation
 *   runs too, with `ctx.inDoubt === true`; it must tolerate finding nothing to undo.
 * - `escalate` (default, and the only choice, for every other kind): the saga goes `Escalated`
 *   (`escalation.inDoubt`), for a person to check the participant, then `resume` (run the step
 *   again) or `resolve`.
 */
export type InDoubtPolicy = 'compensate' | 'escalate';

/** One step as written in a definition. */
export interface StepConfig<TName extends string = string> {
  /** Unique within the saga: letters, digits, `_` and `-`, starting with a letter. */
  name: TName;
  /** What the step is to the saga's rollback (see {@link StepKind}). Default `compensable`. */
  kind?: StepKind;
  /**
   * Policy of a compensable step's compensation; `true` (or leaving it out) uses the default one.
   * Only compensable steps have one: `false` is refused, with the kind to declare instead.
   */
  compensate?: boolean | CompensationOptions;
  /** Retry policy of the forward run. Default: 3 attempts, exponential from 100 ms. */
  retry?: RetryPolicy;
  /**
   * When the handler's `verify` reads the participant back. Left out, `verify` (if the handler has
   * one) runs only after an attempt whose outcome is unknown (see {@link InDoubtPolicy});
   * `'always'` also runs it after every successful `run`, and a `{ done: false }` answer then
   * counts as a failed attempt: it catches a call that reports success for a write that never
   * happened. `'always'` needs a `verify` handler.
   */
  verify?: 'always';
  /** What happens to a step whose last attempt was in doubt and that has no `verify` (see {@link InDoubtPolicy}). */
  inDoubt?: InDoubtPolicy;
  /** Per-attempt timeout in milliseconds; the handler's `signal` is aborted when it passes. Default 30 000. */
  timeoutMs?: number;
}

/**
 * How many members of a parallel group must complete for the group to succeed: every one, at least
 * one, more than half, or at least `n`.
 */
export type GroupPolicy = 'all' | 'any' | 'majority' | { atLeast: number };

/**
 * Steps that run at once: every member is dispatched together, each its own job with its own
 * idempotency key, retries, timeout and verify. The group waits for every member to settle (a member
 * still in flight may yet take effect, so none is abandoned), then succeeds when its `policy` is met;
 * otherwise the completed members are compensated in reverse order of completion, then the steps
 * before the group. Members are `compensable` or `query` steps, before any pivot.
 */
export interface GroupConfig<TName extends string = string> {
  /** Name of the group, unique among the saga's step and group names; `ctx.results[group]` holds the members' results by name. */
  group: string;
  /** At least two ordinary steps. */
  parallel: readonly StepConfig<TName>[];
  /** Default `all`. */
  policy?: GroupPolicy;
  /**
   * What happens to members that complete beyond what the policy needed (the third of three
   * quotes when `any` would have done): `keep` them (default), or `compensate` them, newest
   * first, before the saga moves on.
   */
  surplus?: 'keep' | 'compensate';
}

/**
 * What a wait's or sleep's `until` is given, when the saga reaches it: the input and the results so
 * far. The input is untyped there (write `ctx.input as MyInput`).
 */
// biome-ignore lint/suspicious/noExplicitAny: steps are written before the input type is known to them
export interface WaitContext<TInput = any> {
  sagaId: string;
  input: TInput;
  /** Outputs of the steps completed so far, by step name (a signal's payload under its wait's name). */
  results: Record<string, unknown>;
}

/**
 * What a wait does when its deadline passes with no signal:
 * - `compensate` (default before the pivot): the saga rolls back as if a step had failed
 *   (`WAIT_DEADLINE`); not allowed after the pivot, where nothing can be rolled back;
 * - `escalate` (default after the pivot): the saga goes `Escalated` for a person: `resume` waits
 *   again (a new deadline), `resolve` ends it, `cancel` rolls back (before the pivot);
 * - `continue`: the saga goes on without a payload (`ctx.results[wait]` stays undefined).
 */
export type WaitTimeoutPolicy = 'compensate' | 'escalate' | 'continue';

/**
 * A durable wait for a signal: the saga parks in `Pending` (no job, no timer and no memory in any
 * process: its record and one entry in the timer set) until `engine.signal(sagaId, wait, payload)`
 * brings a payload that `signal` accepts, or until its deadline. The payload becomes
 * `ctx.results[wait]`. A wait reads nothing and writes nothing, so it is never compensated.
 */
// biome-ignore lint/suspicious/noExplicitAny: the widest wait accepts every signal schema
export interface WaitConfig<TName extends string = string, TSignal extends z.ZodType = z.ZodType<any>> {
  /** Name of the wait (shares the namespace of step names); the signal's name. */
  wait: TName;
  /** Schema of the signal's payload; a payload it refuses is `SIGNAL_INVALID` and changes nothing. */
  signal: TSignal;
  /** Deadline, counted from when the saga reaches the wait (at most a year). Leave both out to wait for ever. */
  timeoutMs?: number;
  /** Deadline as a date computed when the saga reaches the wait (instead of `timeoutMs`). */
  until?: (ctx: WaitContext) => Date | number;
  /** What the deadline does (see {@link WaitTimeoutPolicy}). */
  onTimeout?: WaitTimeoutPolicy;
  /**
   * A payload for which this returns true rolls the saga back like a failed step (`SIGNAL_REJECTED`),
   * e.g. `(p) => !p.approved`. Only before the pivot.
   */
  reject?: (payload: z.output<TSignal>) => boolean;
}

/** A durable sleep: the saga parks until `forMs` has passed or `until`, then goes on. */
export interface SleepConfig<TName extends string = string> {
  /** Name of the sleep (shares the namespace of step names). */
  sleep: TName;
  /** How long to sleep (at most a year). Give `forMs` or `until`. */
  forMs?: number;
  /** When to wake, computed when the saga reaches the sleep. */
  until?: (ctx: WaitContext) => Date | number;
}

/** One entry of a saga's `steps`: a step, a group of steps that run in parallel, a wait or a sleep. */
export type StepEntry<TName extends string = string> =
  | StepConfig<TName>
  | GroupConfig<TName>
  | WaitConfig<TName>
  | SleepConfig<TName>;

/** The step names an entry declares: its own, its members', or its wait's or sleep's. */
export type StepNamesOf<E> = E extends { parallel: readonly (infer M)[] }
  ? M extends { name: infer N extends string }
    ? N
    : never
  : E extends { name: infer N extends string }
    ? N
    : E extends { wait: infer N extends string }
      ? N
      : E extends { sleep: infer N extends string }
        ? N
        : never;

/** The names of a saga's waits and sleeps: they have no handlers. */
export type WaitNamesOf<E> = E extends { wait: infer N extends string }
  ? N
  : E extends { sleep: infer N extends string }
    ? N
    : never;

/** What {@link defineSaga} accepts. */
export interface SagaConfig<TName extends string, TSchema extends z.ZodType, TSteps extends readonly StepEntry[]> {
  /** Saga name: letters, digits, `_` and `-`. Handlers are registered under it. */
  name: TName;
  /** Definition version; a stored saga is always continued with the version it started with. */
  version: number;
  /** Schema of the saga's input, checked by `engine.start` before anything is stored. */
  input: TSchema;
  /** Forward steps (and parallel groups of steps), run one after another in this order. */
  steps: TSteps;
  /** Free text shown in graphs and tooling. */
  description?: string;
  /**
   * A saga in `Pending` or `Compensating` with no transition for this long is reported stuck (the
   * engine's `stuck` event, the `xsaga_sagas_stuck` gauge). Default: the engine's `stuck.afterMs`
   * (15 minutes). Set it above your longest step: attempts x timeout plus backoff.
   */
  stuckAfterMs?: number;
}

/** A resolved attempt policy: what the queue needs to run one direction of a step. */
export interface AttemptPolicy {
  attempts: number;
  backoff: Required<BackoffPolicy>;
  timeoutMs: number;
}

/** A step after validation and defaults. */
export interface StepDefinition<TName extends string = string> {
  readonly name: TName;
  readonly index: number;
  readonly kind: StepKind;
  /** The parallel group the step belongs to, if any. */
  readonly group?: string;
  /** `inDoubt`: verify after in-doubt attempts only; `always`: after every successful run too. */
  readonly verify: 'inDoubt' | 'always';
  /** What happens to the step when its last attempt is in doubt and no `verify` tells. */
  readonly inDoubt: InDoubtPolicy;
  /** Policy of the forward run. */
  readonly run: AttemptPolicy;
  /** Policy of the compensation: set for `compensable` steps, `undefined` for every other kind. */
  readonly compensation: AttemptPolicy | undefined;
  /** Set for a wait or a sleep: the saga parks here (no job runs); its kind is `query`. */
  readonly wait?: WaitDefinition;
}

/** A wait or a sleep after validation (see {@link WaitConfig}, {@link SleepConfig}). */
export interface WaitDefinition {
  /** `signal`: a wait for a signal (or its deadline); `sleep`: only the deadline ends it. */
  readonly type: 'signal' | 'sleep';
  /** Schema of the signal's payload (waits only). */
  readonly signal: z.ZodType | undefined;
  /** Deadline after the saga reaches it, when given as a duration. */
  readonly timeoutMs: number | undefined;
  /** Deadline as a date, when given as one. */
  readonly until: ((ctx: WaitContext) => Date | number) | undefined;
  /** What the deadline does; always `continue` for a sleep. */
  readonly onTimeout: WaitTimeoutPolicy;
  /** Payloads that roll the saga back. */
  readonly reject: ((payload: unknown) => boolean) | undefined;
}

/** A parallel group after validation: its members (in definition order) and how many must complete. */
export interface GroupDefinition<TStepName extends string = string> {
  readonly name: string;
  readonly members: readonly TStepName[];
  readonly policy: GroupPolicy;
  /** Members that must complete for the group to succeed (`policy` resolved against the member count). */
  readonly needed: number;
  /** `compensate`: members that complete beyond `needed` are undone before the saga moves on. */
  readonly surplus: 'keep' | 'compensate';
}

/**
 * A validated, immutable saga definition. Create it with {@link defineSaga}; the type parameters
 * carry the saga name, its input type and its step names into handlers.
 */
export interface SagaDefinition<
  TName extends string = string,
  TInput = unknown,
  TStepName extends string = string,
  TInputIn = TInput,
  TWaitName extends string = never,
> {
  readonly kind: 'xsaga.definition';
  readonly name: TName;
  readonly version: number;
  readonly description: string | undefined;
  /** Parses what `engine.start` accepts (`TInputIn`) into what handlers see (`TInput`). */
  readonly input: z.ZodType<TInput, TInputIn>;
  /** Every step, group members included, in definition order (a group's members one after another). */
  readonly steps: readonly StepDefinition<TStepName>[];
  /** The parallel groups, in definition order. */
  readonly groups: readonly GroupDefinition<TStepName>[];
  /** Names of the waits and sleeps among `steps` (they have no handlers). */
  readonly waits: readonly TWaitName[];
  /**
   * The step after whose completion the saga never rolls back: the `pivot` step, else a last
   * `noncompensable` step; `undefined` when every step can be rolled back.
   */
  readonly pivot: TStepName | undefined;
  /** Stuck-saga threshold of this saga; undefined for the engine's default. */
  readonly stuckAfterMs?: number;
  /**
   * Set for a dynamic saga (see `defineDynamicSaga`): its steps are appended at run time, each a
   * call of one of these tools; `steps` is empty.
   */
  readonly dynamic?: DynamicDefinition;
}

/**
 * A tool of a dynamic saga after validation: a step's policies, and the schema of its arguments.
 * A wait of a dynamic saga is a tool too (a `query` with `wait`, and no arguments).
 */
export interface ToolDefinition extends Omit<StepDefinition, 'index' | 'group'> {
  /** Schema of the arguments an agent passes to `appendStep`. */
  readonly args: z.ZodType;
}

/** What makes a saga dynamic: the tools its agent may call, and how long it may stay silent. */
export interface DynamicDefinition {
  readonly tools: Readonly<Record<string, ToolDefinition>>;
  /** With no step appended and no `complete` for this long, the saga rolls back (the agent is gone). */
  readonly idleTimeoutMs: number;
}

/** Any saga definition, whatever its input and step names. */
// biome-ignore lint/suspicious/noExplicitAny: the widest definition type must accept every input type
export type AnySagaDefinition = SagaDefinition<string, any, string, any, string>;

/** The input type handlers see (the schema's output). */
export type SagaInput<D> = D extends SagaDefinition<string, infer I, string, infer _In, infer _W> ? I : never;

/** The input type `engine.start` accepts (the schema's input: defaults optional, pre-transform). */
export type SagaStartInput<D> = D extends SagaDefinition<string, infer _I, string, infer In, infer _W> ? In : never;

/** The step names of a definition. */
export type SagaStepName<D> = D extends SagaDefinition<string, infer _I, infer S, infer _In, infer _W> ? S : never;

/** The names of a definition's waits and sleeps. */
export type SagaWaitName<D> = D extends SagaDefinition<string, infer _I, string, infer _In, infer W> ? W : never;

/** The steps of a definition that run handlers: every step but its waits and sleeps. */
export type SagaHandlerName<D> = Exclude<SagaStepName<D>, SagaWaitName<D>>;
