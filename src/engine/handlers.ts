import type { AnySagaDefinition, SagaInput, SagaStepName } from '../definition/types.ts';

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

/** What a compensation receives: the step context plus the output of the step it undoes. */
export interface CompensationContext<TInput = unknown> extends StepContext<TInput> {
  result: unknown;
}

/**
 * The code of one step. `run` does the step and returns its output (stored as JSON); `compensate`
 * undoes it. Throw {@link TerminalError} to fail without retries. A compensation that finds
 * nothing to undo should simply return.
 */
export interface StepHandler<TInput = unknown> {
  run: (ctx: StepContext<TInput>) => unknown;
  compensate?: (ctx: CompensationContext<TInput>) => unknown;
}

/** Handlers of one saga: one per step name. */
export type SagaHandlers<D extends AnySagaDefinition> = {
  [K in SagaStepName<D>]: StepHandler<SagaInput<D>>;
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
