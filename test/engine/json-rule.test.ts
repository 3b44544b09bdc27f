import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Engine, HandlerRegistry, StepContext } from '../../src/index.ts';
import { createEngine, defineSaga, InputError, TerminalError } from '../../src/index.ts';
import { describeJsonProblem, findNonJson, MAX_JSON_DEPTH } from '../../src/json-value.ts';
import { caught } from '../support/caught.ts';

/** `{ child: { child: ... } }`, `levels` objects deep. */
function nested(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = {};
  for (let i = 1; i < levels; i++) value = { child: value };
  return value;
}

class Money {
  constructor(readonly cents: number) {}
}

const engines: Engine[] = [];
function embedded(handlers: HandlerRegistry = {}): Engine {
  const engine = createEngine({ handlers });
  engines.push(engine);
  return engine;
}
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close();
});

describe('findNonJson (the JSON rule)', () => {
  describe('accepts plain JSON', () => {
    it.each([
      ['a string', 'text'],
      ['a finite number', -12.5],
      ['a boolean', true],
      ['null', null],
      ['an array', [1, 'two', null, [false]]],
      ['a nested plain object', { trip: { nights: 2, guests: [{ name: 'Ada' }] } }],
      ['an object without prototype', Object.assign(Object.create(null), { id: 1 })],
      ['a frozen object', Object.freeze({ id: 1 })],
      [
        'the same object twice (not a cycle: JSON writes it twice)',
        (() => {
          const shared = { id: 1 };
          return { a: shared, b: [shared, shared] };
        })(),
      ],
      [`${MAX_JSON_DEPTH} levels of nesting`, nested(MAX_JSON_DEPTH)],
    ])('%s', (_, value) => {
      expect(findNonJson(value)).toBeUndefined();
    });

    it('treats undefined as "absent": as the whole value and as an object property (JSON drops both)', () => {
      expect(findNonJson(undefined)).toBeUndefined();
      expect(findNonJson({ note: undefined, id: 1 })).toBeUndefined();
    });
  });

  describe('refuses anything JSON would change or cannot hold, naming the path', () => {
    const circular: Record<string, unknown> = { id: 1 };
    circular.self = circular;
    const sparse: number[] = [];
    sparse[0] = 1;
    sparse[2] = 3;
    const selfList: unknown[] = [];
    selfList.push(selfList);
    const dated = {
      get when() {
        return new Date(0);
      },
    };
    const nonEnumerable = Object.defineProperty({}, 'secret', { value: 1, enumerable: false });

    it.each([
      ['a BigInt', { amount: 5n }, 'amount', 'is a BigInt'],
      ['NaN', { ratio: Number.NaN }, 'ratio', 'is NaN, which JSON turns into null'],
      ['Infinity', [Number.POSITIVE_INFINITY], '0', 'is Infinity'],
      ['-Infinity', { a: { b: Number.NEGATIVE_INFINITY } }, 'a.b', 'is -Infinity'],
      ['undefined inside an array', { items: [1, undefined] }, 'items.1', 'is undefined inside an array'],
      ['a hole in an array', { items: sparse }, 'items.1', 'is a hole in an array'],
      ['a function', { callback: () => 1 }, 'callback', 'is a function'],
      ['a symbol', { tag: Symbol('t') }, 'tag', 'is a symbol'],
      ['a Date', { when: new Date(0) }, 'when', 'is a Date, which JSON turns into a string'],
      ['a Set', { tags: new Set(['a']) }, 'tags', 'is a Set, which JSON turns into {}'],
      ['a Map', { byId: new Map() }, 'byId', 'is a Map'],
      ['a RegExp', { pattern: /x/ }, 'pattern', 'is a RegExp'],
      ['a typed array', { bytes: new Uint8Array(2) }, 'bytes', 'is binary data (Uint8Array)'],
      ['a Buffer', { bytes: Buffer.from('x') }, 'bytes', 'is binary data (Buffer)'],
      ['an Error', { error: new Error('x') }, 'error', 'is an Error'],
      ['a class instance', { price: new Money(100) }, 'price', 'is an instance of Money'],
      ['an Array subclass', { list: new (class List extends Array {})() }, 'list', 'is an instance of List'],
      ['an object with toJSON', { range: { toJSON: () => 'r' } }, 'range', 'has a toJSON method'],
      ['a symbol key', { meta: { [Symbol('k')]: 1 } }, 'meta', 'has a symbol key (k)'],
      ['a non-enumerable property', { o: nonEnumerable }, 'o.secret', 'is not enumerable'],
      ['a circular reference', { meta: circular }, 'meta.self', 'circular reference'],
      ['an array that contains itself', { list: selfList }, 'list.0', 'circular reference'],
      ['a getter returning a Date (getters are read, as JSON reads them)', { cart: dated }, 'cart.when', 'is a Date'],
      ['a Date as the whole value', new Date(0), '', 'is a Date'],
    ])('%s', (_, value, path, problem) => {
      const found = findNonJson(value);
      expect(found?.path).toBe(path);
      expect(found?.problem).toContain(problem);
      expect(found?.hint).not.toBe('');
    });

    it('reports the first problem in document order', () => {
      expect(findNonJson({ a: [1, { b: 2 }, { c: 1n }], d: new Date() })?.path).toBe('a.2.c');
    });

    it(`refuses nesting deeper than ${MAX_JSON_DEPTH} levels, at the level that goes too deep`, () => {
      const found = findNonJson({ tree: nested(MAX_JSON_DEPTH) });
      expect(found?.problem).toBe(`nests deeper than ${MAX_JSON_DEPTH} levels`);
      expect(found?.path).toBe(['tree', ...Array(MAX_JSON_DEPTH - 1).fill('child')].join('.'));
    });

    it('does not overflow the stack on a hostile, million-level value', () => {
      expect(findNonJson(nested(1_000_000))?.problem).toBe(`nests deeper than ${MAX_JSON_DEPTH} levels`);
    });

    it('reports a value whose inspection throws instead of throwing', () => {
      const hostile = new Proxy(
        {},
        {
          getPrototypeOf() {
            throw new Error('no');
          },
        },
      );
      expect(findNonJson({ x: hostile })).toMatchObject({
        path: 'x',
        problem: 'could not be read: inspecting it threw',
      });
    });
  });

  it('describes a problem as one sentence under a root name', () => {
    const found = findNonJson({ when: new Date() });
    expect(found && describeJsonProblem('input', found)).toBe(
      'input.when is a Date, which JSON turns into a string; use an ISO date string (z.iso.datetime() in a schema, date.toISOString() in a result)',
    );
    const atRoot = findNonJson(1n);
    expect(atRoot && describeJsonProblem('result', atRoot)).toMatch(/^result is a BigInt/);
  });
});

describe('engine.start refuses input that cannot be stored', () => {
  const circular: Record<string, unknown> = { id: 1 };
  circular.self = circular;

  it.each([
    ['a z.bigint() field', z.object({ amount: z.bigint() }), { amount: 5n }, 'amount', 'input.amount is a BigInt'],
    [
      'a BigInt inside z.unknown()',
      z.object({ meta: z.unknown() }),
      { meta: { n: 1n } },
      'meta.n',
      'input.meta.n is a BigInt',
    ],
    [
      'a circular object',
      z.object({ meta: z.unknown() }),
      { meta: circular },
      'meta.self',
      'input.meta.self refers back',
    ],
    ['a z.date() field', z.object({ when: z.date() }), { when: new Date(0) }, 'when', 'input.when is a Date'],
    [
      'a string coerced to a Date',
      z.object({ when: z.coerce.date() }),
      { when: '2030-01-01' },
      'when',
      'input.when is a Date',
    ],
    ['a z.set() field', z.object({ tags: z.set(z.string()) }), { tags: new Set(['a']) }, 'tags', 'input.tags is a Set'],
    [
      'a z.map() field',
      z.object({ byId: z.map(z.string(), z.number()) }),
      { byId: new Map() },
      'byId',
      'input.byId is a Map',
    ],
    ['NaN (z.nan())', z.object({ ratio: z.nan() }), { ratio: Number.NaN }, 'ratio', 'input.ratio is NaN'],
    [
      'a class instance',
      z.object({ price: z.instanceof(Money) }),
      { price: new Money(1) },
      'price',
      'input.price is an instance of Money',
    ],
    [
      'deep nesting',
      z.object({ tree: z.unknown() }),
      { tree: nested(1_000) },
      'tree.child',
      'nests deeper than 256 levels',
    ],
    ['a Date as the whole input', z.date(), new Date(0), '', 'input is a Date'],
  ])('%s: INPUT_INVALID naming the path, nothing stored', async (_, schema, input, path, message) => {
    const saga = defineSaga({ name: 'trip', version: 1, input: schema, steps: [{ name: 'book', kind: 'query' }] });
    const engine = embedded({ trip: { book: { run: () => 'booked' } } });

    const error = await caught(engine.start(saga, input as never));

    expect(error).toBeInstanceOf(InputError);
    expect(error.code).toBe('INPUT_INVALID');
    expect((error as InputError).path.startsWith(path)).toBe(true);
    expect(error.message).toMatch(/^input of saga "trip" is not storable: /);
    expect(error.message).toContain(message);
    expect((await engine.list()).items).toEqual([]);
  });

  it('says what to use instead of a Date', async () => {
    const saga = defineSaga({
      name: 'trip',
      version: 1,
      input: z.object({ when: z.date() }),
      steps: [{ name: 'book', kind: 'query' }],
    });
    const engine = embedded({ trip: { book: { run: () => 'booked' } } });
    const error = await caught(engine.start(saga, { when: new Date(0) }));
    expect(error.message).toBe(
      'input of saga "trip" is not storable: input.when is a Date, which JSON turns into a string; use an ISO date string (z.iso.datetime() in a schema, date.toISOString() in a result)',
    );
    expect((error as InputError).path).toBe('when');
  });

  it('accepts the JSON alternatives: z.iso.datetime() and arrays, and optional fields left undefined', async () => {
    const saga = defineSaga({
      name: 'trip',
      version: 1,
      input: z.object({ when: z.iso.datetime(), tags: z.array(z.string()), note: z.unknown() }),
      steps: [{ name: 'book', kind: 'query' }],
    });
    const seen: unknown[] = [];
    const engine = embedded({ trip: { book: { run: (ctx: StepContext) => void seen.push(ctx.input) } } });
    const { sagaId } = await engine.start(saga, { when: '2030-01-01T00:00:00Z', tags: ['a'], note: undefined });
    expect((await engine.waitFor(sagaId, { timeoutMs: 5_000 })).state).toBe('Completed');
    expect(seen).toEqual([{ when: '2030-01-01T00:00:00Z', tags: ['a'] }]);
  });
});

describe('step results must be plain JSON', () => {
  const saga = defineSaga({
    name: 'results',
    version: 1,
    input: z.object({}),
    steps: [
      { name: 'reserve', compensate: true },
      { name: 'produce', compensate: true, retry: { attempts: 3, backoff: { type: 'fixed', delayMs: 1 } } },
      { name: 'consume', kind: 'query' },
    ],
  });

  function engineReturning(produce: () => unknown, consumed: unknown[] = [], produced: number[] = []): Engine {
    return embedded({
      results: {
        reserve: { run: () => ({ seat: '12A' }), compensate: () => undefined },
        produce: {
          run: (ctx) => {
            produced.push(ctx.attempt);
            return produce();
          },
          compensate: () => undefined,
        },
        consume: { run: (ctx) => void consumed.push(ctx.results.produce) },
      },
    });
  }

  it.each([
    ['a Date', () => ({ slot: { when: new Date(0) } }), 'result.slot.when is a Date'],
    ['a Set', () => ({ seats: new Set(['12A']) }), 'result.seats is a Set'],
    ['a BigInt', () => 10n, 'result is a BigInt'],
  ])(
    'a result holding %s fails the step terminally, naming saga, step and path; the saga rolls back',
    async (_, produce, where) => {
      const produced: number[] = [];
      const engine = engineReturning(produce, [], produced);
      const { sagaId } = await engine.start(saga, {});
      const view = await engine.waitFor(sagaId, { timeoutMs: 5_000 });

      expect(produced).toEqual([1]);
      expect(view.state).toBe('Failed');
      expect(view.steps.map((s) => s.status)).toEqual(['compensated', 'failed', 'idle']);
      expect(view.steps[1]?.attempts).toBe(1);
      expect(view.steps[1]?.error).toMatchObject({ name: 'TerminalError', code: 'TERMINAL', terminal: true });
      expect(view.steps[1]?.error?.message).toMatch(
        /^step "produce" of saga "results" returned a result that cannot be stored: /,
      );
      expect(view.steps[1]?.error?.message).toContain(where);
    },
  );

  it('reaches later steps as stored: properties holding undefined dropped, later mutation by the handler unseen', async () => {
    const consumed: unknown[] = [];
    let kept: { count: number; note?: undefined } | undefined;
    const engine = engineReturning(() => {
      kept = { count: 1, note: undefined };
      // The handler keeps a reference and changes it after returning.
      setTimeout(() => {
        if (kept) kept.count = 99;
      }, 0);
      return kept;
    }, consumed);
    const { sagaId } = await engine.start(saga, {});
    const view = await engine.waitFor(sagaId, { timeoutMs: 5_000 });

    expect(view.state).toBe('Completed');
    expect(view.steps[1]?.result).toEqual({ count: 1 });
    expect(consumed).toHaveLength(1);
    expect(consumed[0]).toStrictEqual({ count: 1 });
  });

  it('treats a result of undefined as no result', async () => {
    const consumed: unknown[] = [];
    const engine = engineReturning(() => undefined, consumed);
    const { sagaId } = await engine.start(saga, {});
    const view = await engine.waitFor(sagaId, { timeoutMs: 5_000 });
    expect(view.state).toBe('Completed');
    expect(view.steps[1]).not.toHaveProperty('result');
    expect(consumed).toEqual([undefined]);
  });

  it('ignores what a compensation returns: nothing reads it, so a Date there does not escalate the saga', async () => {
    const engine = embedded({
      results: {
        reserve: { run: () => 'seat', compensate: () => new Date(0) },
        produce: {
          run: () => {
            throw new TerminalError('down');
          },
          compensate: () => undefined,
        },
        consume: { run: () => undefined },
      },
    });
    const { sagaId } = await engine.start(saga, {});
    const view = await engine.waitFor(sagaId, { timeoutMs: 5_000 });
    expect(view.state).toBe('Failed');
    expect(view.compensated).toEqual(['reserve']);
  });
});
