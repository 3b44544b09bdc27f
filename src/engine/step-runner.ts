import type { Clock } from '../clock.ts';
import { HandlerMissingError, SagaError, StepTimeoutError, TerminalError } from '../errors.ts';
import { describeJsonProblem, findNonJson } from '../json-value.ts';
import { type Instrumentation, isTraceCarrier, type StepAttemptInfo } from '../observability/instrumentation.ts';
import { toError } from '../transport/error-info.ts';
import type { AttemptRunner, StepJob } from '../transport/step-queue.ts';
import type { HandlerRegistry, StepContext } from './handlers.ts';

/**
 * Runs one attempt of a step job with the registered handlers: builds the handler's context, aborts
 * its signal when the attempt's timeout passes, and checks that the result is plain JSON (see
 * `src/json-value.ts`), the form every store keeps. The same runner serves the in-process queue and
 * BullMQ workers, so handlers see the same `ctx` everywhere. It only ever rejects with an Error:
 * anything else a handler throws is wrapped (see toError), so every queue can count the attempt.
 * With an `instrumentation`, each attempt is reported (`stepAttemptStarted` / `stepAttemptEnded`)
 * and its handler runs inside `runStepAttempt` (e.g. a tracing span).
 */
export function createStepRunner(
  handlers: HandlerRegistry,
  clock: Clock,
  instrumentation?: Instrumentation,
): AttemptRunner {
  const run = createAttemptRunner(handlers, clock, instrumentation);
  const hooks = instrumentation;
  if (!hooks?.stepAttemptStarted && !hooks?.stepAttemptEnded && !hooks?.runStepAttempt) return run;
  return async (job: StepJob, attempt: number) => {
    const info: StepAttemptInfo = {
      sagaId: job.sagaId,
      sagaName: job.sagaName,
      step: job.step,
      direction: job.direction,
      round: job.round,
      attempt,
      ...(isTraceCarrier(job.trace) ? { trace: job.trace } : {}),
    };
    const started = clock.now();
    hooks.stepAttemptStarted?.(info);
    try {
      const result = await run(job, attempt, info);
      hooks.stepAttemptEnded?.(info, { outcome: 'done', durationMs: clock.now() - started });
      return result;
    } catch (error) {
      // The runner only rejects with Errors (see below); a timeout is told apart by its code.
      const outcome = error instanceof SagaError && error.code === 'STEP_TIMEOUT' ? 'timeout' : 'failed';
      hooks.stepAttemptEnded?.(info, { outcome, durationMs: clock.now() - started, error: error as Error });
      throw error;
    }
  };
}

function createAttemptRunner(handlers: HandlerRegistry, clock: Clock, instrumentation: Instrumentation | undefined) {
  const around = instrumentation?.runStepAttempt;
  return async (job: StepJob, attempt: number, info?: StepAttemptInfo) => {
    const handler = handlers[job.sagaName]?.[job.step];
    const fn = job.direction === 'run' ? handler?.run : handler?.compensate;
    if (typeof fn !== 'function') {
      // Terminal (see isTerminalError): retrying cannot make code appear in this process.
      throw new HandlerMissingError(`no ${job.direction} handler for step "${job.step}" of saga "${job.sagaName}"`);
    }
    const controller = new AbortController();
    const ctx: StepContext & { result?: unknown } = {
      sagaId: job.sagaId,
      sagaName: job.sagaName,
      step: job.step,
      input: job.input,
      results: job.results,
      attempt,
      idempotencyKey: job.idempotencyKey,
      signal: controller.signal,
      ...(job.direction === 'compensate' ? { result: job.result } : {}),
    };
    let timer: unknown;
    const timeout = new Promise<never>((_, reject) => {
      timer = clock.setTimeout(() => {
        const error = new StepTimeoutError(job.step, job.policy.timeoutMs);
        controller.abort(error);
        reject(error);
      }, job.policy.timeoutMs);
    });
    let output: unknown;
    try {
      const call = () => fn(ctx as never);
      const handled = around && info ? () => around(info, call) : call;
      output = await Promise.race([Promise.resolve().then(handled), timeout]);
    } catch (thrown) {
      throw toError(thrown);
    } finally {
      clock.clearTimeout(timer);
    }
    // Nothing reads what a compensation returns (the machine keeps only forward results), so it is
    // dropped rather than checked: an undo that returns, say, a Date must not escalate the saga.
    return job.direction === 'run' ? storableResult(output, job) : undefined;
  };
}

/**
 * The result as it will be stored, or a TerminalError when it is not plain JSON: the same code
 * would return the same kind of value on every retry. `undefined` means "no result".
 */
function storableResult(output: unknown, job: StepJob): unknown {
  if (output === undefined) return undefined;
  const found = findNonJson(output);
  if (found) {
    throw new TerminalError(
      `step "${job.step}" of saga "${job.sagaName}" returned a result that cannot be stored: ${describeJsonProblem('result', found)}`,
    );
  }
  // A copy even though the result is proven JSON: the embedded engine keeps the result in the
  // hosted actor's context (the memory store copies only the snapshot text it stores), so a handler
  // that kept a reference could otherwise change what later steps see, until the next reload. The
  // copy also drops properties holding undefined, and turns -0 into 0, exactly as a trip through
  // Redis does, so later steps see the same result on both backends.
  return JSON.parse(JSON.stringify(output));
}
