import { describe, expect, it } from 'vitest';
import { TerminalError } from '../../src/index.ts';
import { NonError, toError, toErrorInfo } from '../../src/transport/error-info.ts';

/** An object every read of which throws: the worst a handler can throw. */
const hostileProxy = () =>
  new Proxy(
    {},
    {
      get() {
        throw new Error('no reading');
      },
      getPrototypeOf() {
        throw new Error('no prototype');
      },
      ownKeys() {
        throw new Error('no keys');
      },
    },
  );

describe('toError', () => {
  it('returns an Error unchanged, subclasses and TerminalError included', () => {
    const plain = new Error('boom');
    const terminal = new TerminalError('declined');
    class PaymentError extends Error {
      override name = 'PaymentError';
    }
    const custom = new PaymentError('no funds');
    expect(toError(plain)).toBe(plain);
    expect(toError(terminal)).toBe(terminal);
    expect(toError(custom)).toBe(custom);
  });

  it.each([
    ['undefined', undefined, 'undefined'],
    ['null', null, 'null'],
    ['a string', 'boom', '"boom"'],
    ['a number', 42, '42'],
    ['NaN', Number.NaN, 'NaN'],
    ['a boolean', false, 'false'],
    ['a BigInt', 10n, '10n'],
    ['a symbol', Symbol('why'), 'Symbol(why)'],
    ['a function', () => 1, 'a function'],
    ['a plain object', { status: 503 }, '{"status":503}'],
    ['an array', [1, 'two'], '[1,"two"]'],
    ['a class instance', new Map([[1, 2]]), 'an instance of Map'],
  ])('wraps %s in a NonError whose message describes it', (_, value, description) => {
    const error = toError(value);
    expect(error).toBeInstanceOf(NonError);
    expect(error.name).toBe('NonError');
    expect(error.message).toBe(`a handler threw a non-Error value: ${description}`);
    expect(error.cause).toBe(value);
  });

  it('caps the description of a huge string', () => {
    const error = toError('x'.repeat(1_000_000));
    expect(error.message.length).toBeLessThan(300);
    expect(error.message.endsWith('…')).toBe(true);
  });

  it('describes a huge BigInt by its size instead of printing it', () => {
    expect(toError(10n ** 5000n).message).toBe('a handler threw a non-Error value: a BigInt of more than 40 digits');
  });

  it('bounds nested objects in depth and entries', () => {
    const wide = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i]));
    expect(toError(wide).message).toMatch(/"k7":7,…}$/);
    expect(toError({ a: { b: { c: { d: 1 } } } }).message).toBe('a handler threw a non-Error value: {"a":{"b":{…}}}');
  });

  it('never calls toString or toJSON, and survives values whose reads throw', () => {
    const loud = {
      toString() {
        throw new Error('toString');
      },
      toJSON() {
        throw new Error('toJSON');
      },
      get status() {
        throw new Error('getter');
      },
    };
    const circular: Record<string, unknown> = { id: 1 };
    circular.self = circular;
    expect(toError(loud).message).toBe(
      'a handler threw a non-Error value: {"toString":a function,"toJSON":a function,"status":?}',
    );
    expect(toError(circular).message).toBe('a handler threw a non-Error value: {"id":1,"self":{"id":1,"self":{…}}}');
    expect(toError(hostileProxy()).message).toBe(
      'a handler threw a non-Error value: a value that could not be described',
    );
    expect(toError(Object.create(null)).message).toBe('a handler threw a non-Error value: {}');
  });

  it('wraps an Error whose name or message is not a string, or whose code cannot be read', () => {
    const numeric = Object.assign(new Error('x'), { message: 42 });
    const trapped = new Error('x');
    Object.defineProperty(trapped, 'message', {
      get() {
        throw new Error('no message');
      },
    });
    const codeless = new Error('x');
    Object.defineProperty(codeless, 'code', {
      get() {
        throw new Error('no code');
      },
    });
    expect(toError(numeric)).toBeInstanceOf(NonError);
    expect(toError(codeless)).toBeInstanceOf(NonError);
    expect(toError(trapped)).toBeInstanceOf(NonError);
    expect(toError(trapped).cause).toBe(trapped);
  });

  it("keeps a terminal-looking value terminal, and a plain object's own string code", () => {
    expect((toError({ name: 'TerminalError', message: 'declined' }) as NonError).code).toBe('TERMINAL');
    expect((toError({ name: 'TerminalError', code: 'E_DECLINED' }) as NonError).code).toBe('TERMINAL');
    expect((toError({ code: 'TERMINAL' }) as NonError).code).toBe('TERMINAL');
    expect((toError({ code: 'HANDLER_MISSING' }) as NonError).code).toBe('HANDLER_MISSING');
    expect((toError({ code: 'ECONNRESET' }) as NonError).code).toBe('ECONNRESET');
    expect((toError('TERMINAL') as NonError).code).toBeUndefined();
  });
});

describe('toErrorInfo', () => {
  it('keeps name, message, a string code and whether the error is terminal', () => {
    expect(toErrorInfo(new Error('boom'))).toEqual({ name: 'Error', message: 'boom' });
    expect(toErrorInfo(new TerminalError('declined'))).toEqual({
      name: 'TerminalError',
      message: 'declined',
      code: 'TERMINAL',
      terminal: true,
    });
    expect(toErrorInfo(Object.assign(new Error('reset'), { code: 'ECONNRESET' }))).toEqual({
      name: 'Error',
      message: 'reset',
      code: 'ECONNRESET',
    });
  });

  it('recognises a TerminalError from another copy of xsaga by name', () => {
    const foreign = new Error('declined elsewhere');
    foreign.name = 'TerminalError';
    expect(toErrorInfo(foreign)).toEqual({ name: 'TerminalError', message: 'declined elsewhere', terminal: true });
  });

  it('describes a thrown non-Error as a NonError, terminal when it looks terminal', () => {
    expect(toErrorInfo(undefined)).toEqual({
      name: 'NonError',
      message: 'a handler threw a non-Error value: undefined',
    });
    expect(toErrorInfo({ name: 'TerminalError' })).toEqual({
      name: 'NonError',
      message: 'a handler threw a non-Error value: {"name":"TerminalError"}',
      code: 'TERMINAL',
      terminal: true,
    });
  });

  it('gives plain data that survives JSON unchanged, whatever was thrown', () => {
    for (const thrown of [undefined, null, 'x', 1n, Symbol('s'), hostileProxy(), Object.freeze({ code: 7 })]) {
      const info = toErrorInfo(thrown);
      expect(typeof info.name).toBe('string');
      expect(typeof info.message).toBe('string');
      expect(JSON.parse(JSON.stringify(info))).toEqual(info);
    }
  });
});
