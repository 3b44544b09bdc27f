// The saga vocabulary every layer may import: how a saga that did not complete says why.
import type { Direction, ErrorInfo } from './events.ts';

/** Why a saga did not complete. */
export interface SagaFailure {
  reason: 'failed' | 'cancelled';
  /** The step whose failure started the rollback (absent for a cancel between steps). */
  step?: string;
  error?: ErrorInfo;
}

/** Why a saga is Escalated, and what a person has left to undo. */
export interface SagaEscalation {
  /**
   * `compensate`: the step's compensation ran out of retries (a rollback is stuck). `run`: a step
   * after the pivot failed for good (a forward failure: the saga cannot roll back, `resume` retries
   * the step, `resolve` records the manual finish). Absent in records written before forward
   * failures existed, which were all `compensate`.
   */
  direction?: Direction;
  /** The step whose run or compensation ran out of retries. */
  step: string;
  /** The step's last attempt was in doubt: check the participant before you `resume` or `resolve`. */
  inDoubt?: true;
  error: ErrorInfo;
  /** Compensable steps still not undone, in the order they will be undone. */
  uncompensated: string[];
}
