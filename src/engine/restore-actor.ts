import { type Actor, createActor, type InspectionEvent } from 'xstate';
import type { SagaMachine } from '../machines/build-saga-machine.ts';
import { SagaStates, topLevelState } from '../machines/states.ts';
import type { SagaRecord } from '../persistence/saga-store.ts';

/**
 * A started actor restored from a stored snapshot (its invoked step job restarts, which is how a
 * saga re-attaches to its job), or undefined when the snapshot does not fit the machine: not a
 * saga state, another saga's context, or a snapshot XState cannot start from.
 */
export function restoreActor(
  machine: SagaMachine,
  record: SagaRecord,
  inspect: ((event: InspectionEvent) => void) | undefined,
): Actor<SagaMachine> | undefined {
  const snapshot = record.snapshot as { value?: unknown; context?: { sagaId?: unknown } } | null;
  const state = snapshot?.value === undefined ? undefined : topLevelState(snapshot.value);
  if (!state || !Object.values(SagaStates).includes(state) || snapshot?.context?.sagaId !== record.sagaId) {
    return undefined;
  }
  try {
    // `input` is ignored when a snapshot is given; the machine's type just cannot say so.
    const actor = createActor(machine, {
      snapshot: record.snapshot as never,
      input: undefined as never,
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
