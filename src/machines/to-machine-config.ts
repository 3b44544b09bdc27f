import type { AnyStateMachine } from 'xstate';

/** A transition as a machine config writes it: targets by key or `#id`, guard and actions by name. */
export interface MachineTransitionConfigJson {
  target?: string | string[];
  guard?: string;
  actions?: string | string[];
  reenter?: boolean;
  description?: string;
}

/** One state of a machine config, and through `states` the whole tree below it. */
export interface MachineStateConfigJson {
  id?: string;
  type?: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  initial?: string;
  description?: string;
  tags?: string[];
  entry?: string | string[];
  exit?: string | string[];
  invoke?: { src: string; id?: string } | { src: string; id?: string }[];
  on?: Record<string, string | MachineTransitionConfigJson | (string | MachineTransitionConfigJson)[]>;
  states?: Record<string, MachineStateConfigJson>;
}

/** A machine config as JSON: the object `createMachine` takes, with every function replaced by a name. */
export interface MachineConfigJson extends MachineStateConfigJson {
  id: string;
}

/**
 * The machine's config — what was passed to `createMachine` — as plain JSON, which is what the
 * Stately editor imports (inside `createMachine(...)`) and what `createMachine` itself accepts again.
 *
 * Unlike {@link toStatelyJson} (the resolved `machine.toJSON()` tree: `key`, `order`, `#id` target
 * arrays, `eventType`), this keeps the config's own shape: `initial` as a key, `on` as event ->
 * transition(s) with `target` strings. Implementations become names: an action becomes its built-in
 * type (`xstate.assign`) or function name, a guard its function name, `inline` for anonymous ones;
 * functions the config only computes data with (`context`, an invoke's `input`) are left out.
 *
 * @example
 * ```ts
 * const code = `createMachine(${JSON.stringify(toMachineConfig(buildSagaMachine(trip)), null, 2)})`;
 * // paste into the Stately editor: Code panel > Import
 * ```
 */
export function toMachineConfig(machine: AnyStateMachine): MachineConfigJson {
  return JSON.parse(JSON.stringify(machine.config, nameImplementations)) as MachineConfigJson;
}

/** Keys whose functions are implementations to name; every other function is data-computing and left out. */
const NAMED = new Set(['guard', 'actions', 'entry', 'exit']);

/** `JSON.stringify` replacer; `this` is the object holding `key`. */
function nameImplementations(this: unknown, key: string, value: unknown): unknown {
  if (typeof value !== 'function') return value;
  // A member of an `actions`/`entry`/`exit` list: its key is its index.
  if (NAMED.has(key) || (Array.isArray(this) && /^\d+$/.test(key))) return implementationName(value);
  return undefined;
}

function implementationName(fn: { name: string; type?: unknown }): string {
  if (typeof fn.type === 'string') return fn.type;
  // An inline arrow gets the name of the property it was written in (`guard: () => ...` is named
  // `guard`), which says nothing about it.
  return fn.name && !NAMED.has(fn.name) ? fn.name : 'inline';
}
