import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createStepRunner } from '../../src/engine/step-runner.ts';
import type {
  Engine,
  HandlerRegistry,
  OutcomeHandler,
  StepContext,
  StepJob,
  StepOutcome,
  StepQueue,
} from '../../src/index.ts';
import { createEngine, defineSaga, InProcessQueue, TerminalError } from '../../src/index.ts';
import { TestClock } from '../../src/testing/test-clock.ts';

const order = defineSaga({
  name: 'order',
  version: 1,
  input: z.object({ orderId: z.string(), failAt: z.string().optional() }),
  steps: [
    { name: 'reserve', compensate: { retry: { attempts: 3, backoff: { type: 'fixed', delayMs: 10 } } } },
    { name: 'charge', retry: { attempts: 3, backoff: { type: 'fixed', delayMs: 10 } }, kind: 'query' },
  ],
});

interface Seen {
  step: string;
  direction: 'run' | 'compensate';
  attempt: number;
  key: string;
}

function handlersFor(seen: Seen[], behaviour: { flakyRuns?: number; flakyUndos?: number } = {}): HandlerRegistry {
  const track = (step: string, direction: 'run' | 'compensate', ctx: StepContext) =>
    seen.push({ step, direction, attempt: ctx.attempt, key: ctx.idempotencyKey });
  return {
    order: {
      reserve: {
        run: (ctx: StepContext) => {
          track('reserve', 'run', ctx);
          if (ctx.attempt <= (behaviour.flakyRuns ?? 0)) throw new Error('blip');
          return 'reserved';
        },
        compensate: (ctx: StepContext) => {
          track('reserve', 'compensate', ctx);
          // Counted over all calls, not per job: a resumed round starts again at attempt 1.
          if (seen.filter((s) => s.direction === 'compensate').length <= (behaviour.flakyUndos ?? 0)) {
            throw new Error('undo blip');
          }
        },
      },
      charge: {
        run: (ctx: StepContext<{ failAt?: string }>) => {
          track('charge', 'run', ctx);
          if (ctx.input.failAt === 'charge') throw new TerminalError('declined');
          if (ctx.attempt <= (behaviour.flakyRuns ?? 0)) throw new Error('blip');
          return 'charged';
        },
      },
    },
  };
}

const engines: Engine[] = [];
const queues: StepQueue[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close();
  for (const queue of queues.splice(0)) await queue.close();
});

function engineWith(handlers: HandlerRegistry, clock = new TestClock(), queue?: StepQueue): Engine {
  const engine = createEngine({ handlers, clock, random: () => 0, ...(queue ? { queue } : {}) });
  engines.push(engine);
  return engine;
}

/**
 * A queue that delivers every outcome twice (at-least-once delivery) and keeps them all, so a test
 * can replay old outcomes later: the engine must apply each one once.
 */
class DuplicatingQueue implements StepQueue {
  readonly delivered: StepOutcome[] = [];
  readonly #inner: InProcessQueue;
  #handler: OutcomeHandler | undefined;
  constructor(inner: InProcessQueue) {
    this.#inner = inner;
  }
  enqueue(job: StepJob): Promise<void> {
    return this.#inner.enqueue(job);
  }
  consume(handler: OutcomeHandler): void {
    this.#handler = handler;
    this.#inner.consume(async (outcome) => {
      this.delivered.push(outcome);
      await handler(outcome);
      await handler(structuredClone(outcome));
    });
  }
  async replay(): Promise<void> {
    for (const outcome of this.delivered) await this.#handler?.(structuredClone(outcome));
  }
  ack(jobId: string): Promise<void> {
    return this.#inner.ack(jobId);
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
}

describe('engine.start idempotency', () => {
  it('returns the same saga for the same idempotencyKey, created false, and runs the handlers once', async () => {
    const seen: Seen[] = [];
    const engine = engineWith(handlersFor(seen));

    const first = await engine.start(order, { orderId: 'o1' }, { idempotencyKey: 'checkout-42' });
    await engine.waitFor(first.sagaId);
    const second = await engine.start(order, { orderId: 'o1' }, { idempotencyKey: 'checkout-42' });
    await engine.waitFor(second.sagaId);

    expect(first.created).toBe(true);
    expect(second).toEqual({ sagaId: first.sagaId, created: false });
    expect(seen.map((s) => s.step)).toEqual(['reserve', 'charge']);
    expect((await engine.list()).items).toHaveLength(1);
  });

  it('keeps the first input when the same key comes with other input', async () => {
    const engine = engineWith(handlersFor([]));
    const first = await engine.start(order, { orderId: 'o1' }, { idempotencyKey: 'k' });
    const second = await engine.start(order, { orderId: 'o2' }, { idempotencyKey: 'k' });
    expect(second.sagaId).toBe(first.sagaId);
    expect((await engine.get(first.sagaId)).input).toEqual({ orderId: 'o1' });
  });

  it('creates one saga when two starts with the same key race', async () => {
    const seen: Seen[] = [];
    const engine = engineWith(handlersFor(seen));
    const results = await Promise.all([
      engine.start(order, { orderId: 'o1' }, { idempotencyKey: 'race' }),
      engine.start(order, { orderId: 'o1' }, { idempotencyKey: 'race' }),
    ]);
    await engine.waitFor(results[0].sagaId);
    expect(results[1].sagaId).toBe(results[0].sagaId);
    expect(results.map((r) => r.created).sort()).toEqual([false, true]);
    expect(seen.map((s) => s.step)).toEqual(['reserve', 'charge']);
  });

  it('scopes the key by saga name', async () => {
    const other = defineSaga({
      name: 'other',
      version: 1,
      input: z.object({}),
      steps: [{ name: 'only', kind: 'query' }],
    });
    const engine = engineWith({ ...handlersFor([]), other: { only: { run: () => undefined } } });
    const a = await engine.start(order, { orderId: 'o1' }, { idempotencyKey: 'same' });
    const b = await engine.start(other, {}, { idempotencyKey: 'same' });
    expect(b.created).toBe(true);
    expect(b.sagaId).not.toBe(a.sagaId);
  });

  it('returns the same saga for the same sagaId, created false, and runs the handlers once', async () => {
    const seen: Seen[] = [];
    const engine = engineWith(handlersFor(seen));
    const first = await engine.start(order, { orderId: 'o1' }, { sagaId: 'order-1' });
    await engine.waitFor('order-1');
    const second = await engine.start(order, { orderId: 'o1' }, { sagaId: 'order-1' });

    expect(first).toEqual({ sagaId: 'order-1', created: true });
    expect(second).toEqual({ sagaId: 'order-1', created: false });
    expect(seen.map((s) => s.step)).toEqual(['reserve', 'charge']);
    expect((await engine.get('order-1')).history.filter((e) => e.event === 'saga.start')).toHaveLength(1);
  });

  it('a repeated start while the saga is still running does not run a step twice', async () => {
    const seen: Seen[] = [];
    const clock = new TestClock();
    const engine = engineWith(handlersFor(seen, { flakyRuns: 1 }), clock);
    await engine.start(order, { orderId: 'o1' }, { sagaId: 'order-1' });
    await engine.start(order, { orderId: 'o1' }, { sagaId: 'order-1' });
    await clock.runAll();
    await engine.waitFor('order-1');
    expect(seen.map((s) => `${s.step}#${s.attempt}`)).toEqual(['reserve#1', 'reserve#2', 'charge#1', 'charge#2']);
  });
});

describe('idempotency keys of handlers', () => {
  it('is <sagaId>~<step>~run and the same on every attempt of a forward run', async () => {
    const seen: Seen[] = [];
    const clock = new TestClock();
    const engine = engineWith(handlersFor(seen, { flakyRuns: 2 }), clock);
    await engine.start(order, { orderId: 'o1' }, { sagaId: 'order-7' });
    await clock.runAll();
    await engine.waitFor('order-7');

    expect(seen.map((s) => [s.step, s.attempt, s.key])).toEqual([
      ['reserve', 1, 'order-7~reserve~run'],
      ['reserve', 2, 'order-7~reserve~run'],
      ['reserve', 3, 'order-7~reserve~run'],
      ['charge', 1, 'order-7~charge~run'],
      ['charge', 2, 'order-7~charge~run'],
      ['charge', 3, 'order-7~charge~run'],
    ]);
  });

  it('is <sagaId>~<step>~compensate and the same on every attempt of a compensation', async () => {
    const seen: Seen[] = [];
    const clock = new TestClock();
    const engine = engineWith(handlersFor(seen, { flakyUndos: 2 }), clock);
    await engine.start(order, { orderId: 'o1', failAt: 'charge' }, { sagaId: 'order-8' });
    await clock.runAll();
    expect((await engine.waitFor('order-8')).state).toBe('Failed');

    expect(seen.filter((s) => s.direction === 'compensate').map((s) => [s.attempt, s.key])).toEqual([
      [1, 'order-8~reserve~compensate'],
      [2, 'order-8~reserve~compensate'],
      [3, 'order-8~reserve~compensate'],
    ]);
  });

  it('stays the same across resume rounds of a compensation', async () => {
    const seen: Seen[] = [];
    const clock = new TestClock();
    const engine = engineWith(handlersFor(seen, { flakyUndos: 3 }), clock);
    await engine.start(order, { orderId: 'o1', failAt: 'charge' }, { sagaId: 'order-9' });
    await clock.runAll();
    expect((await engine.waitFor('order-9')).state).toBe('Escalated');

    await engine.resume('order-9');
    await clock.runAll();
    expect((await engine.waitFor('order-9')).state).toBe('Failed');

    const undoKeys = seen.filter((s) => s.direction === 'compensate').map((s) => s.key);
    expect(undoKeys).toHaveLength(4);
    expect(new Set(undoKeys)).toEqual(new Set(['order-9~reserve~compensate']));
  });
});

describe('duplicate and stale outcomes', () => {
  function duplicatingEngine(seen: Seen[], input: { failAt?: string } = {}) {
    const clock = new TestClock();
    const handlers = handlersFor(seen);
    const queue = new DuplicatingQueue(new InProcessQueue({ runAttempt: createStepRunner(handlers, clock), clock }));
    queues.push(queue);
    const engine = engineWith(handlers, clock, queue);
    return { engine, clock, queue, input };
  }

  it('applies an outcome delivered twice only once', async () => {
    const seen: Seen[] = [];
    const { engine, clock, queue } = duplicatingEngine(seen);
    const { sagaId } = await engine.start(order, { orderId: 'o1' });
    await clock.runAll();
    const view = await engine.waitFor(sagaId);

    expect(queue.delivered).toHaveLength(2);
    expect(view.state).toBe('Completed');
    expect(view.completed).toEqual(['reserve', 'charge']);
    expect(view.history.map((e) => e.event)).toEqual(['saga.created', 'saga.start', 'step.done', 'step.done']);
    expect(seen.map((s) => s.step)).toEqual(['reserve', 'charge']);
  });

  it('ignores old outcomes replayed after the saga moved on', async () => {
    const seen: Seen[] = [];
    const { engine, clock, queue } = duplicatingEngine(seen);
    const { sagaId } = await engine.start(order, { orderId: 'o1', failAt: 'charge' });
    await clock.runAll();
    const before = await engine.waitFor(sagaId);
    expect(before.state).toBe('Failed');

    await queue.replay();
    const after = await engine.get(sagaId);
    expect(after.revision).toBe(before.revision);
    expect(after.history).toEqual(before.history);
    expect(seen.filter((s) => s.direction === 'compensate')).toHaveLength(1);
  });
});
