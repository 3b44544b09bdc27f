import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createEngine, defineSaga, type StepHandler, TerminalError } from '../../src/index.ts';
import { withInstantRetries } from '../../src/testing/index.ts';
import { dropPrefix, REDIS_URL } from '../durable/redis-helpers.ts';

/** A random saga shape: 1..20 steps, random compensate flags and retry counts. */
const sagaSpec = (maxLength: number) =>
  fc.array(
    fc.record({
      compensate: fc.boolean(),
      attempts: fc.integer({ min: 1, max: 4 }),
      compensationAttempts: fc.integer({ min: 1, max: 4 }),
      /** Transient failures before success, kept below the attempts so they never exhaust them. */
      runBlips: fc.nat({ max: 3 }),
      compensationBlips: fc.nat({ max: 3 }),
    }),
    { minLength: 1, maxLength },
  );

type Spec = ReturnType<typeof sagaSpec> extends fc.Arbitrary<infer T> ? T : never;

/** Which backend the property runs on. */
type Backend = { kind: 'embedded' } | { kind: 'redis'; prefix: string };

interface Effect {
  step: string;
  direction: 'run' | 'compensate';
  key: string;
  attempt: number;
  ok: boolean;
}

async function runWithFailureAt(spec: Spec, failAt: number | undefined, backend: Backend) {
  const definition = withInstantRetries(
    defineSaga({
      name: 'property',
      version: 1,
      input: z.object({}),
      steps: spec.map((s, i) => ({
        name: `s${i}`,
        retry: { attempts: s.attempts },
        ...(s.compensate
          ? { compensate: { retry: { attempts: s.compensationAttempts } } }
          : { kind: 'query' as const }),
      })),
    }),
  );
  const effects: Effect[] = [];
  const handlers = Object.fromEntries(
    spec.map((s, i): [string, StepHandler] => [
      `s${i}`,
      {
        run: (ctx) => {
          const blip = ctx.attempt <= Math.min(s.runBlips, s.attempts - 1);
          const ok = i !== failAt && !blip;
          effects.push({ step: ctx.step, direction: 'run', key: ctx.idempotencyKey, attempt: ctx.attempt, ok });
          if (i === failAt) throw new TerminalError('injected');
          if (blip) throw new Error('transient');
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
    return { view, effects };
  } finally {
    await engine.close();
  }
}

async function checkProperty(backend: Backend, maxLength: number, numRuns: number): Promise<void> {
  await fc.assert(
    fc.asyncProperty(sagaSpec(maxLength), async (spec) => {
      for (let failAt = 0; failAt <= spec.length; failAt++) {
        const injected = failAt < spec.length ? failAt : undefined;
        const { view, effects } = await runWithFailureAt(spec, injected, backend);
        const completedBefore = spec.map((_, i) => `s${i}`).slice(0, injected ?? spec.length);
        const expectedCompensations = completedBefore.filter((_, i) => spec[i]?.compensate).reverse();
        const expectedSkipped = completedBefore.filter((_, i) => !spec[i]?.compensate).reverse();
        const succeeded = (direction: Effect['direction']) =>
          effects.filter((e) => e.direction === direction && e.ok).map((e) => e.step);

        expect(view.state).toBe(injected === undefined ? 'Completed' : 'Failed');
        expect(succeeded('run')).toEqual(completedBefore);
        expect(succeeded('compensate')).toEqual(injected === undefined ? [] : expectedCompensations);
        if (injected !== undefined) expect(view.skipped).toEqual(expectedSkipped);
        // At most once per idempotency key unless retried: attempts of a key are exactly 1, 2, 3...
        const attempts = new Map<string, number[]>();
        for (const e of effects) attempts.set(e.key, [...(attempts.get(e.key) ?? []), e.attempt]);
        for (const seen of attempts.values()) expect(seen).toEqual(seen.map((_, i) => i + 1));
      }
    }),
    { numRuns },
  );
}

describe('compensation order (property, through the real engine)', () => {
  it('undoes exactly the steps completed before the failure, newest first, at every failure index (embedded)', async () => {
    await checkProperty({ kind: 'embedded' }, 20, 40);
  });

  it('holds on Redis + BullMQ too', async () => {
    const prefix = `xsaga-test-${randomUUID()}`;
    try {
      await checkProperty({ kind: 'redis', prefix }, 10, 15);
    } finally {
      await dropPrefix(prefix);
    }
  }, 120_000);
});
