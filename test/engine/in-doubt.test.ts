import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type {
  CompensationContext,
  Engine,
  StepConfig,
  StepContext,
  StepHandler,
  VerifyAnswer,
} from '../../src/index.ts';
import { createEngine, defineSaga, HandlerMissingError, TerminalError } from '../../src/index.ts';
import { withInstantRetries } from '../../src/testing/index.ts';
import { dropPrefix, REDIS_URL } from '../durable/redis-helpers.ts';
import { caught } from '../support/caught.ts';

/** A participant that records each write under its idempotency key, as an idempotent API would. */
class Ledger {
  readonly writes: string[] = [];
  readonly undone: Array<{ key: string; inDoubt: boolean; found: boolean }> = [];
  readonly #entries = new Map<string, string>();

  write(key: string): string {
    this.writes.push(key);
    const id = `w-${this.writes.length}`;
    if (!this.#entries.has(key)) this.#entries.set(key, id);
    return this.#entries.get(key) as string;
  }

  read(key: string): VerifyAnswer {
    const id = this.#entries.get(key);
    return id === undefined ? { done: false } : { done: true, result: { id } };
  }

  undo(key: string, inDoubt: boolean): void {
    this.undone.push({ key, inDoubt, found: this.#entries.delete(key) });
  }
}

/** Hangs until the attempt's signal aborts: the attempt times out. */
const hang = (ctx: StepContext) =>
  new Promise<never>((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));

/** `write` (configurable), then `after`, which fails for good when `failAfter` is set. */
function sagaWith(write: Omit<StepConfig<'write'>, 'name'>) {
  return withInstantRetries(
    defineSaga({
      name: 'in-doubt',
      version: 1,
      input: z.object({ failAfter: z.boolean().default(false) }),
      steps: [{ name: 'prepare' }, { name: 'write', timeoutMs: 200, ...write }, { name: 'after', kind: 'query' }],
    }),
  );
}

type WriteHandler = StepHandler<{ failAfter: boolean }>;

const backends = [
  { name: 'embedded', redis: false },
  { name: 'redis', redis: true },
] as const;

const engines: Engine[] = [];
const prefixes: string[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close();
  for (const prefix of prefixes.splice(0)) await dropPrefix(prefix);
});

describe.each(backends)('in-doubt steps on the $name backend', ({ redis }) => {
  function engineFor(ledger: Ledger, write: WriteHandler): Engine {
    const handlers = {
      'in-doubt': {
        prepare: {
          run: (ctx: StepContext) => ledger.write(ctx.idempotencyKey),
          compensate: (ctx: CompensationContext) => ledger.undo(ctx.runIdempotencyKey, ctx.inDoubt),
        },
        write,
        after: {
          run: (ctx: StepContext<{ failAfter: boolean }>) => {
            if (ctx.input.failAfter) throw new TerminalError('after refused');
          },
        },
      },
    };
    let engine: Engine;
    if (redis) {
      const prefix = `xsaga-doubt-${randomUUID().slice(0, 8)}`;
      prefixes.push(prefix);
      engine = createEngine({ redis: { connection: REDIS_URL, prefix }, handlers });
    } else {
      engine = createEngine({ handlers });
    }
    engines.push(engine);
    return engine;
  }

  /** `write` takes effect, then its first attempt times out; later attempts write and return at once. */
  const writesThenTimesOut = (ledger: Ledger, verify?: WriteHandler['verify']): WriteHandler => ({
    run: async (ctx) => {
      const id = ledger.write(ctx.idempotencyKey);
      if (ctx.attempt === 1) return hang(ctx);
      return { id };
    },
    compensate: (ctx) => ledger.undo(ctx.runIdempotencyKey, ctx.inDoubt),
    ...(verify ? { verify } : {}),
  });

  describe('with verify', () => {
    it('completes a step that timed out after taking effect without a second write and without compensation', async () => {
      const ledger = new Ledger();
      const engine = engineFor(
        ledger,
        writesThenTimesOut(ledger, (ctx) => ledger.read(ctx.idempotencyKey)),
      );
      const { sagaId } = await engine.start(sagaWith({ retry: { attempts: 3 } }), {});
      const view = await engine.waitFor(sagaId, { timeoutMs: 15_000 });

      expect(view.state).toBe('Completed');
      expect(ledger.writes.filter((key) => key.endsWith('~write~run'))).toHaveLength(1);
      expect(ledger.undone).toEqual([]);
      const write = view.steps.find((s) => s.name === 'write');
      expect(write).toMatchObject({ status: 'completed', attempts: 2, verified: true, result: { id: 'w-2' } });
      expect(view.history.find((e) => e.step === 'write')).toMatchObject({ event: 'step.done', verified: true });
    });

    it('runs the step again when verify finds that the in-doubt attempt did not take effect', async () => {
      const ledger = new Ledger();
      const verifies: number[] = [];
      const engine = engineFor(ledger, {
        run: async (ctx) => {
          if (ctx.attempt === 1) return hang(ctx); // times out before writing
          return { id: ledger.write(ctx.idempotencyKey) };
        },
        compensate: () => undefined,
        verify: (ctx) => {
          verifies.push(ctx.attempt);
          return ledger.read(ctx.idempotencyKey);
        },
      });
      const { sagaId } = await engine.start(sagaWith({ retry: { attempts: 3 } }), {});
      const view = await engine.waitFor(sagaId, { timeoutMs: 15_000 });

      expect(view.state).toBe('Completed');
      expect(verifies).toEqual([2]);
      expect(ledger.writes.filter((key) => key.endsWith('~write~run'))).toHaveLength(1);
      expect(view.steps.find((s) => s.name === 'write')).not.toHaveProperty('verified');
    });

    it('fails the step as definitely not done, without compensating it, when verify finds nothing after the last attempt', async () => {
      const ledger = new Ledger();
      const engine = engineFor(ledger, {
        run: (ctx) => hang(ctx),
        compensate: (ctx) => ledger.undo(ctx.idempotencyKey, ctx.inDoubt),
        verify: (ctx) => ledger.read(ctx.idempotencyKey),
      });
      const { sagaId } = await engine.start(sagaWith({ retry: { attempts: 2 } }), {});
      const view = await engine.waitFor(sagaId, { timeoutMs: 15_000 });

      expect(view.state).toBe('Failed');
      const write = view.steps.find((s) => s.name === 'write');
      expect(write).toMatchObject({ status: 'failed', verified: false, error: { code: 'STEP_NOT_DONE' } });
      expect(write).not.toHaveProperty('inDoubt');
      expect(view.compensated).toEqual(['prepare']);
      expect(ledger.undone.map((u) => u.key)).toEqual([expect.stringMatching(/~prepare~run$/)]);
      expect(view.history.find((e) => e.step === 'write' && e.event === 'step.failed')).toMatchObject({
        verified: false,
      });
    });

    it("with verify: 'always', counts a run that reports success for a write that never happened as a failed attempt", async () => {
      const ledger = new Ledger();
      const runs: number[] = [];
      const engine = engineFor(ledger, {
        run: (ctx) => {
          runs.push(ctx.attempt);
          // The first call claims success but writes nothing; the second really writes.
          return ctx.attempt === 1 ? { id: 'phantom' } : { id: ledger.write(ctx.idempotencyKey) };
        },
        compensate: () => undefined,
        verify: (ctx) => ledger.read(ctx.idempotencyKey),
      });
      const { sagaId } = await engine.start(sagaWith({ retry: { attempts: 3 }, verify: 'always' }), {});
      const view = await engine.waitFor(sagaId, { timeoutMs: 15_000 });

      expect(view.state).toBe('Completed');
      expect(runs).toEqual([1, 2]);
      expect(view.steps.find((s) => s.name === 'write')).toMatchObject({ status: 'completed', attempts: 2 });
    });

    it('compensates in doubt when verify itself keeps failing on the last attempt', async () => {
      const ledger = new Ledger();
      const engine = engineFor(ledger, {
        run: async (ctx) => {
          ledger.write(ctx.idempotencyKey);
          throw new Error('connection reset after the call');
        },
        compensate: (ctx) => ledger.undo(ctx.runIdempotencyKey, ctx.inDoubt),
        verify: () => {
          throw new Error('participant unreachable');
        },
      });
      const { sagaId } = await engine.start(sagaWith({ retry: { attempts: 2 } }), {});
      const view = await engine.waitFor(sagaId, { timeoutMs: 15_000 });

      expect(view.state).toBe('Failed');
      expect(view.compensated).toEqual(['write', 'prepare']);
      expect(ledger.undone).toEqual([
        { key: expect.stringMatching(/~write~run$/), inDoubt: true, found: true },
        { key: expect.stringMatching(/~prepare~run$/), inDoubt: false, found: true },
      ]);
    });
  });

  describe('without verify', () => {
    it('compensates a compensable step whose every attempt timed out, with ctx.inDoubt, and the saga rolls back', async () => {
      const ledger = new Ledger();
      const engine = engineFor(ledger, {
        run: async (ctx) => {
          ledger.write(ctx.idempotencyKey);
          return hang(ctx);
        },
        compensate: (ctx) => ledger.undo(ctx.runIdempotencyKey, ctx.inDoubt),
      });
      const { sagaId } = await engine.start(sagaWith({ retry: { attempts: 2 } }), {});
      const view = await engine.waitFor(sagaId, { timeoutMs: 15_000 });

      expect(view.state).toBe('Failed');
      expect(view.compensated).toEqual(['write', 'prepare']);
      expect(view.steps.find((s) => s.name === 'write')).toMatchObject({
        status: 'compensated',
        inDoubt: true,
        error: { code: 'STEP_TIMEOUT' },
      });
      expect(view.failure).toMatchObject({ reason: 'failed', step: 'write' });
      // The write did happen: the in-doubt compensation found it and undid it.
      expect(ledger.undone[0]).toEqual({ key: expect.stringMatching(/~write~run$/), inDoubt: true, found: true });
      expect(view.history.find((e) => e.step === 'write' && e.event === 'step.failed')).toMatchObject({
        inDoubt: true,
      });
    });

    it('does not compensate a step that failed with a TerminalError: that is a definite "not done"', async () => {
      const ledger = new Ledger();
      const engine = engineFor(ledger, {
        run: () => {
          throw new TerminalError('refused');
        },
        compensate: (ctx) => ledger.undo(ctx.idempotencyKey, ctx.inDoubt),
      });
      const { sagaId } = await engine.start(sagaWith({ retry: { attempts: 2 } }), {});
      const view = await engine.waitFor(sagaId, { timeoutMs: 15_000 });

      expect(view.state).toBe('Failed');
      expect(view.compensated).toEqual(['prepare']);
      expect(view.steps.find((s) => s.name === 'write')).not.toHaveProperty('inDoubt');
    });

    it("escalates a step with inDoubt: 'escalate' instead of guessing, and resume runs it again", async () => {
      const ledger = new Ledger();
      let fail = true;
      const engine = engineFor(ledger, {
        run: (ctx) => {
          if (fail) throw new Error('gateway timeout');
          return { id: ledger.write(ctx.idempotencyKey) };
        },
        compensate: (ctx) => ledger.undo(ctx.idempotencyKey, ctx.inDoubt),
      });
      const { sagaId } = await engine.start(sagaWith({ retry: { attempts: 2 }, inDoubt: 'escalate' }), {});
      const escalated = await engine.waitFor(sagaId, { timeoutMs: 15_000 });

      expect(escalated.state).toBe('Escalated');
      expect(escalated.escalation).toMatchObject({
        direction: 'run',
        inDoubt: true,
        step: 'write',
        uncompensated: ['prepare'],
      });
      expect(ledger.undone).toEqual([]);

      fail = false;
      await engine.resume(sagaId);
      const view = await engine.waitFor(sagaId, { timeoutMs: 15_000 });
      expect(view.state).toBe('Completed');
      const write = view.steps.find((s) => s.name === 'write');
      expect(write).toMatchObject({ status: 'completed', attempts: 3 }); // two in doubt, then one after resume
      expect(write).not.toHaveProperty('inDoubt');
      expect(write).not.toHaveProperty('error');
    });
  });
});

describe('in-doubt rules checked before a saga runs', () => {
  it("refuses inDoubt: 'compensate' on a step that has no compensation", () => {
    expect(() =>
      defineSaga({
        name: 'x',
        version: 1,
        input: z.object({}),
        steps: [{ name: 'charge', kind: 'pivot', inDoubt: 'compensate' }],
      }),
    ).toThrow(/step "charge" is pivot, which has no compensation: an in-doubt pivot step can only escalate/);
  });

  it("refuses verify: 'always' on a step whose handler has no verify, storing nothing", async () => {
    const saga = defineSaga({
      name: 'always',
      version: 1,
      input: z.object({}),
      steps: [{ name: 'charge', kind: 'pivot', verify: 'always' }],
    });
    const engine = createEngine({ handlers: { always: { charge: { run: () => 1 } } } });
    engines.push(engine);
    const error = await caught(engine.start(saga, {}));
    expect(error).toBeInstanceOf(HandlerMissingError);
    expect((error as Error).message).toMatch(/missing charge\.verify/);
    expect((await engine.list()).items).toEqual([]);
  });

  it('defaults inDoubt to compensate for compensable steps and to escalate for every other kind', () => {
    const saga = defineSaga({
      name: 'defaults',
      version: 1,
      input: z.object({}),
      steps: [
        { name: 'a' },
        { name: 'q', kind: 'query' },
        { name: 'p', kind: 'pivot' },
        { name: 'r', kind: 'retryable' },
        { name: 'n', kind: 'noncompensable' },
      ],
    });
    expect(saga.steps.map((s) => s.inDoubt)).toEqual(['compensate', 'escalate', 'escalate', 'escalate', 'escalate']);
  });
});
