import { pivotIndexOf } from '../definition/step-kinds.ts';
import type { AnySagaDefinition, StepDefinition } from '../definition/types.ts';
import { createEngine } from '../engine/create-engine.ts';
import type { CompensationContext, StepContext, StepHandler } from '../engine/handlers.ts';
import { TerminalError } from '../errors.ts';
import type { Direction } from '../vocabulary/events.ts';
import type { SagaState } from '../vocabulary/states.ts';
import { expectedEnding, positionOf } from './expected-rollback.ts';
import { withInstantRetries } from './instant-retries.ts';
import { seededRandom } from './seeded-random.ts';

/** Options of {@link checkCompensationAtEveryIndex}. */
export interface CompensationCheckOptions {
  /** A valid input for the saga (default `{}`). */
  input?: unknown;
  /**
   * Also fail attempts transiently, fewer times than each step's retry policy allows, so every
   * retry path is exercised while the outcome stays the same. Default true.
   */
  transientFailures?: boolean;
  /** Seed of the transient failures. Default 1. */
  seed?: number;
  /**
   * Also fail each step in doubt: every attempt throws a plain Error (as a timeout or a lost
   * connection would), so the run may or may not have happened as far as xsaga knows. Default true.
   */
  inDoubtFailures?: boolean;
  /**
   * The payload each wait gets when the saga parks at it, by wait name (checked by its schema): a
   * saga with waits needs one for each. Waits are not failure points (their rejections and
   * deadlines are `createSagaTestModel`'s part); sleeps end at once.
   */
  signals?: Record<string, unknown>;
}

/** How a run's failing step fails: definitely (a TerminalError), or in doubt on every attempt. */
export type InjectedFailure = 'terminal' | 'inDoubt';

/** One handler call seen by the check. */
export interface HandlerCall {
  step: string;
  direction: Direction;
  attempt: number;
  idempotencyKey: string;
  outcome: 'ok' | 'transient' | 'terminal' | 'inDoubt';
  /** For a compensation: whether the handler was told the step's run was in doubt. */
  inDoubt?: boolean;
}

/** What one run (one failure index) did. */
export interface CompensationRun {
  /** Index of the step that failed, or `undefined` for the run with no failure. */
  failAt: number | undefined;
  /** How the step at `failAt` failed. */
  failure: InjectedFailure;
  /** Steps whose `verify` was called, in call order (it reads back; it is not an attempt). */
  verifications: string[];
  state: SagaState;
  completed: string[];
  compensations: string[];
  calls: HandlerCall[];
}

/**
 * Runs the saga through the real embedded engine once per step index k, with a terminal failure
 * injected at step k, once more per k with an in-doubt failure (every attempt throws a plain Error,
 * as a timeout would), plus one run with no failure, wrapping your handlers. An in-doubt step is
 * read back by your `verify` when it has one (which must answer `{ done: false }`: the check never
 * let the run happen), else handled by its `inDoubt` policy: compensated first, with
 * `ctx.inDoubt`, or escalated. Checks on every run:
 * compensations are the steps completed before k, newest first, skipping non-compensable ones;
 * the saga ends `Failed` (`Completed` when nothing failed; `Escalated` as a forward failure, with
 * nothing compensated, when k comes after the pivot); nothing at or after the pivot is ever
 * compensated; each idempotency key is retried only
 * with rising attempt numbers. Throws an Error describing the first run that broke a rule.
 *
 * What it assumes of your handlers (a run that breaks an assumption fails the check, and the
 * message says how the saga ended, e.g. `ended Failed, expected Completed`):
 *
 * - **With nothing injected, every step succeeds.** Your `run` handlers are really called, with a
 *   valid `input` (`options.input`, checked by the saga's schema; default `{}`), and must return
 *   (plain JSON, see the JSON rule) rather than throw. The check injects the failures itself.
 * - **Compensations succeed.** Your `compensate` handlers are really called, with `ctx.result` what
 *   your `run` returned, and must not throw: one that throws on every attempt escalates the saga
 *   (`ended Escalated`). Transient failures of compensations are injected, not expected of you.
 * - **Injected failures replace the call.** At the failing step k your `run` is never called (a
 *   `TerminalError` is thrown instead); an injected transient failure is thrown before your handler
 *   is called, so each handler runs once per step and direction on each run, on its last attempt
 *   (`ctx.attempt` > 1 when transient failures came first). Transient failures per step are fewer
 *   than its retry `attempts` (none for a step with one attempt), seeded by `options.seed`.
 * - **Deterministic enough.** The saga is run n + 1 times (n steps), each with a new saga id (so new
 *   idempotency keys), with the same handler objects: state your handlers keep (a fake participant's
 *   ledger) carries from one run to the next, and they must behave the same on each run. Only the
 *   order of completions and compensations is checked, not the values handlers return.
 * - **No real I/O is needed, and whatever I/O they do happens.** The check runs in this process,
 *   on the memory store and in-process queue, with the system clock: handlers that call real
 *   participants call them, n + 1 times; point them at fakes or a sandbox. A handler that hangs
 *   waits out its step's `timeoutMs` (default 30 s) and then counts as a failed attempt.
 * - **Instant retries.** Backoff delays are 0 ({@link withInstantRetries}); attempts and timeouts
 *   are the definition's.
 *
 * It does not exercise cancel, resume/resolve, timeouts or in-doubt steps: `createSagaTestModel`
 * covers the machine's paths (without your handlers).
 *
 * @example
 * ```ts
 * it('compensates in reverse at every failure point', async () => {
 *   await checkCompensationAtEveryIndex(trip, tripHandlers, { input: { tripId: 't1' } });
 * });
 * ```
 */
export async function checkCompensationAtEveryIndex(
  definition: AnySagaDefinition,
  handlers: Record<string, StepHandler<never>>,
  options: CompensationCheckOptions = {},
): Promise<CompensationRun[]> {
  if (definition.dynamic) {
    throw new Error(
      `saga "${definition.name}" is dynamic: its steps come from its agent at run time, so there is no index to fail at; check it with createSagaTestModel(saga, { maxSteps })`,
    );
  }
  const runs: CompensationRun[] = [];
  const failures: InjectedFailure[] = options.inDoubtFailures === false ? ['terminal'] : ['terminal', 'inDoubt'];
  const plan: Array<[number | undefined, InjectedFailure]> = [
    ...failures.flatMap((failure) =>
      definition.steps.filter((s) => s.wait === undefined).map((s): [number, InjectedFailure] => [s.index, failure]),
    ),
    [undefined, 'terminal'],
  ];
  for (const [failAt, failure] of plan) {
    const run = await runOnce(definition, handlers, failAt, failure, options);
    const problems = checkRun(definition, handlers, run);
    if (problems.length > 0) {
      const how = failure === 'inDoubt' ? 'failing in doubt' : 'failing';
      const where = failAt === undefined ? 'with no failure' : `with step "${definition.steps[failAt]?.name}" ${how}`;
      throw new Error(`saga "${definition.name}" ${where}: ${problems.join('; ')}`);
    }
    runs.push(run);
  }
  return runs;
}

async function runOnce(
  definition: AnySagaDefinition,
  handlers: Record<string, StepHandler<never>>,
  failAt: number | undefined,
  failure: InjectedFailure,
  options: CompensationCheckOptions,
): Promise<CompensationRun> {
  const random = seededRandom((options.seed ?? 1) + (failAt ?? definition.steps.length) * 7919);
  const calls: HandlerCall[] = [];
  const verifications: string[] = [];
  const completed: string[] = [];
  const compensations: string[] = [];
  const transients = options.transientFailures ?? true;
  const failuresFor = (attempts: number) => (transients ? Math.floor(random() * attempts) : 0);
  const wrapped = Object.fromEntries(
    definition.steps
      .filter((step) => step.wait === undefined)
      .map((step: StepDefinition) => {
        const original = handlers[step.name] as StepHandler<unknown> | undefined;
        const runFailures = failuresFor(step.run.attempts);
        const compensationFailures = step.compensation ? failuresFor(step.compensation.attempts) : 0;
        const handler: StepHandler<unknown> = {
          run: async (ctx: StepContext<unknown>) => {
            if (step.index === failAt && failure === 'inDoubt') {
              calls.push(call(step, 'run', ctx, 'inDoubt'));
              throw new Error(`injected in-doubt failure at step "${step.name}" (it may or may not have happened)`);
            }
            if (step.index === failAt) {
              calls.push(call(step, 'run', ctx, 'terminal'));
              throw new TerminalError(`injected terminal failure at step "${step.name}"`);
            }
            if (ctx.attempt <= runFailures) {
              calls.push(call(step, 'run', ctx, 'transient'));
              throw new Error(`injected transient failure at step "${step.name}"`);
            }
            const output = await original?.run(ctx);
            calls.push(call(step, 'run', ctx, 'ok'));
            completed.push(step.name);
            return output;
          },
          // Only where the definition compensates: a compensate handler on any other step is refused.
          ...(step.compensation && {
            compensate: async (ctx: CompensationContext<unknown>) => {
              if (ctx.attempt <= compensationFailures) {
                calls.push(call(step, 'compensate', ctx, 'transient'));
                throw new Error(`injected transient failure compensating "${step.name}"`);
              }
              await original?.compensate?.(ctx);
              calls.push({ ...call(step, 'compensate', ctx, 'ok'), inDoubt: ctx.inDoubt });
              compensations.push(step.name);
            },
          }),
          ...(original?.verify && {
            verify: async (ctx: StepContext<unknown>) => {
              verifications.push(step.name);
              return (original.verify as NonNullable<StepHandler<unknown>['verify']>)(ctx);
            },
          }),
        };
        return [step.name, handler];
      }),
  );
  const fast = withInstantRetries(definition);
  const engine = createEngine({ handlers: { [definition.name]: wrapped } });
  // A saga parked at a wait gets its payload from `signals` (sleeps are instant here); the wait then
  // counts as completed, in order, as the step it is.
  const signalled: Promise<unknown>[] = [];
  let unsignalled: Error | undefined;
  engine.on('transition', (entry) => {
    const step = definition.steps.find((s) => entry.to === `Pending.${s.name}`);
    if (!step?.wait) return;
    if (step.wait.type === 'sleep') {
      completed.push(step.name);
      return;
    }
    if (!options.signals || !(step.name in options.signals)) {
      unsignalled = new Error(
        `saga "${definition.name}" waits for signal "${step.name}": give checkCompensationAtEveryIndex a payload for it in options.signals`,
      );
      void engine.cancel(entry.sagaId).catch(() => undefined);
      return;
    }
    completed.push(step.name);
    signalled.push(engine.signal(entry.sagaId, step.name, options.signals[step.name]));
  });
  try {
    const { sagaId } = await engine.start(fast, options.input ?? {});
    const view = await engine.waitFor(sagaId);
    await Promise.all(signalled);
    if (unsignalled) throw unsignalled;
    return { failAt, failure, state: view.state, completed, compensations, calls, verifications };
  } finally {
    await engine.close();
  }
}

function call(
  step: StepDefinition,
  direction: Direction,
  ctx: StepContext<unknown>,
  outcome: HandlerCall['outcome'],
): HandlerCall {
  return { step: step.name, direction, attempt: ctx.attempt, idempotencyKey: ctx.idempotencyKey, outcome };
}

function checkRun(
  definition: AnySagaDefinition,
  handlers: Record<string, StepHandler<never>>,
  run: CompensationRun,
): string[] {
  const problems: string[] = [];
  const failing = run.failAt === undefined ? undefined : definition.steps[run.failAt];
  const verifies = failing !== undefined && typeof handlers[failing.name]?.verify === 'function';
  const expected = expectedEnding(definition, run.failAt, run.failure === 'inDoubt' && !verifies, run.completed);
  const expectedCompleted = expected.completed;
  const expectedCompensations = expected.compensations;
  if (run.state !== expected.state) {
    problems.push(`ended ${run.state}, expected ${expected.state}`);
    if (verifies && run.failure === 'inDoubt' && run.state === 'Completed') {
      problems.push(`verify of step "${failing?.name}" answered done, but the check never let its run happen`);
    }
  }
  // Only the step whose run ended in doubt is undone in doubt; a completed step's undo is not.
  for (const c of run.calls) {
    if (c.direction !== 'compensate' || c.outcome !== 'ok') continue;
    const shouldDoubt = run.failure === 'inDoubt' && c.step === failing?.name;
    if (c.inDoubt !== shouldDoubt) {
      problems.push(`compensation of ${c.step} got ctx.inDoubt ${c.inDoubt}, expected ${shouldDoubt}`);
    }
  }
  // The same steps, in definition order but for a parallel group's members, which finish in any order.
  const sameSteps =
    run.completed.length === expectedCompleted.length && expectedCompleted.every((n) => run.completed.includes(n));
  const inOrder = run.completed.every(
    (n, i) => i === 0 || positionOf(definition, n) >= positionOf(definition, run.completed[i - 1] as string),
  );
  if (!sameSteps || !inOrder) {
    problems.push(
      `completed ${run.completed.join(',') || 'nothing'}, expected ${expectedCompleted.join(',') || 'nothing'}`,
    );
  }
  if (run.compensations.join() !== expectedCompensations.join()) {
    problems.push(
      `compensated ${run.compensations.join(',') || 'nothing'}, expected ${expectedCompensations.join(',') || 'nothing'}`,
    );
  }
  const pivotIndex = pivotIndexOf(definition);
  const pastPivot = run.compensations.filter(
    (name) => (definition.steps.find((s) => s.name === name)?.index ?? -1) >= pivotIndex,
  );
  if (pastPivot.length > 0)
    problems.push(`compensated ${pastPivot.join(',')}, at or after the pivot "${definition.pivot}"`);
  const attemptsByKey = new Map<string, number[]>();
  for (const c of run.calls)
    attemptsByKey.set(c.idempotencyKey, [...(attemptsByKey.get(c.idempotencyKey) ?? []), c.attempt]);
  for (const [key, attempts] of attemptsByKey) {
    if (attempts.some((a, i) => a !== i + 1))
      problems.push(`key ${key} ran attempts ${attempts.join(',')}: a handler ran again without a retry`);
  }
  return problems;
}
