import { isTerminalError } from '../errors.ts';
import type { ErrorInfo } from '../vocabulary/events.ts';

/** Longest description of a thrown non-Error value kept in a message: the value itself may be huge. */
const MAX_DESCRIPTION = 200;
/** Entries of an object or array shown in a description before `…`. */
const MAX_ENTRIES = 8;
/** BigInts beyond this are described by size: printing a huge one costs more than it tells. */
const LARGE_BIGINT = 10n ** 40n;

/**
 * What a handler threw when it was not a usable Error (a string, `undefined`, a plain object...),
 * wrapped so that everything downstream can read a string `message`: BullMQ's failure path reads
 * `err.message`, and leaves the job active, to stall and run again at the same attempt, when it
 * cannot. The thrown value itself is the `cause`. A terminal-looking value (`{ name: 'TerminalError' }`,
 * `{ code: 'TERMINAL' }`) keeps a terminal `code`, so it still skips retries (see isTerminalError).
 */
export class NonError extends Error {
  override readonly name = 'NonError';
  /** `TERMINAL` for a terminal-looking value, else the value's own string `code`, if any. */
  readonly code?: string;

  constructor(value: unknown) {
    super(`a handler threw a non-Error value: ${describeValue(value)}`, { cause: value });
    const code = codeOf(value);
    if (code !== undefined) this.code = code;
  }
}

/**
 * The Error to record and rethrow for anything a handler threw: an Error whose `name` and `message`
 * are strings and whose `code` can be read (what queues and isTerminalError look at) is returned as
 * is, anything else is wrapped in a {@link NonError}. Never throws, whatever the value's getters,
 * `toString` or `toJSON` do.
 */
export function toError(thrown: unknown): Error {
  // Any of these reads may throw (`instanceof` asks a Proxy for its prototype; `code` may be a
  // getter): an Error that throws here would throw again in a queue's isTerminalError.
  const usable = safely(
    () =>
      thrown instanceof Error &&
      typeof thrown.name === 'string' &&
      typeof thrown.message === 'string' &&
      // Read only to learn that reading it does not throw; a symbol is no code either.
      typeof (thrown as { code?: unknown }).code !== 'symbol',
    false,
  );
  return usable ? (thrown as Error) : new NonError(thrown);
}

/**
 * An error as plain data, the only form that crosses a queue: string `name` and `message`, the string
 * `code` if there is one, and `terminal` when retrying cannot help. Anything thrown that is not an Error
 * is described (see {@link toError}) rather than dropped.
 */
export function toErrorInfo(thrown: unknown): ErrorInfo {
  const error = toError(thrown);
  // toError proved name and message readable; the fallbacks only satisfy the types.
  const name = readString(error, 'name') ?? 'Error';
  const message = readString(error, 'message') ?? '';
  const code = readString(error, 'code');
  return {
    name,
    message,
    ...(code !== undefined ? { code } : {}),
    ...(safely(() => isTerminalError(error), false) ? { terminal: true } : {}),
  };
}

/** The code a wrapped value keeps: terminal-looking values stay terminal whatever else they carry. */
function codeOf(value: unknown): string | undefined {
  if (safely(() => isTerminalError(value), false)) {
    return readString(value, 'code') === 'HANDLER_MISSING' ? 'HANDLER_MISSING' : 'TERMINAL';
  }
  const code = readString(value, 'code');
  return code === undefined ? undefined : cap(code, 100);
}

function readString(value: unknown, key: string): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  return safely(() => {
    const field = (value as Record<string, unknown>)[key];
    return typeof field === 'string' ? field : undefined;
  }, undefined);
}

/**
 * A short, JSON-like description of any value: bounded in depth, entries and length, and never
 * calling the value's own `toString`/`toJSON` (they may throw, or print the whole thing).
 */
export function describeValue(value: unknown): string {
  return cap(
    safely(() => describe(value, 2), 'a value that could not be described'),
    MAX_DESCRIPTION,
  );
}

function describe(value: unknown, depth: number): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(cap(value, MAX_DESCRIPTION));
    case 'number':
    case 'boolean':
    case 'undefined':
      return String(value);
    case 'bigint':
      return value > LARGE_BIGINT || value < -LARGE_BIGINT ? 'a BigInt of more than 40 digits' : `${value}n`;
    case 'symbol':
      return `Symbol(${cap(value.description ?? '', 50)})`;
    case 'function':
      return 'a function';
  }
  if (value === null) return 'null';
  const object = value as object;
  const prototype = Object.getPrototypeOf(object);
  if (Array.isArray(object)) {
    if (depth === 0) return '[…]';
    const shown = Array.from({ length: Math.min(object.length, MAX_ENTRIES) }, (_, index) =>
      safely(() => describe(object[index], depth - 1), '?'),
    );
    return `[${shown.join(',')}${object.length > MAX_ENTRIES ? ',…' : ''}]`;
  }
  if (prototype !== Object.prototype && prototype !== null) {
    const name = safely(() => String((prototype as { constructor?: { name?: unknown } }).constructor?.name ?? ''), '');
    // An Error from another realm (a vm context, a worker) is not `instanceof Error`: keep its message.
    const message = readString(object, 'message');
    const described = `an instance of ${name === '' ? 'a class' : cap(name, 50)}`;
    return message === undefined ? described : `${described} with message ${JSON.stringify(cap(message, 100))}`;
  }
  if (depth === 0) return '{…}';
  const keys = Object.keys(object);
  const shown = keys
    .slice(0, MAX_ENTRIES)
    .map(
      (key) =>
        `${JSON.stringify(cap(key, 50))}:${safely(() => describe((object as Record<string, unknown>)[key], depth - 1), '?')}`,
    );
  return `{${shown.join(',')}${keys.length > MAX_ENTRIES ? ',…' : ''}}`;
}

function cap(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

function safely<T>(read: () => T, fallback: T): T {
  try {
    return read();
  } catch {
    return fallback;
  }
}
