/**
 * The JSON rule: a saga's input (what its schema outputs) and every step result must be plain JSON,
 * because that is what a store keeps and what a step job carries to a worker. A value that JSON would
 * change — a Date becomes a string, a Set becomes `{}` — would reach handlers as one thing in the
 * embedded engine and as another after a trip through Redis; a value JSON cannot hold at all (a BigInt,
 * a cycle) would fail deep inside a store. Checking up front turns both into one clear error.
 *
 * Plain JSON here means: strings, finite numbers, booleans, null, arrays (no holes, no `undefined`
 * elements) and plain objects (prototype `Object.prototype` or `null`, no `toJSON`) whose own keys are
 * all enumerable strings, nested at most {@link MAX_JSON_DEPTH} levels.
 *
 * `undefined` is allowed as an object property's value and as the whole value: it means "absent", and
 * JSON drops it the same way on every backend. Inside an array it is refused, since JSON turns it into
 * `null` there.
 */

/**
 * Deepest nesting of arrays and objects accepted: enough for any real document, and a bound that keeps
 * the check and later `JSON.stringify` calls far from the stack limit. It also ends every cycle, which
 * is only told apart from deep nesting when the limit is reached: no per-object bookkeeping on the way.
 */
export const MAX_JSON_DEPTH = 256;

/** Why a value is not plain JSON, and where. */
export interface JsonProblem {
  /** Dotted path inside the checked value, e.g. `when` or `items.2.id`; `''` for the value itself. */
  path: string;
  /** What the value is and what JSON would do to it: `is a Date, which JSON turns into a string`. */
  problem: string;
  /** What to use instead: `use an ISO date string (...)`. */
  hint: string;
}

/**
 * Finds the first part of `value` that is not plain JSON (see the module comment for the rule), in
 * document order; `undefined` when the whole value is plain JSON. Never throws, and walks with its own
 * stack, so a hostile value (a getter that throws, a Proxy, a million levels of nesting) is reported
 * rather than crashing the caller. Getters are read, as JSON reads them.
 *
 * @example
 * ```ts
 * findNonJson({ when: new Date() }); // { path: 'when', problem: 'is a Date, which JSON turns into a string', hint: '...' }
 * findNonJson({ items: [{ id: 1 }] }); // undefined
 * ```
 */
export function findNonJson(value: unknown): JsonProblem | undefined {
  const stack: Frame[] = [{ value, key: '', parent: undefined, depth: 0, inArray: false }];
  let frame: Frame | undefined;
  try {
    for (frame = stack.pop(); frame !== undefined; frame = stack.pop()) {
      const found = visit(frame, stack);
      if (found) return found;
    }
  } catch {
    if (frame) return problemAt(frame, 'could not be read: inspecting it threw', 'use plain data');
  }
  return undefined;
}

/**
 * `input.when is a Date, which JSON turns into a string; use ...`: a problem as one sentence, its path
 * under `root` (the name of what was checked: `input`, `result`).
 */
export function describeJsonProblem(root: string, found: JsonProblem): string {
  return `${found.path === '' ? root : `${root}.${found.path}`} ${found.problem}; ${found.hint}`;
}

interface Frame {
  value: unknown;
  /** Key in the parent (an array index as a string); `''` for the root. */
  key: string;
  parent: Frame | undefined;
  depth: number;
  inArray: boolean;
}

/** Stands for a missing array element, so a hole is reported in document order like any value. */
const HOLE = Symbol('hole');

/** Checks one value; pushes the children of a container, last first, so they pop in document order. */
function visit(frame: Frame, stack: Frame[]): JsonProblem | undefined {
  const { value } = frame;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(value)
        ? undefined
        : problemAt(frame, `is ${value}, which JSON turns into null`, 'use a finite number or null');
    case 'undefined':
      return frame.inArray
        ? problemAt(frame, 'is undefined inside an array, which JSON turns into null', 'use null, or leave it out')
        : undefined;
    case 'bigint':
      return problemAt(
        frame,
        'is a BigInt, which JSON cannot store',
        'use a string or a number (z.string() instead of z.bigint())',
      );
    case 'symbol':
      return value === HOLE
        ? problemAt(frame, 'is a hole in an array, which JSON turns into null', 'use null')
        : problemAt(frame, 'is a symbol, which JSON drops', 'use a string');
    case 'function':
      return problemAt(frame, 'is a function, which JSON drops', 'pass data, not code');
  }
  if (value === null) return undefined;
  if (frame.depth >= MAX_JSON_DEPTH) return tooDeep(frame);
  const object = value as Record<string, unknown>;
  const prototype = Object.getPrototypeOf(object);
  const depth = frame.depth + 1;
  if (prototype === Array.prototype && Array.isArray(object)) {
    const array = object as unknown as unknown[];
    for (let index = array.length - 1; index >= 0; index--) {
      let element = array[index];
      if (element === undefined && !Object.hasOwn(array, index)) element = HOLE;
      stack.push({ value: element, key: String(index), parent: frame, depth, inArray: true });
    }
    return undefined;
  }
  if (prototype !== Object.prototype && prototype !== null) return notPlain(frame, object);
  if (typeof object.toJSON === 'function') {
    return problemAt(frame, 'has a toJSON method, which JSON calls to store something else', 'store plain data');
  }
  const keys = Object.keys(object);
  // What Object.keys leaves out, JSON drops too: symbol keys and non-enumerable properties.
  const all = Reflect.ownKeys(object);
  if (all.length !== keys.length) return hiddenKey(frame, object, all);
  for (let index = keys.length - 1; index >= 0; index--) {
    const key = keys[index] as string;
    const child = object[key];
    // A property holding undefined is absent: JSON drops it on every backend alike.
    if (child !== undefined) stack.push({ value: child, key, parent: frame, depth, inArray: false });
  }
  return undefined;
}

/** At the depth limit: a cycle if an object repeats on the way down, else plain deep nesting. */
function tooDeep(frame: Frame): JsonProblem {
  const chain: Frame[] = [];
  for (let at: Frame | undefined = frame; at !== undefined; at = at.parent) chain.push(at);
  const seen = new Set<unknown>();
  for (let index = chain.length - 1; index >= 0; index--) {
    const at = chain[index] as Frame;
    if (seen.has(at.value)) {
      return problemAt(
        at,
        'refers back to an object that contains it (a circular reference), which JSON cannot store',
        'store an id instead of the object itself',
      );
    }
    seen.add(at.value);
  }
  return problemAt(
    frame,
    `nests deeper than ${MAX_JSON_DEPTH} levels`,
    'flatten it, or keep large documents elsewhere and pass a reference',
  );
}

function hiddenKey(frame: Frame, object: object, all: ReadonlyArray<string | symbol>): JsonProblem {
  const symbol = all.find((key): key is symbol => typeof key === 'symbol');
  if (symbol)
    return problemAt(frame, `has a symbol key (${symbol.description ?? ''}), which JSON drops`, 'use string keys');
  const hidden = all.find((key) => !Object.prototype.propertyIsEnumerable.call(object, key)) as string;
  return problemAt(
    { value: undefined, key: hidden, parent: frame, depth: frame.depth + 1, inArray: false },
    'is not enumerable, which JSON drops',
    'make it a plain property',
  );
}

/** The problem of an object that is neither a plain object nor a plain array: say what JSON does to it. */
function notPlain(frame: Frame, object: object): JsonProblem {
  const at = (problem: string, hint: string) => problemAt(frame, problem, hint);
  if (object instanceof Date) {
    return at(
      'is a Date, which JSON turns into a string',
      'use an ISO date string (z.iso.datetime() in a schema, date.toISOString() in a result)',
    );
  }
  if (object instanceof Set) {
    return at('is a Set, which JSON turns into {} and so loses its contents', 'use an array (z.array() in a schema)');
  }
  if (object instanceof Map) {
    return at(
      'is a Map, which JSON turns into {} and so loses its contents',
      'use a plain object (z.record() in a schema) or an array of [key, value] pairs',
    );
  }
  if (object instanceof RegExp) return at('is a RegExp, which JSON turns into {}', 'use its source as a string');
  if (ArrayBuffer.isView(object) || object instanceof ArrayBuffer) {
    return at(
      `is binary data (${className(object)}), which JSON does not keep as bytes`,
      'use a base64 string or an array of numbers',
    );
  }
  if (object instanceof Error) {
    return at('is an Error, which JSON turns into {} and so loses its message', 'use { name, message } strings');
  }
  if (Array.isArray(object)) {
    return at(
      `is an instance of ${className(object)}, an Array subclass JSON stores as a plain array`,
      'use a plain array',
    );
  }
  return at(
    `is an instance of ${className(object)}, which JSON turns into a plain object without its class`,
    'use a plain object',
  );
}

function className(object: object): string {
  const name = (Object.getPrototypeOf(object) as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  return typeof name === 'string' && name !== '' ? name : 'a class';
}

/** Builds the dotted path only when a problem is found: most checks find none. */
function problemAt(frame: Frame, problem: string, hint: string): JsonProblem {
  const keys: string[] = [];
  for (let at: Frame | undefined = frame; at?.parent !== undefined; at = at.parent) keys.push(at.key);
  return { path: keys.reverse().join('.'), problem, hint };
}

/** Thrown inside {@link copyJson}'s fast path at anything it does not copy itself. */
const NOT_PLAIN = Symbol('not plain');

/**
 * A deep copy of `value` exactly as a JSON round trip makes it (`JSON.parse(JSON.stringify(value))`:
 * properties holding `undefined` dropped, `-0` turned into `0`), without the text in between: several
 * times cheaper for the small documents sagas carry, and it leaves no string behind for the garbage
 * collector. Meant for values the JSON rule already admitted (inputs, step results, step jobs); anything
 * else (a Date, a hole, a cycle, a `__proto__` key) takes the real round trip, so the answer is always
 * the round trip's, errors included. `undefined` is returned as is.
 *
 * @example
 * ```ts
 * copyJson({ a: 1, b: undefined, c: [-0] }); // { a: 1, c: [0] }
 * ```
 */
export function copyJson<T>(value: T): T {
  if (value === undefined) return value;
  try {
    return copyPlain(value, 0) as T;
  } catch (error) {
    if (error !== NOT_PLAIN) throw error;
    return JSON.parse(JSON.stringify(value)) as T;
  }
}

function copyPlain(value: unknown, depth: number): unknown {
  if (typeof value !== 'object') {
    if (typeof value === 'string' || typeof value === 'boolean') return value;
    if (typeof value === 'number' && Number.isFinite(value)) return value === 0 ? 0 : value;
    throw NOT_PLAIN;
  }
  if (value === null) return null;
  if (depth >= MAX_JSON_DEPTH) throw NOT_PLAIN;
  const prototype = Object.getPrototypeOf(value);
  if (prototype === Array.prototype && Array.isArray(value)) {
    const array = value as unknown[];
    const copy = new Array<unknown>(array.length);
    for (let index = 0; index < array.length; index++) {
      const element = array[index];
      if (element === undefined) throw NOT_PLAIN;
      copy[index] = copyPlain(element, depth + 1);
    }
    return copy;
  }
  if (prototype !== Object.prototype && prototype !== null) throw NOT_PLAIN;
  const object = value as Record<string, unknown>;
  if (typeof object.toJSON === 'function') throw NOT_PLAIN;
  const copy: Record<string, unknown> = {};
  // for-in rather than Object.keys: no array per object. Inherited keys are skipped, as JSON does.
  for (const key in object) {
    if (!Object.hasOwn(object, key)) continue;
    const field = object[key];
    if (field === undefined) continue;
    if (key === '__proto__') throw NOT_PLAIN;
    copy[key] = typeof field === 'string' || typeof field === 'boolean' ? field : copyPlain(field, depth + 1);
  }
  return copy;
}
