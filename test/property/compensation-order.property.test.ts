import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  type AnySagaDefinition,
  createEngine,
  defineSaga,
  type GroupPolicy,
  type SagaView,
  type StepEntry,
  type StepHandler,
  TerminalError,
} from '../../src/index.ts';
import { expectedEnding, positionOf } from '../../src/testing/expected-rollback.ts';
import { withInstantRetries } from '../../src/testing/index.ts';
import { dropPrefix, REDIS_URL } from '../durable/redis-helpers.ts';

/** One random step: compensable or a query, with retry counts, blips, and how it fails when it is the one that fails. */
const stepSpec = fc.record({
  compensate: fc.boolean(),
  attempts: fc.integer({ min: 1, max: 4 }),
  compensationAttempts: fc.integer({ min: 1, max: 4 }),
  /** Transient failures before success, kept below the attempts so they never exhaust them. */
  runBlips: fc.nat({ max: 3 }),
  compensationBlips: fc.nat({ max: 3 }),
  /** When a run injects its failure here: a TerminalError, or a plain Error on every attempt (in doubt). */
  failure: fc.constantFrom('terminal', 'inDoubt'),
  /** How long each attempt of a group member takes, so members complete in varying orders. */
  delayMs: fc.integer({ min: 0, max: 15 }),
});

const policySpec = (size: number): fc.Arbitrary<GroupPolicy> =>
  fc.oneof(
    fc.constantFrom('all' as const, 'any' as const, 'majority' as const),
    fc.integer({ min: 1, max: size }).map((atLeast) => ({ atLeast })),
  );

/** A parallel group of 2-3 members with a random policy, placed before linear step `at` (modulo). */
const groupSpec = fc.integer({ min: 2, max: 3 }).chain((size) =>
  fc.record({
    members: fc.array(stepSpec, { minLength: size, maxLength: size }),
    policy: policySpec(size),
    at: fc.nat(),
  }),
);

/** A random saga shape: 1..maxLength linear steps and, most of the time, one parallel group among them. */
const sagaSpec = (maxLength: number) =>
  fc.record({
    steps: fc.array(stepSpec, { minLength: 1, maxLength }),
    group: fc.option(groupSpec, { nil: undefined, freq: 3 }),
  });

type StepSpec = typeof stepSpec extends fc.Arbitrary<infer T> ? T : never;
type Spec = ReturnType<typeof sagaSpec> extends fc.Arbitrary<infer T> ? T : never;

/** A step of the shape in definition order, named `s<index>`; `member` when it is in the group `g`. */
interface FlatStep extends StepSpec {
  name: string;
  member: boolean;
}

/** The shape's steps in definition order (the group's members one after another), and its definition. */
function build(spec: Spec): { steps: FlatStep[]; definition: AnySagaDefinition } {
  const steps: FlatStep[] = [];
  const entries: StepEntry[] = [];
  const config = (s: FlatStep) => ({
    name: s.name,
    retry: { attempts: s.attempts },
    ...(s.compensate ? { compensate: { retry: { attempts: s.compensationAttempts } } } : { kind: 'query' as const }),
  });
  const add = (s: StepSpec, member: boolean) => {
    const step = { ...s, name: `s${steps.length}`, member };
    steps.push(step);
    return step;
  };
  const groupAt = spec.group ? spec.group.at % (spec.steps.length + 1) : -1;
  for (let i = 0; i <= spec.steps.length; i++) {
    if (i === groupAt && spec.group) {
      const members = spec.group.members.map((m) => config(add(m, true)));
      entries.push({ group: 'g', policy: spec.group.policy, parallel: members });
    }
    const linear = spec.steps[i];
    if (linear) entries.push(config(add(linear, false)));
  }
  const definition = withInstantRetries(
    defineSaga({ name: 'property', version: 1, input: z.object({}), steps: entries }),
  );
  return { steps, definition };
}

/** Members a policy needs, worked out here rather than read from the definition. */
function neededOf(policy: GroupPolicy, size: number): number {
  if (policy === 'all') return size;
  if (policy === 'any') return 1;
  if (policy === 'majority') return Math.floor(size / 2) + 1;
  return policy.atLeast;
}

/** Which backend the property runs on. */
type Backend = { kind: 'embedded' } | { kind: 'redis'; prefix: string };

/** One handler call, in the order calls were made. */
interface Effect {
  step: string;
  direction: 'run' | 'compensate';
  key: string;
  attempt: number;
  ok: boolean;
  /** What a compensation was told in `ctx.inDoubt`. */
  inDoubt?: boolean;
}

/** An injected failure: the step index and how it fails. */
interface Injected {
  at: number;
  failure: 'terminal' | 'inDoubt';
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function runWithFailure(
  steps: readonly FlatStep[],
  definition: AnySagaDefinition,
  injected: Injected | undefined,
  backend: Backend,
): Promise<{ view: SagaView; effects: Effect[]; completedOrder: string[] }> {
  const effects: Effect[] = [];
  /** Steps whose run returned, in the order their handlers returned. */
  const completedOrder: string[] = [];
  const handlers = Object.fromEntries(
    steps.map((s, i): [string, StepHandler] => [
      s.name,
      {
        run: async (ctx) => {
          if (s.member) await sleep(s.delayMs);
          const blip = ctx.attempt <= Math.min(s.runBlips, s.attempts - 1);
          const fails = i === injected?.at;
          effects.push({
            step: ctx.step,
            direction: 'run',
            key: ctx.idempotencyKey,
            attempt: ctx.attempt,
            ok: !fails && !blip,
          });
          if (fails && injected.failure === 'terminal') throw new TerminalError('injected');
          if (fails) throw new Error('injected in doubt: it may or may not have happened');
          if (blip) throw new Error('transient');
          completedOrder.push(ctx.step);
          return { step: i };
        },
        compensate: !s.compensate
          ? undefined
          : (ctx) => {
              const blip = ctx.attempt <= Math.min(s.compensationBlips, s.compensationAttempts - 1);
              effects.push({
                step: ctx.step,
                direction: 'compensate',
                key: ctx.idempotencyKey,
                attempt: ctx.attempt,
                ok: !blip,
                inDoubt: ctx.inDoubt,
              });
              if (blip) throw new Error('transient');
            },
      },
    ]),
  );
  const engine =
    backend.kind === 'embedded'
      ? createEngine({ handlers: { property: handlers } })
      : createEngine({ redis: { connection: REDIS_URL, prefix: backend.prefix }, handlers: { property: handlers } });
  try {
    const { sagaId } = await engine.start(definition, {});
    const view = await engine.waitFor(sagaId, { timeoutMs: 10_000 });
    return { view, effects, completedOrder };
  } finally {
    await engine.close();
  }
}

/** Checks one run against the facts worked out from the shape, then against the `expectedEnding` oracle. */
function checkRun(
  spec: Spec,
  steps: readonly FlatStep[],
  definition: AnySagaDefinition,
  injected: Injected | undefined,
  run: { view: SagaView; effects: Effect[]; completedOrder: string[] },
): void {
  const { view, effects, completedOrder } = run;
  const failing = injected === undefined ? undefined : steps[injected.at];
  const members = steps.filter((s) => s.member).map((s) => s.name);
  const byName = new Map(steps.map((s) => [s.name, s]));
  const compensable = (name: string) => byName.get(name)?.compensate === true;
  const needed = spec.group ? neededOf(spec.group.policy, members.length) : 0;
  // The group absorbs its member's failure when the other members still meet its policy.
  const absorbed = failing?.member === true && members.length - 1 >= needed;
  const rolledBack = failing !== undefined && !absorbed;
  // In doubt, a compensable step may have taken effect: it is undone first, told so. A query changed nothing.
  const undoneInDoubt = failing && injected?.failure === 'inDoubt' && failing.compensate ? [failing.name] : [];

  // What must have completed: every step before the failing one's position, the failing step's
  // fellow members (the group waits for all), and everything but the failing step when absorbed.
  const failingPosition = failing ? positionOf(definition, failing.name) : Number.POSITIVE_INFINITY;
  const mustComplete = steps
    .map((s) => s.name)
    .filter((name) =>
      absorbed || failing === undefined
        ? name !== failing?.name
        : positionOf(definition, name) < failingPosition ||
          (failing.member && members.includes(name) && name !== failing.name),
    );
  const reverseCompletion = [...completedOrder].reverse();
  const expectedCompensations = [...undoneInDoubt, ...(rolledBack ? reverseCompletion.filter(compensable) : [])];
  const compensations = effects.filter((e) => e.direction === 'compensate' && e.ok).map((e) => e.step);

  if (spec.group) expect(definition.groups[0]?.needed).toBe(needed);
  expect(view.state).toBe(rolledBack ? 'Failed' : 'Completed');
  // The same steps completed; outside the group in definition order, positions never going back.
  expect([...completedOrder].sort()).toEqual([...mustComplete].sort());
  expect(completedOrder.filter((n) => !members.includes(n))).toEqual(mustComplete.filter((n) => !members.includes(n)));
  completedOrder.forEach((name, i) => {
    if (i > 0)
      expect(positionOf(definition, name)).toBeGreaterThanOrEqual(
        positionOf(definition, completedOrder[i - 1] as string),
      );
  });
  // The engine saw the completions in the order the handlers returned.
  expect(view.completed).toEqual(completedOrder);
  // Undone: the in-doubt step first, then the completed compensable steps, newest completion first.
  expect(compensations).toEqual(expectedCompensations);
  expect(view.compensated).toEqual(expectedCompensations);
  if (rolledBack) expect([...view.skipped].sort()).toEqual(completedOrder.filter((n) => !compensable(n)).sort());
  // Nothing is undone that never completed, but for the in-doubt step.
  for (const name of compensations) expect(completedOrder.includes(name) || undoneInDoubt.includes(name)).toBe(true);
  // Every compensation attempt, blips included, is told it is in doubt exactly when it undoes the in-doubt step.
  for (const e of effects.filter((e) => e.direction === 'compensate')) {
    expect(e.inDoubt, `${e.step} compensation attempt ${e.attempt}`).toBe(undoneInDoubt.includes(e.step));
  }
  // The failure names the failing step unless the group absorbed it.
  expect(view.failure?.step).toBe(rolledBack ? failing?.name : undefined);
  if (failing) {
    // A terminal failure is not retried; an in-doubt one uses every attempt.
    const failingRuns = effects.filter((e) => e.step === failing.name && e.direction === 'run');
    expect(failingRuns.length).toBe(injected?.failure === 'terminal' ? 1 : failing.attempts);
    const status = view.steps.find((s) => s.name === failing.name)?.status;
    expect(status).toBe(undoneInDoubt.length > 0 ? 'compensated' : 'failed');
  }
  if (absorbed && undoneInDoubt.length > 0) {
    // The group undoes its in-doubt member before the saga moves on past it.
    const undone = effects.findIndex((e) => e.direction === 'compensate' && e.ok);
    const firstLater = effects.findIndex(
      (e) => e.direction === 'run' && positionOf(definition, e.step) > failingPosition,
    );
    if (firstLater !== -1) expect(undone).toBeLessThan(firstLater);
  }
  if (failing?.member) {
    // The group waits for every member to settle before anything is undone or anything after it runs.
    const lastMemberRun = effects.findLastIndex((e) => e.direction === 'run' && members.includes(e.step));
    const firstAfter = effects.findIndex(
      (e) =>
        e.direction === 'compensate' ||
        (e.direction === 'run' && !members.includes(e.step) && positionOf(definition, e.step) > failingPosition),
    );
    if (firstAfter !== -1) expect(lastMemberRun).toBeLessThan(firstAfter);
  }
  // At most once per idempotency key unless retried: attempts of a key are exactly 1, 2, 3...
  const attempts = new Map<string, number[]>();
  for (const e of effects) attempts.set(e.key, [...(attempts.get(e.key) ?? []), e.attempt]);
  for (const seen of attempts.values()) expect(seen).toEqual(seen.map((_, i) => i + 1));

  // The oracle, given the completion order the handlers saw, agrees.
  const oracle = expectedEnding(definition, injected?.at, injected?.failure === 'inDoubt', completedOrder);
  expect(view.state).toBe(oracle.state);
  expect([...completedOrder].sort()).toEqual([...oracle.completed].sort());
  expect(compensations).toEqual(oracle.compensations);
}

async function checkProperty(backend: Backend, maxLength: number, numRuns: number): Promise<void> {
  await fc.assert(
    fc.asyncProperty(sagaSpec(maxLength), async (spec) => {
      const { steps, definition } = build(spec);
      for (let at = 0; at <= steps.length; at++) {
        const step = steps[at];
        const injected = step ? { at, failure: step.failure } : undefined;
        const run = await runWithFailure(steps, definition, injected, backend);
        checkRun(spec, steps, definition, injected, run);
      }
    }),
    { numRuns },
  );
}

describe('compensation order (property, through the real engine)', () => {
  it('undoes exactly what completed, in-doubt step first, then newest completion first, at every failure index (embedded)', async () => {
    await checkProperty({ kind: 'embedded' }, 20, 40);
  }, 60_000);

  it('holds on Redis + BullMQ too', async () => {
    const prefix = `xsaga-test-${randomUUID()}`;
    try {
      await checkProperty({ kind: 'redis', prefix }, 10, 15);
    } finally {
      await dropPrefix(prefix);
    }
  }, 120_000);
});
