import type { StateValue } from 'xstate';
import type { AnySagaDefinition } from '../definition/types.ts';
import { inFlight, type SagaMachine } from '../machines/build-saga-machine.ts';
import type { SagaContext, StepJobRequest } from '../machines/context.ts';
import type { TraceCarrier } from '../observability/instrumentation.ts';
import type { SagaTimer } from '../persistence/saga-store.ts';
import type { StepJob, StepQueue } from '../transport/step-queue.ts';
import { SETTLED_STATES, topLevelState } from '../vocabulary/states.ts';
import { buildStepJob } from './build-step-job.ts';
import { isParked, parkedTimer } from './parked-timer.ts';
import { startedJobs } from './state-jobs.ts';

/** A saga's state, as the effects of a transition are read from it. */
interface SagaState {
  value: StateValue;
  context: SagaContext;
}

/**
 * What a transition asks for, read from the states before and after it. Saved with it (its timer,
 * its announcement) and performed after or by the save (its jobs): the engine does nothing the
 * machine said through any other channel.
 */
export interface TransitionEffects {
  /** The step jobs the new state runs that the old one did not, with their ids and data. */
  jobs: StepJob[];
  /** The saga's timer: set to this, cleared (null), or left as it is (undefined). */
  timer: SagaTimer | null | undefined;
  /** The saga is in a settled state (`Completed`, `Failed`, `Escalated`): its waiters are told. */
  settled: boolean;
  /** The saga waits for something outside (a signal, a deadline, its agent): its waiters are told. */
  parked: boolean;
  /** The state value did not change (a cancel while a step runs): the step's job carries on. */
  stayed: boolean;
}

/** What reading a transition's effects needs: the saga's definition and machine, and the queue. */
export interface EffectsContext {
  definition: AnySagaDefinition;
  machine: SagaMachine;
  /** Job deadlines come from the queue (see StepQueue.deadlineOf); none from a queue without. */
  queue: Pick<StepQueue, 'deadlineOf'>;
  /** The saga's trace context: its next jobs carry it. */
  trace: TraceCarrier | undefined;
  now: number;
  /** Where a wait whose `until` cannot give a deadline is reported (see parkedTimer). */
  onError: (error: unknown) => void;
}

/** The effects of the transition from `before` to `after` (see {@link TransitionEffects}). */
export function transitionEffects(at: EffectsContext, before: SagaState, after: SagaState): TransitionEffects {
  const jobs = stepJobs(at, after.context, startedJobs(at.machine, before, after));
  const stayed = JSON.stringify(before.value) === JSON.stringify(after.value);
  return {
    jobs,
    timer: timerAfter(at, before, after, jobs, stayed),
    settled: SETTLED_STATES.includes(topLevelState(after.value)),
    parked: isParked(at.definition, after),
    stayed,
  };
}

/** The step jobs for these requests, as the queue gets them (ids, data, policy, trace). */
export function stepJobs(
  at: Pick<EffectsContext, 'definition' | 'trace'>,
  context: SagaContext,
  requests: readonly StepJobRequest[],
): StepJob[] {
  const jobs: StepJob[] = [];
  for (const request of requests) {
    const job = buildStepJob(at.definition, context, request, at.trace);
    if (job) jobs.push(job);
  }
  return jobs;
}

/**
 * The saga's timer after a transition: the deadline of the wait it parks at (or of a dynamic
 * saga's idle spell); the deadline of the step job the transition dispatches (when the queue has
 * deadlines); none when it leaves its step or wait for a state without either; or unchanged
 * (undefined) when it stays. Only queues whose workers can die with a job in hand (BullMQ) have job
 * deadlines.
 */
function timerAfter(
  at: EffectsContext,
  before: SagaState,
  after: SagaState,
  jobs: StepJob[],
  stayed: boolean,
): SagaTimer | null | undefined {
  const { definition, queue, now } = at;
  const parked = parkedTimer(definition, after, now, at.onError);
  if (parked !== undefined) return stayed ? undefined : parked;
  const deadlineOf = queue.deadlineOf;
  if (!deadlineOf) return isParked(definition, before) ? null : undefined;
  if (jobs.length === 0 && stayed) return undefined;
  // A saga keeps one timer: the deadline of a job it waits for. When a parallel group's member
  // settles and others still run, the timer moves on to one of those.
  const [waiting] = jobs.length > 0 ? [] : inFlight(after.context);
  const job = jobs[0] ?? (waiting && buildStepJob(definition, after.context, waiting));
  if (!job) return null;
  const ms = deadlineOf.call(queue, job);
  return ms === undefined ? null : { id: job.id, dueAt: now + ms };
}
