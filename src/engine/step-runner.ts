import type { Clock } from '../clock.ts';
import { HandlerMissingError, StepTimeoutError, TerminalError } from '../errors.ts';
import type { AttemptRunner, StepJob } from '../transport/step-queue.ts';
import type { HandlerRegistry, StepContext } from './handlers.ts';

/**
 * Runs one attempt of a step job with the registered handlers: builds the handler's context, aborts
 * its signal when the attempt's timeout passes, and turns the output into JSON, the form every store
 * keeps. The same runner serves the in-process queue and BullMQ workers, so handlers see the same
 * `ctx` everywhere.
 */
export function createStepRunner(handlers: HandlerRegistry, clock: Clock): AttemptRunner {
  return async (job: StepJob, attempt: number) => {
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
    try {
      const output = await Promise.race([Promise.resolve().then(() => fn(ctx as never)), timeout]);
      return toJson(output, job);
    } finally {
      clock.clearTimeout(timer);
    }
  };
}

function toJson(output: unknown, job: StepJob): unknown {
  if (output === undefined) return undefined;
  try {
    return JSON.parse(JSON.stringify(output));
  } catch (cause) {
    throw new TerminalError(
      `step "${job.step}" of saga "${job.sagaName}" returned a value that cannot be stored as JSON (${String(cause)}); return plain data`,
      { cause },
    );
  }
}
