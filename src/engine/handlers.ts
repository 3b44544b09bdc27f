import type { AnySagaDefinition, SagaHandlerName, SagaInput } from '../definition/types.ts';

/** What a handler receives on every attempt. */
export interface StepContext<TInput = unknown> {
  sagaId: string;
  sagaName: string;
  step: string;
  /** The saga's validated input. */
  input: TInput;
  /** Outputs of the steps completed before this one, by step name. */
  results: Record<string, unknown>;
  /** 1 on the first try, then 2, 3... */
  attempt: number;
  /**
   * Same for every attempt, restart and redelivery of this step direction: pass it to the
   * participant so a repeated call has no second effect.
   */
  idempotencyKey: string;
  /** Aborted when the attempt times out; pass it to fetch() and friends. */
  signal: AbortSignal;
}

/**
 * What a compensation receives: the step context plus the output of the step it undoes. For a step
 * whose outcome was never known (`inDoubt`), there is no output: the compensation must look the
 * effect up by `runIdempotencyKey` and treat finding nothing as done.
 */
export interface CompensationContext<TInput = unknown> extends StepContext<TInput> {
  result: unknown;
  /** True when the step's run was in doubt: it may or may not have taken effect. */
  inDoubt: boolean;
  /** The idempotency key the step's run used (`<sagaId>~<step>~run`): look its effect up by it. */
  runIdempotencyKey: string;
}

/**
 * What `verify` answers after reading the participant back: the step took effect (`done`, with the
 * result `run` would have returned) or it did not.
 */
export type VerifyAnswer = { done: true; result?: unknown } | { done: false };

/**
 * The code of one step. `run` does the step and returns its output (stored as JSON); `compensate`
 * undoes it; `verify` reads back whether it happened. Throw {@link TerminalError} to fail without
 * retries (a definite "not done"). A compensation that finds nothing to undo should simply return.
 */
export interface StepHandler<TInput = unknown> {
  run: (ctx: StepContext<TInput>) => unknown;
  compensate?: (ctx: CompensationContext<TInput>) => unknown;
  /**
   * Reads the participant back to learn whether `run` took effect, by the same `ctx` (the same
   * `idempotencyKey`). Called after an attempt whose outcome is unknown (a timeout, a transient
   * error, a crashed worker) instead of writing again, and after every successful run when the
   * step says `verify: 'always'`. Throwing counts as a failed attempt that is still in doubt.
   */
  verify?: (ctx: StepContext<TInput>) => VerifyAnswer | Promise<VerifyAnswer>;
}

/** Handlers of one saga: one per step name (waits and sleeps have none). */
export type SagaHandlers<D extends AnySagaDefinition> = {
  [K in SagaHandlerName<D>]: StepHandler<SagaInput<D>>;
};

/** Handlers of every saga an engine or worker runs, by saga name. */
// biome-ignore lint/suspicious/noExplicitAny: handlers of sagas with different inputs share one registry
export type HandlerRegistry = Record<string, Record<string, StepHandler<any>>>;

/**
 * Types a saga's handlers against its definition: unknown step names are compile errors and
 * `ctx.input` has the saga's input type.
 *
 * @example
 * ```ts
 * const tripHandlers = defineHandlers(trip, {
 *   reserveFlight: { run: async (ctx) => ({ bookingId: `F-${ctx.input.tripId}` }), compensate: async () => {} },
 *   ...
 * });
 * createEngine({ handlers: { [trip.name]: tripHandlers } });
 * ```
 */
export function defineHandlers<D extends AnySagaDefinition>(
  _definition: D,
  handlers: SagaHandlers<D>,
): SagaHandlers<D> {
  return handlers;
}
