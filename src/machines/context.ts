import type { Direction, ErrorInfo } from '../vocabulary/events.ts';
import type { SagaEscalation, SagaFailure } from '../vocabulary/outcomes.ts';

export type { SagaEscalation, SagaFailure } from '../vocabulary/outcomes.ts';

/** Life of one step inside a saga instance. */
export type StepStatus =
  | 'idle'
  | 'running'
  | 'completed'
  | 'failed'
  | 'compensating'
  | 'compensated'
  | 'skipped'
  | 'compensation_failed'
  /** Its last attempt's outcome is unknown and no verify could tell: it is compensated in doubt. */
  | 'in_doubt'
  /** A wait or sleep the saga is parked at, until a signal or its deadline. */
  | 'waiting';

/** What the snapshot keeps about one step. */
export interface StepState {
  status: StepStatus;
  /** Attempts of the forward run (every round, when a forward failure was resumed). */
  attempts: number;
  /** Attempts of the compensation (all rounds). */
  compensationAttempts: number;
  /** The handler's return value, passed to later steps and to its compensation. */
  result?: unknown;
  error?: ErrorInfo;
  /** Its run ended in doubt: it may have taken effect (compensated with `ctx.inDoubt`, or escalated). */
  inDoubt?: true;
  /** What `verify` found: `true` the run took effect (its result was read back), `false` it did not. */
  verified?: boolean;
  /** A wait: the id of the signal that ended it (a repeat of it is recognised). */
  signalId?: string;
  /** A wait or sleep ended by its deadline rather than a signal. */
  timedOut?: true;
  /** A dynamic saga's step: the tool it runs, and the arguments the agent gave it. */
  tool?: string;
  args?: unknown;
}

/** The context of a saga actor: everything a snapshot needs to continue the saga anywhere. */
export interface SagaContext {
  sagaId: string;
  input: unknown;
  steps: Record<string, StepState>;
  /** Step names in the order they completed. */
  completed: string[];
  /** Step names in the order they were compensated. */
  compensated: string[];
  /** Completed steps passed over during rollback because they have no compensation. */
  skipped: string[];
  /** Set by `cancel` while a step is in flight; honoured at that step's outcome. */
  cancelRequested: boolean;
  /** Compensation round per step: bumped by `resume`, so a fresh job id is used. */
  rounds: Record<string, number>;
  /** Forward round per step, bumped by `resume` of a forward failure; absent while empty. */
  runRounds?: Record<string, number>;
  failure?: SagaFailure;
  escalation?: SagaEscalation;
  /** Set by `resolve`: an operator recorded a manual fix of an escalation. */
  resolution?: { note: string; uncompensated: string[] };
  /** A dynamic saga: its steps in the order the agent appended them. */
  plan?: string[];
  /** A dynamic saga: how often an idle escalation was resumed (part of its idle deadline's round). */
  idleResumes?: number;
}

/** What the machine needs to create a saga's first snapshot. */
export interface SagaMachineInput {
  sagaId: string;
  input: unknown;
}

/** The input the machine gives each step-job actor it invokes. */
export interface StepJobRequest {
  sagaId: string;
  step: string;
  direction: Direction;
  round: number;
}
