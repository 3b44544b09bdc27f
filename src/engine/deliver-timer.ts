import type { Clock } from '../clock.ts';
import { RecordCorruptError, SagaNotFoundError } from '../errors.ts';
import type { SagaStore } from '../persistence/saga-store.ts';
import { parseStepJobId, parseWaitTimerId } from '../transport/job-id.ts';
import type { StepOutcome, StepQueue } from '../transport/step-queue.ts';
import { type SagaEvent, SagaEvents } from '../vocabulary/events.ts';
import { TIMER_LEASE_MS } from './timer-sweeper.ts';

/** What a due timer is delivered through: the store, queue and clock of SagaHosts, and its event path. */
export interface TimerTarget {
  store: Pick<SagaStore, 'settleTimer'>;
  queue: Pick<StepQueue, 'expire'>;
  clock: Clock;
  /** Applies an event to its saga (see SagaHosts.send). */
  send(sagaId: string, event: SagaEvent): Promise<unknown>;
  /** Applies a timed-out job's outcome (see SagaHosts.applyStepOutcome). */
  applyStepOutcome(outcome: StepOutcome): Promise<unknown>;
  /** Whether the saga still waits for this step job (see SagaHosts.awaitsJob). */
  awaitsJob(job: { sagaId: string; step: string; direction: string; round: number }): Promise<boolean>;
  /** Re-attaches the saga, read afresh from the store, to the job of the state it is in (inside its lock). */
  reattachFresh(sagaId: string): Promise<void>;
}

/**
 * A timer came due: a wait's deadline is delivered to its saga (ignored if it no longer waits
 * there); a step job's deadline times the job out if no live worker holds it (see DeadlineVerdict).
 */
export async function deliverTimer(to: TimerTarget, jobId: string, leaseEnd: number): Promise<void> {
  const settle = (dueAt?: number) => to.store.settleTimer?.(jobId, leaseEnd, dueAt);
  const wait = parseWaitTimerId(jobId);
  if (wait) {
    await to
      .send(wait.sagaId, { type: SagaEvents.deadline, step: wait.step, round: wait.round })
      .catch((error: unknown) => {
        if (!(error instanceof SagaNotFoundError || error instanceof RecordCorruptError)) throw error;
      });
    return settle();
  }
  const verdict = (await to.queue.expire?.(jobId)) ?? { kind: 'missing' as const };
  if (verdict.kind === 'held') return settle(to.clock.now() + verdict.recheckInMs);
  if (verdict.kind === 'timedOut') await to.applyStepOutcome(verdict.outcome);
  if (verdict.kind === 'missing') {
    // Applied and gone (a save then replaced this timer: settling below changes nothing), or
    // never enqueued while the saga still waits for it: re-attach, which enqueues it, and watch
    // it again.
    const job = parseStepJobId(jobId);
    if (job && (await to.awaitsJob(job))) {
      await to.reattachFresh(job.sagaId);
      return settle(to.clock.now() + TIMER_LEASE_MS);
    }
  }
  return settle();
}
