import { type Actor, createActor, type InspectionEvent, type Observer, type StateValue } from 'xstate';
import type { SagaMachine } from '../machines/build-saga-machine.ts';
import type { SagaContext } from '../machines/context.ts';
import { toolOf } from '../machines/step-of.ts';
import type { SagaRecord } from '../persistence/saga-store.ts';
import { SagaStates, topLevelState } from '../vocabulary/states.ts';
import { readStoredSnapshot } from './compact-snapshot.ts';
import type { RegisteredSaga } from './definition-registry.ts';
import { activeInvokes, invokeInput } from './state-jobs.ts';

/**
 * A started actor restored from a stored snapshot (its invoked step-job actors restart, as an
 * inspector shows them; the jobs themselves are read from the state, see jobsOfState), or undefined when the snapshot does not fit the machine: not a
 * saga state, another saga's context, steps the definition does not have, or a snapshot XState
 * cannot start from. The actor's `id` is the saga id (what inspectors show); `inspect` is the
 * observer the engine made for this saga (see SagaInspection), if it inspects.
 */
export function restoreActor(
  saga: RegisteredSaga,
  record: SagaRecord,
  inspect: Observer<InspectionEvent> | undefined,
): Actor<SagaMachine> | undefined {
  try {
    const data = readStoredSnapshot(record.sagaId, record.snapshot);
    const state = data === undefined ? undefined : topLevelState(data.value);
    if (!data || !state || !Object.values(SagaStates).includes(state) || data.context.sagaId !== record.sagaId) {
      return undefined;
    }
    if (!fitsSteps(saga, data.context)) return undefined;
    // `input` is ignored when a snapshot is given; the machine's type just cannot say so.
    const actor = createActor(saga.machine, {
      snapshot: persistedSnapshotOf(saga.machine, data.value, data.context) as never,
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

/** A child entry of XState's persisted snapshot: what `createActor({ snapshot })` restarts. */
interface PersistedChild {
  src: string;
  snapshot: { status: 'active'; input: unknown };
  syncSnapshot: boolean;
  systemId?: string;
}

/**
 * XState's persisted snapshot of a saga in state `value` with `context`, as `getPersistedSnapshot`
 * would have written it. XState restarts only the children a restored snapshot names: one built by
 * `machine.resolveState({ value, context })`, or stored without `children`, restarts no invoke, and
 * the inspector would show a saga with no step running. So each invoke of the active state nodes
 * becomes a child entry whose input is the invoke's own `input` mapper applied to the context (see
 * jobsOfState).
 *
 * @throws when `value` is not a state of the machine.
 */
export function persistedSnapshotOf(machine: SagaMachine, value: StateValue, context: SagaContext) {
  // resolveState checks the value against the machine and says whether it is final ('done').
  const { status } = machine.resolveState({ value, context });
  const children: Record<string, PersistedChild> = {};
  for (const invoke of activeInvokes(machine, value)) {
    children[invoke.id] = {
      src: String(invoke.src),
      snapshot: { status: 'active', input: invokeInput(invoke, context) },
      syncSnapshot: Boolean((invoke as { syncSnapshot?: boolean }).syncSnapshot),
      ...(invoke.systemId === undefined ? {} : { systemId: invoke.systemId }),
    };
  }
  return { status, value, context, historyValue: {}, children };
}

/** Every step the context names is one of the definition's, and every step of it has a state. */
function fitsSteps(saga: RegisteredSaga, context: SagaContext): boolean {
  const { dynamic } = saga.definition;
  // A dynamic saga's steps are its plan, each run by one of its tools.
  const names = new Set(
    dynamic
      ? (context.plan ?? []).filter((name) => toolOf(saga.definition, context, name) !== undefined)
      : saga.definition.steps.map((step) => step.name),
  );
  const known = (name: string) => names.has(name);
  const steps = Object.keys(context.steps ?? {});
  return (
    steps.length === names.size &&
    steps.every(known) &&
    [context.completed, context.compensated, context.skipped].every(
      (list) => Array.isArray(list) && list.every(known),
    ) &&
    Object.keys(context.rounds ?? {}).every(known) &&
    Object.keys(context.runRounds ?? {}).every(known)
  );
}
