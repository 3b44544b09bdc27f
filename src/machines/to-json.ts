import type { AnyStateMachine } from 'xstate';

/** An action as the JSON names it: built-ins by their type (`xstate.assign`), inline functions by name or `inline`. */
export interface StatelyActionJson {
  type: string;
  params?: unknown;
}

/** A guard as the JSON names it: named guards by their type, inline functions by name or `inline`. */
export interface StatelyGuardJson {
  type: string;
  params?: unknown;
}

/** One transition: `source` and `target` are state ids prefixed with `#` (`#trip-booking.Failed`). */
export interface StatelyTransitionJson {
  eventType: string;
  source: string;
  target?: string[];
  actions: StatelyActionJson[];
  guard?: StatelyGuardJson;
  reenter: boolean;
  description?: string;
}

/** One invoked actor: `src` is `stepJob`, the step-job actor of the state (see machine-parts.ts). */
export interface StatelyInvokeJson {
  type: 'xstate.invoke';
  src: string;
  id: string;
}

/** One state node, and through `states` the whole tree below it. */
export interface StatelyStateNodeJson {
  id: string;
  key: string;
  type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  initial?: { target: string[]; source: string; actions: StatelyActionJson[]; eventType: null };
  history: false | 'shallow' | 'deep';
  states: Record<string, StatelyStateNodeJson>;
  on: Record<string, StatelyTransitionJson[]>;
  transitions: StatelyTransitionJson[];
  entry: StatelyActionJson[];
  exit: StatelyActionJson[];
  invoke: StatelyInvokeJson[];
  tags: string[];
  order: number;
  description?: string;
}

/**
 * The machine's definition as plain JSON, in the shape of XState's `machine.toJSON()`, for the
 * Stately visualizer and other tooling.
 *
 * `machine.toJSON()` alone is not data: it returns live objects (state nodes, transitions whose
 * `source` points back at their node) that only serialize through nested `toJSON` hooks, and those
 * hooks lose the implementation: inline guards vanish (a guarded transition then looks
 * unconditional) and inline actions of transitions become `null`. Here every function is named
 * instead: an action becomes `{ type }` (its built-in type such as `xstate.assign`, else its
 * function name, else `inline`), a guard `{ type }` the same way; mappers such as an invoke's
 * `input` are left out. Named actions and guards, which XState writes as bare strings in
 * transitions, become `{ type }` too. The result is a fresh, acyclic, JSON-safe object tree.
 *
 * @example
 * ```ts
 * const json = toStatelyJson(buildSagaMachine(trip));
 * writeFileSync('trip.json', JSON.stringify(json, null, 2)); // import into the Stately editor
 * ```
 */
export function toStatelyJson(machine: AnyStateMachine): StatelyStateNodeJson {
  const json = JSON.parse(JSON.stringify(machine.toJSON(), nameFunctions)) as StatelyStateNodeJson;
  normalizeNode(json);
  return json;
}

/**
 * XState writes a named action or guard of a transition as a bare string (`"log"`) but a state's
 * entry actions as `{ type }`; make them all objects, so consumers read one shape.
 */
function normalizeNode(node: StatelyStateNodeJson): void {
  node.entry = node.entry.map(asObject);
  node.exit = node.exit.map(asObject);
  if (node.initial) node.initial.actions = node.initial.actions.map(asObject);
  for (const transition of [...node.transitions, ...Object.values(node.on).flat()]) {
    transition.actions = transition.actions.map(asObject);
    if (transition.guard !== undefined) transition.guard = asObject(transition.guard);
  }
  for (const child of Object.values(node.states)) normalizeNode(child);
}

function asObject<T extends { type: string }>(value: T | string): T | { type: string } {
  return typeof value === 'string' ? { type: value } : value;
}

/** `JSON.stringify` replacer: runs after each `toJSON` hook, so it sees the functions those hooks keep. */
function nameFunctions(key: string, value: unknown): unknown {
  if (typeof value !== 'function') return value;
  // The hooks spread themselves into their output; without this the hook would be named as an action.
  if (key === 'toJSON') return undefined;
  if (key === 'guard') return { type: functionName(value) };
  // Array members: the entries of `actions`, `entry` and `exit` (the only arrays that hold functions).
  if (/^\d+$/.test(key)) return { type: functionName(value) };
  return undefined;
}

function functionName(fn: { name: string; type?: unknown }): string {
  if (typeof fn.type === 'string') return fn.type;
  // An inline arrow gets the name of the property it was written in (`guard: () => ...` is named
  // `guard`), which says nothing about it.
  return fn.name && fn.name !== 'guard' ? fn.name : 'inline';
}
