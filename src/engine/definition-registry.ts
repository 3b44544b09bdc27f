import { type ActorLogic, fromCallback } from 'xstate';
import type { AnySagaDefinition } from '../definition/types.ts';
import { DefinitionError } from '../errors.ts';
import { buildSagaMachine, type SagaMachine } from '../machines/build-saga-machine.ts';
import type { StepJobRequest } from '../machines/context.ts';
import type { SagaEvent } from '../vocabulary/events.ts';

/** A definition with its machine, wired to the engine's dispatcher. */
export interface RegisteredSaga {
  definition: AnySagaDefinition;
  machine: SagaMachine;
}

/**
 * The definitions an engine can drive, by name and version. Each gets its machine built once, with
 * the step-job placeholder replaced by an actor that hands the request to the engine: the engine
 * dispatches it only after the transition that asked for it has been persisted.
 */
export class DefinitionRegistry {
  readonly #sagas = new Map<string, RegisteredSaga>();
  readonly #stepJob: ActorLogic<never, SagaEvent, StepJobRequest>;

  constructor(onStepJob: (request: StepJobRequest) => void) {
    this.#stepJob = fromCallback<SagaEvent, StepJobRequest>(({ input }) => {
      onStepJob(input);
    }) as unknown as ActorLogic<never, SagaEvent, StepJobRequest>;
  }

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
    const machine = buildSagaMachine(definition).provide({ actors: { stepJob: this.#stepJob as never } });
    const registered = { definition, machine: machine as SagaMachine };
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
