import {
  type Context,
  context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapPropagator,
  type Tracer,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';
import { SagaStates } from '../vocabulary/states.ts';
import type {
  Instrumentation,
  SagaSettledInfo,
  SagaStartedInfo,
  SagaTransitionInfo,
  StepAttemptEnd,
  StepAttemptInfo,
  TraceCarrier,
} from './instrumentation.ts';

/** Options of {@link createTracing}. */
export interface TracingOptions {
  /** Where spans go. Default: the global provider (`trace.getTracerProvider()`), looked up per span. */
  tracerProvider?: TracerProvider;
  /** How the saga's context is written into step jobs. Default: the global one (`propagation`). */
  propagator?: TextMapPropagator;
  /**
   * Saga spans kept open in this process until their saga settles here. Beyond it the oldest is
   * ended early, marked `xsaga.saga.open: true`. Default 10 000.
   */
  maxOpenSagaSpans?: number;
}

/** Span attribute names, in one place. */
export const TraceAttributes = {
  sagaName: 'xsaga.saga.name',
  sagaId: 'xsaga.saga.id',
  sagaVersion: 'xsaga.saga.version',
  sagaState: 'xsaga.saga.state',
  /** True on a saga span ended before its saga settled here (engine closed, or too many open). */
  sagaOpen: 'xsaga.saga.open',
  step: 'xsaga.step',
  direction: 'xsaga.step.direction',
  attempt: 'xsaga.step.attempt',
  round: 'xsaga.step.round',
  outcome: 'xsaga.step.outcome',
} as const;

interface AttemptSpan {
  span: Span;
  context: Context;
}

/**
 * OpenTelemetry tracing of sagas, through `@opentelemetry/api` only: with no SDK registered every
 * call is a no-op and nothing is carried in jobs.
 *
 * - `saga <name>`: one span per saga, from `engine.start` (a child of the caller's active span) to
 *   its settle (`Completed`, `Failed`, `Escalated`: status ERROR for the last two), with one event
 *   per transition. Its context (`traceparent`) is written into every step job and carried back
 *   by its outcome, so whichever engine dispatches the next step keeps the trace.
 * - `step <step>` / `compensate <step>`: one span per attempt, in the process that runs it, a child
 *   of the saga span taken from the job (never from the worker's active context), with the handler
 *   run inside it (its own spans nest under it when a context manager is registered). Attributes:
 *   saga name and id, step, direction, attempt, round, outcome (`done`, `failed`, `timeout`);
 *   a failure is recorded with `recordException` and status ERROR.
 *
 * A saga span is a live object: it is ended by the process that started it, when that process
 * applies the settling transition (always so embedded). When another engine settles the saga, that
 * engine records a short `saga <name> settled` span under the saga's context instead, and the
 * starting engine ends its span when it closes or has too many open (`xsaga.saga.open: true`).
 *
 * @example
 * ```ts
 * const tracing = createTracing(); // after the OpenTelemetry SDK is set up
 * const engine = createEngine({ handlers, instrumentation: tracing });
 * const worker = createWorker({ handlers, instrumentation: tracing }); // in worker processes
 * ```
 */
export function createTracing(options: TracingOptions = {}): Instrumentation {
  const provider = options.tracerProvider;
  const propagator = options.propagator;
  const maxOpen = options.maxOpenSagaSpans ?? 10_000;
  let tracer: Tracer | undefined;
  // A ProxyTracer of the global provider follows an SDK registered after this call.
  const tracerOf = () => {
    tracer ??= (provider ?? trace.getTracerProvider()).getTracer('xsaga');
    return tracer;
  };
  const inject = (ctx: Context, carrier: TraceCarrier) =>
    propagator ? propagator.inject(ctx, carrier, defaultTextMapSetter) : propagation.inject(ctx, carrier);
  const extract = (carrier: TraceCarrier) =>
    propagator
      ? propagator.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter)
      : propagation.extract(ROOT_CONTEXT, carrier);
  /** Saga spans this process started and has not ended, oldest first. */
  const open = new Map<string, Span>();
  const attempts = new WeakMap<StepAttemptInfo, AttemptSpan>();

  const endOpen = (sagaId: string, span: Span) => {
    open.delete(sagaId);
    span.setAttribute(TraceAttributes.sagaOpen, true);
    span.end();
  };

  return {
    attach() {
      return () => {
        for (const [sagaId, span] of open) endOpen(sagaId, span);
      };
    },

    sagaStarted(saga: SagaStartedInfo, carrier: TraceCarrier) {
      const span = tracerOf().startSpan(
        `saga ${saga.name}`,
        {
          kind: SpanKind.INTERNAL,
          attributes: {
            [TraceAttributes.sagaName]: saga.name,
            [TraceAttributes.sagaId]: saga.sagaId,
            [TraceAttributes.sagaVersion]: saga.version,
          },
        },
        context.active(),
      );
      inject(trace.setSpan(context.active(), span), carrier);
      if (!span.isRecording()) return;
      open.set(saga.sagaId, span);
      if (open.size > maxOpen) {
        const [oldestId, oldest] = open.entries().next().value as [string, Span];
        endOpen(oldestId, oldest);
      }
    },

    sagaTransition(transition: SagaTransitionInfo) {
      open.get(transition.sagaId)?.addEvent('transition', {
        'xsaga.transition.from': transition.entry.from,
        'xsaga.transition.to': transition.entry.to,
        'xsaga.transition.event': transition.entry.event,
      });
    },

    sagaSettled(saga: SagaSettledInfo) {
      let span = open.get(saga.sagaId);
      if (span) {
        open.delete(saga.sagaId);
      } else if (saga.trace) {
        // Started by another engine, which holds the saga span: mark the settle in its trace.
        span = tracerOf().startSpan(
          `saga ${saga.name} settled`,
          { kind: SpanKind.INTERNAL, attributes: { [TraceAttributes.sagaId]: saga.sagaId } },
          extract(saga.trace),
        );
      } else {
        return;
      }
      span.setAttribute(TraceAttributes.sagaName, saga.name);
      span.setAttribute(TraceAttributes.sagaState, saga.state);
      if (saga.state !== SagaStates.Completed) {
        const why = saga.escalation
          ? `${saga.escalation.direction === 'run' ? 'forward step' : 'compensation of'} "${saga.escalation.step}" failed: ${saga.escalation.error.message}`
          : (saga.failure?.error?.message ?? saga.failure?.reason ?? saga.state);
        span.setStatus({ code: SpanStatusCode.ERROR, message: `${saga.state}: ${why}` });
      }
      span.end();
    },

    stepAttemptStarted(attempt: StepAttemptInfo) {
      // The parent comes from the job alone: an attempt without a carried context starts a trace.
      const parent = attempt.trace ? extract(attempt.trace) : ROOT_CONTEXT;
      const span = tracerOf().startSpan(
        `${attempt.direction === 'run' ? 'step' : 'compensate'} ${attempt.step}`,
        {
          kind: SpanKind.CONSUMER,
          attributes: {
            [TraceAttributes.sagaName]: attempt.sagaName,
            [TraceAttributes.sagaId]: attempt.sagaId,
            [TraceAttributes.step]: attempt.step,
            [TraceAttributes.direction]: attempt.direction,
            [TraceAttributes.attempt]: attempt.attempt,
            [TraceAttributes.round]: attempt.round,
          },
        },
        parent,
      );
      if (trace.isSpanContextValid(span.spanContext())) {
        attempts.set(attempt, { span, context: trace.setSpan(parent, span) });
      }
    },

    runStepAttempt<T>(attempt: StepAttemptInfo, run: () => T): T {
      const entry = attempts.get(attempt);
      return entry ? context.with(entry.context, run) : run();
    },

    stepAttemptEnded(attempt: StepAttemptInfo, end: StepAttemptEnd) {
      const entry = attempts.get(attempt);
      if (!entry) return;
      attempts.delete(attempt);
      const { span } = entry;
      span.setAttribute(TraceAttributes.outcome, end.outcome);
      if (end.error) {
        span.recordException(end.error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: end.error.message });
      }
      span.end();
    },
  };
}
