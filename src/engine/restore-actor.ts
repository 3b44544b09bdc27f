import { type Actor, createActor, type InspectionEvent, type Observer } from 'xstate';
import type { SagaMachine } from '../machines/build-saga-machine.ts';
import type { SagaContext } from '../machines/context.ts';
import { SagaStates, topLevelState } from '../machines/states.ts';
import type { SagaRecord } from '../persistence/saga-store.ts';
import type { RegisteredSaga } from './definition-registry.ts';

/**
 * A started actor restored from a stored snapshot (its invoked step job restarts, which is how a
 * saga re-attaches to its job), or undefined when the snapshot does not fit the machine: not a
 * saga state, another saga's context, steps the definition does not have, or a snapshot XState
 * cannot start from. The actor's `id` is the saga id (what inspectors show); `inspect` is the
 * observer the engine made for this saga (see SagaInspection), if it inspects.
 */
export function restoreActor(
  saga: RegisteredSaga,
  record: SagaRecord,
  inspect: Observer<InspectionEvent> | undefined,
): Actor<SagaMachine> | undefined {
  const snapshot = record.snapshot as { value?: unknown; context?: SagaContext } | null;
  const state = snapshot?.value === undefined ? undefined : topLevelState(snapshot.value);
  if (!state || !Object.values(SagaStates).includes(state) || snapshot?.context?.sagaId !== record.sagaId) {
    return undefined;
  }
  if (!fitsSteps(saga, snapshot.context)) return undefined;
  try {
    // `input` is ignored when a snapshot is given; the machine's type just cannot say so.
    const actor = createActor(saga.machine, {
      snapshot: record.snapshot as never,
      input: undefined as never,
      id: record.sagaId,
      ...(inspect ? { inspect } : {}),
    });
    actor.start();
    if (actor.getSnapshot().status !== 'error') return actor;
    actor.stop();
    return undefined;
  } catch {
    return undefined;
  }
}

/** Every step the context names is one of the definition's, and every step of it has a state. */
function fitsSteps(saga: RegisteredSaga, context: SagaContext): boolean {
  const names = new Set(saga.definition.steps.map((step) => step.name));
  const known = (name: string) => names.has(name);
  const steps = Object.keys(context.steps ?? {});
  return (
    steps.length === names.size &&
    steps.every(known) &&
    [context.completed, context.compensated, context.skipped].every(
      (list) => Array.isArray(list) && list.every(known),
    ) &&
    Object.keys(context.rounds ?? {}).every(known)
  );
}
