import type { SagaUpdate, TransitionEntry } from '../persistence/saga-store.ts';
import type { StepJob, StepQueue } from '../transport/step-queue.ts';
import type { ScriptCall } from '../vocabulary/script-call.ts';
import type { SagaState } from '../vocabulary/states.ts';
import { type SagaSnapshotData, toStoredSnapshot } from './compact-snapshot.ts';
import type { TransitionEffects } from './transition-effects.ts';

/**
 * The adds of a transition's fresh jobs as script calls for its save, when the store and queue
 * share a Redis and the queue can describe every one of them; otherwise undefined (enqueued after
 * the save). A re-attach never comes here: it must first look for the job it may already have.
 */
export function jobAddCalls(
  queue: Pick<StepQueue, 'addCall'>,
  dispatchWithSave: boolean,
  jobs: StepJob[],
): ScriptCall[] | undefined {
  if (!dispatchWithSave || jobs.length === 0 || !queue.addCall) return undefined;
  const calls: ScriptCall[] = [];
  for (const job of jobs) {
    const call = queue.addCall(job);
    if (!call) return undefined;
    calls.push(call);
  }
  return calls;
}

/**
 * The script calls a transition's save makes: the adds of its jobs (see jobAddCalls) and `finish`,
 * the completion of the job that brought the event; `reattaches` when the saga re-attaches to a
 * job after the save (it was restored for this event and stayed in its state).
 */
export function saveScriptCalls(
  addCalls: ScriptCall[] | undefined,
  jobs: StepJob[],
  finish: ScriptCall | undefined,
  dispatchWithSave: boolean,
  reattaches: boolean,
): ScriptCall[] | undefined {
  // The job that brought the event completes in the same script, if nothing waits for the save
  // (a job to enqueue or re-attach after it): its worker never holds a job the saga moved past.
  return finish && dispatchWithSave && (addCalls || jobs.length === 0) && !reattaches
    ? [...(addCalls ?? []), finish]
    : addCalls;
}

/**
 * The compare-and-set save of a transition, logged as `entry`: the state and snapshot it reached
 * from `revision`, its timer and announcement (see TransitionEffects), and the script calls to make
 * with it.
 */
export function transitionUpdate(
  entry: TransitionEntry,
  revision: number,
  state: SagaState,
  after: SagaSnapshotData,
  { timer, parked }: Pick<TransitionEffects, 'timer' | 'parked'>,
  scriptCalls: ScriptCall[] | undefined,
): SagaUpdate {
  return {
    sagaId: entry.sagaId,
    expectedRevision: revision,
    state,
    snapshot: toStoredSnapshot(after),
    updatedAt: entry.at,
    ...(timer === undefined ? {} : { timer }),
    ...(parked ? { announce: true } : {}),
    ...(scriptCalls ? { scriptCalls } : {}),
  };
}
