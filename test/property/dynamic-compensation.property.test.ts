import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createEngine, defineDynamicSaga, type Engine, TerminalError } from '../../src/index.ts';

/**
 * The every-index property for dynamic sagas: an agent appends a random plan (compensable and query
 * tools, then maybe a pivot and retryable tools after it), the step at a random index fails for good
 * (or none does), and the saga must end as a defined saga of the same steps would: rolled back
 * newest first up to the pivot, escalated after it, completed when nothing failed.
 */

type Kind = 'compensable' | 'query' | 'pivot' | 'retryable';

/** A plan that follows the kind rule: (compensable | query)* then, maybe, pivot (retryable | query)*. */
const planSpec = fc
  .record({
    before: fc.array(fc.constantFrom<Kind>('compensable', 'query'), { minLength: 1, maxLength: 5 }),
    after: fc.option(fc.array(fc.constantFrom<Kind>('retryable', 'query'), { maxLength: 3 }), { nil: undefined }),
  })
  .map(({ before, after }): Kind[] => (after === undefined ? before : [...before, 'pivot', ...after]));

const spec = planSpec.chain((plan) =>
  fc.record({ plan: fc.constant(plan), failAt: fc.option(fc.nat({ max: plan.length - 1 }), { nil: undefined }) }),
);

/** Calls the tools saw, by step name: `run` when a step ran, `compensate` when it was undone. */
function agentSaga(calls: string[], failAt: () => number | undefined) {
  const tool = (kind: Kind) => ({
    kind,
    args: z.object({ index: z.number() }),
    retry: { attempts: 1 },
    run: (ctx: { step: string; args: { index: number } }) => {
      if (ctx.args.index === failAt()) throw new TerminalError(`step ${ctx.step} refused`);
      calls.push(`run ${ctx.step}`);
      return ctx.args.index;
    },
  });
  return defineDynamicSaga({
    name: 'random-agent',
    version: 1,
    input: z.object({}),
    idleTimeoutMs: 60_000,
    tools: {
      compensable: {
        ...tool('compensable'),
        compensate: (ctx: { step: string }) => void calls.push(`undo ${ctx.step}`),
      },
      query: tool('query'),
      pivot: tool('pivot'),
      retryable: tool('retryable'),
    },
  });
}

let engine: Engine | undefined;
afterEach(async () => {
  await engine?.close();
  engine = undefined;
});

describe('dynamic sagas: the every-index property', () => {
  it('undoes exactly the compensable steps completed before the failure, newest first, and nothing past the pivot', async () => {
    let failAt: number | undefined;
    const calls: string[] = [];
    const agent = agentSaga(calls, () => failAt);
    engine = createEngine({ handlers: { [agent.name]: agent.handlers } });
    const running = engine;
    await fc.assert(
      fc.asyncProperty(spec, async ({ plan, failAt: at }) => {
        failAt = at;
        calls.length = 0;
        const { sagaId } = await running.start(agent, {});
        const names: string[] = [];
        for (const [index, kind] of plan.entries()) {
          const appended = await running.appendStep(sagaId, { tool: kind, args: { index } });
          names.push(appended.step);
          if (appended.status !== 'completed') break;
        }
        if (at === undefined) await running.complete(sagaId);
        const view = await running.waitFor(sagaId, { timeoutMs: 10_000 });

        const pivot = plan.indexOf('pivot');
        const ran = names.slice(0, at ?? names.length);
        expect(calls.filter((c) => c.startsWith('run ')).map((c) => c.slice(4))).toEqual(ran);
        if (at === undefined) {
          expect(view.state).toBe('Completed');
          expect(view.compensated).toEqual([]);
        } else if (pivot >= 0 && at > pivot) {
          // Past the pivot nothing rolls back: a person decides.
          expect(view.state).toBe('Escalated');
          expect(view.escalation).toMatchObject({ direction: 'run', step: names[at], uncompensated: [] });
          expect(view.compensated).toEqual([]);
        } else {
          const undone = ran.filter((_, i) => plan[i] === 'compensable').reverse();
          expect(view.state).toBe('Failed');
          expect(view.compensated).toEqual(undone);
          expect(calls.filter((c) => c.startsWith('undo ')).map((c) => c.slice(5))).toEqual(undone);
        }
      }),
      { numRuns: 60, seed: 13 },
    );
  });
});
