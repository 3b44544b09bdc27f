import type { StepStatus } from '../machines/context.ts';
import type { ErrorInfo } from '../vocabulary/events.ts';
import type { SagaState } from '../vocabulary/states.ts';
import type { SagaView } from './saga-view.ts';

// The arguments and results of the engine's commands (see SagaEngine), apart from the engine so
// that the CLI and other callers can name them without the engine.

/** Options of `engine.start`. */
export interface StartOptions {
  /** Choose the saga id (letters, digits, `_`, `-`, `.`); default a random UUID. */
  sagaId?: string;
  /** Starting twice with the same key (per saga name) returns the first saga. */
  idempotencyKey?: string;
}

/** Options of `engine.signal`. */
export interface SignalOptions {
  /**
   * The sender's id of this signal (at most 256 characters): sending it again, after it took
   * effect, succeeds with `duplicate: true` and changes nothing. Without it, a repeat is refused
   * like any signal the saga no longer waits for.
   */
  signalId?: string;
}

/** Result of `engine.signal`. */
export interface SignalResult {
  /** True when this signal had already been applied (same `signalId`): nothing changed now. */
  duplicate: boolean;
  /** The saga's top-level state after the signal. */
  state: SagaState;
}

/**
 * What an agent appends to a dynamic saga: a call of one of its tools, with arguments its schema
 * accepts, or one of its waits (resolved when the signal, or the deadline, ends it).
 */
export type AppendStep = { tool: string; args?: unknown } | { wait: string };

/** What `engine.appendStep` resolves with: how the appended step ended. */
export interface AppendedStep {
  /** The step's name: `<tool>-<n>`, n counting the saga's steps from 1. */
  step: string;
  /**
   * `completed`; or, when the step did not complete, what the rollback or escalation that followed
   * left of it (`failed`; `compensated` for a compensable step whose run ended in doubt and was
   * undone; for a wait, `failed` when rejected or at its deadline): see `state`.
   */
  status: StepStatus;
  result?: unknown;
  error?: ErrorInfo;
  /** The saga's state once the step ended: `Pending` (waiting for the next step), or settled. */
  state: SagaState;
}

/** Result of `engine.start`. */
export interface StartResult {
  sagaId: string;
  /** False when an existing saga was returned (same id or idempotency key). */
  created: boolean;
}

/** One page of `engine.list`. */
export interface SagaViewPage {
  items: SagaView[];
  /** Absent on the last page. */
  cursor?: string;
  /** Sagas left out of this page because their stored record was unusable: now quarantined. */
  quarantined?: string[];
}
