import type { AnySagaDefinition } from '../definition/types.ts';
import { DefinitionError } from '../errors.ts';
import { buildSagaMachine, type SagaMachine } from '../machines/build-saga-machine.ts';

/** A definition with its machine, wired to the engine's dispatcher. */
export interface RegisteredSaga {
  definition: AnySagaDefinition;
  machine: SagaMachine;
}

/**
 * The definitions an engine can drive, by name and version, each with its machine built once. The
 * machine's step jobs are read from its states (see jobsOfState), so its step-job actors do
 * nothing: they are what the inspector and the graphs show running.
 */
export class DefinitionRegistry {
  readonly #sagas = new Map<string, RegisteredSaga>();

  /** Registers a definition (idempotent); a different definition under a taken name+version is refused. */
  register(definition: AnySagaDefinition): RegisteredSaga {
    const key = keyOf(definition.name, definition.version);
    const existing = this.#sagas.get(key);
    if (existing) {
      if (existing.definition !== definition && !sameShape(existing.definition, definition)) {
        throw new DefinitionError(
          `saga "${definition.name}" version ${definition.version} is already registered with other steps; bump the version`,
          'version',
        );
      }
      return existing;
    }
    const registered = { definition, machine: buildSagaMachine(definition) };
    this.#sagas.set(key, registered);
    return registered;
  }

  /** The registered definition a stored saga was started with, or undefined. */
  get(name: string, version: number): RegisteredSaga | undefined {
    return this.#sagas.get(keyOf(name, version));
  }

  /** Whether any version of the saga `name` is registered. */
  knows(name: string): boolean {
    return this.all().some((saga) => saga.definition.name === name);
  }

  /** Every registered definition. */
  all(): RegisteredSaga[] {
    return [...this.#sagas.values()];
  }
}

function keyOf(name: string, version: number): string {
  return `${name}@${version}`;
}

function sameShape(a: AnySagaDefinition, b: AnySagaDefinition): boolean {
  const shape = (d: AnySagaDefinition) => JSON.stringify([d.steps, d.dynamic], shapeOnly);
  return shape(a) === shape(b);
}

/** A wait's signal schema compares as a placeholder: its internals are no part of the steps' shape. */
function shapeOnly(_key: string, value: unknown): unknown {
  return typeof value === 'object' &&
    value !== null &&
    typeof (value as { safeParse?: unknown }).safeParse === 'function'
    ? '<schema>'
    : value;
}
