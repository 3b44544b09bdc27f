import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { copyJson } from '../../src/json-value.ts';

/** What every copy must equal: the JSON round trip (undefined stays undefined, as it has no text). */
function roundTrip(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

/** Every object and array inside `value`. */
function containers(value: unknown, into: object[] = []): object[] {
  if (typeof value !== 'object' || value === null) return into;
  into.push(value);
  for (const child of Object.values(value)) containers(child, into);
  return into;
}

describe('copyJson', () => {
  it('equals the JSON round trip of plain JSON, shares no object with it, and leaves it unchanged', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const before = JSON.stringify(value);
        const copy = copyJson(value);
        expect(copy).toStrictEqual(roundTrip(value));
        expect(JSON.stringify(value)).toBe(before);
        const originals = new Set(containers(value));
        for (const container of containers(copy)) expect(originals.has(container)).toBe(false);
      }),
    );
  });

  it('equals the JSON round trip of anything JSON changes or drops', () => {
    const sparse: unknown[] = [1];
    sparse[2] = 3;
    const withProto = JSON.parse('{"__proto__": {"a": 1}, "b": 2}') as unknown;
    const values: unknown[] = [
      { a: undefined, b: -0, c: [-0, 1.5] },
      { when: new Date(0), set: new Set([1]), map: new Map([[1, 2]]) },
      { n: Number.NaN, i: Number.POSITIVE_INFINITY, list: [Number.NaN, undefined, () => 1, Symbol('s')] },
      { f: () => 1, s: Symbol('s'), [Symbol('key')]: 1 },
      { custom: { toJSON: () => 'custom' } },
      sparse,
      Object.assign(Object.create(null) as object, { a: 1 }),
      Object.assign(Object.create({ inherited: 1 }) as object, { own: 2 }),
      withProto,
      new String('boxed'),
      -0,
      'text',
      null,
    ];
    for (const value of values) expect(copyJson(value)).toStrictEqual(roundTrip(value));
    expect(Object.hasOwn(copyJson(withProto) as object, '__proto__')).toBe(true);
    expect(copyJson(undefined)).toBeUndefined();
  });

  it('fails as the round trip does on what JSON cannot hold', () => {
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(() => copyJson(cycle)).toThrow(TypeError);
    expect(() => copyJson({ big: 1n })).toThrow(TypeError);
  });
});
