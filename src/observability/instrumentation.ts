import type { SagaStats, TransitionEntry } from '../persistence/saga-store.ts';
import type { Direction, ErrorInfo } from '../vocabulary/events.ts';
import type { SagaEscalation, SagaFailure } from '../vocabulary/outcomes.ts';
import type { SagaState } from '../vocabulary/states.ts';

/**
 * Trace context headers (W3C `traceparent`, `tracestate`) as a plain object: written by an
 * instrumentation when a saga starts, then carried by every step job and its outcome, so a worker in
 * another process continues the saga's trace. Empty (and not sent) when no tracing is set up.
 */
export type TraceCarrier = Record<string, string>;

/** True for a carrier as jobs and outcomes hold it (they come from Redis: checked before use). */
export function isTraceCarrier(value: unknown): value is TraceCarrier {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  return Object.values(value).every((v) => typeof v === 'string');
}

/** A saga was created (called once per saga, by the engine that stored it). */
export interface SagaStartedInfo {
  sagaId: string;
  name: string;
  version: number;
  /** Engine clock, ms since the epoch. */
  at: number;
}

/** A transition was persisted (the same entry as in the saga log). */
export interface SagaTransitionInfo {
  sagaId: string;
  name: string;
  /** Top-level states before and after. */
  from: SagaState;
  to: SagaState;
  entry: TransitionEntry;
  trace?: TraceCarrier;
}

/** A saga reached `Completed`, `Failed` or `Escalated` (again, after a `resume`). */
export interface SagaSettledInfo {
  sagaId: string;
  name: string;
  state: SagaState;
  /** From the saga's creation to this transition, on the engine clock. */
  durationMs: number;
  at: number;
  failure?: SagaFailure;
  escalation?: SagaEscalation;
  trace?: TraceCarrier;
}

/** The final outcome of a step job (after its retries) was applied to its saga by this engine. */
export interface StepEndedInfo {
  sagaId: string;
  name: string;
  step: string;
  /** `compensate` for compensations. */
  direction: Direction;
  outcome: 'done' | 'failed';
  /** Attempts the job took. */
  attempts: number;
  error?: ErrorInfo;
  trace?: TraceCarrier;
}

/**
 * One attempt of a step job, in the process that runs it (embedded engine or worker). The same
 * object is passed to `stepAttemptStarted`, `runStepAttempt` and `stepAttemptEnded`, so an
 * instrumentation may keep per-attempt state in a WeakMap keyed by it.
 */
export interface StepAttemptInfo {
  sagaId: string;
  sagaName: string;
  step: string;
  direction: Direction;
  /** Compensation round (raised by `resume`); 0 for forward runs. */
  round: number;
  /** 1 for the first try. */
  attempt: number;
  /** What the job carried: the saga's trace context. */
  trace?: TraceCarrier;
}

/** How an attempt ended: `timeout` when its per-attempt timeout passed (STEP_TIMEOUT). */
export interface StepAttemptEnd {
  outcome: 'done' | 'failed' | 'timeout';
  /** On the runner's clock. */
  durationMs: number;
  /** What the attempt failed with (already an Error: see toError). */
  error?: Error;
}

/** A saga that has not moved for longer than its threshold (see `EngineOptions.stuck`). */
export interface StuckSaga {
  sagaId: string;
  name: string;
  version: number;
  state: SagaState;
  /** The step running or being compensated, if one is. */
  step?: string;
  /** When the saga last moved (its record's `updatedAt`). */
  since: number;
  stuckForMs: number;
  /** The threshold that applied: the definition's `stuckAfterMs` or the engine's default. */
  thresholdMs: number;
  revision: number;
}

/** What one pass over the `Pending` and `Compensating` indexes found. */
export interface StuckReport {
  at: number;
  /** Stuck sagas counted by saga name, then by state. */
  counts: Record<string, Partial<Record<SagaState, number>>>;
}

/** The part of an engine an instrumentation may read (e.g. for gauges collected at scrape time). */
export interface InstrumentedEngine {
  stats(): Promise<SagaStats>;
}

/**
 * Hooks an engine and its step runners call as sagas and steps move: metrics (`xsaga/metrics`),
 * tracing ({@link createTracing}), or your own. Every hook is optional; several instrumentations
 * can be passed at once (`createEngine({ instrumentation: [metrics, tracing] })`). A hook that
 * throws is reported (the engine's `error` event, a worker's `onError`) and never fails the saga.
 *
 * Engine-side hooks (`saga*`, `stepEnded`, `stuckChecked`) run in the engine that applies the
 * event, once per persisted transition; attempt hooks (`stepAttempt*`, `runStepAttempt`) run where
 * the handler runs: the embedded engine, or a worker (`createWorker({ instrumentation })`).
 * A worker built with a custom `runAttempt` calls no attempt hooks.
 */
export interface Instrumentation {
  /** The engine was created; the returned function is called when it closes. */
  attach?(engine: InstrumentedEngine): (() => void) | undefined;
  /** A saga was stored; a tracing instrumentation writes the saga's trace context into `carrier`. */
  sagaStarted?(saga: SagaStartedInfo, carrier: TraceCarrier): void;
  sagaTransition?(transition: SagaTransitionInfo): void;
  sagaSettled?(saga: SagaSettledInfo): void;
  /** A step job's final outcome was applied; compensations have `direction: 'compensate'`. */
  stepEnded?(step: StepEndedInfo): void;
  /** A stuck-saga pass finished (see `EngineOptions.stuck`). */
  stuckChecked?(report: StuckReport): void;
  stepAttemptStarted?(attempt: StepAttemptInfo): void;
  /** Runs the handler of an attempt (e.g. inside a tracing context). Must call `run` once and return what it returns. */
  runStepAttempt?<T>(attempt: StepAttemptInfo, run: () => T): T;
  stepAttemptEnded?(attempt: StepAttemptInfo, end: StepAttemptEnd): void;
}

type NotifyHook = Exclude<keyof Instrumentation, 'attach' | 'runStepAttempt'>;

const NOTIFY_HOOKS: readonly NotifyHook[] = [
  'sagaStarted',
  'sagaTransition',
  'sagaSettled',
  'stepEnded',
  'stuckChecked',
  'stepAttemptStarted',
  'stepAttemptEnded',
];

/**
 * One instrumentation out of several (or one), with each hook present only if some member has it,
 * so an engine without instrumentation pays one property check per hook site. A notification hook
 * that throws is reported to `onError` and the others still run; `runStepAttempt` hooks nest, and
 * what the handler throws goes through them unchanged.
 */
export function combineInstrumentation(
  given: Instrumentation | readonly Instrumentation[] | undefined,
  onError: (error: unknown) => void,
): Instrumentation | undefined {
  const members = (Array.isArray(given) ? [...given] : given ? [given] : []) as Instrumentation[];
  if (members.length === 0) return undefined;
  const combined: Instrumentation = {};
  for (const hook of NOTIFY_HOOKS) {
    const having = members.filter((m) => typeof m[hook] === 'function');
    if (having.length === 0) continue;
    (combined as Record<string, unknown>)[hook] = (...args: unknown[]) => {
      for (const member of having) {
        try {
          (member[hook] as (...a: unknown[]) => void).apply(member, args);
        } catch (error) {
          onError(error);
        }
      }
    };
  }
  const attaching = members.filter((m) => typeof m.attach === 'function');
  if (attaching.length > 0) {
    combined.attach = (engine) => {
      const detach: Array<() => void> = [];
      for (const member of attaching) {
        try {
          const done = member.attach?.(engine);
          if (typeof done === 'function') detach.push(done);
        } catch (error) {
          onError(error);
        }
      }
      return () => {
        for (const done of detach) {
          try {
            done();
          } catch (error) {
            onError(error);
          }
        }
      };
    };
  }
  const wrapping = members.filter((m) => typeof m.runStepAttempt === 'function');
  if (wrapping.length > 0) {
    combined.runStepAttempt = <T>(attempt: StepAttemptInfo, run: () => T): T =>
      wrapping.reduceRight<() => T>(
        (next, member) => () =>
          (member.runStepAttempt as NonNullable<Instrumentation['runStepAttempt']>)(attempt, next),
        run,
      )();
  }
  return combined;
}
