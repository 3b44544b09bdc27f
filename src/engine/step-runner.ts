import type { Clock } from '../clock.ts';
import {
  HandlerMissingError,
  isTerminalError,
  SagaError,
  StepNotDoneError,
  StepTimeoutError,
  TerminalError,
} from '../errors.ts';
import { copyJson, describeJsonProblem, findNonJson } from '../json-value.ts';
import { type Instrumentation, isTraceCarrier, type StepAttemptInfo } from '../observability/instrumentation.ts';
import { describeValue, toError } from '../transport/error-info.ts';
import { idempotencyKeyOf } from '../transport/job-id.ts';
import { VerifiedResult } from '../transport/step-outcome.ts';
import type { AttemptOptions, AttemptRunner, StepJob } from '../transport/step-queue.ts';
import type { HandlerRegistry, StepContext, VerifyAnswer } from './handlers.ts';

/**
 * Runs one attempt of a step job with the registered handlers: builds the handler's context, aborts
 * its signal when the attempt's timeout passes, and checks that the result is plain JSON (see
 * `src/json-value.ts`), the form every store keeps. A step whose handler has `verify` reads the
 * participant back instead of writing again after an attempt that may have taken effect, and
 * when its last attempt ends in doubt (a `{ done: true }` answer resolves the attempt with a
 * {@link VerifiedResult}; `{ done: false }` fails it with StepNotDoneError, a definite "not done"). The same runner serves the in-process queue and
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
  if (!hooks?.stepAttemptStarted && !hooks?.stepAttemptEnded && !hooks?.runStepAttempt) {
    return (job, attempt, options) => run(job, attempt, undefined, options?.rerun);
  }
  return async (job: StepJob, attempt: number, options?: AttemptOptions) => {
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
      const result = await run(job, attempt, info, options?.rerun);
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
  return async (job: StepJob, attempt: number, info?: StepAttemptInfo, rerun = false) => {
    // A dynamic saga's handlers are its tools': a step is named after the tool it runs.
    const handler = handlers[job.sagaName]?.[job.tool ?? job.step];
    const fn = job.direction === 'run' ? handler?.run : handler?.compensate;
    if (typeof fn !== 'function') {
      // Terminal (see isTerminalError): retrying cannot make code appear in this process.
      throw new HandlerMissingError(`no ${job.direction} handler for step "${job.step}" of saga "${job.sagaName}"`);
    }
    const call = (body: (ctx: never) => unknown) =>
      callHandler(job, attempt, clock, body, around && info && ((run) => around(info, run)));
    if (job.direction === 'compensate') {
      await call(fn as (ctx: never) => unknown);
      // Nothing reads what a compensation returns (the machine keeps only forward results), so it is
      // dropped rather than checked: an undo that returns, say, a Date must not escalate the saga.
      return undefined;
    }
    const verify = typeof handler?.verify === 'function' ? handler.verify : undefined;
    if (!verify) return storableResult(await call(fn as (ctx: never) => unknown), job);
    const readBack = async () => checkVerifyAnswer(await call(verify as (ctx: never) => unknown), job);
    // An earlier attempt (or an earlier run of this one, by a worker that died) may have taken
    // effect: read the participant back before writing again.
    if (attempt > 1 || rerun) {
      const answer = await readBack();
      if (answer.done) return new VerifiedResult(storableResult(answer.result, job));
    }
    let output: unknown;
    try {
      output = await call(fn as (ctx: never) => unknown);
    } catch (thrown) {
      const error = toError(thrown);
      if (attempt < job.policy.attempts || isTerminalError(error)) throw error;
      // The last attempt ended in doubt and no later attempt will read back: verify decides now.
      // A verify that fails too leaves the step in doubt, with the run's own error.
      const answer = await readBack().catch(() => {
        throw error;
      });
      if (answer.done) return new VerifiedResult(storableResult(answer.result, job));
      throw new StepNotDoneError(job.step, `after: ${error.message}`, { cause: error });
    }
    if (job.verify === 'always') {
      const answer = await readBack();
      if (!answer.done) throw new StepNotDoneError(job.step, 'run returned, but the participant shows no effect');
    }
    return storableResult(output, job);
  };
}

/**
 * One call of a handler function (`run`, `compensate` or `verify`) with a context of its own: its
 * signal aborts when `job.policy.timeoutMs` passes, and the call then rejects with StepTimeoutError.
 * Only ever rejects with an Error (see toError).
 */
async function callHandler(
  job: StepJob,
  attempt: number,
  clock: Clock,
  body: (ctx: never) => unknown,
  around: ((run: () => unknown) => unknown) | undefined,
): Promise<unknown> {
  // The signal is made when the handler first reads it: most handlers never do, and creating an
  // AbortController (about 2 µs) costs more than the rest of setting up the attempt. One made
  // after the timeout is handed over already aborted, with the same reason.
  let controller: AbortController | undefined;
  let timedOut: StepTimeoutError | undefined;
  const ctx: StepContext & { result?: unknown; inDoubt?: boolean; runIdempotencyKey?: string; args?: unknown } = {
    sagaId: job.sagaId,
    sagaName: job.sagaName,
    step: job.step,
    input: job.input,
    results: job.results,
    attempt,
    idempotencyKey: job.idempotencyKey,
    get signal() {
      if (!controller) {
        controller = new AbortController();
        if (timedOut) controller.abort(timedOut);
      }
      return controller.signal;
    },
  };
  // A dynamic saga's step: its tool's handlers see the arguments the agent gave.
  if (job.tool !== undefined) ctx.args = job.args;
  if (job.direction === 'compensate') {
    ctx.result = job.result;
    ctx.inDoubt = job.inDoubt === true;
    ctx.runIdempotencyKey = idempotencyKeyOf(job.sagaId, job.step, 'run');
  }
  let timer: unknown;
  try {
    // One promise settled by whichever comes first, the handler or the timeout (cheaper than a
    // race between two): a late outcome of the other is ignored.
    return await new Promise<unknown>((resolve, reject) => {
      timer = clock.setTimeout(() => {
        timedOut = new StepTimeoutError(job.step, job.policy.timeoutMs);
        controller?.abort(timedOut);
        reject(timedOut);
      }, job.policy.timeoutMs);
      // The handler starts in a microtask of its own; what it throws at once is a rejection too.
      queueMicrotask(() => {
        try {
          const result = around ? around(() => body(ctx as never)) : body(ctx as never);
          Promise.resolve(result).then(resolve, reject);
        } catch (thrown) {
          reject(thrown);
        }
      });
    });
  } catch (thrown) {
    throw toError(thrown);
  } finally {
    clock.clearTimeout(timer);
  }
}

/** A verify answer, checked: anything but `{ done: boolean }` leaves the step in doubt. */
function checkVerifyAnswer(value: unknown, job: StepJob): VerifyAnswer {
  if (typeof value === 'object' && value !== null && typeof (value as { done?: unknown }).done === 'boolean') {
    return value as VerifyAnswer;
  }
  throw new Error(
    `verify of step "${job.step}" of saga "${job.sagaName}" returned ${describeValue(value)}; expected { done: true, result? } or { done: false }`,
  );
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
  return copyJson(output);
}
